"""Roles and relationships decide (issue 18): every rule of services/assessments/policy.py,
each with the positive path beside it so a refusal cannot pass by refusing everything."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx

from services.assessments import policy
from services.assessments.tests.conftest import (
    EH,
    POLICE,
    SCHOOL,
    StaticTokens,
    add_taf,
    events,
    h,
    new_episode,
)
from services.assessments.tests.test_assessments import FULL
from services.assessments.tests.test_plans import plan_body
from shared.service_client import ServiceClient

SOCIAL_CARE = {"agency_type": "social_care", "agency_id": "sc-1", "scopes": "episodes:read episodes:write"}
HOUSING = {"agency_type": "housing", "agency_id": "housing-1", "scopes": "episodes:read episodes:write"}


def practitioner(who: dict[str, str], practitioner_id: str, roles: str) -> dict[str, str]:
    return {**who, "practitioner_id": practitioner_id, "roles": roles}


EDDIE = practitioner(EH, "p-eddie", "early_help_manager")
ERIN = practitioner(EH, "p-erin", "early_help_manager")
ELLIE = practitioner(EH, "p-ellie", "early_help_practitioner")
TOM = practitioner(SCHOOL, "p-tom", "agency_practitioner")
TINA = practitioner(SCHOOL, "p-tina", "agency_practitioner")
PAT = practitioner(POLICE, "p-pat", "agency_practitioner")

SOON = (date.today() + timedelta(days=60)).isoformat()


def refused(r, rule: str, problem: str = "not-permitted") -> None:
    assert r.status_code == 403, r.text
    assert r.json()["type"].endswith(f"/{problem}"), r.text
    assert r.json()["rule"] == rule, r.text


def step_down(person: str | None = None) -> dict:
    return {
        "origin": "step_down",
        "person_ids": [person or str(uuid.uuid4())],
        "stepdown_panel_on": date.today().isoformat(),
        "social_worker": {"name": "Sam Social", "email": "sam@council.example"},
    }


def self_referral(*people: str) -> dict:
    return {"origin": "self_referral", "person_ids": list(people) or [str(uuid.uuid4())]}


def lead_body(**over) -> dict:
    body = {
        "name": "Tom Teacher",
        "agency_id": "school-1",
        "email": "tom@school.example",
        "family_agreed": True,
    }
    body.update(over)
    return body


async def shared_with_school(svc, fake_consent, **taf) -> dict:
    """An episode with the school on the TAF (Tom named) and the family's consent for it."""
    ep = await new_episode(svc)
    await add_taf(svc, ep["id"], SCHOOL, practitioner_id="p-tom", family_agreed=True, **taf)
    fake_consent.allowed.add((ep["person_ids"][0], "school-1"))
    return ep


# --- opening an episode --------------------------------------------------------------------------


async def test_partners_cannot_open_an_episode_whatever_the_origin(svc):
    for who in (SCHOOL, POLICE, TOM, PAT, HOUSING):
        for body in (self_referral(), step_down()):
            r = await svc.client.post("/v1/episodes", json=body, headers=h(svc, who))
            refused(r, "open-episode")
    assert (await svc.client.get("/v1/episodes", headers=h(svc, EH))).json()["items"] == []


