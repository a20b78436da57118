"""The episode's chronology (issue 20, item 1): every source merged in time order, each item
linking to its source, restricted notes only for early help, keyset pagination both ways,
the filters, 404 for those who may not see the episode, and reads as disclosures. Also: the
person timeline served to the referrals service keeps its kinds and fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import quote

from services.assessments.tests.conftest import EH, POLICE, SCHOOL, add_taf, h, new_episode
from services.assessments.tests.test_assessments import FULL
from services.assessments.tests.test_notes import ago, note, write
from services.assessments.tests.test_plans import plan_body
from services.assessments.tests.test_policy import ELLIE, ERIN, PAT, TOM
from services.assessments.tests.test_step_up import FakeReferrals, use
from services.assessments.timeline import PERSON_TIMELINE_KINDS

EVERY_KIND = {
    "episode_opened",
    "contact",
    "case_note",
    "lead_professional_assigned",
    "taf_member_added",
    "taf_member_removed",
    "assessment_started",
    "assessment_submitted",
    "assessment_approved",
    "assessment_returned",
    "plan_agreed",
    "review_held",
    "stepped_up",
    "episode_closed",
}
SECRET = "Mum disclosed a private matter"


async def full_episode(svc, fake_consent) -> dict:
    """An episode with one of (nearly) everything, closed at the end."""
    use(svc, FakeReferrals())
    ep = await new_episode(svc)
    eid, person = ep["id"], ep["person_ids"][0]
    r = await svc.client.put(
        f"/v1/episodes/{eid}/lead-professional",
        headers=h(svc, EH),
        json={
            "name": "Lee Lead",
            "agency_id": "eh-team",
            "email": "lee@council.example",
            "family_agreed": True,
        },
    )
    assert r.status_code == 200, r.text
    await add_taf(svc, eid, SCHOOL)
    fake_consent.allowed.add((person, "school-1"))
    police = await add_taf(svc, eid, POLICE)
    r = await svc.client.delete(f"/v1/episodes/{eid}/taf-members/{police['id']}", headers=h(svc, EH))
    assert r.status_code == 204
    contact = {"contact_at": ago(hours=3), "method": "home_visit", "notes": "Met mum and Amira"}
    assert (
        await svc.client.post(f"/v1/episodes/{eid}/contacts", headers=h(svc, EH), json=contact)
    ).status_code == 201
    open_note = await write(svc, eid, TOM, note("School note", occurred_at=ago(hours=2)))
    secret = await write(
        svc, eid, ELLIE, note(SECRET, kind="phone_call", restricted=True, occurred_at=ago(hours=1))
    )
    a = (await svc.client.post(f"/v1/episodes/{eid}/assessments", json=FULL, headers=h(svc, EH))).json()
    for step, body in (("submit", None), ("return", {"reason": "more on dad"}), ("submit", None)):
        r = await svc.client.post(f"/v1/assessments/{a['id']}/{step}", headers=h(svc, EH), json=body)
        assert r.status_code == 200, r.text
    r = await svc.client.post(
        f"/v1/assessments/{a['id']}/approve",
        headers=h(svc, ERIN),
        json={"approved_by": {"name": "Erin", "role": "team manager"}},
    )
    assert r.status_code == 200, r.text
    plan = (await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))).json()
    review = {
        "held_on": date.today().isoformat(),
        "next_review_on": (date.today() + timedelta(weeks=6)).isoformat(),
        "outcome_progress": [{"outcome_id": plan["outcomes"][0]["id"], "score": 5}],
    }
    assert (
        await svc.client.post(f"/v1/episodes/{eid}/reviews", headers=h(svc, EH), json=review)
    ).status_code == 201
    r = await svc.client.post(f"/v1/episodes/{eid}/step-up", json={"reason": "harm"}, headers=h(svc, EH))
    assert r.status_code == 201, r.text
    r = await svc.client.post(f"/v1/episodes/{eid}/close", headers=h(svc, EH), json={"reason": "stepped_up"})
    assert r.status_code == 200, r.text
    return {
        "id": eid,
        "person": person,
        "referral_id": ep["referral_id"],
        "assessment": a["id"],
        "plan": plan,
        "open_note": open_note["id"],
        "secret": secret["id"],
    }


async def chronology(svc, eid: str, who: dict, **params) -> dict:
    r = await svc.client.get(f"/v1/episodes/{eid}/chronology", headers=h(svc, who), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def walk(svc, eid: str, who: dict, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await chronology(svc, eid, who, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def key(item: dict) -> tuple:
    return (datetime.fromisoformat(item["at"]), item["kind"], item["source"]["id"])


async def test_the_chronology_merges_every_source_newest_first_with_links(svc, fake_consent):
    e = await full_episode(svc, fake_consent)
    eid = e["id"]
    body = await chronology(svc, eid, EH, limit=200)
    items = body["items"]
    assert body["episode_id"] == eid and body["next_cursor"] is None
    assert {i["kind"] for i in items} == EVERY_KIND
    assert [key(i) for i in items] == sorted((key(i) for i in items), reverse=True)
    by_kind = {}
    for i in items:
        by_kind.setdefault(i["kind"], []).append(i)
    opened = by_kind["episode_opened"][0]
    assert opened["source"] == {"type": "episode", "id": eid} and opened["href"] == f"/v1/episodes/{eid}"
    assert opened["links"] == {"referral": f"/v1/referrals/{e['referral_id']}"}
    assert (
        opened["detail"]["origin"] == "referral" and opened["detail"]["level_of_need"] == "partnership_plus"
    )
    assert "partnership plus" in opened["summary"]
    notes = {i["source"]["id"]: i for i in by_kind["case_note"]}
    assert set(notes) == {e["open_note"], e["secret"]}
    assert notes[e["secret"]]["href"] == f"/v1/episodes/{eid}/notes/{e['secret']}"
    assert notes[e["secret"]]["summary"] == "Case note: phone call (restricted)"
    assert SECRET not in str(body)  # a summary is made from codes, never from a note's text
    contact = by_kind["contact"][0]
    assert contact["href"] == f"/v1/episodes/{eid}/contacts/{contact['source']['id']}"
    assert (await svc.client.get(contact["href"], headers=h(svc, EH))).status_code == 200
    assessment_kinds = {i["kind"] for i in items if i["source"]["type"] == "assessment"}
    assert assessment_kinds == {
        "assessment_started",
        "assessment_submitted",
        "assessment_returned",
        "assessment_approved",
    }
    assert {i["href"] for i in items if i["source"]["type"] == "assessment"} == {
        f"/v1/assessments/{e['assessment']}"
    }
    plan = by_kind["plan_agreed"][0]
    assert plan["href"] == f"/v1/episodes/{eid}/plan/versions/1" and plan["source"]["id"] == e["plan"]["id"]
    stepped = by_kind["stepped_up"][0]
    assert stepped["links"]["referral"].startswith("/v1/referrals/")
    assert [i["kind"] for i in by_kind["taf_member_removed"]] == ["taf_member_removed"]
    assert items[0]["kind"] == "episode_closed" and "stepped up" in items[0]["summary"]
    for item in items:  # every href is a path the API answers
        assert (await svc.client.get(item["href"], headers=h(svc, EH))).status_code == 200, item["href"]


async def test_restricted_notes_appear_only_for_early_help(svc, fake_consent):
    e = await full_episode(svc, fake_consent)
    eh = await walk(svc, e["id"], ELLIE)
    school = await walk(svc, e["id"], TOM)
    assert e["secret"] in {i["source"]["id"] for i in eh}
    assert e["secret"] not in {i["source"]["id"] for i in school}
    assert e["open_note"] in {i["source"]["id"] for i in school}
    assert len(school) == len(eh) - 1


async def test_pagination_walks_both_orders_without_gaps_or_repeats(svc, fake_consent):
    e = await full_episode(svc, fake_consent)
    everything = (await chronology(svc, e["id"], EH, limit=200))["items"]
    newest_first = await walk(svc, e["id"], EH, limit=4)
    assert newest_first == everything
    oldest_first = await walk(svc, e["id"], EH, limit=3, order="asc")
    assert oldest_first == list(reversed(everything))
    assert oldest_first[-1]["kind"] == "episode_closed"


async def test_filters_by_kind_and_time(svc, fake_consent):
    e = await full_episode(svc, fake_consent)
    eid = e["id"]
    r = await svc.client.get(f"/v1/episodes/{eid}/chronology?kind=case_note&kind=contact", headers=h(svc, EH))
    assert r.status_code == 200
    assert sorted(i["kind"] for i in r.json()["items"]) == ["case_note", "case_note", "contact"]
    everything = (await chronology(svc, eid, EH, limit=200))["items"]
    lo, hi = everything[-3]["at"], everything[2]["at"]
    r = await svc.client.get(
        f"/v1/episodes/{eid}/chronology?from={quote(lo)}&to={quote(hi)}&limit=200", headers=h(svc, EH)
    )
    got = r.json()["items"]
    assert got and all(lo <= i["at"] <= hi for i in got)
    assert got == [
        i
        for i in everything
        if datetime.fromisoformat(lo) <= datetime.fromisoformat(i["at"]) <= datetime.fromisoformat(hi)
    ]
    for query, field in (
        ("kind=gossip", "kind"),
        (f"from={quote(hi)}&to={quote(lo)}", "from"),
        ("cursor=bm9wZQ", "cursor"),
        ("order=sideways", "order"),
    ):
        r = await svc.client.get(f"/v1/episodes/{eid}/chronology?{query}", headers=h(svc, EH))
        assert r.status_code == 422 and field in r.text, query


async def test_the_chronology_is_read_like_the_episode(svc, fake_consent):
    e = await full_episode(svc, fake_consent)
    eid = e["id"]
    # Police left the TAF; a police officer never sees it.
    r = await svc.client.get(f"/v1/episodes/{eid}/chronology", headers=h(svc, PAT))
    assert r.status_code == 404 and r.json()["type"].endswith("/episode-not-found")
    # The school without consent: 404 too.
    fake_consent.allowed.discard((e["person"], "school-1"))
    svc.runtime.access_cache.forget_person(e["person"])
    assert (await svc.client.get(f"/v1/episodes/{eid}/chronology", headers=h(svc, TOM))).status_code == 404
    fake_consent.allowed.add((e["person"], "school-1"))
    svc.runtime.access_cache.forget_person(e["person"])
    fake_consent.disclosures.clear()
    await svc.runtime.run_jobs_once()
    fake_consent.disclosures.clear()
    await chronology(svc, eid, TOM)
    await chronology(svc, eid, EH)  # early help: no disclosure
    await svc.runtime.run_jobs_once()
    got = [(d["agency_id"], d["resource_type"], d["resource_id"]) for d in fake_consent.disclosures]
    assert got == [("school-1", "chronology", eid)]


async def test_the_person_timeline_keeps_its_kinds_and_fields(svc, fake_consent):
    e = await full_episode(svc, fake_consent)
    r = await svc.client.get(
        f"/internal/people/{e['person']}/timeline",
        params={"agency_id": "eh-team", "agency_type": "early_help"},
        headers=svc.headers(agency_type="service", audience="early-help-api"),
    )
    items = r.json()["items"]
    assert {i["kind"] for i in items} <= PERSON_TIMELINE_KINDS
    fields = {i["kind"]: set(i) - {"at", "kind", "episode_id"} for i in items}
    assert fields == {
        "episode_opened": {"reference", "origin", "level_of_need", "referral_id"},
        "lead_professional_assigned": {"agency_id"},
        "assessment_started": {"assessment_id"},
        "assessment_approved": {"assessment_id"},
        "plan_agreed": {"plan_id", "version"},
        "review_held": {"review_id", "next_review_on"},
        "stepped_up": {"step_up_id", "referral_id"},
        "episode_closed": {"reason"},
    }
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)


async def test_the_chronology_takes_a_page_of_500_and_no_more(svc, fake_consent):
    """A chronology is read whole (docs/performance.md): `limit` up to 500; other lists 200."""
    e = await full_episode(svc, fake_consent)
    whole = (await chronology(svc, e["id"], EH, limit=500))["items"]
    assert whole == (await chronology(svc, e["id"], EH, limit=200))["items"]
    too_many = await svc.client.get(f"/v1/episodes/{e['id']}/chronology?limit=501", headers=h(svc, EH))
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"
    notes = await svc.client.get(f"/v1/episodes/{e['id']}/notes?limit=500", headers=h(svc, EH))
    assert notes.status_code == 422 and notes.json()["errors"][0]["field"] == "limit"
