"""Consent covers named agencies: a TAF-wide consent and an agency that joined the TAF later.

Issue 18, item 3: a TAF member added after consent was given reads the child's record only
when the consent names it, the family agreed to its joining, or a `share` decision covers it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.consent.tests.helpers import consent_body

OBTAINED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)


async def give(svc: Any, eh: dict[str, str], person: str, agencies: list[str], obtained: datetime = OBTAINED):
    body = consent_body(person_id=person, agencies=agencies, obtained_at=obtained.isoformat())
    resp = await svc.client.post("/v1/consents", json=body, headers=eh)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def ask(svc: Any, caller: dict[str, str], person: str, *, status: int = 200, **params: Any):
    query = {
        "person_id": person,
        "agency_id": "police-west",
        "purpose": "information_sharing",
        "on_team_around_the_family": "true",
        **{k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()},
    }
    resp = await svc.client.get("/v1/access-checks", params=query, headers=caller)
    assert resp.status_code == status, resp.text
    return resp.json()


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_an_agency_on_the_taf_when_consent_was_given_is_covered(svc, eh, service_caller):
    person = str(uuid.uuid4())
    consent = await give(svc, eh, person, ["team_around_the_family"])
    for joined in (OBTAINED - timedelta(days=3), OBTAINED):  # before, and at the very moment
        got = await ask(svc, service_caller, person, joined_at=at(joined))
        assert got == {
            "allowed": True,
            "basis": "consent",
            "reference_id": consent["id"],
            "reason": "consent_covers_team_around_the_family",
            "practitioner_id": None,
        }


async def test_an_agency_that_joined_after_consent_is_not_covered(svc, eh, service_caller):
    person = str(uuid.uuid4())
    await give(svc, eh, person, ["team_around_the_family"])
    later = OBTAINED + timedelta(seconds=1)
    got = await ask(svc, service_caller, person, joined_at=at(later))
    assert got == {
        "allowed": False,
        "basis": None,
        "reference_id": None,
        "reason": "consent_predates_joining",
        "practitioner_id": None,
    }
    # Saying the family did not agree is the same as not saying.
    refused = await ask(svc, service_caller, person, joined_at=at(later), family_agreed_to_join=False)
    assert refused["allowed"] is False
    # A zone other than UTC is compared as the same instant.
    bst = later.astimezone(timezone(timedelta(hours=1))).isoformat()
    assert (await ask(svc, service_caller, person, joined_at=bst))["allowed"] is False


async def test_the_family_agreeing_to_the_joining_brings_the_agency_under_the_taf_consent(
    svc, eh, service_caller
):
    person = str(uuid.uuid4())
    consent = await give(svc, eh, person, ["team_around_the_family"])
    got = await ask(
        svc, service_caller, person, joined_at=at(OBTAINED + timedelta(days=2)), family_agreed_to_join=True
    )
    assert got["allowed"] is True and got["basis"] == "consent"
    assert got["reference_id"] == consent["id"]
    assert got["reason"] == "consent_covers_team_around_the_family_family_agreed"


async def test_a_consent_naming_the_agency_covers_it_whenever_it_joined(svc, eh, service_caller):
    person = str(uuid.uuid4())
    named = await give(svc, eh, person, ["police-west"], OBTAINED - timedelta(days=5))
    # The newer consent is TAF-wide and predates the joining; the older one names the agency.
    await give(svc, eh, person, ["team_around_the_family"])
    got = await ask(svc, service_caller, person, joined_at=at(OBTAINED + timedelta(days=1)))
    assert got["allowed"] is True
    assert (got["reference_id"], got["reason"]) == (named["id"], "consent_names_agency")


async def test_a_new_taf_consent_after_the_joining_covers_the_agency(svc, eh, service_caller):
    person = str(uuid.uuid4())
    await give(svc, eh, person, ["team_around_the_family"])
    joined = OBTAINED + timedelta(days=1)
    fresh = await give(svc, eh, person, ["team_around_the_family"], OBTAINED + timedelta(days=2))
    got = await ask(svc, service_caller, person, joined_at=at(joined))
    assert (got["allowed"], got["reference_id"]) == (True, fresh["id"])


async def test_a_share_decision_covers_an_agency_that_joined_later(svc, eh, service_caller):
    person = str(uuid.uuid4())
    await give(svc, eh, person, ["team_around_the_family"])
    decision = await svc.client.post(
        "/v1/sharing-decisions",
        json={
            "person_id": person,
            "agency_id": "police-west",
            "purpose": "information_sharing",
            "decision": "share",
            "lawful_basis": "public_task_safeguarding",
            "justification": "Police joined the TAF after the domestic abuse incident.",
            "decided_by": "a.worker@council.example",
            "approved_by": "a.manager@council.example",
        },
        headers=eh,
    )
    assert decision.status_code == 201, decision.text
    got = await ask(svc, service_caller, person, joined_at=at(OBTAINED + timedelta(days=1)))
    assert got["allowed"] is True and got["basis"] == "sharing_decision"
    assert got["reference_id"] == decision.json()["id"] and got["reason"] == "decision_share"


async def test_without_joined_at_a_taf_consent_covers_as_before(svc, eh, service_caller):
    """Backward compatible for callers that do not send joined_at (the assessments service does)."""
    person = str(uuid.uuid4())
    consent = await give(svc, eh, person, ["team_around_the_family"])
    got = await ask(svc, service_caller, person)
    assert (got["allowed"], got["reference_id"]) == (True, consent["id"])
    assert (await ask(svc, service_caller, person, on_team_around_the_family=False))["allowed"] is False


async def test_the_practitioner_is_echoed_and_validated(svc, eh, service_caller):
    person = str(uuid.uuid4())
    await give(svc, eh, person, ["team_around_the_family"])
    got = await ask(svc, service_caller, person, practitioner_id="p-1", joined_at=at(OBTAINED))
    assert got["practitioner_id"] == "p-1" and got["allowed"] is True
    bad = await ask(svc, service_caller, person, status=422, practitioner_id="<script>")
    assert [e["field"] for e in bad["errors"]] == ["practitioner_id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"joined_at": "2026-03-01T09:00:00"}, "joined_at"),  # no zone: which instant?
        ({"joined_at": "1772355600"}, "joined_at"),  # a number is not ISO 8601
        ({"joined_at": "yesterday"}, "joined_at"),
        ({"family_agreed_to_join": "perhaps"}, "family_agreed_to_join"),
        (
            {"joined_at": "2026-03-01T09:00:00Z", "on_team_around_the_family": False},
            "on_team_around_the_family",
        ),
        ({"family_agreed_to_join": True, "on_team_around_the_family": False}, "on_team_around_the_family"),
    ],
)
async def test_the_taf_parameters_are_validated(svc, service_caller, params, field):
    got = await ask(svc, service_caller, str(uuid.uuid4()), status=422, **params)
    assert [e["field"] for e in got["errors"]] == [field]