async def test_self_referral_is_an_early_help_managers_route_step_down_also_social_cares(svc):
    r = await svc.client.post("/v1/episodes", json=self_referral(), headers=h(svc, ELLIE))
    refused(r, "open-episode")
    assert "early_help_manager" in r.json()["detail"]
    r = await svc.client.post("/v1/episodes", json=self_referral(), headers=h(svc, SOCIAL_CARE))
    refused(r, "open-episode")
    r = await svc.client.post("/v1/episodes", json=self_referral(), headers=h(svc, EDDIE))
    assert r.status_code == 201, r.text
    for who in (ELLIE, SOCIAL_CARE, EDDIE, EH):
        r = await svc.client.post("/v1/episodes", json=step_down(), headers=h(svc, who))
        assert r.status_code == 201, (who, r.text)
    # A social care practitioner (not only its system) may hand over too.
    sw = practitioner(SOCIAL_CARE, "p-sam", "agency_practitioner")
    assert (await svc.client.post("/v1/episodes", json=step_down(), headers=h(svc, sw))).status_code == 201
    # Episodes from referrals open only from the MASH decision, never by this call.
    r = await svc.client.post(
        "/v1/episodes", json={**self_referral(), "origin": "referral"}, headers=h(svc, EH)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "origin"


def test_the_referral_origin_is_refused_by_the_policy_as_well():
    from shared.identity import Identity

    eh = Identity(
        sub="x",
        client_id="x",
        agency_id="eh",
        agency_type="early_help",
        roles=frozenset({"early_help_manager"}),
    )
    try:
        policy.may_open_episode(eh, "referral")
    except policy.NotPermitted as exc:
        assert exc.status == 403 and exc.extra["rule"] == "open-episode"
    else:
        raise AssertionError("an episode from a referral was allowed through POST /v1/episodes")


async def test_only_people_the_referrals_service_knows(svc, fake_people):
    known, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    fake_people.unknown.add(stranger)
    r = await svc.client.post("/v1/episodes", json=self_referral(known, stranger), headers=h(svc, EDDIE))
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/unknown-person")
    assert [e["field"] for e in r.json()["errors"]] == ["person_ids.1"]
    assert fake_people.calls == [[known, stranger]]
    listed = await svc.client.get(f"/v1/episodes?person_id={known}", headers=h(svc, EH))
    assert listed.json()["items"] == []  # nothing stored
    assert await events(svc, "episode.opened") == []
    r = await svc.client.post("/v1/episodes", json=self_referral(known), headers=h(svc, EDDIE))
    assert r.status_code == 201, r.text


async def test_referrals_unreachable_is_503_and_nothing_is_stored(svc, fake_people):
    fake_people.down = True
    person = str(uuid.uuid4())
    r = await svc.client.post("/v1/episodes", json=step_down(person), headers=h(svc, EH))
    assert r.status_code == 503 and r.json()["type"].endswith("/people-check-unavailable"), r.text
    assert r.headers["retry-after"]
    assert (await svc.client.get(f"/v1/episodes?person_id={person}", headers=h(svc, EH))).json()[
        "items"
    ] == []
    # The refusal comes first: a partner learns nothing of the people check.
    refused(
        await svc.client.post("/v1/episodes", json=step_down(person), headers=h(svc, SCHOOL)), "open-episode"
    )


# --- TAF, lead professional, plan, step-up ---------------------------------------------------------


async def test_a_school_on_the_taf_cannot_run_the_case(svc, fake_consent):
    ep = await shared_with_school(svc, fake_consent)
    eid = ep["id"]
    member = {"agency_id": "police-1", "agency_type": "police", "name": "PC Vale", "role": "PCSO"}
    police_on_taf = await add_taf(svc, eid, POLICE)
    for who in (SCHOOL, TOM):
        hdr = h(svc, who)
        refused(
            await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=hdr), "manage-team"
        )
        refused(
            await svc.client.delete(f"/v1/episodes/{eid}/taf-members/{police_on_taf['id']}", headers=hdr),
            "manage-team",
        )
        refused(
            await svc.client.put(f"/v1/episodes/{eid}/lead-professional", json=lead_body(), headers=hdr),
            "change-lead-professional",
        )
        refused(
            await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=hdr), "rewrite-plan"
        )
        refused(
            await svc.client.post(f"/v1/episodes/{eid}/step-up", json={"reason": "x"}, headers=hdr), "step-up"
        )
    # An early help practitioner who is not the manager (nor a delegated lead) neither.
    hdr = h(svc, ELLIE)
    refused(await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=hdr), "manage-team")
    refused(await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=hdr), "rewrite-plan")
    # An agency that cannot see the episode learns nothing: 404.
    r = await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=h(svc, HOUSING))
    assert r.status_code == 404
    # None of it happened.
    got = (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, EH))).json()
    assert got["lead_professional"] is None and len(got["taf_members"]) == 2
    assert (await svc.client.get(f"/v1/episodes/{eid}/plan", headers=h(svc, EH))).status_code == 404
    assert (await svc.client.get(f"/v1/episodes/{eid}/step-ups", headers=h(svc, EH))).json() == []
    # The manager may.
    r = await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=h(svc, EDDIE))
    assert r.status_code == 201, r.text
    r = await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EDDIE))
    assert r.status_code == 200, r.text


