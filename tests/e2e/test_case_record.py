"""The case record through the gateway (issue 20, item 1): contacts read back, case notes with
their restriction and amendment history, and the episode's chronology, as practitioners
reached through the token exchange (the demo practitioners `make run` seeds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_roles import EH, MASH, POLICE, SCHOOL, Person, open_case, problem_type

pytestmark = pytest.mark.e2e

SECRET = "Mum told us about something private"


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def test_notes_contacts_and_the_chronology_through_the_gateway(api):
    case = open_case(api)
    eid = case["episode_id"]
    tom = Person(api, SCHOOL, "Tom Teacher")
    ellie = Person(api, EH, "Ellie Practitioner")
    erin = Person(api, EH, "Erin Manager")
    maya = Person(api, MASH, "Maya Manager")
    pat = Person(api, POLICE, "Pat Officer")
    base = f"/v1/episodes/{eid}"

    # Contacts are read back (this was 405).
    r = ellie.call(
        "POST", f"{base}/contacts", json={"contact_at": ago(30), "method": "phone", "notes": "Rang mum"}
    )
    assert r.status_code == 201, r.text
    contact_id = r.json()["id"]
    r = tom.call("GET", f"{base}/contacts")
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [contact_id]

    # Tom writes a note (his token names him); Ellie writes a restricted one.
    r = tom.call(
        "POST", f"{base}/notes", json={"kind": "meeting", "occurred_at": ago(20), "text": "TAF meeting held"}
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["author"]["practitioner_id"] == tom.id and note["author"]["agency_id"] == tom.agency_id
    r = ellie.call(
        "POST",
        f"{base}/notes",
        json={"kind": "phone_call", "occurred_at": ago(10), "text": SECRET, "restricted": True},
    )
    assert r.status_code == 201, r.text
    secret = r.json()
    r = tom.call(
        "POST",
        f"{base}/notes",
        json={"kind": "other", "occurred_at": ago(5), "text": "x", "restricted": True},
    )
    assert r.status_code == 403 and problem_type(r) == "not-permitted"

    # The school sees its note, never the restricted one; early help and the MASH see both.
    assert [n["id"] for n in tom.call("GET", f"{base}/notes").json()["items"]] == [note["id"]]
    assert tom.call("GET", f"{base}/notes/{secret['id']}").status_code == 404
    for reader in (ellie, maya):
        assert {n["id"] for n in reader.call("GET", f"{base}/notes").json()["items"]} == {
            note["id"],
            secret["id"],
        }
    # Not on the TAF: nothing.
    assert pat.call("GET", f"{base}/notes").status_code == 404
    assert pat.call("GET", f"{base}/chronology").status_code == 404

    # Amending: If-Match and a reason; only the author or an early help manager.
    path = f"{base}/notes/{note['id']}"
    etag = tom.call("GET", path).headers["etag"]
    amend = {"text": "TAF meeting held at school", "reason": "added the place"}
    assert tom.call("PATCH", path, json=amend).status_code == 428
    r = ellie.call("PATCH", path, json=amend, headers={"If-Match": etag})
    assert r.status_code == 403 and problem_type(r) == "not-permitted"
    r = tom.call("PATCH", path, json=amend, headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    assert (
        tom.call("PATCH", path, json={**amend, "text": "again"}, headers={"If-Match": etag}).status_code
        == 412
    )
    r = erin.call(
        "PATCH",
        path,
        json={"kind": "visit", "reason": "it was a visit"},
        headers={"If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    history = tom.call("GET", f"{path}/history").json()["versions"]
    assert [(v["version"], v["recorded_by"]["practitioner_id"], v["reason"]) for v in history] == [
        (1, tom.id, None),
        (2, tom.id, "added the place"),
        (3, erin.id, "it was a visit"),
    ]
    assert history[2]["recorded_by"]["agency_id"] == erin.agency_id

    # The chronology: newest first, linked to its sources, the restricted note only for early help.
    eh_items = ellie.call("GET", f"{base}/chronology").json()["items"]
    kinds = [i["kind"] for i in eh_items]
    assert {"episode_opened", "taf_member_added", "case_note", "contact"} <= set(kinds)
    assert [i["at"] for i in eh_items] == sorted((i["at"] for i in eh_items), reverse=True)
    mine = [i["source"]["id"] for i in eh_items if i["kind"] in ("case_note", "contact")]
    assert mine == [secret["id"], note["id"], contact_id]
    opened = next(i for i in eh_items if i["kind"] == "episode_opened")
    assert opened["links"] == {"referral": f"/v1/referrals/{case['referral_id']}"}
    assert {i["source"]["id"] for i in eh_items if i["kind"] == "case_note"} == {note["id"], secret["id"]}
    school_items = tom.call("GET", f"{base}/chronology").json()["items"]
    assert {i["source"]["id"] for i in school_items if i["kind"] == "case_note"} == {note["id"]}
    assert SECRET not in str(eh_items)
    for item in school_items:  # every link works through the gateway for the reader
        assert tom.call("GET", item["href"]).status_code == 200, item["href"]
    page = tom.call(
        "GET", f"{base}/chronology", params={"order": "asc", "limit": 1, "kind": ["case_note", "contact"]}
    )
    assert (
        page.status_code == 200
        and page.json()["items"][0]["kind"] == "contact"
        and page.json()["next_cursor"]
    )
    r = tom.call("GET", f"{base}/chronology", params={"kind": "gossip"})
    assert r.status_code == 422
