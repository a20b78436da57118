"""Contacts read back and case notes (issue 20, item 1): each rule with its positive path beside
it - who reads which note (restricted ones are early help's), who writes and amends, the
history an amendment keeps, If-Match, pagination and disclosures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.assessments.tests.conftest import EH, MASH, POLICE, SCHOOL, add_taf, h, new_episode
from services.assessments.tests.test_policy import ELLIE, ERIN, PAT, TINA, TOM, practitioner, refused

SOCIAL_CARE = {"agency_type": "social_care", "agency_id": "sc-1", "scopes": "episodes:read episodes:write"}
SOL = practitioner(SOCIAL_CARE, "p-sol", "agency_practitioner")


def ago(**kw: float) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).isoformat()


def note(text: str = "Saw the family at home; all well.", **kw) -> dict:
    return {"kind": "visit", "occurred_at": ago(hours=1), "text": text, **kw}


async def shared_episode(svc, fake_consent, *who: dict) -> dict:
    """An episode with the school (and `who`) on the TAF and consenting."""
    ep = await new_episode(svc)
    for agency in (SCHOOL, *who):
        await add_taf(svc, ep["id"], agency)
        fake_consent.allowed.add((ep["person_ids"][0], agency["agency_id"]))
    return ep


async def write(svc, eid: str, who: dict, body: dict | None = None) -> dict:
    r = await svc.client.post(f"/v1/episodes/{eid}/notes", headers=h(svc, who), json=body or note())
    assert r.status_code == 201, r.text
    return r.json()


async def test_contacts_are_read_back_newest_first_like_the_episode(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent)
    eid = ep["id"]
    url = f"/v1/episodes/{eid}/contacts"
    for hours in (5, 3, 1):
        body = {"contact_at": ago(hours=hours), "method": "phone", "notes": f"call {hours}"}
        assert (await svc.client.post(url, headers=h(svc, EH), json=body)).status_code == 201
    page1 = (await svc.client.get(url, params={"limit": 2}, headers=h(svc, EH))).json()
    assert [c["notes"] for c in page1["items"]] == ["call 1", "call 3"]
    page2 = (
        await svc.client.get(url, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=h(svc, EH))
    ).json()
    assert [c["notes"] for c in page2["items"]] == ["call 5"] and page2["next_cursor"] is None
    first = page2["items"][0]
    assert first["first"] is True and first["within_deadline"] is True
    assert page1["items"][0]["first"] is False and page1["items"][0]["within_deadline"] is None
    one = await svc.client.get(f"{url}/{first['id']}", headers=h(svc, TOM))  # TAF member with consent
    assert one.status_code == 200 and one.json() == first
    assert (await svc.client.get(url, headers=h(svc, POLICE))).status_code == 404  # not on the TAF
    assert (await svc.client.get(f"{url}/{uuid.uuid4()}", headers=h(svc, EH))).status_code == 404
    other = await new_episode(svc)
    r = await svc.client.get(f"/v1/episodes/{other['id']}/contacts/{first['id']}", headers=h(svc, EH))
    assert r.status_code == 404 and r.json()["type"].endswith("/contact-not-found")


async def test_a_note_records_its_author_from_the_token(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent)
    r = await svc.client.post(f"/v1/episodes/{ep['id']}/notes", headers=h(svc, TOM), json=note())
    assert r.status_code == 201, r.text
    got = r.json()
    assert r.headers["location"] == f"/v1/episodes/{ep['id']}/notes/{got['id']}"
    assert r.headers["etag"] == f'"{got["id"]}-1"'
    assert got["author"] == {
        "practitioner_id": "p-tom",
        "agency_id": "school-1",
        "client_id": "test-education",
    }
    assert got["kind"] == "visit" and got["restricted"] is False and got["version"] == 1
    assert got["amended_at"] is None
    system = await write(svc, ep["id"], EH)  # a system call: the client, no practitioner
    assert system["author"] == {
        "practitioner_id": None,
        "agency_id": "eh-team",
        "client_id": "test-early_help",
    }


async def test_note_requests_are_validated(svc):
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/notes"
    for body, field in (
        (note(kind="gossip"), "kind"),
        (note(text="   "), "text"),
        (note(text="x" * 8001), "text"),
        (note(occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()), "occurred_at"),
        ({**note(), "author": "me"}, "author"),
    ):
        r = await svc.client.post(url, headers=h(svc, EH), json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text


async def test_restricted_notes_are_early_helps_only(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent, SOCIAL_CARE)
    eid = ep["id"]
    open_note = await write(svc, eid, ELLIE, note("Open note"))
    secret = await write(svc, eid, ELLIE, note("Restricted note", restricted=True))
    assert secret["restricted"] is True
    for reader in (EH, ELLIE, MASH):
        items = (await svc.client.get(f"/v1/episodes/{eid}/notes", headers=h(svc, reader))).json()["items"]
        assert {n["id"] for n in items} == {open_note["id"], secret["id"]}, reader
        r = await svc.client.get(f"/v1/episodes/{eid}/notes/{secret['id']}", headers=h(svc, reader))
        assert r.status_code == 200
    # A school on the TAF with consent reads the episode's open notes, and never the restricted one.
    for reader in (TOM, SOL):
        items = (await svc.client.get(f"/v1/episodes/{eid}/notes", headers=h(svc, reader))).json()["items"]
        assert [n["id"] for n in items] == [open_note["id"]]
        assert (
            await svc.client.get(f"/v1/episodes/{eid}/notes/{open_note['id']}", headers=h(svc, reader))
        ).status_code == 200
        for path in (f"notes/{secret['id']}", f"notes/{secret['id']}/history"):
            r = await svc.client.get(f"/v1/episodes/{eid}/{path}", headers=h(svc, reader))
            assert r.status_code == 404 and r.json()["type"].endswith("/note-not-found"), path
    # ... nor marks one restricted: it would hide its own note from itself.
    r = await svc.client.post(f"/v1/episodes/{eid}/notes", headers=h(svc, TOM), json=note(restricted=True))
    refused(r, "restrict-note")


async def test_notes_follow_the_episode_consent_and_taf(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent)
    eid = ep["id"]
    n = await write(svc, eid, ELLIE)
    # Not on the TAF: the episode, its notes and each note do not exist.
    for path in ("notes", f"notes/{n['id']}", f"notes/{n['id']}/history"):
        r = await svc.client.get(f"/v1/episodes/{eid}/{path}", headers=h(svc, PAT))
        assert r.status_code == 404 and r.json()["type"].endswith("/episode-not-found"), path
    r = await svc.client.post(f"/v1/episodes/{eid}/notes", headers=h(svc, PAT), json=note())
    assert r.status_code == 404
    # On the TAF without consent: still nothing.
    await add_taf(svc, eid, POLICE)
    assert (await svc.client.get(f"/v1/episodes/{eid}/notes", headers=h(svc, PAT))).status_code == 404
    # A note id from another episode is not this episode's.
    other = await new_episode(svc)
    r = await svc.client.get(f"/v1/episodes/{other['id']}/notes/{n['id']}", headers=h(svc, EH))
    assert r.status_code == 404 and r.json()["type"].endswith("/note-not-found")
    # MASH reads but cannot write (no episodes:write).
    r = await svc.client.post(f"/v1/episodes/{eid}/notes", headers=h(svc, MASH), json=note())
    assert r.status_code == 403


async def test_amending_keeps_every_version_with_who_and_why(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent)
    eid = ep["id"]
    n = await write(svc, eid, TOM, note("Fist version"))
    url = f"/v1/episodes/{eid}/notes/{n['id']}"
    r = await svc.client.patch(
        url,
        headers=h(svc, TOM, **{"If-Match": f'"{n["id"]}-1"'}),
        json={"text": "First version", "reason": "typo"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "First version" and r.json()["version"] == 2 and r.json()["amended_at"]
    assert r.headers["etag"] == f'"{n["id"]}-2"'
    assert r.json()["author"]["practitioner_id"] == "p-tom"  # the author stays the author
    r = await svc.client.patch(
        url,
        headers=h(svc, ERIN, **{"If-Match": r.headers["etag"]}),
        json={"kind": "meeting", "restricted": True, "reason": "it was a meeting; sensitive"},
    )
    assert r.status_code == 200, r.text
    history = (await svc.client.get(f"{url}/history", headers=h(svc, EH))).json()
    assert history["note_id"] == n["id"] and history["episode_id"] == eid
    got = [
        (
            v["version"],
            v["kind"],
            v["text"],
            v["restricted"],
            v["recorded_by"]["practitioner_id"],
            v["reason"],
        )
        for v in history["versions"]
    ]
    assert got == [
        (1, "visit", "Fist version", False, "p-tom", None),
        (2, "visit", "First version", False, "p-tom", "typo"),
        (3, "meeting", "First version", True, "p-erin", "it was a meeting; sensitive"),
    ]
    # Restricted now: the author's school no longer sees it at all.
    assert (await svc.client.get(url, headers=h(svc, TOM))).status_code == 404


async def test_only_the_author_or_an_early_help_manager_amends(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent)
    eid = ep["id"]
    n = await write(svc, eid, TOM)
    url = f"/v1/episodes/{eid}/notes/{n['id']}"
    body = {"text": "Changed", "reason": "why not"}
    etag = {"If-Match": f'"{n["id"]}-1"'}
    for who in (TINA, ELLIE, SCHOOL):  # a colleague, an early help practitioner, the school's system
        refused(await svc.client.patch(url, headers=h(svc, who, **etag), json=body), "amend-note")
    assert (await svc.client.patch(url, headers=h(svc, PAT, **etag), json=body)).status_code == 404
    r = await svc.client.patch(url, headers=h(svc, TOM, **etag), json=body)
    assert r.status_code == 200
    # A note written by a system call is its agency's; the early help system acts as a manager.
    sys_note = await write(svc, eid, SCHOOL)
    sys_url, sys_etag = f"/v1/episodes/{eid}/notes/{sys_note['id']}", {"If-Match": f'"{sys_note["id"]}-1"'}
    refused(await svc.client.patch(sys_url, headers=h(svc, ELLIE, **sys_etag), json=body), "amend-note")
    assert (await svc.client.patch(sys_url, headers=h(svc, TINA, **sys_etag), json=body)).status_code == 200
    eh_note = await write(svc, eid, ELLIE)
    r = await svc.client.patch(
        f"/v1/episodes/{eid}/notes/{eh_note['id']}",
        headers=h(svc, EH, **{"If-Match": f'"{eh_note["id"]}-1"'}),
        json=body,
    )
    assert r.status_code == 200


async def test_amending_needs_if_match_a_reason_and_a_change(svc):
    ep = await new_episode(svc)
    n = await write(svc, ep["id"], ELLIE)
    url = f"/v1/episodes/{ep['id']}/notes/{n['id']}"
    r = await svc.client.patch(url, headers=h(svc, ELLIE), json={"text": "x", "reason": "y"})
    assert r.status_code == 428
    r = await svc.client.patch(
        url, headers=h(svc, ELLIE, **{"If-Match": '"stale-1"'}), json={"text": "x", "reason": "y"}
    )
    assert r.status_code == 412
    good = {"If-Match": f'"{n["id"]}-1"'}
    r = await svc.client.patch(url, headers=h(svc, ELLIE, **good), json={"text": "x"})
    assert r.status_code == 422 and "reason" in r.text
    r = await svc.client.patch(url, headers=h(svc, ELLIE, **good), json={"text": n["text"], "reason": "same"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "text"  # never a silent edit
    r = await svc.client.patch(url, headers=h(svc, ELLIE, **good), json={"text": "new", "reason": "better"})
    assert r.status_code == 200
    # The first ETag is stale now: a second writer holding it gets 412.
    r = await svc.client.patch(url, headers=h(svc, ELLIE, **good), json={"text": "other", "reason": "mine"})
    assert r.status_code == 412
    history = (await svc.client.get(f"{url}/history", headers=h(svc, EH))).json()["versions"]
    assert [v["text"] for v in history] == [n["text"], "new"]


async def test_closed_episode_notes_are_read_only(svc):
    ep = await new_episode(svc)
    n = await write(svc, ep["id"], ELLIE)
    r = await svc.client.post(
        f"/v1/episodes/{ep['id']}/close", headers=h(svc, EH), json={"reason": "needs_met"}
    )
    assert r.status_code == 200, r.text
    r = await svc.client.post(f"/v1/episodes/{ep['id']}/notes", headers=h(svc, ELLIE), json=note())
    assert r.status_code == 409
    r = await svc.client.patch(
        f"/v1/episodes/{ep['id']}/notes/{n['id']}",
        headers=h(svc, ELLIE, **{"If-Match": f'"{n["id"]}-1"'}),
        json={"text": "late", "reason": "r"},
    )
    assert r.status_code == 409
    assert (await svc.client.get(f"/v1/episodes/{ep['id']}/notes", headers=h(svc, ELLIE))).status_code == 200


async def test_notes_are_paginated_newest_first(svc):
    ep = await new_episode(svc)
    for hours in (4, 1, 3, 2):
        await write(svc, ep["id"], ELLIE, note(f"{hours}h ago", occurred_at=ago(hours=hours)))
    url = f"/v1/episodes/{ep['id']}/notes"
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await svc.client.get(url, params=params, headers=h(svc, EH))).json()
        seen += [n["text"] for n in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["1h ago", "2h ago", "3h ago", "4h ago"]


async def test_reads_of_notes_and_contacts_are_disclosures(svc, fake_consent):
    ep = await shared_episode(svc, fake_consent)
    eid = ep["id"]
    n = await write(svc, eid, ELLIE)
    await svc.client.get(f"/v1/episodes/{eid}/notes", headers=h(svc, EH))  # early help: none
    for path in ("notes", f"notes/{n['id']}", f"notes/{n['id']}/history", "contacts"):
        assert (await svc.client.get(f"/v1/episodes/{eid}/{path}", headers=h(svc, TOM))).status_code == 200
    await svc.runtime.run_jobs_once()
    got = [
        (d["agency_id"], d["resource_type"], d["resource_id"], d["practitioner_id"])
        for d in fake_consent.disclosures
    ]
    assert got == [
        ("school-1", "case_notes", eid, "p-tom"),
        ("school-1", "case_note", n["id"], "p-tom"),
        ("school-1", "case_note", n["id"], "p-tom"),
        ("school-1", "contacts", eid, "p-tom"),
    ]
