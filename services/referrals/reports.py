"""The referral report, computed in SQL in one round trip (definitions: docs/referrals.md).

The cohort is every referral received in the period. Volumes come from one scan of the
referrals, grouped by (source code, outcome). Re-referrals and what became of referrals closed
with no further action are counted per child, as the Children in Need census counts
referrals, from one scan of the children named in the period's referrals: each such row
(`referral_person`) keeps the facts of the child's timeline around it (previous and next
referral, a later escalation, an episode after the decision), which `refresh_follow_ups`
brings up to date whenever that timeline changes. Everything is rolled up in SQL (overall,
by source code, by outcome) with `UNION ALL`; Python only turns counts into shares and
shapes the answer, and never sees a referral row.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.codes import EARLY_HELP_OUTCOMES, ESCALATION_LEVEL
from services.referrals.models import Episode, EpisodePerson, Referral, ReferralPerson
from services.referrals.schemas import (
    ReferralReport,
    ReportByOutcome,
    ReportBySourceCode,
    ReportConversion,
    ReportNfaFollowUp,
    ReportReReferrals,
    ReportTimeliness,
    ReportTotals,
)
from shared.clock import LONDON

if TYPE_CHECKING:
    # `service` reaches this module through `repository`: its Context is only a type here.
    from services.referrals.service import Context

SOCIAL_CARE_OUTCOMES = ("social_care_assessment", "strategy_discussion")
VOLUMES = (
    "received",
    "awaiting_decision",
    "linked",
    "withdrawn",
    "decided",
    "urgent",
    "decided_within_timescale",
    "no_further_action",
    "signposted",
    "early_help",
    "social_care",
    "episodes_opened",
)
# Counted per child named, as the Children in Need census counts referrals.
FOLLOW_UPS = (
    "children",
    "re_referrals",
    "nfa_children",
    "nfa_re_referred_later",
    "nfa_re_referred_within_12_months",
    "nfa_stepped_up_later",
    "nfa_episode_later",
)
METRICS = VOLUMES + FOLLOW_UPS


# "Within 12 months" is 365 days, as the notifications service's deadline rules count it.
TWELVE_MONTHS_DAYS = 365


def _within_12_months(dialect: str, earlier: Any, later: Any) -> ColumnElement[bool]:
    """`later` no more than 365 days after `earlier` (a difference, not calendar arithmetic
    per row: adding months to a timestamp with time zone is the costliest step at a million)."""
    if dialect == "postgresql":
        return (later - earlier) <= literal_column(f"INTERVAL '{TWELVE_MONTHS_DAYS} days'")
    return (func.julianday(later) - func.julianday(earlier)) <= TWELVE_MONTHS_DAYS


def period_bounds(start_on: date, end_on: date) -> tuple[datetime, datetime]:
    """London days [start_on, end_on] as UTC-aware [start, end)."""
    start = datetime.combine(start_on, time(0), tzinfo=LONDON)
    end = datetime.combine(end_on + timedelta(days=1), time(0), tzinfo=LONDON)
    return start, end


def _count(cond: ColumnElement[bool]) -> Any:
    """Rows meeting `cond`: `count(*) FILTER (WHERE ...)`, cheaper per row than summing a CASE."""
    return func.count().filter(cond)


def report_query(dialect: str, start_on: date, end_on: date) -> Any:
    pg = dialect == "postgresql"
    start, end = period_bounds(start_on, end_on)
    r, rp = Referral.__table__, ReferralPerson.__table__

    # 1. Volumes: one scan of the period's referrals, counted per (source code, outcome).
    outcome_or_status = func.coalesce(r.c.outcome, r.c.status)
    counts = {
        "awaiting_decision": r.c.status == "received",
        "linked": r.c.status == "linked",
        "withdrawn": r.c.status == "withdrawn",
        "decided": r.c.status == "decided",
        "urgent": r.c.urgent.is_(True),
        "decided_within_timescale": r.c.decided_within_timescale.is_(True),
        "no_further_action": r.c.outcome == "no_further_action",
        "signposted": r.c.outcome == "signpost_universal",
        "early_help": r.c.outcome.in_(sorted(EARLY_HELP_OUTCOMES)),
        "social_care": r.c.outcome.in_(SOCIAL_CARE_OUTCOMES),
        "episodes_opened": r.c.episode_id.is_not(None),
    }
    volumes = (
        select(
            r.c.source_code,
            outcome_or_status.label("outcome_or_status"),
            func.count().label("received"),
            *(_count(cond).label(name) for name, cond in counts.items()),
        )
        .where(r.c.received_at >= start, r.c.received_at < end)
        .group_by(r.c.source_code, outcome_or_status)
        .cte("volumes")
    )

    # 2. Per child named in a referral of the period, from the facts its row keeps
    #    (refresh_follow_ups): a re-referral within 12 months? If closed with no further
    #    action: referred again (within 12 months of the decision?), escalated later (a step-up
    #    or a specialist decision), an early help episode opened after the decision?
    def code(col: Any) -> Any:
        # Codes are ASCII: byte order groups them faster than the locale's collation.
        return col.collate("C") if pg else col

    c = rp.c
    nfa = c.outcome == "no_further_action"
    follow_ups = (
        select(
            code(c.source_code).label("source_code"),
            func.count().label("children"),
            _count(_within_12_months(dialect, c.previous_received_at, c.received_at)).label("re_referrals"),
            _count(nfa).label("nfa_children"),
            _count(and_(nfa, c.next_received_at.is_not(None))).label("nfa_re_referred_later"),
            _count(and_(nfa, _within_12_months(dialect, c.decided_at, c.next_received_at))).label(
                "nfa_re_referred_within_12_months"
            ),
            _count(and_(nfa, c.escalated_later.is_(True))).label("nfa_stepped_up_later"),
            _count(and_(nfa, c.episode_after_decision.is_(True))).label("nfa_episode_later"),
        )
        .where(c.role == "child", c.received_at >= start, c.received_at < end)
        .group_by(code(c.source_code))
        .cte("follow_ups")
    )

    # 4. Rolled up three ways.
    def summed(cte: Any, names: tuple[str, ...]) -> list[Any]:
        return [func.coalesce(func.sum(cte.c[m]), 0).label(m) for m in names]

    total = select(
        literal("total").label("dimension"),
        null().label("key"),
        *summed(volumes, VOLUMES),
        *(func.coalesce(select(func.sum(follow_ups.c[m])).scalar_subquery(), 0).label(m) for m in FOLLOW_UPS),
    ).select_from(volumes)
    by_source = (
        select(
            literal("source_code"),
            volumes.c.source_code,
            *summed(volumes, VOLUMES),
            *(func.coalesce(func.max(follow_ups.c[m]), 0).label(m) for m in FOLLOW_UPS),
        )
        .select_from(volumes.outerjoin(follow_ups, follow_ups.c.source_code == volumes.c.source_code))
        .group_by(volumes.c.source_code)
    )
    by_outcome = select(
        literal("outcome"),
        volumes.c.outcome_or_status,
        *summed(volumes, VOLUMES),
        *(literal(0).label(m) for m in FOLLOW_UPS),
    ).group_by(volumes.c.outcome_or_status)
    return union_all(total, by_source, by_outcome)


@functools.cache
def follow_up_facts(some: bool = False) -> Any:
    """The UPDATE that recomputes the timeline facts on children's `referral_person` rows:
    for everyone (as the migration's backfill does), or (`some`) for the people in the
    expanding parameter `person_ids`. Built once: building it costs more than running it.

    Per child, in time order: the previous and the next referral, whether a later referral
    was escalated (a step-up, or decided at the specialist level), and whether an episode was
    opened for the child after this referral's decision. One window over the child's rows
    (a handful per child), joined back by primary key; PostgreSQL and SQLite both take it.
    """
    rp = cast(Table, ReferralPerson.__table__)  # a mapped class's table is a Table
    t = rp.alias("child_row")
    ep, e = EpisodePerson.__table__, Episode.__table__
    # One window for all three: LAG/LEAD ignore the frame, and over the whole child "a later
    # escalation exists" is "the latest escalation is later than this one".
    whole_child: dict[str, Any] = {
        "partition_by": t.c.person_id,
        "order_by": (t.c.received_at, t.c.referral_id),
        "rows": (None, None),
    }
    escalated = or_(t.c.level_of_need == ESCALATION_LEVEL, t.c.from_step_up.is_(True))
    last_escalated_at = func.max(case((escalated, t.c.received_at))).over(**whole_child)
    episode_after = (
        select(literal(1))
        .select_from(ep.join(e, e.c.id == ep.c.episode_id))
        .where(ep.c.person_id == t.c.person_id, e.c.opened_at > t.c.decided_at)
        .exists()
    )
    facts = select(
        t.c.referral_id,
        t.c.role,
        t.c.position,
        func.lag(t.c.received_at).over(**whole_child).label("previous_received_at"),
        func.lead(t.c.received_at).over(**whole_child).label("next_received_at"),
        func.coalesce(last_escalated_at > t.c.received_at, false()).label("escalated_later"),
        episode_after.label("episode_after_decision"),
    ).where(t.c.role == "child")
    if some:
        facts = facts.where(t.c.person_id.in_(bindparam("person_ids", expanding=True)))
    f = facts.subquery("facts")
    return (
        update(rp)
        .where(rp.c.referral_id == f.c.referral_id, rp.c.role == f.c.role, rp.c.position == f.c.position)
        .values(
            previous_received_at=f.c.previous_received_at,
            next_received_at=f.c.next_received_at,
            escalated_later=f.c.escalated_later,
            episode_after_decision=f.c.episode_after_decision,
        )
    )


async def refresh_follow_ups(session: AsyncSession, person_ids: Iterable[str]) -> None:
    """Bring these children's timeline facts up to date, in the caller's transaction. Called
    wherever a child's timeline changes: a referral names them, a decision is made, a merge
    or its undo moves referrals between people, an episode is opened for them."""
    ids = [pid for pid in dict.fromkeys(person_ids) if pid]
    if ids:
        await session.flush()
        await session.execute(follow_up_facts(some=True), {"person_ids": ids})


# For this one query: JIT compilation cost more than the query itself (1.5 s of 1.9 s at 100,000
# referrals, measured); the aggregates stay in memory; and index pages cost what heap pages do
# (an SSD, or a database in memory), so a report over the whole history reads the narrow
# covering indexes rather than the wide rows.
POSTGRES_REPORT_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL random_page_cost = 1.1",
)


async def referral_report(ctx: Context, start_on: date, end_on: date) -> ReferralReport:
    """The report over London days [start_on, end_on], in `ctx.session` (a transaction of its
    own on PostgreSQL: the planner settings are `SET LOCAL`)."""
    session = ctx.session
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in POSTGRES_REPORT_SETTINGS:
            await session.execute(text(statement))
    query = report_query(dialect, start_on, end_on)
    rows = (await session.execute(query)).mappings().all()
    report = _shape(start_on, end_on, rows)
    days = ctx.settings.decision_working_days
    report.decided_within_timescale.timescale = decision_timescale_label(days)
    report.decided_within_timescale.working_days = days
    return report


def decision_timescale_label(working_days: int) -> str:
    """The decision timescale's name from the council's `decision_working_days` (issue 21):
    `within_1_working_day` on the default, `within_<N>_working_days` otherwise."""
    return f"within_{working_days}_working_day{'' if working_days == 1 else 's'}"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _shape(start_on: date, end_on: date, rows: Any) -> ReferralReport:
    total: dict[str, int] = dict.fromkeys(METRICS, 0)
    by_source: list[ReportBySourceCode] = []
    by_outcome: list[ReportByOutcome] = []
    for row in rows:
        counts = {m: int(row[m] or 0) for m in METRICS}
        if row["dimension"] == "total":
            total = counts
        elif row["dimension"] == "source_code":
            by_source.append(
                ReportBySourceCode(
                    source_code=row["key"],
                    received=counts["received"],
                    decided=counts["decided"],
                    no_further_action=counts["no_further_action"],
                    early_help=counts["early_help"],
                    social_care=counts["social_care"],
                    decided_within_timescale=counts["decided_within_timescale"],
                    no_further_action_rate=_share(counts["no_further_action"], counts["decided"]),
                    conversion_to_early_help=_share(counts["early_help"], counts["decided"]),
                    children=counts["children"],
                    re_referrals=counts["re_referrals"],
                    re_referral_rate=_share(counts["re_referrals"], counts["children"]),
                )
            )
        else:
            by_outcome.append(ReportByOutcome(outcome=row["key"], count=counts["received"]))
    by_source.sort(key=lambda x: _code_order(x.source_code))
    by_outcome.sort(key=lambda x: x.outcome)
    return ReferralReport(
        from_=start_on,
        to=end_on,
        totals=ReportTotals.model_validate({k: total[k] for k in ReportTotals.model_fields}),
        by_source_code=by_source,
        by_outcome=by_outcome,
        decided_within_timescale=ReportTimeliness(
            decided=total["decided"],
            within_timescale=total["decided_within_timescale"],
            share=_share(total["decided_within_timescale"], total["decided"]),
        ),
        conversion_to_early_help=ReportConversion(
            decided=total["decided"],
            early_help=total["early_help"],
            share=_share(total["early_help"], total["decided"]),
            episodes_opened=total["episodes_opened"],
        ),
        re_referrals_within_12_months=ReportReReferrals(
            children_referred=total["children"],
            re_referrals=total["re_referrals"],
            share=_share(total["re_referrals"], total["children"]),
        ),
        no_further_action_follow_up=ReportNfaFollowUp(
            referrals_closed_no_further_action=total["no_further_action"],
            children=total["nfa_children"],
            re_referred_later=total["nfa_re_referred_later"],
            re_referred_within_12_months=total["nfa_re_referred_within_12_months"],
            stepped_up_later=total["nfa_stepped_up_later"],
            early_help_episode_later=total["nfa_episode_later"],
            re_referred_share=_share(total["nfa_re_referred_later"], total["nfa_children"]),
        ),
    )


def _code_order(code: str) -> tuple[int, str]:
    digits = "".join(c for c in code if c.isdigit())
    return (int(digits) if digits else 99, code)


# How `to_csv` is declared in the OpenAPI document (GET /v1/reports/referrals, Accept: text/csv).
CSV_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "CSV (comma-separated, first line the header), one row per figure of the JSON "
    "report, in its order. Columns: `section` (`period`, `totals`, `decided_within_timescale`, "
    "`conversion_to_early_help`, `re_referrals_within_12_months`, `no_further_action_follow_up`, "
    "`by_source_code`, `by_outcome`); `key` (the source code or outcome for `by_source_code` and "
    "`by_outcome`, empty otherwise); `metric` (the JSON field's name); `value` (the number or "
    "date; empty where the JSON has null; for `decided_within_timescale,,timescale` the "
    "timescale's name, e.g. `within_1_working_day`).",
}


def to_csv(typed: ReferralReport) -> str:
    """One row per figure: section, key, metric, value (pivots cleanly in a spreadsheet), in
    the order of the JSON."""
    report = typed.model_dump(mode="json", by_alias=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "metric", "value"])
    writer.writerow(["period", "", "from", report["from"]])
    writer.writerow(["period", "", "to", report["to"]])
    for section in (
        "totals",
        "decided_within_timescale",
        "conversion_to_early_help",
        "re_referrals_within_12_months",
        "no_further_action_follow_up",
    ):
        for metric, value in report[section].items():
            writer.writerow([section, "", metric, "" if value is None else value])
    for row in report["by_source_code"]:
        for metric, value in row.items():
            if metric != "source_code":
                writer.writerow(
                    ["by_source_code", row["source_code"], metric, "" if value is None else value]
                )
    for row in report["by_outcome"]:
        writer.writerow(["by_outcome", row["outcome"], "count", row["count"]])
    return out.getvalue()
