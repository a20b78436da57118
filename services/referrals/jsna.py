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
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from services.referrals.codes import NEED_CODES
from services.referrals.households import address_key
from services.referrals.models import JsnaFamilyPeriod, Referral, ReferralNeed
from services.referrals.reports import POSTGRES_REPORT_SETTINGS
from services.referrals.schemas import JsnaCell, JsnaPeriod, JsnaPeriodKind, JsnaReport, JsnaTotal
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


async def jsna_report(ctx: Context, start_on: date, end_on: date, kind: JsnaPeriodKind) -> JsnaReport:
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
    found: dict[tuple[int, str, str], int] = {
        (row.period, row.need, row.district): row.families for row in (await session.execute(query)).all()
    }
    needs = [n for n in NEED_CODES]
    districts = sorted({d for _, _, d in found}, key=_district_order)
    threshold = ctx.settings.jsna_suppression_threshold
    cells: list[JsnaCell] = []
    totals: list[JsnaTotal] = []
    shown: list[JsnaPeriod] = []
    for index in periods:
        label = period_label(index, kind)
        start, end = period_bounds(index, kind)
        shown.append(JsnaPeriod(label=label, start=start, end=end))
        table = [[found.get((index, need, d), 0) for d in districts] for need in needs]
        out = suppress(table, threshold) if districts else None
        for r, need in enumerate(needs):
            for c, place in enumerate(districts):
                assert out is not None
                cells.append(
                    JsnaCell(
                        period=label,
                        need=need,
                        district=place,
                        count=out.counts[r][c],
                        suppressed=out.reasons[r][c] is not None,
                        reason=out.reasons[r][c],
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
    first, _ = period_bounds(periods[0], kind)
    _, last = period_bounds(periods[-1], kind)
    return JsnaReport(
        from_=first,
        to=last,
        period=kind,
        threshold=threshold,
        needs=needs,
        districts=districts,
        periods=shown,
        cells=cells,
        totals=totals,
    )


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


def to_csv(report: JsnaReport) -> str:
    bounds = {p.label: (p.start.isoformat(), p.end.isoformat()) for p in report.periods}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(kind: str, period: str, need: str, place: str, count: int | None, hidden: bool, why: str) -> None:
        count_text = "" if count is None else count
        writer.writerow([kind, period, *bounds[period], need, place, count_text, str(hidden).lower(), why])

    for cell in report.cells:
        row("cell", cell.period, cell.need, cell.district, cell.count, cell.suppressed, cell.reason or "")
    for t in report.totals:
        kind = "need_total" if t.need else "district_total" if t.district else "period_total"
        row(kind, t.period, t.need or "all", t.district or "all", t.count, t.suppressed, "")
    return out.getvalue()
