"""The referral report, computed in SQL in one round trip (definitions: docs/referrals.md).

The cohort is every referral received in the period. Volumes come from one scan of the
referrals, grouped by (source code, outcome). Re-referrals and what became of referrals closed
with no further action are counted per child, as the Children in Need census counts
referrals, from one window pass over each child's timeline: its referrals
(`referral_person`, which carries its referral's source code and decision) and the episodes
opened for it. Everything is rolled up in SQL (overall, by source code, by outcome) with
`UNION ALL`; Python only turns counts into shares and shapes the answer, and never sees a
referral row.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.codes import EARLY_HELP_OUTCOMES, ESCALATION_LEVEL
from services.referrals.models import Episode, EpisodePerson, Referral, ReferralPerson
from shared.calendar import LONDON

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


def _flag(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return case((cond, 1), else_=0)


def report_query(dialect: str, start_on: date, end_on: date) -> Any:
    pg = dialect == "postgresql"
    start, end = period_bounds(start_on, end_on)
    r, rp = Referral.__table__, ReferralPerson.__table__
    ep, e = EpisodePerson.__table__, Episode.__table__

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
            *(func.sum(_flag(cond)).label(name) for name, cond in counts.items()),
        )
        .where(r.c.received_at >= start, r.c.received_at < end)
        .group_by(r.c.source_code, outcome_or_status)
        .cte("volumes")
    )

    # 2. Each child's referrals in time order, in one window (referral_person carries its
    #    referral's source code and decision for this).
    def code(col: Any) -> Any:
        # Ids and codes are ASCII: byte order sorts them several times faster than the locale's.
        return col.collate("C") if pg else col

    lower = start - timedelta(days=TWELVE_MONTHS_DAYS + 2)  # a margin; the exact test is below
    stream = (
        select(
            rp.c.person_id,
            rp.c.received_at.label("at"),
            rp.c.source_code,
            _flag(rp.c.outcome == "no_further_action").label("nfa"),
            rp.c.decided_at,
            _flag(or_(rp.c.level_of_need == ESCALATION_LEVEL, rp.c.from_step_up.is_(True))).label(
                "escalated"
            ),
        )
        .where(rp.c.role == "child", rp.c.received_at >= lower)
        .subquery("stream")
    )
    # One window definition for all three, so one pass: LAG/LEAD ignore the frame, and over
    # the whole child "a later escalation exists" is "the latest escalation is later". Person
    # ids are partitioned in byte order (ASCII): PostgreSQL sorts them several times faster
    # than in the locale's collation, and faster than reading them in index order (measured
    # at 1,000,000 referrals).
    whole_child: dict[str, Any] = {
        "partition_by": code(stream.c.person_id),
        "order_by": stream.c.at,
        "rows": (None, None),
    }
    timeline = select(
        stream.c.at,
        stream.c.source_code,
        stream.c.nfa,
        stream.c.decided_at,
        func.lag(stream.c.at).over(**whole_child).label("prev_at"),
        func.lead(stream.c.at).over(**whole_child).label("next_at"),
        func.max(case((stream.c.escalated == 1, stream.c.at))).over(**whole_child).label("last_escalated_at"),
    ).subquery("timeline")

    # 3. Per child referred in the period: a re-referral within 12 months? If closed with no
    #    further action: referred again (within 12 months of the decision?), escalated
    #    later (a step-up or a specialist decision)?
    t = timeline.c
    nfa = t.nfa == 1
    follow_ups = (
        select(
            code(t.source_code).label("source_code"),
            func.count().label("children"),
            func.sum(_flag(_within_12_months(dialect, t.prev_at, t.at))).label("re_referrals"),
            func.sum(_flag(nfa)).label("nfa_children"),
            func.sum(_flag(and_(nfa, t.next_at.is_not(None)))).label("nfa_re_referred_later"),
            func.sum(_flag(and_(nfa, _within_12_months(dialect, t.decided_at, t.next_at)))).label(
                "nfa_re_referred_within_12_months"
            ),
            func.sum(_flag(and_(nfa, t.last_escalated_at > t.at))).label("nfa_stepped_up_later"),
        )
        .where(t.at >= start, t.at < end)
        .group_by(code(t.source_code))
        .cte("follow_ups")
    )
    #    ... and an episode opened for the child after the decision?
    episode_after = (
        select(literal(1))
        .select_from(ep.join(e, e.c.id == ep.c.episode_id))
        .where(ep.c.person_id == rp.c.person_id, e.c.opened_at > rp.c.decided_at)
        .exists()
    )
    nfa_episode = (
        select(code(rp.c.source_code).label("source_code"), func.count().label("nfa_episode_later"))
        .where(
            rp.c.role == "child",
            rp.c.outcome == "no_further_action",
            rp.c.received_at >= start,
            rp.c.received_at < end,
            episode_after,
        )
        .group_by(code(rp.c.source_code))
        .cte("nfa_episode")
    )

    def source_of(metric: str) -> Any:
        return nfa_episode if metric == "nfa_episode_later" else follow_ups

    # 4. Rolled up three ways.
    def summed(cte: Any, names: tuple[str, ...]) -> list[Any]:
        return [func.coalesce(func.sum(cte.c[m]), 0).label(m) for m in names]

    total = select(
        literal("total").label("dimension"),
        null().label("key"),
        *summed(volumes, VOLUMES),
        *(
            func.coalesce(select(func.sum(source_of(m).c[m])).scalar_subquery(), 0).label(m)
            for m in FOLLOW_UPS
        ),
    ).select_from(volumes)
    by_source = (
        select(
            literal("source_code"),
            volumes.c.source_code,
            *summed(volumes, VOLUMES),
            *(func.coalesce(func.max(source_of(m).c[m]), 0).label(m) for m in FOLLOW_UPS),
        )
        .select_from(
            volumes.outerjoin(follow_ups, follow_ups.c.source_code == volumes.c.source_code).outerjoin(
                nfa_episode, nfa_episode.c.source_code == volumes.c.source_code
            )
        )
        .group_by(volumes.c.source_code)
    )
    by_outcome = select(
        literal("outcome"),
        volumes.c.outcome_or_status,
        *summed(volumes, VOLUMES),
        *(literal(0).label(m) for m in FOLLOW_UPS),
    ).group_by(volumes.c.outcome_or_status)
    return union_all(total, by_source, by_outcome)


# For this one query: JIT compilation cost more than the query itself (1.5 s of 1.9 s at 100,000
# referrals, measured), and the window sort should stay in memory.
POSTGRES_REPORT_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


async def referral_report(session: AsyncSession, start_on: date, end_on: date) -> dict[str, Any]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in POSTGRES_REPORT_SETTINGS:
            await session.execute(text(statement))
    query = report_query(dialect, start_on, end_on)
    rows = (await session.execute(query)).mappings().all()
    return _shape(start_on, end_on, rows)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _shape(start_on: date, end_on: date, rows: Any) -> dict[str, Any]:
    total: dict[str, int] = dict.fromkeys(METRICS, 0)
    by_source: list[dict[str, Any]] = []
    by_outcome: list[dict[str, Any]] = []
    for row in rows:
        counts = {m: int(row[m] or 0) for m in METRICS}
        if row["dimension"] == "total":
            total = counts
        elif row["dimension"] == "source_code":
            by_source.append(
                {
                    "source_code": row["key"],
                    "received": counts["received"],
                    "decided": counts["decided"],
                    "no_further_action": counts["no_further_action"],
                    "early_help": counts["early_help"],
                    "social_care": counts["social_care"],
                    "decided_within_timescale": counts["decided_within_timescale"],
                    "no_further_action_rate": _share(counts["no_further_action"], counts["decided"]),
                    "conversion_to_early_help": _share(counts["early_help"], counts["decided"]),
                    "children": counts["children"],
                    "re_referrals": counts["re_referrals"],
                    "re_referral_rate": _share(counts["re_referrals"], counts["children"]),
                }
            )
        else:
            by_outcome.append({"outcome": row["key"], "count": counts["received"]})
    by_source.sort(key=lambda x: _code_order(x["source_code"]))
    by_outcome.sort(key=lambda x: x["outcome"])
    return {
        "from": start_on.isoformat(),
        "to": end_on.isoformat(),
        "totals": {
            k: total[k] for k in ("received", "awaiting_decision", "linked", "withdrawn", "decided", "urgent")
        },
        "by_source_code": by_source,
        "by_outcome": by_outcome,
        "decided_within_timescale": {
            "decided": total["decided"],
            "within_timescale": total["decided_within_timescale"],
            "share": _share(total["decided_within_timescale"], total["decided"]),
        },
        "conversion_to_early_help": {
            "decided": total["decided"],
            "early_help": total["early_help"],
            "share": _share(total["early_help"], total["decided"]),
            "episodes_opened": total["episodes_opened"],
        },
        "re_referrals_within_12_months": {
            "children_referred": total["children"],
            "re_referrals": total["re_referrals"],
            "share": _share(total["re_referrals"], total["children"]),
        },
        "no_further_action_follow_up": {
            "referrals_closed_no_further_action": total["no_further_action"],
            "children": total["nfa_children"],
            "re_referred_later": total["nfa_re_referred_later"],
            "re_referred_within_12_months": total["nfa_re_referred_within_12_months"],
            "stepped_up_later": total["nfa_stepped_up_later"],
            "early_help_episode_later": total["nfa_episode_later"],
            "re_referred_share": _share(total["nfa_re_referred_later"], total["nfa_children"]),
        },
    }


def _code_order(code: str) -> tuple[int, str]:
    digits = "".join(c for c in code if c.isdigit())
    return (int(digits) if digits else 99, code)


def to_csv(report: dict[str, Any]) -> str:
    """One row per figure: section, key, metric, value (pivots cleanly in a spreadsheet)."""
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
