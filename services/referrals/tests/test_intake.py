"""Request for Support intake: the record, its codes, its deadline, its events, its reference."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime

import pytest

from services.referrals import service
from services.referrals.models import Referral
from services.referrals.tests.conftest import LONDON, NAMES, child, london, rfs
from shared.testing import pg_base_url


async def test_a_request_for_support_is_received(svc):
    resp = await svc.client.post("/v1/referrals", json=rfs(), headers=svc.as_("school_a"))
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert resp.headers["location"] == f"/v1/referrals/{out['id']}"
    assert resp.headers["etag"] == f'"{out["id"]}-1"'
    assert re.fullmatch(r"RFS-\d{4}-\d{6}", out["reference"])
    assert out["status"] == "received" and out["urgent"] is False
    assert out["source_agency_id"] == "agency-school-a" and out["source_code"] == "2A"
    # A partner is not told which record in the person index its child became; the MASH is.
    assert out["children"][0]["person_id"] is None and out["children"][0]["match"] is None
    mash = (await svc.client.get(f"/v1/referrals/{out['id']}", headers=svc.as_("mash"))).json()
    assert mash["children"][0]["person_id"] and mash["children"][0]["match"] == "new"
    assert out["adults"][0]["relationship"] == "mother"
    assert out["address"]["postcode"] == "S60 1AE"
    assert out["need_headlines"] == [
        {"code": "school_attendance", "headline": "good_education"},
        {"code": "parental_mental_health", "headline": "improved_mental_and_physical_health"},
    ]
    assert out["matches"] == [] and out["open_episode_id"] is None and out["decision"] is None
    again = await svc.client.get(f"/v1/referrals/{out['id']}", headers=svc.as_("school_a"))
    assert again.json() == out


async def test_events_carry_ids_and_codes_never_personal_details(svc):
    out = await svc.create()
    [event] = await svc.outbox("referral.received")
    data = event["data"]
    assert data["referral_id"] == out["id"] and data["reference"] == out["reference"]
    assert data["person_ids"] == [out["children"][0]["person_id"]]
    assert data["source_code"] == "2A" and data["urgent"] is False
    assert data["decision_due_at"] == datetime.fromisoformat(out["decision_due_at"]).isoformat()
    text = json.dumps(event)
    for personal in ("Amira", "Ahmed", "2017-03-02", "S60", "Oak Street"):
        assert personal not in text
    assert await svc.outbox("referral.safeguarding_concern") == []
    # Delivered through the outbox to both subscribers.
    await svc.deliver_now()
    assert [e["type"] for e in svc.receivers.events("notifications.test")] == ["referral.received"]
    assert [e["type"] for e in svc.receivers.events("assessments.test")] == ["referral.received"]


@pytest.mark.parametrize(
    ("caller_type", "code"),
    [
        ("education", "2A"),
        ("health", "3F"),
        ("police", "6"),
        ("housing", "4"),
        ("voluntary", "8"),
        ("social_care", "5A"),
        ("early_help", "5D"),
        ("mash", "5B"),
        ("youth_justice", "7"),
        ("local_authority_other", "5B"),
    ],
)
async def test_cin_source_code_comes_from_the_callers_agency_type(svc, caller_type, code):
    headers = svc.h.headers(agency_type=caller_type, agency_id=f"a-{caller_type}", scopes="referrals:create")
    resp = await svc.client.post("/v1/referrals", json=rfs(), headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["source_code"] == code


async def test_a_self_referral_is_1c_whoever_carries_it(svc):
    kayla = rfs(
        referral_type="self_referral",
        children=[child("Kayla", "Reid", "2010-05-05")],
        adults=[],
        referrer={"name": "Kayla Reid", "role": "self"},
        consent={
            "obtained": True,
            "given_by": "Kayla Reid",
            "obtained_at": "2026-11-02T10:00:00Z",
            "method": "electronic",
        },
    )
    out = await svc.create("school_a", kayla)
    assert out["source_code"] == "1C"


async def test_okafor_safeguarding_at_christmas_is_due_tuesday_29_december(svc):
    """23:40 on Thursday 24 December 2026: the 25th and the 28th (Boxing Day substitute) are bank
    holidays, the 26th and 27th a weekend, so one working day later is Tuesday 29 December."""
    svc.now = london(2026, 12, 24, 23, 40)
    body = rfs(
        referral_type="safeguarding_concern",
        referrer={"name": "PC Dale", "role": "Police officer"},
        children=[
            child("Daniel", "Okafor", "2023-06-01"),
            child(None, "Okafor", unborn_expected_on="2027-02-18"),
        ],
        adults=[{"given_name": "Grace", "family_name": "Okafor", "relationship": "mother"}],
        address={"line1": "9 Elm Road", "postcode": "bh15 2ru"},
        needs=["domestic_abuse"],
        summary="Domestic abuse reported at the home; mother 30 weeks pregnant.",
        consent=None,
    )
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("police"))
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["urgent"] is True and out["source_code"] == "6"
    assert out["address"]["postcode"] == "BH15 2RU"
    assert out["reference"].startswith("RFS-2026-")
    due = datetime.fromisoformat(out["decision_due_at"]).astimezone(LONDON)
    assert due == london(2026, 12, 29, 23, 40)
    unborn = (await svc.client.get(f"/v1/referrals/{out['id']}", headers=svc.as_("mash"))).json()["children"][
        1
    ]
    assert unborn["given_name"] is None and unborn["unborn_expected_on"] == "2027-02-18"
    person = await svc.client.get(f"/v1/people/{unborn['person_id']}", headers=svc.as_("mash"))
    assert person.json()["kind"] == "unborn" and person.json()["postcode"] == "BH152RU"
    [alert] = await svc.outbox("referral.safeguarding_concern")
    assert alert["data"]["referral_id"] == out["id"]
    assert len(alert["data"]["person_ids"]) == 2


async def test_the_decision_timescale_is_configurable(make_referrals):
    svc = await make_referrals(decision_working_days=2)
    svc.now = london(2026, 12, 24, 23, 40)
    out = await svc.create("police", rfs(referral_type="safeguarding_concern", consent=None))
    assert datetime.fromisoformat(out["decision_due_at"]).astimezone(LONDON) == london(2026, 12, 30, 23, 40)


async def test_idempotency_key_replays_and_refuses_a_different_body(svc):
    headers = {**svc.as_("school_a"), "Idempotency-Key": "rfs-42"}
    first = await svc.client.post("/v1/referrals", json=rfs(), headers=headers)
    again = await svc.client.post("/v1/referrals", json=rfs(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    other = await svc.client.post("/v1/referrals", json=rfs(summary="Another story"), headers=headers)
    assert other.status_code == 422
    listed = await svc.client.get("/v1/referrals", headers=svc.as_("school_a"))
    assert len(listed.json()["items"]) == 1
    assert len(await svc.outbox("referral.received")) == 1


async def test_a_key_used_on_a_refused_body_is_free_for_the_corrected_one(svc):
    headers = {**svc.as_("school_a"), "Idempotency-Key": "rfs-43"}
    bad = await svc.client.post("/v1/referrals", json=rfs(consent=None), headers=headers)
    assert bad.status_code == 422
    good = await svc.client.post("/v1/referrals", json=rfs(), headers=headers)
    assert good.status_code == 201, good.text


async def test_references_are_sequential_and_unique_under_concurrency(svc):
    bodies = [rfs(children=[child(*NAMES[i], "2015-01-01")]) for i in range(12)]
    results = await asyncio.gather(
        *(svc.client.post("/v1/referrals", json=b, headers=svc.as_("school_a")) for b in bodies)
    )
    assert all(r.status_code == 201 for r in results), [r.text for r in results if r.status_code != 201]
    numbers = sorted(int(r.json()["reference"].rsplit("-", 1)[1]) for r in results)
    assert numbers == list(range(1, 13))


@pytest.mark.skipif(not pg_base_url(), reason="PostgreSQL: SQLite writers are serial anyway")
async def test_an_open_intake_does_not_hold_the_series_for_the_next(svc):
    """An intake numbered but not yet committed does not make the next one wait: the series'
    counter row is advanced in a statement committed on its own (on the previous code the
    second create waited for the first's commit, up to the 5 s lock timeout)."""
    svc.now = london(2026, 11, 23, 10, 0)
    async with svc.runtime.db.session() as open_intake:
        held = Referral(id="held")
        ctx = service.Context(open_intake, svc.runtime, None, svc.now)  # type: ignore[arg-type]
        await service._number(ctx, held)
        async with asyncio.timeout(3):
            out = await svc.create()
    assert held.reference is not None
    assert int(out["reference"].rsplit("-", 1)[1]) == int(held.reference.rsplit("-", 1)[1]) + 1


async def test_two_intakes_naming_one_new_child_at_once_make_one_person(svc):
    """The person index is asked and added to under locks on the child's match keys: the
    second intake waits for the first to commit and then finds the child it added."""
    body = rfs(children=[child("Mira", "Okonjo", "2016-03-04")])
    results = await asyncio.gather(
        *(svc.client.post("/v1/referrals", json=body, headers=svc.as_(c)) for c in ("school_a", "health"))
    )
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    assert len({r.json()["children"][0]["person_id"] for r in results}) == 1


async def test_the_series_restarts_each_year(svc):
    svc.now = london(2026, 12, 31, 23, 59)
    assert (await svc.create())["reference"] == "RFS-2026-000001"
    svc.now = london(2027, 1, 4, 9, 0)
    assert (await svc.create(body=rfs(children=[child("Ben", "Cole", "2014-01-01")])))[
        "reference"
    ] == "RFS-2027-000001"


async def test_everyone_an_intake_names_is_looked_up_in_one_query(svc):
    """A child and an adult: one candidate query for both and one INSERT for the new people
    (each person took a lookup and an insert of their own); a second referral of the same
    family then links both, and a sibling named beside them is added, not matched."""
    import re

    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if "outbox_event" not in statement:  # the relay's background passes run meanwhile
            statements.append(" ".join(statement.split()))

    engine = svc.runtime.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        first = await svc.create()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # (`FROM person\b`: not the household tables, person_address and person_relationship.)
    lookups = [s for s in statements if s.startswith("SELECT") and re.search(r"FROM person\b", s)]
    assert len(lookups) == 1 and "UNION ALL" in lookups[0], statements
    assert len([s for s in statements if s.startswith("INSERT INTO person ")]) == 1, statements

    body = rfs()
    body["children"].append(
        {"given_name": "Yusuf", "family_name": "Ahmed", "date_of_birth": "2019-06-11", "gender": "male"}
    )
    second = await svc.create(body=body)
    assert second["children"][0]["match"] == "certain" and second["adults"][0]["match"] == "certain"
    assert second["children"][0]["person_id"] == first["children"][0]["person_id"]
    assert second["adults"][0]["person_id"] == first["adults"][0]["person_id"]
    assert second["children"][1]["match"] == "new"
    assert second["children"][1]["person_id"] != first["children"][0]["person_id"]
