"""`?updated_since=` on the consent service's lists (issue 20): the tables are append-only, so
a consent changes when recorded and when withdrawn, a decision when recorded and when
superseded, a disclosure when recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.consent.tests.helpers import consent_body

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OBTAINED = (T0 - timedelta(hours=1)).isoformat()


def decision_body(person: str, **over) -> dict:
    return {
        "person_id": person,
        "agency_id": "police-west",
        "purpose": "information_sharing",
        "decision": "do_not_share",
        "justification": "No concern.",
        "decided_by": "a@council.example",
        **over,
    }


async def test_consents_decisions_and_disclosures_changed_since(svc, eh, service_caller, clock):
    person = str(uuid.uuid4())
    clock.set(T0)
    kept = (
        await svc.client.post(
            "/v1/consents", json=consent_body(person_id=person, obtained_at=OBTAINED), headers=eh
        )
    ).json()
    withdrawn = (
        await svc.client.post(
            "/v1/consents", json=consent_body(person_id=person, obtained_at=OBTAINED), headers=eh
        )
    ).json()
    first = (await svc.client.post("/v1/sharing-decisions", json=decision_body(person), headers=eh)).json()
    other = await svc.client.post(
        "/v1/sharing-decisions", json=decision_body(person, agency_id="health-1"), headers=eh
    )
    assert other.status_code == 201, other.text
    clock.set(T0 + timedelta(hours=2))
    resp = await svc.client.post(f"/v1/consents/{withdrawn['id']}/withdraw", json={"reason": "x"}, headers=eh)
    assert resp.status_code in (200, 201), resp.text
    correction = await svc.client.post(
        "/v1/sharing-decisions", json=decision_body(person, supersedes_id=first["id"]), headers=eh
    )
    assert correction.status_code == 201, correction.text
    disclosure = await svc.client.post(
        "/internal/disclosures",
        json={
            "person_id": person,
            "agency_id": "police-west",
            "resource_type": "episode",
            "resource_id": "e1",
            "basis": "consent",
            "reference_id": kept["id"],
            "disclosed_at": T0.isoformat(),
        },
        headers=service_caller,
    )
    assert disclosure.status_code == 201, disclosure.text
    since = {"person_id": person, "updated_since": (T0 + timedelta(hours=1)).isoformat()}

    async def ids(path: str, params: dict) -> set[str]:
        resp = await svc.client.get(path, params=params, headers=eh)
        assert resp.status_code == 200, resp.text
        return {i["id"] for i in resp.json()["items"]}

    assert await ids("/v1/consents", since) == {withdrawn["id"]}
    assert await ids("/v1/consents", {"person_id": person}) == {kept["id"], withdrawn["id"]}
    # The superseded decision changed (it has a successor) and the correction is new.
    assert await ids("/v1/sharing-decisions", since) == {first["id"], correction.json()["id"]}
    since_only = {"updated_since": since["updated_since"]}
    assert await ids(f"/v1/people/{person}/disclosures", since_only) == {disclosure.json()["id"]}
    later = {"updated_since": (T0 + timedelta(hours=3)).isoformat()}
    assert await ids(f"/v1/people/{person}/disclosures", later) == set()
    bad = await svc.client.get(
        "/v1/consents", params={"person_id": person, "updated_since": "2026-03-02"}, headers=eh
    )
    assert bad.status_code == 422 and "updated_since" in bad.text
