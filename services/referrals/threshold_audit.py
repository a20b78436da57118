"""The threshold audit (issue 21 item 2): is the MASH applying the threshold consistently?

A MASH manager draws a sample of a period's decisions (`draw`): a share of each outcome's
decisions (stratified, so every outcome is represented in proportion, at least one per outcome
decided in the period), reproducibly from a seed (the same seed over the same decisions draws
the same sample; a decision is sampled once, whichever audit draws it). Another MASH manager,
never the decider, reviews each one blind (`item_view`, `review`): they see what the MASH knew
(the referral's facts, without names) but not the decision, record their own level of need
and outcome, and only then see the original and record whether they agree (`agreement`; a
reason is required to disagree). The report (`report`) gives the agreement rate by the
original level of need and by month of the decision, counted in SQL over the sampled items
(each keeps the facts it is grouped by, copied when drawn: a decision is final).
Who may do what: `policy.AUDIT_RULES`.
"""

from __future__ import annotations

import csv
import io
import math
import random
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, or_, select, text, union_all

from services.referrals import policy
from services.referrals.codes import OUTCOME_LEVELS
from services.referrals.errors import (
    AgreementAlreadyRecorded,
    AuditItemNotFound,
    DecisionLevelMismatch,
    ReviewAlreadyRecorded,
    ReviewNotRecorded,
    ThresholdAuditNotFound,
)
from services.referrals.models import Referral, ReferralPerson, ThresholdAudit, ThresholdAuditItem
from services.referrals.reports import POSTGRES_REPORT_SETTINGS, period_bounds
from services.referrals.schemas import (
    AgreementByLevel,
    AgreementByMonth,
    AgreementFigures,
    AuditAgencyCheck,
    AuditChild,
    AuditFacts,
    AuditOriginalDecision,
    AuditReview,
    ThresholdAuditAgreementCreate,
    ThresholdAuditCreate,
    ThresholdAuditItemRead,
    ThresholdAuditItemSummary,
    ThresholdAuditListRow,
    ThresholdAuditRead,
    ThresholdAuditReport,
    ThresholdAuditReviewCreate,
    ThresholdAuditStratum,
)
from services.referrals.service import Context
from shared.changes import where_changed_since
from shared.clock import LONDON
from shared.db import is_postgres_session
from shared.pagination import PageParams, keyset, page_of
from shared.problems import Conflict, ValidationProblem

LEVELS = ("universal", "universal_plus", "partnership_plus", "specialist")
# Each sampled decision is a blind second review by a manager: an audit of more than this many
# is not one anyone will finish, and would cost seconds to draw and to list. 422 naming `share`.
MAX_AUDIT_ITEMS = 1000


# ---- drawing a sample ----


def stratum_size(decisions: int, share: float) -> int:
    """How many of a stratum's `decisions` to sample: the share rounded half up, at least one
    (the stratum is not empty), never more than there are."""
    return min(decisions, max(1, math.floor(decisions * share + 0.5)))


def stratified_positions(decisions: dict[str, int], share: float, seed: int) -> dict[str, list[int]]:
    """Which of each outcome's decisions to sample, as 0-based positions in the outcome's
    decisions in decision order (the strata in name order). `random.Random.sample` picks
    positions from the population's length alone, so these are exactly the picks
    `stratified_sample` makes from the ids: the draw counts in SQL and reads only the picked."""
    rng = random.Random(seed)
    return {
        outcome: rng.sample(range(n), stratum_size(n, share)) for outcome, n in sorted(decisions.items()) if n
    }


def stratified_sample(ids_by_outcome: dict[str, list[str]], share: float, seed: int) -> dict[str, list[str]]:
    """The sample of each outcome's ids: the same ids, share and seed give the same sample
    (the strata in name order, each id list in the order given)."""
    positions = stratified_positions({o: len(ids) for o, ids in ids_by_outcome.items()}, share, seed)
    return {outcome: [ids_by_outcome[outcome][p] for p in picks] for outcome, picks in positions.items()}


