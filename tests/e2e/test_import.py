"""The bulk import (issue 22 item 2) end to end: the command imports a small file through the
real gateway as the council's admin client; the open work it brings has its deadlines, from
the services' usual events; a second run creates nothing; a dry run of a faulty file reports
each row and stores nothing."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools import case_import
from tests.e2e.matrix import eventually
from tests.e2e.test_roles import ADMIN, EH, MASH
from tests.unit.test_case_import import TWO_FAMILIES, family, plan_and_consents, report, write_csv

pytestmark = pytest.mark.e2e


def run(api: Any, path: Path, tmp: Path, **kw: Any) -> case_import.Outcome:
    async def go() -> case_import.Outcome:
        async with case_import.gateway_client(api.stack.gateway_url, ADMIN, f"{ADMIN}-secret") as client:
            return await case_import.import_file(path, client, report=tmp / "report.csv", **kw)

    return asyncio.run(go())


def unique(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Source ids and names no other test (or run) uses."""
    tag = uuid.uuid4().hex[:8]
    out = []
    for r in records:
        r = {**r, "source_id": f"{tag}-{r['source_id']}"}
        for column in ("person", "related_person", "children", "referral", "episode", "plan", "outcomes"):
            if r.get(column):
                r[column] = ";".join(f"{tag}-{v}" for v in r[column].split(";"))
        if r.get("adults"):
            r["adults"] = ";".join(f"{tag}-{v}" for v in r["adults"].split(";"))
        if r.get("family_name"):
            r["family_name"] = f"{r['family_name']}{tag}"
        out.append(r)
    return out


def test_a_small_file_is_imported_once_with_its_deadlines(api: Any, tmp_path: Path) -> None:
    records = unique(family(1) + family(2))
    path = write_csv(tmp_path / "cases.csv", records)
    checked = run(api, path, tmp_path, dry_run=True)
    assert checked.errors == [], checked.errors
    first = run(api, path, tmp_path, dry_run=False)
    assert first.errors == [] and not first.stopped
    assert dict(first.created) == TWO_FAMILIES

    # What the gateway shows: the imported episode (its lead) and referral (decided, its dates).
    episode_id = first.ids[("episode", records[4]["source_id"])]
    again = run(api, path, tmp_path, dry_run=False)
    assert sum(again.created.values()) == 0 and again.skipped["episode"] == 2
    assert again.ids[("episode", records[4]["source_id"])] == episode_id
    episode = api.get(EH, f"/v1/episodes/{episode_id}").json()
    assert episode["lead_professional"]["email"] == "lee@eh.example"
    referral = api.get(MASH, f"/v1/referrals/{episode['referral_id']}").json()
    assert referral["status"] == "decided" and referral["received_at"].startswith("2026-06-01")

    # The notifications service made the imported open work's deadlines from the usual events.
    def deadlines() -> list[dict[str, Any]]:
        items = api.get(MASH, "/v1/deadlines", params={"episode_id": episode["id"]}).json()["items"]
        return items if {"first_contact", "assessment_completion"} <= {d["kind"] for d in items} else []

    found = eventually(deadlines, "the imported episode's deadlines")
    assert {d["assignee_email"] for d in found if d["kind"] == "first_contact"} == {"lee@eh.example"}


def test_a_dry_run_of_a_faulty_file_reports_each_row_and_stores_nothing(api: Any, tmp_path: Path) -> None:
    records = unique(family(3))
    records[3]["needs"] = "school_attendance;juggling"  # not a need code (line 5)
    records[4]["lead_email"] = "not-an-email"  # line 6
    outcome = run(api, write_csv(tmp_path / "faulty.csv", records), tmp_path, dry_run=True)
    rows = report(tmp_path / "report.csv")
    assert {(r["line"], r["column"]) for r in rows} == {("5", "needs"), ("6", "lead_email")}
    assert outcome.errors
    # Nothing was stored: the real run of the corrected file creates every row.
    records[3]["needs"] = "school_attendance"
    records[4]["lead_email"] = "lee@eh.example"
    real = run(api, write_csv(tmp_path / "fixed.csv", records), tmp_path, dry_run=False)
    assert real.errors == [] and sum(real.skipped.values()) == 0


