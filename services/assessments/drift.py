"""The drift case list (issue 21 item 4): open episodes open longer than the council's
`drift_open_months`, or whose latest three reviews show no movement in outcome scores. One row
per episode, no personal data; JSON a page at a time, or every row as CSV. Definitions:
docs/assessments.md, "The drift list"."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from services.assessments import insight_repository as insight
from services.assessments.assessments import add_months
from services.assessments.context import Context
from services.assessments.schemas import DRIFT_CSV_COLUMNS, DriftCase, DriftList, DriftReason
from shared.pagination import PageParams, page_of


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from `start` to `end` (12 on the anniversary, 11 the day before)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and add_months(start, months) > end:
        months -= 1
    return max(months, 0)


def _case(ctx: Context, row: insight.DriftRow) -> DriftCase:
    reasons: list[DriftReason] = []
    if row.open_too_long:
        reasons.append("open_too_long")
    if row.no_movement:
        reasons.append("no_movement_in_reviews")
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
    for row in rows:
        case = _case(ctx, row).model_dump(mode="json")
        case["reasons"] = ";".join(case["reasons"])
        writer.writerow(["" if case[c] is None else case[c] for c in DRIFT_CSV_COLUMNS])
    return buf.getvalue()