async def test_changing_the_lead_professional_needs_the_familys_agreement(svc):
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/lead-professional"
    r = await svc.client.put(url, json=lead_body(family_agreed=False), headers=h(svc, EH))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "family_agreed", r.text
    r = await svc.client.put(url, json=lead_body(), headers=h(svc, EH))
    assert r.status_code == 200 and r.json()["family_agreed"] is True
    assert [e["family_agreed"] for e in await events(svc, "lead_professional.assigned")] == [True]


async def test_the_lead_professional_manages_the_case_only_where_the_manager_delegates(svc, fake_consent):
    ep = await shared_with_school(svc, fake_consent)
    eid = ep["id"]
    url = f"/v1/episodes/{eid}/lead-professional"
    member = {"agency_id": "health-1", "agency_type": "health", "name": "Nurse N", "role": "school nurse"}
    # Tom is the lead professional, without delegation: still early help's to run.
    r = await svc.client.put(url, json=lead_body(practitioner_id="p-tom"), headers=h(svc, EDDIE))
    assert r.status_code == 200 and r.json()["practitioner_id"] == "p-tom"
    assert r.json()["manager_delegates"] is False
    refused(
        await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=h(svc, TOM)),
        "manage-team",
    )
    # Only a manager may delegate; the lead cannot delegate to themself.
    refused(
        await svc.client.put(
            url, json=lead_body(practitioner_id="p-tom", manager_delegates=True), headers=h(svc, ELLIE)
        ),
        "change-lead-professional",
    )
    r = await svc.client.put(
        url, json=lead_body(practitioner_id="p-tom", manager_delegates=True), headers=h(svc, EDDIE)
    )
    assert r.status_code == 200 and r.json()["manager_delegates"] is True
    got = (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, EH))).json()["lead_professional"]
    assert got["practitioner_id"] == "p-tom" and got["manager_delegates"] is True
    evs = await events(svc, "lead_professional.assigned")
    assert evs[-1]["practitioner_id"] == "p-tom" and evs[-1]["manager_delegates"] is True
    # Delegated: Tom manages the TAF and the plan, and steps up; Tina (his colleague) does not.
    refused(
        await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=h(svc, TINA)),
        "manage-team",
    )
    refused(
        await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=h(svc, SCHOOL)),
        "manage-team",
    )
    added = await svc.client.post(f"/v1/episodes/{eid}/taf-members", json=member, headers=h(svc, TOM))
    assert added.status_code == 201, added.text
    removed = await svc.client.delete(
        f"/v1/episodes/{eid}/taf-members/{added.json()['id']}", headers=h(svc, TOM)
    )
    assert removed.status_code == 204
    assert (
        await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, TOM))
    ).status_code == 200
    r = await svc.client.post(f"/v1/episodes/{eid}/step-up", json={"reason": "Worse."}, headers=h(svc, TOM))
    assert r.status_code in (201, 202), r.text
    # The delegated lead may hand the case on, but not delegate again: that is a manager's.
    r = await svc.client.put(
        url, json=lead_body(practitioner_id="p-tina", manager_delegates=True), headers=h(svc, TOM)
    )
    refused(r, "delegate-to-lead")
    r = await svc.client.put(
        url, json=lead_body(practitioner_id="p-tina", name="Tina Teacher"), headers=h(svc, TOM)
    )
    assert r.status_code == 200, r.text
    # Tom is no longer the lead: his delegation went with it.
    refused(
        await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, TOM)),
        "rewrite-plan",
    )


async def test_a_lead_of_another_agency_with_the_same_practitioner_id_is_not_the_lead(svc, fake_consent):
    ep = await shared_with_school(svc, fake_consent)
    eid = ep["id"]
    await add_taf(svc, eid, POLICE)
    fake_consent.allowed.add((ep["person_ids"][0], "police-1"))
    body = lead_body(practitioner_id="p-tom", manager_delegates=True)
    assert (
        await svc.client.put(f"/v1/episodes/{eid}/lead-professional", json=body, headers=h(svc, EH))
    ).status_code == 200
    impostor = practitioner(POLICE, "p-tom", "agency_practitioner")
    refused(
        await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, impostor)),
        "rewrite-plan",
    )