def test_a_plan_and_consents_are_imported_with_the_actions_deadlines(api: Any, tmp_path: Path) -> None:
    records = unique(family(4) + plan_and_consents(4))
    path = write_csv(tmp_path / "cases.csv", records)
    checked = run(api, path, tmp_path, dry_run=True)
    assert checked.errors == [], checked.errors
    first = run(api, path, tmp_path, dry_run=False)
    assert first.errors == [] and not first.stopped
    assert {k: first.created[k] for k in ("plan", "plan_outcome", "plan_action", "consent")} == {
        "plan": 1,
        "plan_outcome": 1,
        "plan_action": 2,
        "consent": 2,
    }
    again = run(api, path, tmp_path, dry_run=False)
    assert sum(again.created.values()) == 0 and again.skipped["plan"] == 1 and again.skipped["consent"] == 2

    # The plan as the gateway shows it: the imported episode's, agreed when the incumbent said.
    episode_id = first.ids[("episode", records[4]["source_id"])]
    plan = api.get(EH, f"/v1/episodes/{episode_id}/plan").json()
    assert plan["version"] == 1 and plan["agreed_at"].startswith("2026-06-10")
    assert [a["status"] for a in plan["actions"]] == ["in_progress", "completed"]
    open_action, done_action = (a["id"] for a in plan["actions"])

    # The open action's due date is a deadline (its owner's), from the plan's usual events; the
    # completed one has none open.
    def action_deadlines() -> list[dict[str, Any]]:
        items = api.get(MASH, "/v1/deadlines", params={"episode_id": episode_id}).json()["items"]
        due = [d for d in items if d["kind"] == "action_due"]
        return due if any(d["subject_id"] == open_action for d in due) else []

    due = eventually(action_deadlines, "the imported plan action's deadline")
    mine = next(d for d in due if d["subject_id"] == open_action)
    assert mine["due_at"].startswith("2027-01-16")  # the end of the 15th, London and mine["status"] == "open"
    assert all(d["status"] != "open" for d in due if d["subject_id"] == done_action)

    # The consents: the live one and the withdrawn one, as the consent service keeps them.
    child = first.ids[("person", records[0]["source_id"])]
    consents = api.get(EH, "/v1/consents", params={"person_id": child}).json()["items"]
    assert sorted(c["status"] for c in consents) == ["active", "withdrawn"]


DECISION = ("level_of_need", "outcome", "rationale", "decided_by_name", "decided_by_role", "decided_at")


def test_an_undecided_referral_gets_its_decision_deadline_overdue_from_its_receipt(
    api: Any, tmp_path: Path
) -> None:
    """A referral the incumbent system still had awaiting a MASH decision: imported as
    `received`, it announces itself as an intake does, and its front-door decision deadline runs
    from its own (old) received_at - overdue; the decided family beside it stays silent."""
    waiting = [dict(r) for r in family(5)[:4]]  # the child, her mother, relationship, referral
    for column in DECISION:
        del waiting[3][column]
    waiting[3]["received_at"] = "2026-01-05T09:00:00Z"
    records = unique(waiting + family(6))
    path = write_csv(tmp_path / "waiting.csv", records)
    checked = run(api, path, tmp_path, dry_run=True)
    assert checked.errors == [], checked.errors
    first = run(api, path, tmp_path, dry_run=False)
    assert first.errors == [] and not first.stopped
    referral_id = first.ids[("referral", records[3]["source_id"])]
    decided_id = first.ids[("referral", records[7]["source_id"])]
    referral = api.get(MASH, f"/v1/referrals/{referral_id}").json()
    assert referral["status"] == "received" and referral["received_at"].startswith("2026-01-05")

    def decision_deadline() -> list[dict[str, Any]]:
        items = api.get(MASH, "/v1/deadlines", params={"referral_id": referral_id}).json()["items"]
        return [d for d in items if d["kind"] == "front_door_decision"]

    [deadline] = eventually(decision_deadline, "the imported undecided referral's decision deadline")
    assert deadline["status"] == "open" and deadline["overdue"] is True
    assert deadline["due_at"] < "2026-01-16"  # working days from 5 January, not from the import
    # The decided referral published nothing: no decision deadline of its own.
    decided = api.get(MASH, "/v1/deadlines", params={"referral_id": decided_id}).json()["items"]
    assert [d for d in decided if d["kind"] == "front_door_decision"] == []

    # A second run creates nothing and announces nothing again: still one deadline.
    again = run(api, path, tmp_path, dry_run=False)
    assert sum(again.created.values()) == 0 and again.skipped["referral"] == 2
    assert len(decision_deadline()) == 1
