"""Issue 20, the episode's family (`family.py`): children and adults named at opening, the
managers' replacement of the list, and names and dates of birth for those who may see the
episode - nothing for those who may not."""

from __future__ import annotations

import uuid
from typing import Any

from services.assessments.tests.conftest import EH, MASH, SCHOOL, add_taf, decided_event, deliver, h
from services.assessments.tests.test_access import flush
from services.assessments.tests.test_policy import EDDIE, ELLIE, TOM, lead_body


async def family_episode(svc: Any) -> tuple[dict[str, Any], str, str, str]:
    """An episode opened by a decision naming Amira, her mother Samira and an adult Dave."""
    amira, samira, dave = (str(uuid.uuid4()) for _ in range(3))
    env = decided_event(
        people=[amira], adult_person_ids=[samira, dave], adult_relationships={samira: "mother", dave: "uncle"}
    )
    assert (await deliver(svc, env)).status_code == 202
    ep = (await svc.client.get(f"/v1/episodes?person_id={amira}", headers=h(svc, EH))).json()["items"][0]
    return ep, amira, samira, dave


def names(fake_people: Any, **people: tuple[str, str, str | None]) -> None:
    for pid, (given, family, dob) in people.items():
        fake_people.details[pid] = {
            "kind": "adult" if dob is None else "child",
            "given_name": given,
            "family_name": family,
            "date_of_birth": dob,
            "unborn_expected_on": None,
        }


async def test_an_episode_opened_by_a_referral_names_its_children_and_adults(svc):
    ep, amira, samira, dave = await family_episode(svc)
    full = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert full["person_ids"] == [amira]  # still the children
    got = [(m["person_id"], m["role"], m["relationship"]) for m in full["family_members"]]
    # An unknown relationship code ("uncle") is not stored.
    assert got[0] == (amira, "child", None)  # children first
    assert set(got[1:]) == {(samira, "adult", "mother"), (dave, "adult", None)}


async def test_an_episode_opened_without_adults_names_its_children(svc):
    amira = str(uuid.uuid4())
    assert (await deliver(svc, decided_event(people=[amira]))).status_code == 202
    ep = (await svc.client.get(f"/v1/episodes?person_id={amira}", headers=h(svc, EH))).json()["items"][0]
    full = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert [(m["person_id"], m["role"]) for m in full["family_members"]] == [(amira, "child")]