# --- the Early Help Assessment: approved by a manager who is not its author ------------------------


async def start_and_submit(svc, eid: str, who: dict) -> dict:
    r = await svc.client.post(f"/v1/episodes/{eid}/assessments", json=FULL, headers=h(svc, who))
    assert r.status_code == 201, r.text
    a = r.json()
    r = await svc.client.post(f"/v1/assessments/{a['id']}/submit", headers=h(svc, who))
    assert r.status_code == 200, r.text
    return r.json()


APPROVE = {"approved_by": {"name": "A Manager", "role": "Early help team manager"}}


async def test_no_one_approves_or_returns_their_own_assessment(svc, fake_consent):
    ep = await shared_with_school(svc, fake_consent)
    a = await start_and_submit(svc, ep["id"], EDDIE)
    assert a["author_practitioner_id"] == "p-eddie" and a["author_client_id"] == "test-early_help"
    url = f"/v1/assessments/{a['id']}"
    refused(
        await svc.client.post(f"{url}/approve", json=APPROVE, headers=h(svc, EDDIE)), "approve-assessment"
    )
    refused(
        await svc.client.post(f"{url}/return", json={"reason": "More"}, headers=h(svc, EDDIE)),
        "approve-assessment",
    )
    for who in (ELLIE, SCHOOL, TOM):
        refused(
            await svc.client.post(f"{url}/approve", json=APPROVE, headers=h(svc, who)), "approve-assessment"
        )
        refused(
            await svc.client.post(f"{url}/return", json={"reason": "x"}, headers=h(svc, who)),
            "approve-assessment",
        )
    assert (await svc.client.get(url, headers=h(svc, EH))).json()["status"] == "submitted"
    # Another early help manager returns it, and later approves it.
    r = await svc.client.post(f"{url}/return", json={"reason": "Add dad's views"}, headers=h(svc, ERIN))
    assert r.status_code == 200 and r.json()["status"] == "returned"
    await svc.client.post(f"{url}/submit", headers=h(svc, EDDIE))
    r = await svc.client.post(f"{url}/approve", json=APPROVE, headers=h(svc, ERIN))
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    # The managers' alert carries ids only.
    submitted = await events(svc, "assessment.submitted")
    assert submitted[0] == {
        "episode_id": ep["id"],
        "assessment_id": a["id"],
        "submitted_at": submitted[0]["submitted_at"],
        "author_practitioner_id": "p-eddie",
    }


async def test_a_system_call_is_judged_by_its_role_only(svc):
    ep = await new_episode(svc)
    a = await start_and_submit(svc, ep["id"], EH)  # the early help system names no author
    assert a["author_practitioner_id"] is None
    r = await svc.client.post(f"/v1/assessments/{a['id']}/approve", json=APPROVE, headers=h(svc, EH))
    assert r.status_code == 200, r.text
    ep2 = await new_episode(svc)
    b = await start_and_submit(svc, ep2["id"], ELLIE)
    assert b["author_practitioner_id"] == "p-ellie"
    r = await svc.client.post(f"/v1/assessments/{b['id']}/approve", json=APPROVE, headers=h(svc, EH))
    assert r.status_code == 200, r.text


# --- closure ---------------------------------------------------------------------------------------


