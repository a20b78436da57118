"""The threshold audit, the JSNA feed and the drift list as charts through the real gateway
(issue 21 item 5): `format=svg|png` on each, declared in the merged OpenAPI document, refused
(403) without `reports:read`, and the JSNA chart marking suppressed figures, never drawing them.
The dashboard showing them in a browser: tests/e2e/test_dashboard.py."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.test_referrals import request_for_support, unique_name
from tests.e2e.test_roles import EH, MASH, SCHOOL

pytestmark = pytest.mark.e2e

TO = date.today()
PERIOD = {"from": (TO - timedelta(days=90)).isoformat(), "to": TO.isoformat()}
CHARTS = {
    "/v1/reports/threshold-audit": ("referrals.threshold_audit_report", PERIOD, "Threshold audit agreement"),
    "/v1/reports/jsna": ("referrals.jsna_report", PERIOD, "Referred families by need"),
    "/v1/reports/drift": ("assessments.drift_report", {}, "Drifting episodes on"),
}


def format_enum(parameter: dict[str, Any]) -> set[str]:
    schema = parameter["schema"]
    options = schema.get("anyOf", [schema])
    return {v for option in options for v in option.get("enum", [])}


def test_each_chart_is_declared_in_the_merged_openapi(stack) -> None:
    doc = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).json()
    for path, (operation_id, _, _) in CHARTS.items():
        op = doc["paths"][path]["get"]
        assert op["operationId"] == operation_id
        content = op["responses"]["200"]["content"]
        assert {"application/json", "text/csv", "image/svg+xml", "image/png"} <= set(content), path
        fmt = next(p for p in op["parameters"] if p["name"] == "format")
        assert format_enum(fmt) == {"json", "csv", "svg", "png"}, path


@pytest.mark.parametrize("path", list(CHARTS))
def test_each_report_as_svg_and_png_through_the_gateway(api, path: str) -> None:
    _, params, title = CHARTS[path]
    made = api.post(SCHOOL, "/v1/referrals", json=request_for_support(unique_name()))
    assert made.status_code == 201, made.text
    svg = api.get(MASH, path, params={**params, "format": "svg"})
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["cache-control"] == "no-store" and svg.headers["x-content-type-options"] == "nosniff"
    assert re.search(rf'<title id="chart-title">{title}[^<]*</title>', svg.text), svg.text[:500]
    assert 'role="img"' in svg.text and '<desc id="chart-desc">' in svg.text
    png = api.get(EH, path, params={**params, "format": "png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert api.get(SCHOOL, path, params={**params, "format": "svg"}).status_code == 403
    bad = api.get(MASH, path, params={**params, "format": "gif"})
    assert bad.status_code == 422 and "format" in bad.text


def test_the_jsna_chart_draws_no_suppressed_figure(api) -> None:
    body = api.get(MASH, "/v1/reports/jsna", params=PERIOD).json()
    svg = api.get(MASH, "/v1/reports/jsna", params={**PERIOD, "format": "svg"}).text
    withheld = [t for t in body["totals"] if t["need"] and t["district"] is None and t["count"] is None]
    # Each withheld need total of the focus needs is a marked gap; the description counts them all.
    assert f"({len(withheld)} need totals withheld)" in svg
    focus = {"parental_mental_health", "parental_substance_misuse", "substance_misuse", "domestic_abuse"}
    assert svg.count(">suppressed <") == sum(1 for t in withheld if t["need"] in focus)