def _assign(reviewers: list[str], deciders: list[str | None]) -> list[str | None]:
    """Reviewers in turn, skipping an item's decider (None when every reviewer decided it)."""
    out: list[str | None] = []
    turn = 0
    for decider in deciders:
        chosen = None
        for k in range(len(reviewers)):
            candidate = reviewers[(turn + k) % len(reviewers)]
            if candidate != decider:
                chosen, turn = candidate, turn + k + 1
                break
        out.append(chosen)
    return out


def _population(start: datetime, end: datetime) -> tuple[Any, ...]:
    """The decisions made in [start, end) that no audit has sampled."""
    r = Referral.__table__
    sampled_before = select(ThresholdAuditItem.referral_id).where(ThresholdAuditItem.referral_id == r.c.id)
    return (r.c.status == "decided", r.c.decided_at >= start, r.c.decided_at < end, ~sampled_before.exists())


async def _picks(
    ctx: Context, population: tuple[Any, ...], decisions: dict[str, int], positions: dict[str, list[int]]
) -> dict[tuple[str, int], Any] | None:
    """The decisions at `positions` of each outcome's decisions in decision order (decided_at,
    id), read in one statement: numbered in SQL, so only the picked rows come back. None if the
    population is no longer what was counted (a decision made or sampled meanwhile).

    Each outcome's number is a running count of its decisions over all of them in decision
    order, not a row_number() partitioned by outcome: that would sort the period by outcome
    first, and comparing text over a year's ~280,000 decisions cost PostgreSQL seconds."""
    r = Referral.__table__
    running = []
    for outcome in positions:
        one = case((r.c.outcome == outcome, 1), else_=0)
        running.append(
            (r.c.outcome == outcome, func.sum(one).over(order_by=(r.c.decided_at, r.c.id), rows=(None, 0)))
        )
    # Only the columns of the index `ix_referral_decided` (an index-only scan on PostgreSQL).
    numbered = (
        select(
            r.c.id.label("picked_id"), r.c.outcome.label("picked_outcome"), case(*running).label("position")
        )
        .where(*population)
        .subquery()
    )
    # Beside the picks, each outcome's last decision as counted and the one after it (which
    # must not exist): the outcome still has exactly the decisions counted.
    wanted = or_(
        *(
            and_(
                numbered.c.picked_outcome == outcome,
                numbered.c.position.in_(
                    sorted({p + 1 for p in picks} | {decisions[outcome], decisions[outcome] + 1})
                ),
            )
            for outcome, picks in positions.items()
        )
    )
    at = {
        (o, int(p) - 1): rid
        for rid, o, p in (await ctx.session.execute(select(numbered).where(wanted))).all()
    }
    if any((outcome, n - 1) not in at or (outcome, n) in at for outcome, n in decisions.items()):
        return None
    picked = {
        key: at.get(key) for key in ((outcome, p) for outcome, picks in positions.items() for p in picks)
    }
    if None in picked.values():
        return None
    # The picked decisions' other columns, by id (a join would have the planner expect a
    # tenth of the period and scan every referral).
    stmt = select(
        r.c.id, r.c.outcome, r.c.level_of_need, r.c.decided_at, r.c.decided_by_practitioner_id
    ).where(r.c.id.in_(list(picked.values())))
    rows = {row.id: row for row in (await ctx.session.execute(stmt)).all()}
    return {key: rows[rid] for key, rid in picked.items()}