async def test_closure_needs_a_managers_sign_off(svc, fake_consent):
    ep = await shared_with_school(svc, fake_consent)
    eid = ep["id"]
    body = lead_body(practitioner_id="p-tom", manager_delegates=True)
    assert (
        await svc.client.put(f"/v1/episodes/{eid}/lead-professional", json=body, headers=h(svc, EH))
    ).status_code == 200
    close = {"reason": "needs_met", "summary": "Attending."}
    for who in (TOM, SCHOOL, ELLIE):  # even the delegated lead professional
        refused(
            await svc.client.post(f"/v1/episodes/{eid}/close", json=close, headers=h(svc, who)),
            "close-episode",
        )
    r = await svc.client.post(f"/v1/episodes/{eid}/close", json=close, headers=h(svc, ERIN))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["status"] == "closed" and got["signed_off_by_practitioner_id"] == "p-erin"
    assert got["signed_off_by_client_id"] == "test-early_help"
    assert (await events(svc, "episode.closed"))[0]["signed_off_by_practitioner_id"] == "p-erin"
    # Refused before the state is looked at: a partner never learns the episode is closed.
    refused(
        await svc.client.post(f"/v1/episodes/{eid}/close", json=close, headers=h(svc, SCHOOL)),
        "close-episode",
    )
    # The early help system signs off as itself.
    ep2 = await new_episode(svc)
    r = await svc.client.post(f"/v1/episodes/{ep2['id']}/close", json=close, headers=h(svc, EH))
    assert (
        r.json()["signed_off_by_practitioner_id"] is None
        and r.json()["signed_off_by_client_id"] == "test-early_help"
    )


# --- actions ---------------------------------------------------------------------------------------


async def test_an_action_naming_its_owner_is_updated_by_that_practitioner_or_a_manager(svc, fake_consent):
    ep = await shared_with_school(svc, fake_consent)
    body = plan_body()
    body["actions"][0]["owner"]["practitioner_id"] = "p-tom"
    plan = (await svc.client.put(f"/v1/episodes/{ep['id']}/plan", json=body, headers=h(svc, EH))).json()
    action, unnamed = plan["actions"][0], plan["actions"][1]
    assert action["owner"] == {"agency_id": "school-1", "name": "Ms Head", "practitioner_id": "p-tom"}
    created = await events(svc, "action.created")
    assert created[0]["owner_practitioner_id"] == "p-tom"
    url = f"/v1/actions/{action['id']}"
    anyone = {"If-Match": "*"}
    for who in (TINA, SCHOOL, ELLIE):
        r = await svc.client.patch(url, json={"status": "in_progress"}, headers=h(svc, who, **anyone))
        refused(r, "update-action", "not-action-owner")
    r = await svc.client.patch(url, json={"status": "in_progress"}, headers=h(svc, TOM, **anyone))
    assert r.status_code == 200, r.text
    r = await svc.client.patch(url, json={"progress_notes": "Checked"}, headers=h(svc, ERIN, **anyone))
    assert r.status_code == 200, r.text
    # An action naming no practitioner stays the owning agency's, as before.
    url = f"/v1/actions/{unnamed['id']}"  # early help's
    r = await svc.client.patch(url, json={"status": "in_progress"}, headers=h(svc, ELLIE, **anyone))
    assert r.status_code == 200, r.text
    r = await svc.client.patch(url, json={"status": "completed"}, headers=h(svc, TOM, **anyone))
    refused(r, "update-action", "not-action-owner")


# --- consent covers named agencies ----------------------------------------------------------------


async def test_the_access_check_says_who_asks_and_how_the_agency_joined(svc, fake_consent):
    ep = await new_episode(svc)
    eid, person = ep["id"], ep["person_ids"][0]
    svc.runtime.access_cache.ttl = 60  # only the key can make a new joining ask afresh
    first = await add_taf(svc, eid, POLICE, practitioner_id="p-pat")  # no family agreement recorded
    assert first["family_agreed"] is False and first["practitioner_id"] == "p-pat"
    fake_consent.allowed.add((person, "police-1"))
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, PAT))).status_code == 200
    q = fake_consent.queries[-1]
    assert q["practitioner_id"] == "p-pat" and q["family_agreed_to_join"] == "false"
    assert q["joined_at"].endswith("Z") and q["joined_at"][:19] == first["added_at"][:19]
    # A second member of the same agency does not move its joining.
    second = await add_taf(svc, eid, POLICE, family_agreed=True)
    checks = fake_consent.checks
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, PAT))).status_code == 200
    assert fake_consent.checks == checks  # the same asker: answered from the cache
    # Another practitioner of the agency, or its system, is asked about afresh.
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, POLICE))).status_code == 200
    assert fake_consent.checks == checks + 1 and "practitioner_id" not in fake_consent.queries[-1]
    # Re-added with the family's agreement: a new joining, asked afresh (not the cached answer).
    for m in (first, second):
        await svc.client.delete(f"/v1/episodes/{eid}/taf-members/{m['id']}", headers=h(svc, EH))
    agreed = await add_taf(svc, eid, POLICE, practitioner_id="p-pat", family_agreed=True)
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, PAT))).status_code == 200
    q = fake_consent.queries[-1]
    assert fake_consent.checks == checks + 2
    assert q["family_agreed_to_join"] == "true" and q["joined_at"][:19] == agreed["added_at"][:19]
    # The disclosure names the practitioner who read (and a system read names no one).
    await svc.runtime.run_jobs_once()
    mine = [d for d in fake_consent.disclosures if d["agency_id"] == "police-1"]
    assert [d.get("practitioner_id") for d in mine] == ["p-pat", "p-pat", None, "p-pat"]


