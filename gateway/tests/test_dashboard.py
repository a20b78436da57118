"""GET /dashboard: a static page with strict headers; the data comes from the reports, by token
(the page in a real browser: tests/e2e/test_dashboard.py)."""

from __future__ import annotations

import re

from gateway.dashboard import CSP


async def test_the_page_script_and_style_are_served_with_strict_headers(gwh):
    page = await gwh.client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for resp in (
        page,
        await gwh.client.get("/dashboard/dashboard.js"),
        await gwh.client.get("/dashboard/dashboard.css"),
    ):
        assert resp.status_code == 200
        assert resp.headers["content-security-policy"] == CSP
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["cache-control"] == "no-store"
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    # No inline script or style: every <script> has a src, no style= or <style>.
    assert re.findall(r"<script(?![^>]*\ssrc=)", page.text) == []
    assert "style=" not in page.text and "<style" not in page.text
    assert (
        (await gwh.client.get("/dashboard/dashboard.js"))
        .headers["content-type"]
        .startswith("text/javascript")
    )


async def test_only_the_pages_own_files_are_served(gwh):
    for name in ("../config.py", "dashboard.html.bak", "main.py", "%2e%2e%2fmain.py"):
        assert (await gwh.client.get(f"/dashboard/{name}")).status_code == 404, name


def test_the_page_lists_every_chart_report():
    from gateway.dashboard import STATIC

    script = (STATIC / "dashboard.js").read_text()
    assert "/v1/reports/referrals" in script and "/v1/reports/episodes" in script
    assert "localStorage" not in script and "sessionStorage" not in script  # the token stays in memory
