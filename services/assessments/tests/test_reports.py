"""The episode report: typed, with the timescale keys taken from the settings."""

from __future__ import annotations

from datetime import UTC, datetime

from services.assessments.tests.conftest import EH, h, new_episode


async def _some_figures(svc) -> None:
    ep = await new_episode(svc)
    await svc.client.post(
        f"/v1/episodes/{ep['id']}/contacts",
        json={"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": ""},
        headers=h(svc, EH),
    )
    await svc.client.post(f"/v1/episodes/{ep['id']}/close", json={"reason": "disengaged"}, headers=h(svc, EH))
    await new_episode(svc)


# What the report answered before it was typed (captured from the untyped version): on the
# default timescales the JSON and the CSV must stay byte for byte the same.
BEFORE_JSON = (
    b'{"opened_from":null,"opened_to":null,"episodes_opened":2,'
    b'"first_contact":{"within_72_hours":1,"late":0,"overdue_no_contact":0},'
    b'"assessment_started":{"within_10_working_days":0,"late":0,"overdue_not_started":0},'
    b'"assessment_completed":{"within_45_working_days":0,"late":0,"overdue_not_completed":0},'
    b'"closures_by_reason":{"disengaged":1},"outcomes_achieved_by_headline":{},'
    b'"drift":{"open_more_than_12_months":0,"three_or_more_reviews":0,"open_and_drifting":0},'
    # Issue 21 appended these sections; everything before them is unchanged.
    b'"first_review":{"within_6_weeks":0,"late":0,"overdue_no_review":0},'
    b'"later_reviews":{"within_3_months":0,"late":0,"overdue":0},'
    b'"plan_actions_overdue":{"total":0,"by_owner_agency_type":{}}}'
)
BEFORE_CSV = (
    "section,measure,value\r\n"
    "episodes,opened,2\r\n"
    "first_contact,within_72_hours,1\r\n"
    "first_contact,late,0\r\n"
    "first_contact,overdue_no_contact,0\r\n"
    "assessment_started,within_10_working_days,0\r\n"
    "assessment_started,late,0\r\n"
    "assessment_started,overdue_not_started,0\r\n"
    "assessment_completed,within_45_working_days,0\r\n"
    "assessment_completed,late,0\r\n"
    "assessment_completed,overdue_not_completed,0\r\n"
    "closures_by_reason,disengaged,1\r\n"
    "drift,open_more_than_12_months,0\r\n"
    "drift,three_or_more_reviews,0\r\n"
    "drift,open_and_drifting,0\r\n"
    "first_review,within_6_weeks,0\r\n"
    "first_review,late,0\r\n"
    "first_review,overdue_no_review,0\r\n"
    "later_reviews,within_3_months,0\r\n"
    "later_reviews,late,0\r\n"
    "later_reviews,overdue,0\r\n"
    "plan_actions_overdue,total,0\r\n"
)


async def test_report_on_default_timescales_is_unchanged(svc):
    await _some_figures(svc)
    r = await svc.client.get("/v1/reports/episodes", headers=h(svc, EH))
    assert r.status_code == 200, r.text
    assert r.content == BEFORE_JSON
    c = await svc.client.get("/v1/reports/episodes", headers=h(svc, EH, Accept="text/csv"))
    assert c.text == BEFORE_CSV


async def test_report_keys_follow_the_configured_timescales(svc):
    s = svc.runtime.settings
    s.first_contact_hours, s.assessment_start_working_days, s.assessment_complete_working_days = 48, 5, 30
    await _some_figures(svc)
    body = (await svc.client.get("/v1/reports/episodes", headers=h(svc, EH))).json()
    assert body["first_contact"] == {"within_48_hours": 1, "late": 0, "overdue_no_contact": 0}
    assert list(body["assessment_started"]) == ["within_5_working_days", "late", "overdue_not_started"]
    assert list(body["assessment_completed"]) == ["within_30_working_days", "late", "overdue_not_completed"]
    csv = (await svc.client.get("/v1/reports/episodes", headers=h(svc, EH, Accept="text/csv"))).text
    assert "first_contact,within_48_hours,1\r\n" in csv
    assert "assessment_started,within_5_working_days,0\r\n" in csv
    assert "within_72_hours" not in csv


def test_openapi_documents_the_timescale_keys(svc):
    schema = svc.app.openapi()["components"]["schemas"]["EpisodeReport"]["properties"]
    assert "within_<N>_hours" in schema["first_contact"]["description"]
    assert "assessment_start_working_days" in schema["assessment_started"]["description"]
