"""The insight dashboard in a real headless browser (Debian's chromium, driven by Playwright).

The page at `{gateway}/dashboard` is served by the real gateway of the e2e stack; the test types
a token (or a client id and secret), picks a period and checks that every report's chart
rendered (SVG images of non-zero size, their titles visible), that a bad token shows the message
and no chart, and that the page's Content-Security-Policy holds (no violation in the console).

Skipped, saying why, where no browser can be had: `make test` installs chromium where it can
(devtools/testrun.py, `browser` step); by hand: `apt-get install -y chromium`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.test_referrals import request_for_support, unique_name

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("EH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPORTS = ("referrals", "episodes", "threshold-audit", "jsna", "drift", "supporting-families")
TO = date.today()
FROM = TO - timedelta(days=60)  # holds a whole month that has ended, as the JSNA feed needs


def jsna_title() -> str:
    """The feed's whole months: FROM's first day to the end of the last month ended (London)."""
    london_today = datetime.now(ZoneInfo("Europe/London")).date()
    month_end = (TO.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    last = min(month_end, london_today.replace(day=1) - timedelta(days=1))
    return f"Referred families by need {FROM.replace(day=1)} to {last}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"no headless browser: {CHROMIUM} is missing. Install Debian's chromium "
            "(`apt-get install -y chromium`, as root; `make test` does it where it can) to test the dashboard."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - it is in requirements.lock
        pytest.skip("the playwright package is missing: pip install -r requirements.lock")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, stack) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    response = pg.goto(f"{stack.gateway_url}/dashboard")
    assert response is not None and response.status == 200
    pg.first_response = response  # type: ignore[attr-defined]
    pg.wait_for_selector("body[data-state=idle]")
    yield pg
    context.close()


def show(page: Any, *, token: str = "", client: tuple[str, str] | None = None) -> str:
    page.fill("#token", token)
    page.fill("#client-id", client[0] if client else "")
    page.fill("#client-secret", client[1] if client else "")
    page.fill("#from", FROM.isoformat())
    page.fill("#to", TO.isoformat())
    page.click("#show")
    try:
        page.wait_for_selector("body[data-state=ready], body[data-state=error]", timeout=20000)
    except Exception:  # say what the page shows, not only that it timed out
        state, message = page.get_attribute("body", "data-state"), page.locator("#message").inner_text()
        pytest.fail(f"the page stayed {state!r} ({message!r}); console: {page.console_errors}")
    return str(page.get_attribute("body", "data-state"))


def assert_charts_rendered(page: Any) -> None:
    for name in REPORTS:
        img = page.locator(f"figure[data-report={name}] img")
        size = img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
        assert size[0] and size[1] > 0 and size[2] > 0, (name, size)
        assert img.get_attribute("src").startswith("blob:")
    assert (
        page.locator("figure[data-report=referrals] h2").inner_text() == f"Referrals received {FROM} to {TO}"
    )
    assert (
        page.locator("figure[data-report=episodes] h2").inner_text()
        == f"Early help episodes opened {FROM} to {TO}"
    )
    heading = {name: page.locator(f"figure[data-report={name}] h2").inner_text() for name in REPORTS}
    assert heading["threshold-audit"] == f"Threshold audit agreement {FROM} to {TO}"
    assert heading["jsna"] == jsna_title()
    assert heading["drift"].startswith("Drifting episodes on ")  # today: the drift list has no period
    assert page.locator("#message").is_hidden()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_the_page_has_strict_headers_and_no_data(page, stack) -> None:
    headers = page.first_response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "img-src 'self' blob:" in csp and "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert page.locator("figure").count() == 0
    assert page.locator("script:not([src])").count() == 0  # no inline script


def test_a_pasted_token_shows_every_report_as_a_chart(page, api) -> None:
    created = api.post("demo-education", "/v1/referrals", json=request_for_support(unique_name()))
    assert created.status_code == 201, created.text
    assert show(page, token=api.token("demo-early-help")) == "ready"
    assert_charts_rendered(page)
    alt = page.locator("figure[data-report=referrals] img").get_attribute("alt")
    assert "referrals received" in alt  # the SVG's <desc>, for a screen reader
    with page.expect_download() as download:
        page.click("figure[data-report=referrals] a.csv")
    path = download.value.path()
    assert open(path, encoding="utf-8").read().startswith("section,key,metric,value")
    assert download.value.suggested_filename == f"referrals-{FROM}-{TO}.csv"
    # A report without a period (the drift list) downloads its CSV too.
    with page.expect_download() as download:
        page.click("figure[data-report=drift] a.csv")
    assert open(download.value.path(), encoding="utf-8").read().startswith("episode_id,reference")
    assert download.value.suggested_filename == "drift.csv"
    # The JSNA chart describes its suppression in the image's alternative text.
    assert "are suppressed" in page.locator("figure[data-report=jsna] img").get_attribute("alt")


def test_a_client_id_and_secret_are_exchanged_for_a_token(page) -> None:
    assert show(page, client=("demo-mash", "demo-mash-secret")) == "ready"
    assert_charts_rendered(page)


def test_a_bad_token_shows_the_message_and_no_chart(page) -> None:
    assert show(page, token="not-a-token") == "error"
    assert "token was refused" in page.locator("#message").inner_text()
    assert page.locator("figure").count() == 0 and page.locator("img").count() == 0
    assert show(page, client=("demo-mash", "wrong-secret")) == "error"
    assert "Sign-in failed (401)" in page.locator("#message").inner_text()
    assert page.locator("img").count() == 0
    assert show(page) == "error"
    assert "Enter an access token" in page.locator("#message").inner_text()


def test_a_token_without_the_reports_scope_sees_why(page, api) -> None:
    assert show(page, token=api.token("demo-education")) == "ready"
    assert page.locator("img").count() == 0
    for name in REPORTS:
        assert "(403)" in page.locator(f"figure[data-report={name}] .problem").inner_text()