async def draw(ctx: Context, body: ThresholdAuditCreate) -> ThresholdAuditRead:
    """Sample the decisions made on London days [decided_from, decided_to] not sampled before.

    The decisions are counted per outcome in SQL, the positions to sample chosen from the
    counts (`stratified_positions`: the very sample `stratified_sample` draws from the ids) and
    only those decisions read: a year is ~250,000 decisions, none of them read into Python."""
    policy.require_audit_manager(ctx.identity, "draw a threshold audit")
    start, end = period_bounds(body.decided_from, body.decided_to)
    r = Referral.__table__
    if is_postgres_session(ctx.session):
        for statement in POSTGRES_REPORT_SETTINGS:  # the numbering sorts the period in memory (work_mem)
            await ctx.session.execute(text(statement))
    population = _population(start, end)
    seed = body.seed if body.seed is not None else random.SystemRandom().randrange(2**31)
    for _ in range(3):
        counted = await ctx.session.execute(
            select(r.c.outcome, func.count()).where(*population).group_by(r.c.outcome)
        )
        decisions = {outcome: n for outcome, n in counted.all()}
        total = sum(decisions.values())
        if not total:
            raise ValidationProblem(
                "decided_from",
                f"no decisions made from {body.decided_from} to {body.decided_to} that an audit has not sampled",
            )
        positions = stratified_positions(decisions, body.share, seed)
        sampled = sum(len(picks) for picks in positions.values())
        if sampled > MAX_AUDIT_ITEMS:
            raise ValidationProblem(
                "share",
                f"would sample {sampled} of {total} decisions; an audit samples at most {MAX_AUDIT_ITEMS} "
                "(each is a blind review): choose a smaller share or a shorter period",
            )
        at = await _picks(ctx, population, decisions, positions)
        if at is not None:
            break
    else:
        raise Conflict("decisions of the period kept changing while the sample was drawn: draw again")
    audit = ThresholdAudit(
        id=str(uuid.uuid4()),
        agency_id=ctx.identity.agency_id,
        decided_from=body.decided_from,
        decided_to=body.decided_to,
        share=body.share,
        seed=seed,
        decisions=total,
        strata=[
            {"outcome": o, "decisions": decisions[o], "sampled": len(picks)} for o, picks in positions.items()
        ],
        created_at=ctx.now,
        created_by=ctx.identity.actor,
        created_by_client_id=ctx.identity.client_id,
    )
    ctx.session.add(audit)
    await ctx.session.flush()
    assert at is not None  # the loop broke with the picks
    details = {row.id: row for row in at.values()}
    picked = [at[outcome, p].id for outcome, picks in positions.items() for p in picks]
    # Not in strata (the list must not give away the outcomes), the same order for the seed.
    random.Random(seed).shuffle(picked)
    reviewers = _assign(
        list(dict.fromkeys(body.reviewer_ids)), [details[rid].decided_by_practitioner_id for rid in picked]
    )
    values = []
    for rid, reviewer in zip(picked, reviewers, strict=True):
        d = details[rid]
        day = d.decided_at.astimezone(LONDON).date()
        values.append(
            {
                "id": str(uuid.uuid4()),
                "audit_id": audit.id,
                "referral_id": rid,
                "outcome": d.outcome,
                "level_of_need": d.level_of_need,
                "decided_at": d.decided_at,
                "decided_on": day,
                "decided_month": f"{day:%Y-%m}",
                "decided_by_practitioner_id": d.decided_by_practitioner_id,
                "reviewer_id": reviewer,
            }
        )
    # One bulk INSERT (a sample of a year's decisions is thousands of rows: the ORM's unit of
    # work would cost seconds); the answer is built from the same values.
    await ctx.session.execute(insert(ThresholdAuditItem), values)
    items = [ThresholdAuditItem(**v) for v in values]
    return _audit_read(audit, items)


# ---- reading audits ----


def _status(item: ThresholdAuditItem) -> Any:
    if item.agrees is not None:
        return "agreement_recorded"
    return "reviewed" if item.reviewed_at is not None else "awaiting_review"


def _row(audit: ThresholdAudit, sampled: int, reviewed: int) -> dict[str, Any]:
    """An audit's own fields, and its item counts."""
    fields = (
        "id",
        "decided_from",
        "decided_to",
        "share",
        "seed",
        "decisions",
        "created_at",
        "created_by",
        "updated_at",
    )
    return {**{f: getattr(audit, f) for f in fields}, "sampled": sampled, "reviewed": reviewed}


def _audit_read(audit: ThresholdAudit, items: list[ThresholdAuditItem]) -> ThresholdAuditRead:
    items = sorted(items, key=lambda i: i.id)
    return ThresholdAuditRead(
        **_row(audit, len(items), sum(1 for i in items if i.reviewed_at is not None)),
        strata=[ThresholdAuditStratum.model_validate(s) for s in audit.strata],
        sample=[
            ThresholdAuditItemSummary(
                id=i.id,
                status=_status(i),
                reviewer_id=i.reviewer_id,
                referral_id=i.referral_id if i.reviewed_at is not None else None,
                reviewed_at=i.reviewed_at,
                agrees=i.agrees,
            )
            for i in items
        ],
    )


