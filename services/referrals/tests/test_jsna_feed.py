"""The JSNA feed built as plain values and serialised once (`jsna.Feed`, `jsna.layout`) is the
answer the model-per-cell build gave: the same JSON, valid against the declared `JsnaReport`,
and the same CSV. The reference below is that earlier build, kept here to compare with."""

from __future__ import annotations

import csv
import io
import json
import random

from services.referrals import jsna
from services.referrals.codes import NEED_CODES
from services.referrals.schemas import JsnaCell, JsnaPeriod, JsnaReport, JsnaTotal
from services.referrals.tests.test_jsna import TODAY, families  # noqa: F401 (a fixture)
from shared.suppression import suppress


def reference(found: dict[int, dict[tuple[str, str], int]], kind: str, threshold: int) -> JsnaReport:
    """The feed as it was built before `jsna.Feed`: a model per cell and per total."""
    periods = list(found)
    needs = list(NEED_CODES)
    districts = sorted({d for cells in found.values() for _, d in cells}, key=jsna._district_order)
    cells, totals, shown = [], [], []
    for index in periods:
        label = jsna.period_label(index, kind)
        start, end = jsna.period_bounds(index, kind)
        shown.append(JsnaPeriod(label=label, start=start, end=end))
        table = [[found[index].get((need, d), 0) for d in districts] for need in needs]
        out = suppress(table, threshold) if districts else None
        for r, need in enumerate(needs):
            for c, place in enumerate(districts):
                assert out is not None
                reason = out.reasons[r][c]
                cells.append(
                    JsnaCell(
                        period=label,
                        need=need,
                        district=place,
                        count=out.counts[r][c],
                        suppressed=reason is not None,
                        reason=reason,
                    )
                )
        for r, need in enumerate(needs):
            count = out.row_totals[r] if out else 0
            totals.append(
                JsnaTotal(period=label, need=need, district=None, count=count, suppressed=count is None)
            )
        for c, place in enumerate(districts):
            assert out is not None
            count = out.column_totals[c]
            totals.append(
                JsnaTotal(period=label, need=None, district=place, count=count, suppressed=count is None)
            )
        grand = out.grand_total if out else 0
        totals.append(
            JsnaTotal(period=label, need=None, district=None, count=grand, suppressed=grand is None)
        )
    return JsnaReport(
        from_=jsna.period_bounds(periods[0], kind)[0],
        to=jsna.period_bounds(periods[-1], kind)[1],
        period=kind,  # type: ignore[arg-type]
        threshold=threshold,
        needs=needs,
        districts=districts,
        periods=shown,
        cells=cells,
        totals=totals,
    )


def reference_csv(report: JsnaReport) -> str:
    bounds = {p.label: (p.start.isoformat(), p.end.isoformat()) for p in report.periods}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(jsna.CSV_COLUMNS)
    for c in report.cells:
        count = "" if c.count is None else c.count
        writer.writerow(
            [
                "cell",
                c.period,
                *bounds[c.period],
                c.need,
                c.district,
                count,
                str(c.suppressed).lower(),
                c.reason or "",
            ]
        )
    for t in report.totals:
        kind = "need_total" if t.need else "district_total" if t.district else "period_total"
        count = "" if t.count is None else t.count
        row = [kind, t.period, *bounds[t.period], t.need or "all", t.district or "all", count]
        writer.writerow([*row, str(t.suppressed).lower(), ""])
    return out.getvalue()


def random_counts(rng: random.Random, kind: str, periods: range, districts: int) -> dict:
    places = [f"S{60 + d}" for d in range(districts)] + ["unknown", "M1", "SW1A"]
    found: dict[int, dict[tuple[str, str], int]] = {}
    for index in periods:
        found[index] = {
            (need, place): rng.choice([1, 2, 3, 4, 5, 6, 8, 12, 30, 200])
            for need in NEED_CODES
            for place in places
            if rng.random() < 0.5
        }
    return found


def test_the_feed_is_the_model_built_answer_in_json_and_csv():
    rng = random.Random(21)
    for kind, periods, districts, threshold in (
        ("month", range(2024 * 12, 2024 * 12 + 6), 12, 5),
        ("quarter", range(2024 * 4, 2024 * 4 + 3), 5, 3),
        ("month", range(2025 * 12, 2025 * 12 + 2), 0, 10),
    ):
        found = random_counts(rng, kind, periods, districts)
        feed = jsna.layout(found, kind, threshold)
        expected = reference(found, kind, threshold)
        assert json.loads(feed.json()) == expected.model_dump(mode="json", by_alias=True)
        assert feed.report() == expected
        assert jsna.to_csv(feed) == reference_csv(expected)
        assert any(c[4] for c in feed.cells)  # suppression did happen


def test_a_range_with_no_referral_is_zeros_with_no_cells():
    found: dict[int, dict[tuple[str, str], int]] = {2026 * 4: {}, 2026 * 4 + 1: {}}
    feed = jsna.layout(found, "quarter", 5)
    assert json.loads(feed.json()) == reference(found, "quarter", 5).model_dump(mode="json", by_alias=True)
    assert feed.cells == [] and feed.districts == []


async def test_the_endpoint_answers_the_declared_model(families):  # noqa: F811 (the fixture)
    params = {"from": "2026-01-01", "to": "2026-04-30", "period": "month"}
    resp = await families.client.get("/v1/reports/jsna", params=params, headers=families.as_("mash"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert JsnaReport.model_validate(body).model_dump(mode="json", by_alias=True) == body
    assert len(body["cells"]) == 4 * len(NEED_CODES) * 2 and TODAY.year == 2026
