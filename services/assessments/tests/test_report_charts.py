"""The episode report as a chart: `?format=svg` (and png), labelled by the configured timescales."""

from __future__ import annotations

from services.assessments.tests.conftest import EH, SCHOOL, h
from services.assessments.tests.test_reports import _some_figures
from shared.testing import assert_chart


async def test_the_report_as_svg(svc):
    await _some_figures(svc)
    resp = await svc.client.get("/v1/reports/episodes", params={"format": "svg"}, headers=h(svc, EH))
    svg = assert_chart(resp, "episodes-start-today.svg", "Early help episodes opened the start to today")
    assert "2 episodes opened" in svg
    for text in ("First contact (72 hours)", "Assessment started (10 working days)", "Disengaged", "Drift"):
        assert text in svg, text
    again = await svc.client.get("/v1/reports/episodes", params={"format": "svg"}, headers=h(svc, EH))
    assert again.content == resp.content


async def test_the_chart_follows_the_configured_timescales(svc):
    s = svc.runtime.settings
    s.first_contact_hours, s.assessment_start_working_days = 48, 5
    await _some_figures(svc)
    svg = (
        await svc.client.get(
            "/v1/reports/episodes",
            params={"format": "svg", "opened_from": "2020-01-01", "opened_to": "2099-12-31"},
            headers=h(svc, EH),
        )
    ).text
    assert "First contact (48 hours)" in svg and "Assessment started (5 working days)" in svg
    assert "72 hours" not in svg
    assert "opened 2020-01-01 to 2099-12-31" in svg


async def test_png_csv_empty_and_access(svc):
    empty = await svc.client.get("/v1/reports/episodes", params={"format": "svg"}, headers=h(svc, EH))
    assert empty.status_code == 200 and "No data for this period" in empty.text
    png = await svc.client.get("/v1/reports/episodes", params={"format": "png"}, headers=h(svc, EH))
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    csv = await svc.client.get("/v1/reports/episodes", params={"format": "csv"}, headers=h(svc, EH))
    assert csv.text.startswith("section,measure,value")
    denied = await svc.client.get("/v1/reports/episodes", params={"format": "svg"}, headers=h(svc, SCHOOL))
    assert denied.status_code == 403
    bad = await svc.client.get("/v1/reports/episodes", params={"format": "pdf"}, headers=h(svc, EH))
    assert bad.status_code == 422 and "format" in bad.text