async def test_the_consent_service_decides_per_joining(svc, fake_consent):
    """A late member without the family's agreement is refused when the consent service says
    so (here: a consent that covers only an agency the family agreed to): a denial is 404."""
    ep = await new_episode(svc)
    eid, person = ep["id"], ep["person_ids"][0]

    def covers_only_agreed(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("family_agreed_to_join") == "true":
            fake_consent.allowed.add((person, "police-1"))
        else:
            fake_consent.allowed.discard((person, "police-1"))
        return fake_consent.handler(request)

    svc.runtime.clients["consent"] = ServiceClient(
        "http://consent.test",
        StaticTokens(svc.service_token),
        transport=httpx.MockTransport(covers_only_agreed),
    )
    late = await add_taf(svc, eid, POLICE)
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, PAT))).status_code == 404
    await svc.client.delete(f"/v1/episodes/{eid}/taf-members/{late['id']}", headers=h(svc, EH))
    await add_taf(svc, eid, POLICE, family_agreed=True)
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, PAT))).status_code == 200


# --- worklists -------------------------------------------------------------------------------------


async def test_my_caseload(svc, fake_consent):
    led = await new_episode(svc)
    await svc.client.put(
        f"/v1/episodes/{led['id']}/lead-professional",
        json=lead_body(name="Ellie", agency_id="eh-team", practitioner_id="p-ellie"),
        headers=h(svc, EH),
    )
    member = await new_episode(svc)
    await add_taf(svc, member["id"], EH, practitioner_id="p-ellie")
    both = await new_episode(svc)
    await add_taf(svc, both["id"], EH, practitioner_id="p-ellie")
    await svc.client.put(
        f"/v1/episodes/{both['id']}/lead-professional",
        json=lead_body(name="Ellie", agency_id="eh-team", practitioner_id="p-ellie"),
        headers=h(svc, EH),
    )
    await new_episode(svc)  # not hers
    removed = await new_episode(svc)
    m = await add_taf(svc, removed["id"], EH, practitioner_id="p-ellie")
    await svc.client.delete(f"/v1/episodes/{removed['id']}/taf-members/{m['id']}", headers=h(svc, EH))
    closed = await new_episode(svc)
    await add_taf(svc, closed["id"], EH, practitioner_id="p-ellie")
    await svc.client.post(
        f"/v1/episodes/{closed['id']}/close", json={"reason": "needs_met"}, headers=h(svc, EH)
    )
    # Someone else's lead (another practitioner) is not in her caseload.
    other = await new_episode(svc)
    await svc.client.put(
        f"/v1/episodes/{other['id']}/lead-professional",
        json=lead_body(name="Erin", agency_id="eh-team", practitioner_id="p-erin"),
        headers=h(svc, EH),
    )

    r = await svc.client.get("/v1/me/caseload", headers=h(svc, ELLIE))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [both["id"], member["id"], led["id"]]  # newest first
    assert [i["relationships"] for i in items] == [
        ["lead_professional", "taf_member"],
        ["taf_member"],
        ["lead_professional"],
    ]
    page1 = (await svc.client.get("/v1/me/caseload?limit=2", headers=h(svc, ELLIE))).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = (
        await svc.client.get(f"/v1/me/caseload?limit=2&cursor={page1['next_cursor']}", headers=h(svc, ELLIE))
    ).json()
    assert [i["id"] for i in page2["items"]] == [led["id"]] and page2["next_cursor"] is None
    # A system call names no one: there is no "me".
    r = await svc.client.get("/v1/me/caseload", headers=h(svc, EH))
    assert r.status_code == 403 and r.json()["type"].endswith("/practitioner-required")
    assert (
        await svc.client.get("/v1/me/caseload", headers=h(svc, {**ELLIE, "scopes": "reports:read"}))
    ).status_code == 403


