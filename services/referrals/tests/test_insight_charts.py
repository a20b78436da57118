"""The threshold audit and the JSNA feed as charts (`format=svg|png`, report_charts.py): drawn
from the same report as the JSON; the JSNA chart shows a suppressed figure as a marked gap and
gives away no suppressed value (docs/reports.md)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlalchemy import select

from services.referrals.models import ThresholdAuditItem
from services.referrals.tests.conftest import london
from services.referrals.tests.test_jsna import ADDRESS, TODAY, families, refer  # noqa: F401
from services.referrals.tests.test_threshold_audit import decided, draw, manager
from shared.testing import assert_chart

SVG = "{http://www.w3.org/2000/svg}"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
JSNA = {"from": "2026-01-01", "to": "2026-04-30"}


# ---- the threshold audit ----


@pytest.fixture
async def audited(svc):
    """March: two universal NFA decisions reviewed blind (one agreed with, one not: the blind
    review chose signposting) and a partnership_plus TAF decision not yet reviewed."""
    svc.now = london(2026, 3, 10, 10)
    nfa = [await decided(svc, "no_further_action") for _ in range(2)]
    await decided(svc, "team_around_the_family")
    audit = (await draw(svc)).json()
    async with svc.runtime.db.session(write=False) as s:
        rows = (await s.execute(select(ThresholdAuditItem.referral_id, ThresholdAuditItem.id))).all()
    item_of = dict(rows)
    m2 = manager(svc, "m-2")
    for rid, outcome, agrees in ((nfa[0], "no_further_action", True), (nfa[1], "signpost_universal", False)):
        path = f"/v1/threshold-audits/{audit['id']}/items/{item_of[rid]}"
        review = {"level_of_need": "universal", "outcome": outcome}
        assert (await svc.client.post(f"{path}/review", json=review, headers=m2)).status_code == 200
        body = {"agrees": True} if agrees else {"agrees": False, "reason": "Signposting was enough."}
        assert (await svc.client.post(f"{path}/agreement", json=body, headers=m2)).status_code == 200
    yield svc
    svc.now = None


async def test_the_threshold_audit_as_svg(audited):
    resp = await audited.client.get(
        "/v1/reports/threshold-audit", params={**MARCH, "format": "svg"}, headers=audited.as_("early_help")
    )
    svg = assert_chart(
        resp,
        "threshold-audit-2026-03-01-2026-03-31.svg",
        "Threshold audit agreement 2026-03-01 to 2026-03-31",
    )
    # The description carries the JSON's totals.
    assert "3 decisions sampled, 2 reviewed blind, 1 of 2 agreed with (50%)" in svg
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    for text in (
        "Universal",
        "Partnership plus",
        "Agreed with the decision",
        "Same outcome (blind)",
        "2026-03",
    ):
        assert text in texts, text
    # Universal: 50 % agreed, 100 % the same level, 50 % the same outcome; the three levels with
    # no review recorded are gaps (3 rates each), never drawn as 0 %.
    assert texts.count("50") == 2 and "100" in texts
    assert texts.count("none recorded ") == 9
    again = await audited.client.get(
        "/v1/reports/threshold-audit", params={**MARCH, "format": "svg"}, headers=audited.as_("mash")
    )
    assert again.content == resp.content  # deterministic


async def audit_report(svc: Any, caller: str = "mash", **params: str) -> Any:
    return await svc.client.get(
        "/v1/reports/threshold-audit", params={**MARCH, **params}, headers=svc.as_(caller)
    )


async def test_the_threshold_audit_as_png_csv_and_json_still(audited):
    png, csv, plain = [
        await audit_report(audited, **fmt) for fmt in ({"format": "png"}, {"format": "csv"}, {})
    ]
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert csv.headers["content-type"].startswith("text/csv") and "agreement_rate,0.5" in csv.text
    assert plain.json()["totals"]["agreed"] == 1


async def test_an_empty_audit_period_draws_no_data_and_access_is_checked(svc):
    empty = await svc.client.get(
        "/v1/reports/threshold-audit", params={**MARCH, "format": "svg"}, headers=svc.as_("mash")
    )
    assert empty.status_code == 200 and "No data for this period" in empty.text
    assert "none recorded" not in empty.text
    denied = await svc.client.get(
        "/v1/reports/threshold-audit", params={"format": "svg"}, headers=svc.as_("school_a")
    )
    assert denied.status_code == 403
    bad = await svc.client.get(
        "/v1/reports/threshold-audit", params={"format": "gif"}, headers=svc.as_("mash")
    )
    assert bad.status_code == 422 and "format" in bad.text


# ---- the JSNA feed ----


async def jsna(svc: Any, **params: str) -> Any:
    return await svc.client.get("/v1/reports/jsna", params={**JSNA, **params}, headers=svc.as_("mash"))


def numbers_outside_the_axes(svg: str) -> list[str]:
    """Every figure written in the SVG (a text that is a number) but the axes' tick labels (a
    scale, not a figure); titles and period labels carry dates, not figures."""
    root = ET.fromstring(svg)
    found: list[str] = []

    def walk(element: ET.Element, in_tick: bool) -> None:
        in_tick = in_tick or re.match(r"[xy]tick_", element.get("id", "")) is not None
        if element.tag == f"{SVG}text" and not in_tick:
            found.extend(re.findall(r"^[\d.]+$", (element.text or "").strip()))
        for child in element:
            walk(child, in_tick)

    walk(root, False)
    return found


@pytest.fixture
async def published(families, monkeypatch):  # noqa: F811
    """test_jsna's families (every count small, so suppressed) and five more families referred
    in February for domestic abuse in S62: a cell, and a need total, of 5, published."""
    for n in range(5):
        monkeypatch.setitem(ADDRESS, f"G{n}", (f"{n + 1} Birch Way", f"S62 {n}AA"))
        await refer(families, london(2026, 2, 10 + n, 10), f"G{n}", ["domestic_abuse"])
    families.now = TODAY
    return families


async def test_the_jsna_feed_as_svg_marks_suppressed_totals_as_gaps(published):
    body = (await jsna(published)).json()
    need_totals = {
        (t["period"], t["need"]): t["count"] for t in body["totals"] if t["need"] and t["district"] is None
    }
    assert need_totals[("2026-02", "domestic_abuse")] == 5  # published
    withheld = [key for key, count in need_totals.items() if count is None]
    assert ("2026-01", "parental_mental_health") in withheld  # 2 families: suppressed
    resp = await jsna(published, format="svg")
    svg = assert_chart(
        resp, "jsna-2026-01-01-2026-04-30.svg", "Referred families by need 2026-01-01 to 2026-04-30"
    )
    assert f"({len(withheld)} need totals withheld)" in svg and "counts from 1 to 4" in svg
    texts = [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]
    # Panel 1: a need with any month withheld is a gap; panel 2: each withheld month of the four
    # focus needs is one. Both marked "suppressed", nothing drawn for them.
    needs_with_a_gap = {need for _, need in withheld}
    focus_gaps = [
        k
        for k in withheld
        if k[1]
        in ("parental_mental_health", "parental_substance_misuse", "substance_misuse", "domestic_abuse")
    ]
    assert texts.count(" suppressed") == len(needs_with_a_gap)
    assert texts.count("suppressed ") == len(focus_gaps)
    # The only figures written are published ones: the 5 of February (domestic abuse).
    assert numbers_outside_the_axes(svg) == ["5"]
    png = await jsna(published, format="png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


async def test_no_suppressed_value_can_be_recovered_from_the_svg(published, monkeypatch):
    """Change what lies behind suppressed cells (a third family with parental mental health in
    S60 in January, a second with housing in S60 in February) while what is published stays
    the same: the SVG is the same, byte for byte - it carries nothing the JSON withholds."""
    before_json, before_svg = (await jsna(published)).json(), (await jsna(published, format="svg")).content
    monkeypatch.setitem(ADDRESS, "F", ("6 Pine Row", "S60 3AB"))
    await refer(published, london(2026, 1, 25, 10), "F", ["parental_mental_health"], "Noor")
    monkeypatch.setitem(ADDRESS, "H", ("7 Cedar Row", "S60 4DD"))
    await refer(published, london(2026, 2, 3, 10), "H", ["housing"], "Ravi")
    published.now = TODAY
    after_json = (await jsna(published)).json()
    hidden = {(c["period"], c["need"], c["district"]): c["count"] for c in after_json["cells"]}
    assert hidden[("2026-01", "parental_mental_health", "S60")] is None  # 3 families now, still hidden
    assert after_json == before_json  # what is published has not changed...
    assert (await jsna(published, format="svg")).content == before_svg  # ...nor has the chart


async def test_the_jsna_chart_keeps_the_feeds_rules(svc):
    # Quarters; an empty range draws "No data"; a range with no ended period is still a 422;
    # partners may not read it; an unknown format is a 422.
    svc.now = TODAY
    empty = await jsna(svc, format="svg", period="quarter")
    svg = assert_chart(
        empty, "jsna-2026-01-01-2026-03-31.svg", "Referred families by need 2026-01-01 to 2026-03-31"
    )
    assert "No data for this period" in svg and "over 1 quarters" in svg
    early = await jsna(svc, format="svg", **{"from": "2026-05-01", "to": "2026-05-09"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "to"
    assert (
        await svc.client.get("/v1/reports/jsna", params={"format": "svg"}, headers=svc.as_("school_a"))
    ).status_code == 403
    assert (await jsna(svc, format="gif")).status_code == 422
    svc.now = None
