"""Due times on the working-day calendar, and the deadline rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.calendar import WorkingCalendar
from shared.clock import LONDON


def london(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LONDON)


async def test_front_door_decision_over_christmas_2026(notif):
    received = datetime(2026, 12, 24, 23, 40, tzinfo=LONDON)  # Thursday
    await notif.event(
        "referral.received",
        {"referral_id": "r-xmas", "reference": "REF-1", "received_at": received.isoformat()},
    )
    d = await notif.deadline("front_door_decision", referral_id="r-xmas")
    # Fri 25 Christmas, weekend, Mon 28 Boxing Day (substitute): Tue 29 Dec 2026.
    assert london(d["due_at"]).date() == date(2026, 12, 29)
    assert d["status"] == "open" and d["team"] == "mash"


async def test_stepdown_joint_visit_skips_easter_in_england(notif):
    await notif.event(
        "stepdown.opened", {"episode_id": "e-sd", "panel_on": "2026-04-01", "person_ids": ["p1"]}
    )
    d = await notif.deadline("stepdown_joint_visit", episode_id="e-sd")
    assert london(d["due_at"]).date() == date(2026, 4, 17)


async def test_scotland_keeps_easter_monday_and_has_2_january(make_notif):
    scot = await make_notif(calendar_nation="scotland")
    await scot.event("stepdown.opened", {"episode_id": "e-sc", "panel_on": "2026-04-01", "person_ids": []})
    d = await scot.deadline("stepdown_joint_visit", episode_id="e-sc")
    # Good Friday skipped, Easter Monday worked: one day earlier than England.
    assert london(d["due_at"]).date() == date(2026, 4, 16)
    # Received Wed 31 Dec 2025: England decides by Fri 2 Jan 2026, Scotland (2 Jan a holiday) by Mon 5 Jan.
    dec31 = datetime(2025, 12, 31, 10, 0, tzinfo=LONDON).isoformat()
    await scot.event("referral.received", {"referral_id": "r-jan", "received_at": dec31})
    assert london((await scot.deadline("front_door_decision"))["due_at"]).date() == date(2026, 1, 5)


def test_calendar_nations_directly():
    eng, sco = WorkingCalendar("england-and-wales"), WorkingCalendar("scotland")
    assert not eng.is_working_day(date(2026, 4, 3)) and not eng.is_working_day(date(2026, 4, 6))
    assert not sco.is_working_day(date(2026, 4, 3)) and sco.is_working_day(date(2026, 4, 6))
    assert eng.is_working_day(date(2026, 1, 2)) and not sco.is_working_day(date(2026, 1, 2))
    closure = WorkingCalendar("england-and-wales", ["2026-04-07"])
    start = datetime(2026, 4, 1, 12, tzinfo=LONDON)
    assert closure.add(start, 10, "working_days").date() == date(2026, 4, 20)


async def test_first_contact_72_hours_across_the_clock_change(notif):
    # Clocks go forward at 01:00 UTC on Sunday 29 March 2026: 72 elapsed hours.
    opened = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # 12:00 GMT Friday
    await notif.event(
        "episode.opened", {"episode_id": "e-dst", "person_ids": ["p1"], "opened_at": opened.isoformat()}
    )
    d = await notif.deadline("first_contact", episode_id="e-dst")
    due = datetime.fromisoformat(d["due_at"])
    assert due == datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
    assert due.astimezone(LONDON).hour == 13  # 13:00 BST on Monday


async def test_2_january_is_a_working_day_in_england(notif):
    dec31 = datetime(2025, 12, 31, 10, 0, tzinfo=LONDON).isoformat()
    await notif.event("referral.received", {"referral_id": "r-jan", "received_at": dec31})
    assert london((await notif.deadline("front_door_decision"))["due_at"]).date() == date(2026, 1, 2)


async def test_local_closure_days_setting(make_notif):
    n = await make_notif(local_closure_days=["2026-04-07"])
    await n.event("stepdown.opened", {"episode_id": "e-cl", "panel_on": "2026-04-01", "person_ids": []})
    assert london((await n.deadline("stepdown_joint_visit"))["due_at"]).date() == date(2026, 4, 20)


async def test_rules_listed_and_changed_by_admin_only(notif):
    no = await notif.client.get("/v1/deadline-rules", headers=notif.headers(scopes="referrals:read"))
    assert no.status_code == 403
    resp = await notif.client.get("/v1/deadline-rules", headers=notif.headers("admin", scopes="admin"))
    rules = {r["kind"]: r for r in resp.json()["items"]}
    assert (
        rules["front_door_decision"]["amount"] == 1 and rules["front_door_decision"]["unit"] == "working_days"
    )
    assert rules["first_contact"] == {**rules["first_contact"], "amount": 72, "unit": "hours"}
    assert rules["first_review"]["amount"] == 42 and rules["first_review"]["unit"] == "calendar_days"
    assert rules["reassessment"]["amount"] == 365 and len(rules) == 11  # + action_due (issue 20)
    body = {
        "amount": 2,
        "unit": "working_days",
        "reminder_lead_hours": 2,
        "escalation_delay_hours": 8,
        "escalation_target": "mash.manager@council.example",
    }
    forbidden = await notif.client.put(
        "/v1/deadline-rules/front_door_decision", json=body, headers=notif.headers()
    )
    assert forbidden.status_code == 403
    admin = notif.headers("admin", scopes="admin")
    bad = await notif.client.put(
        "/v1/deadline-rules/front_door_decision", json={**body, "unit": "fortnights"}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "unit"
    missing = await notif.client.put("/v1/deadline-rules/nope", json=body, headers=admin)
    assert missing.status_code == 404
    stale = await notif.client.put(
        "/v1/deadline-rules/front_door_decision", json=body, headers={**admin, "If-Match": '"x-9"'}
    )
    assert stale.status_code == 412
    ok = await notif.client.put("/v1/deadline-rules/front_door_decision", json=body, headers=admin)
    assert ok.status_code == 200 and ok.json()["version"] == 2
    assert ok.headers["etag"] == '"front_door_decision-2"'


async def test_rule_change_does_not_move_open_deadlines(notif):
    received = datetime(2026, 6, 1, 10, 0, tzinfo=LONDON)  # Monday
    await notif.event("referral.received", {"referral_id": "r-old", "received_at": received.isoformat()})
    body = {
        "amount": 3,
        "unit": "working_days",
        "reminder_lead_hours": 1,
        "escalation_delay_hours": 1,
        "escalation_target": "mash",
    }
    ok = await notif.client.put(
        "/v1/deadline-rules/front_door_decision", json=body, headers=notif.headers("admin", scopes="admin")
    )
    assert ok.status_code == 200
    await notif.event("referral.received", {"referral_id": "r-new", "received_at": received.isoformat()})
    old = await notif.deadline("front_door_decision", referral_id="r-old")
    new = await notif.deadline("front_door_decision", referral_id="r-new")
    assert london(old["due_at"]).date() == date(2026, 6, 2)  # opened under the 1-day rule
    assert london(new["due_at"]).date() == date(2026, 6, 4)  # the new 3-day rule
