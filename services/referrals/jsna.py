"""The JSNA feed: referred families by need, period and postcode district, with small-number
suppression (issue 21 item 3; definitions: docs/referrals.md, "JSNA feed").

- **Cohort**: every referral received (London days) in the whole periods asked for, whatever
  became of it; a referral naming no need (a step-up) counts under none.
- **Family**: the household at the referral's address (`households.address_key`: normalised
  postcode and first line, what "lives with" compares), or the referral itself when it has no
  address. A family counts once per cell (period x need x district), however many referrals or
  children it had there. Only a hash of the key is stored.
- **District**: the postcode's outward code (`S60` of `S60 2AB`), `unknown` without one.
- **Periods**: calendar months or quarters (`2026-Q1` is January to March), whole ones only:
  `from` goes back to its period's first day, `to` on to its period's last, and a period not yet
  ended is left out, so two requests can never differ by a few days' referrals.

Each intake writes one `referral_need` row per need and its family into each cell of its
month and quarter, `jsna_family_period` (`record`); migrations 0009 and 0010 wrote them for
referrals stored before. The counts are one SQL statement, a grouped count over the primary key
of `jsna_family_period` (kind, period, need, district, family key); Python only lays the counts
out as one table a period and suppresses it (`shared.suppression`).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from sqlalchemy import func, select, text

from services.referrals.codes import NEED_CODES
from services.referrals.households import address_key
from services.referrals.models import JsnaFamilyPeriod, Referral, ReferralNeed
from services.referrals.reports import POSTGRES_REPORT_SETTINGS
from services.referrals.schemas import JsnaPeriodKind, JsnaReport
from shared.clock import LONDON
from shared.db import conflict_insert, is_postgres_session
from shared.problems import ValidationProblem
from shared.suppression import suppress

if TYPE_CHECKING:
    from services.referrals.service import Context

UNKNOWN = "unknown"
MONTHS_IN = {"month": 1, "quarter": 3}


# ---- at intake ----


def district(postcode: str | None) -> str:
    """The outward code of a UK postcode (spaces and case ignored), else `unknown`."""
    compact = "".join((postcode or "").split()).upper()
    return compact[:-3] if 5 <= len(compact) <= 7 and compact[-3].isdigit() else UNKNOWN


def family_key(referral: Referral) -> str:
    address = referral.address or {}
    if address.get("line1") and address.get("postcode"):
        key = "household:" + address_key(address["line1"], address["postcode"])
    else:
        key = "referral:" + referral.id
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def month_of(moment: datetime) -> int:
    day = moment.astimezone(LONDON)
    return day.year * 12 + day.month - 1


def need_rows(referral: Referral) -> list[ReferralNeed]:
    place, family, month = district(referral.postcode), family_key(referral), month_of(referral.received_at)
    return [
        ReferralNeed(
            referral_id=referral.id,
            need=need,
            received_at=referral.received_at,
            month=month,
            district=place,
            family_key=family,
        )
        for need in dict.fromkeys(referral.needs or [])
    ]


def family_period_rows(needs: list[ReferralNeed]) -> list[dict[str, Any]]:
    """The (kind, period, need, district, family) rows of a referral's need rows: its family
    in each cell of the month and of the quarter it was received in."""
    return [
        {
            "kind": kind,
            "period": n.month // months,
            "need": n.need,
            "district": n.district,
            "family_key": n.family_key,
        }
        for kind, months in MONTHS_IN.items()
        for n in needs
    ]


async def record(ctx: Context, referral: Referral) -> None:
    """The referral's needs, for the feed, in the intake's transaction; its family in each
    cell unless a referral before put it there (ON CONFLICT DO NOTHING)."""
    await record_all(ctx, [referral])


# Family-period rows a statement (each takes five parameters; PostgreSQL allows 32,767).
FAMILY_ROWS_A_STATEMENT = 2000


async def record_all(ctx: Context, referrals: list[Referral]) -> None:
    """`record` for several referrals at once (the bulk import's batch): their needs in one
    flush and their families' cells in a few statements."""
    rows = [row for referral in referrals for row in need_rows(referral)]
    ctx.session.add_all(rows)
    families = family_period_rows(rows)
    insert = conflict_insert(is_postgres_session(ctx.session))
    for start in range(0, len(families), FAMILY_ROWS_A_STATEMENT):
        chunk = families[start : start + FAMILY_ROWS_A_STATEMENT]
        await ctx.session.execute(insert(JsnaFamilyPeriod).values(chunk).on_conflict_do_nothing())


# ---- periods ----


def _first_day(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def period_label(index: int, kind: str) -> str:
    if kind == "quarter":
        return f"{index // 4}-Q{index % 4 + 1}"
    return f"{index // 12}-{index % 12 + 1:02d}"


def period_of(day: date, kind: str) -> int:
    return (day.year * 12 + day.month - 1) // MONTHS_IN[kind]


def period_bounds(index: int, kind: str) -> tuple[date, date]:
    months = MONTHS_IN[kind]
    start = _first_day(index * months)
    return start, _first_day((index + 1) * months) - timedelta(days=1)


def whole_periods(start_on: date, end_on: date, kind: str, today: date) -> range:
    """The periods [start_on, end_on] touches that have ended before `today`."""
    last = min(period_of(end_on, kind), period_of(today, kind) - 1)
    return range(period_of(start_on, kind), last + 1)


# ---- the feed ----


def counts_query(kind: str, first_month: int, last_month: int) -> Any:
    """(period, need, district, families) over the whole periods of `kind` from the one holding
    `first_month` to the one holding `last_month`: a grouped count of `jsna_family_period`, an
    index-only scan of its primary key in the grouping's order (no sort, no de-duplication)."""
    f = JsnaFamilyPeriod.__table__.c
    months = MONTHS_IN[kind]
    return (
        select(f.period, f.need, f.district, func.count().label("families"))
        .where(f.kind == kind, f.period >= first_month // months, f.period <= last_month // months)
        .group_by(f.period, f.need, f.district)
    )


def _district_order(code: str) -> tuple[int, str, int, str]:
    letters = "".join(c for c in code if c.isalpha())
    digits = code[len(letters) :]
    number = int("".join(c for c in digits if c.isdigit()) or 0)
    return (code == UNKNOWN, letters, number, code)


@dataclass(frozen=True)
class Feed:
    """The feed as plain values, exactly what `JsnaReport` holds (its fields, in its order),
    built without a model per cell: three years by month are ~37,000 cells, and validating
    each as a model, then FastAPI validating the whole answer again, cost seconds. `json()`
    serialises it once; `report()` is the same answer as the model (charts, tests)."""

    start: date
    end: date
    kind: str
    threshold: int
    needs: list[str]
    districts: list[str]
    periods: list[tuple[str, date, date]]  # label, start, end
    cells: list[
        tuple[str, str, str, int | None, bool, str | None]
    ]  # period, need, district, count, suppressed, reason
    totals: list[
        tuple[str, str | None, str | None, int | None, bool]
    ]  # period, need, district, count, suppressed

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer (field names by alias, as the OpenAPI declares `JsnaReport`)."""
        return {
            "from": self.start,
            "to": self.end,
            "period": self.kind,
            "threshold": self.threshold,
            "needs": self.needs,
            "districts": self.districts,
            "periods": [{"label": label, "start": a, "end": b} for label, a, b in self.periods],
            "cells": [
                {"period": p, "need": n, "district": d, "count": c, "suppressed": s, "reason": r}
                for p, n, d, c, s, r in self.cells
            ],
            "totals": [
                {"period": p, "need": n, "district": d, "count": c, "suppressed": s}
                for p, n, d, c, s in self.totals
            ],
        }

    def json(self) -> bytes:
        """The JSON answer serialised once (pydantic-core: dates ISO, None null)."""
        return to_json(self.as_dict())

    def report(self) -> JsnaReport:
        return JsnaReport.model_validate(self.as_dict())


async def feed(ctx: Context, start_on: date, end_on: date, kind: JsnaPeriodKind) -> Feed:
    """The feed over the whole, ended periods of [start_on, end_on] (422 naming `to` if none)."""
    periods = whole_periods(start_on, end_on, kind, ctx.now.astimezone(LONDON).date())
    if not periods:
        raise ValidationProblem(
            "to", f"no {kind} in the range has ended yet: a period is published once it ends"
        )
    months = MONTHS_IN[kind]
    session = ctx.session
    if session.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_REPORT_SETTINGS:
            await session.execute(text(statement))
    query = counts_query(kind, periods[0] * months, periods[-1] * months + months - 1)
    found: dict[int, dict[tuple[str, str], int]] = {index: {} for index in periods}
    for period, need, place, families in (await session.execute(query)).all():
        found[period][need, place] = families
    return layout(found, kind, ctx.settings.jsna_suppression_threshold)


def layout(found: dict[int, dict[tuple[str, str], int]], kind: str, threshold: int) -> Feed:
    """The feed of the counts `found` ({period: {(need, district): families}}, every period
    shown a key, in order): one table a period, every need by every district, suppressed."""
    periods = list(found)
    needs = list(NEED_CODES)
    districts = sorted({d for cells in found.values() for _, d in cells}, key=_district_order)
    cells: list[tuple[str, str, str, int | None, bool, str | None]] = []
    totals: list[tuple[str, str | None, str | None, int | None, bool]] = []
    shown: list[tuple[str, date, date]] = []
    for index in periods:
        label = period_label(index, kind)
        shown.append((label, *period_bounds(index, kind)))
        counted = found[index]
        if not districts:
            totals.extend((label, need, None, 0, False) for need in needs)
            totals.append((label, None, None, 0, False))
            continue
        out = suppress([[counted.get((need, d), 0) for d in districts] for need in needs], threshold)
        for need, counts, reasons in zip(needs, out.counts, out.reasons, strict=True):
            cells.extend(
                (label, need, place, count, reason is not None, reason)
                for place, count, reason in zip(districts, counts, reasons, strict=True)
            )
        totals.extend(
            (label, need, None, count, count is None)
            for need, count in zip(needs, out.row_totals, strict=True)
        )
        totals.extend(
            (label, None, place, count, count is None)
            for place, count in zip(districts, out.column_totals, strict=True)
        )
        totals.append((label, None, None, out.grand_total, out.grand_total is None))
    first, _ = period_bounds(periods[0], kind)
    _, last = period_bounds(periods[-1], kind)
    return Feed(first, last, kind, threshold, needs, districts, shown, cells, totals)


async def jsna_report(ctx: Context, start_on: date, end_on: date, kind: JsnaPeriodKind) -> JsnaReport:
    """The feed as the model (`Feed.report`)."""
    return (await feed(ctx, start_on, end_on, kind)).report()


CSV_COLUMNS = (
    "kind",
    "period",
    "period_start",
    "period_end",
    "need",
    "district",
    "count",
    "suppressed",
    "reason",
)

# How `to_csv` is declared in the OpenAPI document (GET /v1/reports/jsna?format=csv).
CSV_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "CSV (comma-separated, first line the header), one row per cell then per total "
    "of the JSON answer, in its order. Columns: `kind` (`cell`, `need_total`, `district_total`, "
    "`period_total`); `period` (`2026-01` or `2026-Q1`); `period_start`, `period_end` (London "
    "days, inclusive); `need` (a need code; `all` on district and period totals); `district` "
    "(postcode district or `unknown`; `all` on need and period totals); `count` (families, "
    "empty where suppressed); `suppressed` (`true` or `false`); `reason` (`primary`, "
    "`secondary`, or empty).",
}


def to_csv(data: Feed) -> str:
    """The feed as CSV (`CSV_SCHEMA`): one row per cell, then per total, in the JSON's order."""
    bounds = {label: (a.isoformat(), b.isoformat()) for label, a, b in data.periods}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    flag = {True: "true", False: "false"}
    writer.writerows(
        ("cell", p, *bounds[p], n, d, "" if c is None else c, flag[hidden], why or "")
        for p, n, d, c, hidden, why in data.cells
    )
    writer.writerows(
        (
            "need_total" if n else "district_total" if d else "period_total",
            p,
            *bounds[p],
            n or "all",
            d or "all",
            "" if c is None else c,
            flag[hidden],
            "",
        )
        for p, n, d, c, hidden in data.totals
    )
    return out.getvalue()