async def test_a_partners_caseload_follows_visibility_and_is_disclosed(svc, fake_consent):
    ep = await new_episode(svc)
    await add_taf(svc, ep["id"], SCHOOL, practitioner_id="p-tom")
    assert (await svc.client.get("/v1/me/caseload", headers=h(svc, TOM))).json()["items"] == []  # no consent
    fake_consent.allowed.add((ep["person_ids"][0], "school-1"))
    svc.runtime.access_cache.forget_person(ep["person_ids"][0])
    items = (await svc.client.get("/v1/me/caseload", headers=h(svc, TOM))).json()["items"]
    assert [i["id"] for i in items] == [ep["id"]]
    assert (await svc.client.get("/v1/me/caseload", headers=h(svc, TINA))).json()["items"] == []
    await svc.runtime.run_jobs_once()
    assert [(d["agency_id"], d.get("practitioner_id")) for d in fake_consent.disclosures] == [
        ("school-1", "p-tom")
    ]


async def test_assessments_awaiting_approval_for_managers_oldest_first(svc, fake_consent):
    ep1, ep2, ep3 = await new_episode(svc), await new_episode(svc), await new_episode(svc)
    a1 = await start_and_submit(svc, ep1["id"], ELLIE)
    a2 = await start_and_submit(svc, ep2["id"], EDDIE)
    draft = (
        await svc.client.post(f"/v1/episodes/{ep3['id']}/assessments", json=FULL, headers=h(svc, EH))
    ).json()
    url = "/v1/assessments?status=submitted"
    r = await svc.client.get(url, headers=h(svc, ERIN))
    assert r.status_code == 200, r.text
    assert [(a["id"], a["author_practitioner_id"]) for a in r.json()["items"]] == [
        (a1["id"], "p-ellie"),
        (a2["id"], "p-eddie"),
    ]
    assert draft["id"] not in r.text
    # Eddie's own is left out of his list: he may not approve it.
    assert [a["id"] for a in (await svc.client.get(url, headers=h(svc, EDDIE))).json()["items"]] == [a1["id"]]
    page = (await svc.client.get(f"{url}&limit=1", headers=h(svc, EH))).json()
    assert [a["id"] for a in page["items"]] == [a1["id"]] and page["next_cursor"]
    page = (await svc.client.get(f"{url}&limit=1&cursor={page['next_cursor']}", headers=h(svc, EH))).json()
    assert [a["id"] for a in page["items"]] == [a2["id"]]
    for who in (ELLIE, SCHOOL, TOM, POLICE):
        refused(await svc.client.get(url, headers=h(svc, who)), "awaiting-approval")
    assert (await svc.client.get("/v1/assessments?status=draft", headers=h(svc, ERIN))).status_code == 422
    # Approved ones, and those of closed episodes, are no longer waiting.
    await svc.client.post(f"/v1/assessments/{a1['id']}/approve", json=APPROVE, headers=h(svc, ERIN))
    await svc.client.post(
        f"/v1/episodes/{ep2['id']}/close", json={"reason": "moved_away"}, headers=h(svc, ERIN)
    )
    assert (await svc.client.get(url, headers=h(svc, ERIN))).json()["items"] == []


# --- the rules, documented -------------------------------------------------------------------------


def test_docs_show_the_policy_table():
    docs = Path(__file__).resolve().parents[3] / "docs" / "assessments.md"
    assert policy.rules_markdown() in docs.read_text(), "docs/assessments.md 'Who may do what' is out of date"
