"""A child's journey: referrals here plus the assessments service's part, in time order.

The assessments service is stood in for by an httpx.MockTransport answering
`GET /internal/people/{id}/timeline` as docs/contracts.md describes it (or failing), plugged in
where `runtime.client("assessments", ...)` would create the real pooled client.
"""

from __future__ import annotations

import httpx
import pytest

from services.referrals.tests.conftest import london, rfs
from shared.service_client import ServiceClient


class FakeTokens:
    async def __call__(self) -> str:
        return "service-token"

    def invalidate(self) -> None:
        pass


def use_assessments(svc, handler) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    svc.runtime.clients["assessments"] = ServiceClient(
        svc.runtime.settings.assessments_url,
        FakeTokens(),
        transport=httpx.MockTransport(record),  # type: ignore[arg-type]
    )
    return seen


def timeline(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "items": [
                {
                    "at": "2026-11-03T10:00:00+00:00",
                    "kind": "episode_opened",
                    "episode_id": "ep-1",
                    "reference": "EH-2026-000001",
                },
                {
                    "at": "2026-11-05T09:00:00+00:00",
                    "kind": "assessment_started",
                    "episode_id": "ep-1",
                    "assessment_id": "as-1",
                },
                {
                    "at": "2026-12-20T09:00:00+00:00",
                    "kind": "review_held",
                    "episode_id": "ep-1",
                    "review_id": "rv-1",
                },
            ],
            "withheld": [{"episode_id": "ep-0", "reason": "no_lawful_basis_to_share"}],
        },
    )


@pytest.fixture
async def amira(svc):
    svc.now = london(2026, 11, 2, 9, 0)
    first = await svc.create()
    svc.now = london(2026, 11, 2, 15, 0)
    await svc.decide(first["id"])
    svc.now = None
    return first


async def test_journey_merges_both_services_in_time_order(svc, amira):
    seen = use_assessments(svc, timeline)
    person = amira["children"][0]["person_id"]
    resp = await svc.client.get(f"/v1/people/{person}/journey", headers=svc.as_("mash"))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["incomplete"] is False and out["unavailable"] == []
    assert [i["kind"] for i in out["items"]] == [
        "referral_received",
        "referral_decided",
        "episode_opened",
        "assessment_started",
        "review_held",
    ]
    assert [i["source"] for i in out["items"]][:3] == ["referrals", "referrals", "assessments"]
    assert out["items"][1]["outcome"] == "team_around_the_family"
    assert out["withheld"] == [
        {"reason": "no_lawful_basis_to_share", "source": "assessments", "episode_id": "ep-0"}
    ]
    [call] = seen
    assert call.url.path == f"/internal/people/{person}/timeline"
    assert call.url.params["agency_id"] == "agency-mash" and call.url.params["agency_type"] == "mash"
    assert call.headers["authorization"] == "Bearer service-token"


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: httpx.Response(503, json={"title": "down"}),
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
        lambda request: httpx.Response(200, text="not json"),
    ],
    ids=["503", "connection refused", "malformed"],
)
async def test_assessments_down_still_returns_the_referrals_part(svc, amira, failure):
    use_assessments(svc, failure)
    person = amira["children"][0]["person_id"]
    resp = await svc.client.get(f"/v1/people/{person}/journey", headers=svc.as_("early_help"))
    assert resp.status_code == 200
    out = resp.json()
    assert out["incomplete"] is True
    assert out["unavailable"][0]["part"] == "assessments"
    assert [i["kind"] for i in out["items"]] == ["referral_received", "referral_decided"]


async def test_a_merged_persons_journey_asks_for_both_ids(svc, amira):
    seen = use_assessments(svc, timeline)
    other = await svc.create("school_b", rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}))
    amira_id, dup = amira["children"][0]["person_id"], other["children"][0]["person_id"]
    await svc.client.post(
        f"/v1/people/{dup}/merge", json={"into_person_id": amira_id}, headers=svc.as_("mash")
    )
    out = (await svc.client.get(f"/v1/people/{dup}/journey", headers=svc.as_("mash"))).json()
    assert out["person_id"] == amira_id
    assert sorted(r.url.path for r in seen) == sorted(
        f"/internal/people/{p}/timeline" for p in (amira_id, dup)
    )
    assert [i["kind"] for i in out["items"]].count("referral_received") == 2


async def test_journey_needs_people_read_and_a_known_person(svc, amira):
    use_assessments(svc, timeline)
    person = amira["children"][0]["person_id"]
    assert (
        await svc.client.get(f"/v1/people/{person}/journey", headers=svc.as_("school_a"))
    ).status_code == 403
    assert (await svc.client.get("/v1/people/nobody/journey", headers=svc.as_("mash"))).status_code == 404


async def test_referrals_a_caller_may_not_see_are_withheld_with_a_reason(svc, amira):
    """A partner given people:read still sees only its own agency's referrals in a journey."""
    use_assessments(svc, lambda r: httpx.Response(200, json={"items": [], "withheld": []}))
    person = amira["children"][0]["person_id"]
    headers = svc.h.headers(agency_type="police", agency_id="agency-police", scopes="people:read")
    out = (await svc.client.get(f"/v1/people/{person}/journey", headers=headers)).json()
    assert out["items"] == []
    assert out["withheld"][0]["kind"] == "referral" and "another agency" in out["withheld"][0]["reason"]


@pytest.mark.parametrize(
    "answer",
    [
        {"items": [{"at": "2026-11-03T10:00:00+00:00", "kind": "tea_break", "episode_id": "e"}]},
        {"items": [], "withheld": [{"episode_id": "e", "reason": "because"}]},
    ],
    ids=["unknown kind", "unknown reason"],
)
async def test_a_kind_or_reason_outside_the_contract_is_a_malformed_answer(svc, amira, answer):
    """The journey's `kind` and `reason` are enums: what is not in them never reaches a caller."""
    use_assessments(svc, lambda r: httpx.Response(200, json=answer))
    person = amira["children"][0]["person_id"]
    out = (await svc.client.get(f"/v1/people/{person}/journey", headers=svc.as_("mash"))).json()
    assert out["incomplete"] is True and "malformed" in out["unavailable"][0]["reason"]
    assert [i["kind"] for i in out["items"]] == ["referral_received", "referral_decided"]
    assert out["withheld"] == []
