"""The referral report as a chart: `?format=svg` (and png) from the same figures as the JSON."""

from __future__ import annotations

from services.referrals.tests.test_reports import year  # noqa: F401 - the hand-built year
from shared.testing import assert_chart

YEAR = {"from": "2026-01-01", "to": "2026-12-31"}


async def test_the_report_as_svg(year):  # noqa: F811
    resp = await year.client.get(
        "/v1/reports/referrals", params={**YEAR, "format": "svg"}, headers=year.as_("mash")
    )
    svg = assert_chart(
        resp, "referrals-2026-01-01-2026-12-31.svg", "Referrals received 2026-01-01 to 2026-12-31"
    )
    # The description carries the same totals as the JSON (10 received, 6 within timescale).
    assert "10 referrals received, 7 decided (6 within timescale)" in svg
    for text in ("Referrals by source code", "No further action", "Strategy discussion", "Source code"):
        assert text in svg, text
    again = await year.client.get(
        "/v1/reports/referrals", params={**YEAR, "format": "svg"}, headers=year.as_("mash")
    )
    assert again.content == resp.content  # deterministic


async def test_the_report_as_png_and_csv_by_format(year):  # noqa: F811
    png = await year.client.get(
        "/v1/reports/referrals", params={**YEAR, "format": "png"}, headers=year.as_("early_help")
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    by_format = await year.client.get(
        "/v1/reports/referrals", params={**YEAR, "format": "csv"}, headers=year.as_("mash")
    )
    by_accept = await year.client.get(
        "/v1/reports/referrals", params=YEAR, headers={**year.as_("mash"), "Accept": "text/csv"}
    )
    assert by_format.headers["content-type"].startswith("text/csv") and by_format.text == by_accept.text
    as_json = await year.client.get(
        "/v1/reports/referrals", params={**YEAR, "format": "json"}, headers=year.as_("mash")
    )
    assert as_json.json()["totals"]["received"] == 10


async def test_an_empty_period_draws_no_data_and_access_is_checked(svc):
    empty = await svc.client.get("/v1/reports/referrals", params={"format": "svg"}, headers=svc.as_("mash"))
    assert empty.status_code == 200
    assert "No data for this period" in empty.text
    denied = await svc.client.get(
        "/v1/reports/referrals", params={"format": "svg"}, headers=svc.as_("school_a")
    )
    assert denied.status_code == 403
    bad = await svc.client.get("/v1/reports/referrals", params={"format": "gif"}, headers=svc.as_("mash"))
    assert bad.status_code == 422 and "format" in bad.text
