"""The drift list as a chart (`GET /v1/reports/drift?format=svg|png`): the drifting episodes
counted in SQL by reason and by months open, agreeing with the list (drift.drift_summary)."""

from __future__ import annotations

import csv
import io
from typing import Any

from services.assessments import insight_repository as insight
from services.assessments.assessments import add_months
from services.assessments.drift import BAND_MONTHS, band_labels
from services.assessments.tests.conftest import EH, POLICE, h
from services.assessments.tests.test_timeliness_drift import _drift_world, _stopped_clock, at  # noqa: F401
from shared.clock import utcnow
from shared.testing import assert_chart


async def chart(svc: Any, fmt: str = "svg") -> Any:
    return await svc.client.get("/v1/reports/drift", params={"format": fmt}, headers=h(svc, EH))


def band_of(months_open: int) -> int:
    return sum(1 for k in BAND_MONTHS if months_open >= k)


async def counted(svc: Any) -> dict[tuple[int, bool, bool], int]:
    """What the chart counts (drift_counts) against what the list says, row by row."""
    now = utcnow()
    open_before = add_months(now, -svc.runtime.settings.drift_open_months)
    async with svc.runtime.db.session() as s:
        rows = await insight.drift_counts(s, open_before, [add_months(now, -k) for k in BAND_MONTHS])
    return {(r.band, r.open_too_long, r.no_movement): r.episodes for r in rows}


async def listed(svc: Any) -> dict[tuple[int, bool, bool], int]:
    out: dict[tuple[int, bool, bool], int] = {}
    resp = await svc.client.get("/v1/reports/drift", params={"format": "csv"}, headers=h(svc, EH))
    for row in csv.DictReader(io.StringIO(resp.text)):
        reasons = row["reasons"].split(";")
        key = (
            band_of(int(row["months_open"])),
            "open_too_long" in reasons,
            "no_movement_in_reviews" in reasons,
        )
        out[key] = out.get(key, 0) + 1
    return out


async def test_the_drift_list_as_svg(svc):
    await _drift_world(svc)  # the clock stands at 2026-03-01 10:00 UTC
    resp = await chart(svc)
    svg = assert_chart(resp, "drift-2026-03-01.svg", "Drifting episodes on 2026-03-01")
    assert (
        "3 open episodes drifting: 1 open more than 12 months, 2 with no movement in their latest "
        "three reviews (0 both)" in svg
    )
    for text in ("Open more than 12 months", "No movement in the latest three reviews", *band_labels()):
        assert text in svg, text
    # One episode opened 12 months ago (less a minute), two six months ago exactly.
    assert await counted(svc) == await listed(svc) == {(2, True, False): 1, (1, False, True): 2}
    assert (await chart(svc)).content == resp.content  # deterministic
    assert "Erin" not in svg  # no names: counts only


async def test_both_reasons_and_the_setting_in_the_chart(svc):
    await _drift_world(svc)
    svc.runtime.settings.drift_open_months = 6
    at(2026, 3, 1, 10, 0, 1)
    svg = (await chart(svc)).text
    assert "6 open episodes drifting: 6 open more than 6 months, 2 with no movement" in svg
    assert "(2 both)" in svg and "Open more than 6 months only" in svg
    expected = {(1, True, False): 2, (2, True, False): 2, (1, True, True): 2}
    assert await counted(svc) == await listed(svc) == expected


async def test_png_json_csv_empty_and_access(svc):
    at(2026, 3, 1, 10)
    empty = await chart(svc)
    assert empty.status_code == 200 and "No data for this period" in empty.text
    assert "0 open episodes drifting" in empty.text
    png = await chart(svc, "png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert (await chart(svc, "json")).json()["items"] == []
    assert (await chart(svc, "csv")).text.startswith("episode_id,")
    denied = await svc.client.get("/v1/reports/drift", params={"format": "svg"}, headers=h(svc, POLICE))
    assert denied.status_code == 403
    assert (await chart(svc, "gif")).status_code == 422