async def list_audits(
    ctx: Context, page: PageParams, updated_since: datetime | None = None
) -> tuple[list[ThresholdAuditListRow], str | None]:
    """The caller's MASH's audits, newest first, with how many items each has and how many
    are reviewed (one grouped count over the page's items)."""
    policy.require_audit_manager(ctx.identity, "read threshold audits")
    stmt = select(ThresholdAudit).where(ThresholdAudit.agency_id == ctx.identity.agency_id)
    stmt = where_changed_since(stmt, updated_since, ThresholdAudit.updated_at)
    stmt = keyset(stmt, ThresholdAudit.created_at, ThresholdAudit.id, page)  # type: ignore[arg-type]
    audits, cursor = page_of(list((await ctx.session.scalars(stmt)).all()), page, "created_at")
    counts: dict[str, tuple[int, int]] = {}
    if audits:
        i = ThresholdAuditItem
        grouped = (
            select(i.audit_id, func.count(), func.count(i.reviewed_at))
            .where(i.audit_id.in_([a.id for a in audits]))
            .group_by(i.audit_id)
        )
        counts = {aid: (n, done) for aid, n, done in (await ctx.session.execute(grouped)).all()}
    rows = [ThresholdAuditListRow(**_row(a, *counts.get(a.id, (0, 0)))) for a in audits]
    return rows, cursor


async def _audit(ctx: Context, audit_id: str) -> ThresholdAudit:
    audit = await ctx.session.get(ThresholdAudit, audit_id)
    if audit is None or audit.agency_id != ctx.identity.agency_id:
        raise ThresholdAuditNotFound()
    return audit


async def get_audit(ctx: Context, audit_id: str) -> ThresholdAuditRead:
    policy.require_audit_manager(ctx.identity, "read threshold audits")
    audit = await _audit(ctx, audit_id)
    items = (
        await ctx.session.scalars(select(ThresholdAuditItem).where(ThresholdAuditItem.audit_id == audit.id))
    ).all()
    return _audit_read(audit, list(items))


# ---- the blind second review ----