async def test_managers_replace_the_family_and_the_children_stay(svc, fake_people):
    ep, amira, samira, dave = await family_episode(svc)
    url = f"/v1/episodes/{ep['id']}/family-members"
    omar = str(uuid.uuid4())
    body = {
        "members": [
            {"person_id": amira, "role": "child"},
            {"person_id": samira, "role": "adult", "relationship": "mother"},
            {"person_id": omar, "role": "adult", "relationship": "father"},
        ]
    }
    resp = await svc.client.put(url, json=body, headers=h(svc, EDDIE))
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert {(m["person_id"], m["role"], m["relationship"]) for m in items} == {
        (amira, "child", None),
        (samira, "adult", "mother"),
        (omar, "adult", "father"),
    }
    assert dave not in {m["person_id"] for m in items}
    # Samira keeps the time she joined the family.
    before = {
        m["person_id"]: m["added_at"]
        for m in (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()[
            "family_members"
        ]
    }
    assert fake_people.calls[-1] == [amira, samira, omar]
    # The children stay.
    without = {"members": [{"person_id": samira, "role": "adult"}]}
    resp = await svc.client.put(url, json=without, headers=h(svc, EDDIE))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "members"
    as_adult = {"members": [{"person_id": amira, "role": "adult"}]}
    assert (await svc.client.put(url, json=as_adult, headers=h(svc, EDDIE))).status_code == 422
    twice = {"members": [{"person_id": amira, "role": "child"}, {"person_id": amira, "role": "child"}]}
    resp = await svc.client.put(url, json=twice, headers=h(svc, EDDIE))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "members.1.person_id"
    # Unknown to the referrals service: 422 naming the member; unreachable: 503.
    stranger = str(uuid.uuid4())
    fake_people.unknown.add(stranger)
    unknown = {"members": [{"person_id": amira, "role": "child"}, {"person_id": stranger, "role": "adult"}]}
    resp = await svc.client.put(url, json=unknown, headers=h(svc, EDDIE))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "members.1.person_id", resp.text
    fake_people.down = True
    assert (await svc.client.put(url, json=body, headers=h(svc, EDDIE))).status_code == 503
    fake_people.down = False
    bad = {"members": [{"person_id": amira, "role": "parent"}]}
    assert (await svc.client.put(url, json=bad, headers=h(svc, EDDIE))).status_code == 422
    after = {
        m["person_id"]: m["added_at"]
        for m in (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()[
            "family_members"
        ]
    }
    assert after == before


async def test_only_the_episodes_managers_set_the_family(svc, fake_consent):
    ep, amira, samira, _ = await family_episode(svc)
    url = f"/v1/episodes/{ep['id']}/family-members"
    body = {"members": [{"person_id": amira, "role": "child"}, {"person_id": samira, "role": "adult"}]}
    resp = await svc.client.put(url, json=body, headers=h(svc, ELLIE))
    assert resp.status_code == 403 and resp.json()["rule"] == "manage-family"
    # The school on the TAF with consent sees the episode but does not manage its family.
    await add_taf(svc, ep["id"], SCHOOL, practitioner_id="p-tom", family_agreed=True)
    fake_consent.allowed.add((amira, "school-1"))
    resp = await svc.client.put(url, json=body, headers=h(svc, TOM))
    assert resp.status_code == 403 and resp.json()["rule"] == "manage-family"
    # A lead professional the manager delegates to may.
    lead = lead_body(practitioner_id="p-ellie", agency_id="eh-team", manager_delegates=True)
    assert (
        await svc.client.put(f"/v1/episodes/{ep['id']}/lead-professional", json=lead, headers=h(svc, EDDIE))
    ).status_code == 200
    assert (await svc.client.put(url, json=body, headers=h(svc, ELLIE))).status_code == 200
    # A partner not on the TAF: the episode is 404, its family too.
    other = {"agency_type": "police", "agency_id": "police-9", "scopes": "episodes:read episodes:write"}
    assert (await svc.client.put(url, json=body, headers=h(svc, other))).status_code == 404


async def test_family_names_for_those_who_may_see_the_episode(svc, fake_consent, fake_people):
    ep, amira, samira, dave = await family_episode(svc)
    names(
        fake_people,
        **{
            amira: ("Amira", "Ahmed", "2017-03-02"),
            samira: ("Samira", "Ahmed", None),
            dave: ("Dave", "Stone", None),
        },
    )
    url = f"/v1/episodes/{ep['id']}/family"
    # Early help and the MASH see every episode.
    for who in (EH, MASH):
        resp = await svc.client.get(url, headers=h(svc, who))
        assert resp.status_code == 200, resp.text
        members = {m["person_id"]: m for m in resp.json()["members"]}
        assert members[amira]["given_name"] == "Amira" and members[amira]["date_of_birth"] == "2017-03-02"
        assert members[samira]["family_name"] == "Ahmed" and members[samira]["relationship"] == "mother"
    # The school: not on the TAF -> 404; on the TAF without consent -> 404 (as the episode).
    school = {**SCHOOL, "practitioner_id": "p-tom", "roles": "agency_practitioner"}
    calls = len(fake_people.details_calls)
    assert (await svc.client.get(url, headers=h(svc, school))).status_code == 404
    await add_taf(svc, ep["id"], SCHOOL, practitioner_id="p-tom", family_agreed=True)
    denied = await svc.client.get(url, headers=h(svc, school))
    assert denied.status_code == 404 and "Amira" not in denied.text
    assert len(fake_people.details_calls) == calls  # nothing was even asked
    # With consent: names and dates of birth; the read is a disclosure naming Tom.
    fake_consent.allowed.add((amira, "school-1"))
    svc.runtime.access_cache.forget_person(amira)  # the refusal was cached a moment ago
    ok = await svc.client.get(url, headers=h(svc, school))
    assert ok.status_code == 200, ok.text
    assert {m["given_name"] for m in ok.json()["members"]} == {"Amira", "Samira", "Dave"}
    await flush(svc)
    family_reads = [d for d in fake_consent.disclosures if d["resource_type"] == "family"]
    # As an episode read: the MASH's read is one too (early help's is not).
    assert [(d["person_id"], d["agency_id"], d.get("practitioner_id"), d["basis"]) for d in family_reads] == [
        (amira, "mash-1", None, "mash_screening"),
        (amira, "school-1", "p-tom", "consent"),
    ]
    # The referrals service down: 503, nothing half-answered.
    fake_people.down = True
    resp = await svc.client.get(url, headers=h(svc, EH))
    assert resp.status_code == 503 and resp.json()["type"].endswith("/people-check-unavailable")
    fake_people.down = False
    # A person it no longer knows reads with no names (never a 500).
    fake_people.details.pop(dave)
    resp = await svc.client.get(url, headers=h(svc, EH))
    assert {m["person_id"]: m["given_name"] for m in resp.json()["members"]}[dave] is None


async def test_no_family_details_after_consent_is_withdrawn(svc, fake_consent, fake_people):
    ep, amira, samira, _ = await family_episode(svc)
    names(fake_people, **{amira: ("Amira", "Ahmed", "2017-03-02"), samira: ("Samira", "Ahmed", None)})
    await add_taf(svc, ep["id"], SCHOOL, family_agreed=True)
    fake_consent.allowed.add((amira, "school-1"))
    url = f"/v1/episodes/{ep['id']}/family"
    assert (await svc.client.get(url, headers=h(svc, SCHOOL))).status_code == 200
    fake_consent.allowed.clear()
    env = {
        "id": str(uuid.uuid4()),
        "type": "consent.withdrawn",
        "source": "consent",
        "data": {"person_id": amira, "withdrawn_at": "2026-10-01T10:00:00Z"},
    }
    assert (await deliver(svc, env)).status_code == 202
    assert (await svc.client.get(url, headers=h(svc, SCHOOL))).status_code == 404
