"""The drift case list (issue 21 item 4): open episodes open longer than the council's
`drift_open_months`, or whose latest three reviews show no movement in outcome scores. One row
per episode, no personal data; JSON a page at a time, or every row as CSV. Definitions:
docs/assessments.md, "The drift list"."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any

from pydantic_core import to_jsonable_python

from services.assessments import insight_repository as insight
from services.assessments.assessments import add_months
from services.assessments.context import Context
from services.assessments.schemas import DRIFT_CSV_COLUMNS, DriftCase, DriftList, DriftReason
from shared.clock import LONDON
from shared.pagination import PageParams, page_of


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from `start` to `end` (12 on the anniversary, 11 the day before)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and add_months(start, months) > end:
        months -= 1
    return max(months, 0)


def _reasons(row: insight.DriftRow) -> list[DriftReason]:
    reasons: list[DriftReason] = []
    if row.open_too_long:
        reasons.append("open_too_long")
    if row.no_movement:
        reasons.append("no_movement_in_reviews")
    return reasons


def _case(ctx: Context, row: insight.DriftRow) -> DriftCase:
    reasons = _reasons(row)
    return DriftCase(
        episode_id=row.id,
        reference=row.reference,
        opened_at=row.opened_at,
        lead_professional_agency_id=row.lead_agency_id,
        months_open=months_between(row.opened_at, ctx.now),
        reviews=row.reviews,
        last_review_on=row.last_review_on,
        reasons=reasons,
    )


def _open_before(ctx: Context) -> datetime:
    """Opened before this instant: open more than `drift_open_months` (exactly then is not)."""
    return add_months(ctx.now, -ctx.settings.drift_open_months)


async def drift_list(ctx: Context, params: PageParams) -> DriftList:
    rows = await insight.drift_cases(ctx.session, _open_before(ctx), params)
    page, cursor = page_of(rows, params, "opened_at")
    return DriftList(
        items=[_case(ctx, row) for row in page],
        next_cursor=cursor,
        open_months=ctx.settings.drift_open_months,
    )


async def drift_csv(ctx: Context) -> str:
    rows = await insight.drift_cases(ctx.session, _open_before(ctx), None)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(DRIFT_CSV_COLUMNS)
    writer.writerows(_csv_row(ctx, row) for row in rows)
    return buf.getvalue()


def _csv_row(ctx: Context, row: insight.DriftRow) -> list[Any]:
    """A `DriftCase` as CSV cells (`DRIFT_CSV_COLUMNS`), written as its JSON would be (pydantic's
    own serialiser for `opened_at`) without building the model: tens of thousands of rows."""
    return [
        row.id,
        row.reference,
        to_jsonable_python(row.opened_at),
        row.lead_agency_id or "",
        months_between(row.opened_at, ctx.now),
        row.reviews,
        "" if row.last_review_on is None else row.last_review_on.isoformat(),
        ";".join(_reasons(row)),
    ]


# ---- the drift list counted, for its chart (`format=svg|png`) ----

# Months-open bands of the chart: under 6 months, 6 to 11, 12 to 17, 18 to 23, 24 or more.
BAND_MONTHS = (6, 12, 18, 24)


def band_labels() -> list[str]:
    edges = BAND_MONTHS
    middle = [f"{a} to {b - 1} months" for a, b in pairwise(edges)]
    return [f"Under {edges[0]} months", *middle, f"{edges[-1]} months or more"]


@dataclass(frozen=True)
class DriftSummary:
    """The drifting episodes now, counted in SQL: by band (`band_labels()`) and reason."""

    on: date  # London's today
    open_months: int  # the configured `drift_open_months`
    open_too_long_only: list[int]  # one per band
    no_movement_only: list[int]
    both: list[int]

    @property
    def episodes(self) -> int:
        return sum(self.open_too_long_only) + sum(self.no_movement_only) + sum(self.both)


async def drift_summary(ctx: Context) -> DriftSummary:
    """Bands by months open as `months_open` counts them: opened on or before the same day and
    time k months ago (`add_months`, month-ends clamped) is k months or more."""
    starts = [add_months(ctx.now, -k) for k in BAND_MONTHS]
    rows = await insight.drift_counts(ctx.session, _open_before(ctx), starts)
    lines = {key: [0] * (len(BAND_MONTHS) + 1) for key in ((True, False), (False, True), (True, True))}
    for row in rows:
        lines[(row.open_too_long, row.no_movement)][row.band] += row.episodes
    return DriftSummary(
        on=ctx.now.astimezone(LONDON).date(),
        open_months=ctx.settings.drift_open_months,
        open_too_long_only=lines[(True, False)],
        no_movement_only=lines[(False, True)],
        both=lines[(True, True)],
    )