async def _item(ctx: Context, audit_id: str, item_id: str, *, for_update: bool = False) -> ThresholdAuditItem:
    """The item, if the caller may review it (policy.require_reviewer)."""
    policy.require_audit_manager(ctx.identity, "review a threshold audit item")
    await _audit(ctx, audit_id)
    stmt = select(ThresholdAuditItem).where(
        ThresholdAuditItem.id == item_id, ThresholdAuditItem.audit_id == audit_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    item = (await ctx.session.scalars(stmt)).first()
    if item is None:
        raise AuditItemNotFound()
    policy.require_reviewer(ctx.identity, item.decided_by_practitioner_id, item.reviewer_id)
    return item


def _age(born: date | None, on: date) -> int | None:
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


async def _read_item(ctx: Context, item: ThresholdAuditItem) -> ThresholdAuditItemRead:
    referral = await ctx.session.get(Referral, item.referral_id)
    assert referral is not None  # a sampled referral is never deleted (foreign key)
    people = (
        await ctx.session.scalars(
            select(ReferralPerson)
            .where(ReferralPerson.referral_id == referral.id)
            .order_by(ReferralPerson.role, ReferralPerson.position)
        )
    ).all()
    received_on = referral.received_at.astimezone(LONDON).date()
    facts = AuditFacts(
        referral_type=referral.referral_type,  # type: ignore[arg-type]
        source_code=referral.source_code,
        received_at=referral.received_at,
        urgent=referral.urgent,
        significant_harm_suspected=referral.significant_harm_suspected,
        needs=list(referral.needs),
        summary=referral.summary,
        children=[
            AuditChild(
                age_years=_age(p.date_of_birth, received_on),
                unborn=p.date_of_birth is None and p.unborn_expected_on is not None,
                referred_before=p.previous_received_at is not None,
            )
            for p in people
            if p.role == "child"
        ],
        adult_relationships=[p.relationship for p in people if p.role == "adult"],
        agency_checks=[AuditAgencyCheck.model_validate(c) for c in referral.agency_checks or []],
    )
    reviewed = item.reviewed_at is not None and item.reviewer_id == ctx.identity.practitioner_id
    review = original = None
    if reviewed:
        review = AuditReview(
            reviewer_id=item.reviewer_id or "",
            level_of_need=item.review_level_of_need,  # type: ignore[arg-type]
            outcome=item.review_outcome,  # type: ignore[arg-type]
            reviewed_at=item.reviewed_at,  # type: ignore[arg-type]
            agrees=item.agrees,
            reason=item.reason,
            agreement_at=item.agreement_at,
        )
        original = AuditOriginalDecision(
            referral_id=referral.id,
            reference=referral.reference,
            level_of_need=item.level_of_need,  # type: ignore[arg-type]
            outcome=item.outcome,  # type: ignore[arg-type]
            rag=referral.rag,  # type: ignore[arg-type]
            rationale=referral.rationale or "",
            decided_at=item.decided_at,
            decided_by=referral.decided_by,  # type: ignore[arg-type]
        )
    return ThresholdAuditItemRead(
        id=item.id,
        audit_id=item.audit_id,
        status=_status(item),
        reviewer_id=item.reviewer_id,
        facts=facts,
        review=review,
        original_decision=original,
    )


async def item_view(ctx: Context, audit_id: str, item_id: str) -> ThresholdAuditItemRead:
    """The item as the reviewer may see it: blind until their own decision is recorded."""
    return await _read_item(ctx, await _item(ctx, audit_id, item_id))


async def review(
    ctx: Context, audit_id: str, item_id: str, body: ThresholdAuditReviewCreate
) -> ThresholdAuditItemRead:
    """Record the reviewer's own level of need and outcome (once); the answer shows the original."""
    item = await _item(ctx, audit_id, item_id, for_update=True)
    if item.reviewed_at is not None:
        raise ReviewAlreadyRecorded(
            f"The second review of this item was recorded at {item.reviewed_at.isoformat()}"
        )
    allowed = OUTCOME_LEVELS[body.outcome]
    if body.level_of_need not in allowed:
        raise DecisionLevelMismatch(body.outcome, body.level_of_need, sorted(allowed))
    item.reviewer_id = ctx.identity.practitioner_id
    item.review_level_of_need = body.level_of_need
    item.review_outcome = body.outcome
    item.reviewed_at = ctx.now
    await _touch(ctx, item)
    return await _read_item(ctx, item)


async def agreement(
    ctx: Context, audit_id: str, item_id: str, body: ThresholdAuditAgreementCreate
) -> ThresholdAuditItemRead:
    """Having seen the original: agree, or disagree with a reason (once)."""
    item = await _item(ctx, audit_id, item_id, for_update=True)
    if item.reviewed_at is None:
        raise ReviewNotRecorded("Record your own level of need and outcome (…/review) before your agreement")
    if item.agrees is not None:
        raise AgreementAlreadyRecorded(f"Agreement with this decision was recorded at {item.agreement_at}")
    if not body.agrees and body.reason is None:
        raise ValidationProblem("reason", "required when you disagree with the decision")
    item.agrees = body.agrees
    item.reason = body.reason
    item.agreement_at = ctx.now
    await _touch(ctx, item)
    return await _read_item(ctx, item)


async def _touch(ctx: Context, item: ThresholdAuditItem) -> None:
    audit = await ctx.session.get(ThresholdAudit, item.audit_id)
    assert audit is not None
    audit.updated_at = ctx.now  # `?updated_since=` on the audits list
    await ctx.session.flush()


# ---- the report ----


def _figures_query(start_on: date, end_on: date) -> Any:
    """Per original level and per month of decision: the counts, in one round trip."""
    i = ThresholdAuditItem.__table__.c
    reviewed = i.reviewed_at.is_not(None)
    counts = (
        func.count().label("sampled"),
        func.count().filter(reviewed).label("reviewed"),
        func.count().filter(i.agrees.is_not(None)).label("agreement_recorded"),
        func.count().filter(i.agrees.is_(True)).label("agreed"),
        func.count().filter(i.agrees.is_(False)).label("disagreed"),
        func.count().filter(i.review_level_of_need == i.level_of_need).label("same_level"),
        func.count().filter(i.review_outcome == i.outcome).label("same_outcome"),
    )
    period = (i.decided_on >= start_on, i.decided_on <= end_on)
    by_level = select(literal("level").label("dimension"), i.level_of_need.label("key"), *counts)
    by_month = select(literal("month").label("dimension"), i.decided_month.label("key"), *counts)
    return union_all(
        by_level.where(*period).group_by(i.level_of_need),
        by_month.where(*period).group_by(i.decided_month),
    )


def _months(start_on: date, end_on: date) -> list[str]:
    out, (y, m) = [], (start_on.year, start_on.month)
    while (y, m) <= (end_on.year, end_on.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


COUNTS = ("sampled", "reviewed", "agreement_recorded", "agreed", "disagreed", "same_level", "same_outcome")


def _figures(counts: dict[str, int]) -> dict[str, Any]:
    return {
        **counts,
        "agreement_rate": _rate(counts["agreed"], counts["agreement_recorded"]),
        "same_level_rate": _rate(counts["same_level"], counts["reviewed"]),
        "same_outcome_rate": _rate(counts["same_outcome"], counts["reviewed"]),
    }


async def report(ctx: Context, start_on: date, end_on: date) -> ThresholdAuditReport:
    """Sampled decisions made on London days [start_on, end_on]: every level and every month
    of the period is listed (zeros where nothing was sampled)."""
    rows = (await ctx.session.execute(_figures_query(start_on, end_on))).mappings().all()
    zero = dict.fromkeys(COUNTS, 0)
    levels: dict[str, dict[str, int]] = {lvl: dict(zero) for lvl in LEVELS}
    months: dict[str, dict[str, int]] = {m: dict(zero) for m in _months(start_on, end_on)}
    for row in rows:
        target = levels if row["dimension"] == "level" else months
        target[row["key"]] = {c: int(row[c] or 0) for c in COUNTS}
    totals = {c: sum(v[c] for v in levels.values()) for c in COUNTS}
    return ThresholdAuditReport(
        from_=start_on,
        to=end_on,
        totals=AgreementFigures(**_figures(totals)),
        by_level_of_need=[AgreementByLevel(level_of_need=k, **_figures(v)) for k, v in levels.items()],  # type: ignore[arg-type]
        by_month=[AgreementByMonth(month=k, **_figures(v)) for k, v in sorted(months.items())],
    )


# How `to_csv` is declared in the OpenAPI document (GET /v1/reports/threshold-audit).
CSV_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "CSV (comma-separated, first line the header), one row per figure of the JSON "
    "report, in its order. Columns: `section` (`period`, `totals`, `by_level_of_need`, `by_month`); "
    "`key` (the level of need or the month YYYY-MM, empty otherwise); `metric` (the JSON field's "
    "name: sampled, reviewed, agreement_recorded, agreed, disagreed, agreement_rate, same_level, "
    "same_outcome, same_level_rate, same_outcome_rate; `from` and `to` in `period`); `value` (the "
    "number or date; empty where the JSON has null).",
}


def to_csv(typed: ThresholdAuditReport) -> str:
    data = typed.model_dump(mode="json", by_alias=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "metric", "value"])
    writer.writerow(["period", "", "from", data["from"]])
    writer.writerow(["period", "", "to", data["to"]])

    def figures(section: str, key: str, row: dict[str, Any]) -> None:
        for metric, value in row.items():
            if metric not in ("level_of_need", "month"):
                writer.writerow([section, key, metric, "" if value is None else value])

    figures("totals", "", data["totals"])
    for row in data["by_level_of_need"]:
        figures("by_level_of_need", row["level_of_need"], row)
    for row in data["by_month"]:
        figures("by_month", row["month"], row)
    return out.getvalue()
