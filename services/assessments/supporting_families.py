"""Supporting Families (issue 21 item 1): per family, the headlines that applied at the start,
those evidenced as met and those sustained; the claims export; the quarterly summary.

The rule is written in docs/assessments.md ("Supporting Families"); the SQL is in
`sf_repository.py`. A family is its episode. Settings: `sf_sustain_months` (6) and
`sf_multiple_needs_headlines` (2).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args

from services.assessments import policy
from services.assessments import sf_repository as repo
from services.assessments.context import Context
from services.assessments.schemas import (
    SF_CLAIMS_COLUMNS,
    SfEvidence,
    SfFamilies,
    SfFamily,
    SfHeadline,
    SfHeadlineFigures,
    SfHeadlineRead,
    SfStartSource,
    SfSummary,
)
from shared.clock import LONDON, parse_datetime
from shared.codes import HEADLINES
from shared.pagination import PageParams, decode_cursor, encode_cursor
from shared.problems import ValidationProblem

assert set(get_args(SfHeadline)) == set(HEADLINES)
_HEADLINE_ORDER = {h: i for i, h in enumerate(HEADLINES)}
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def _at_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(LONDON).date()


def _settings(ctx: Context) -> tuple[int, int]:
    return ctx.settings.sf_sustain_months, ctx.settings.sf_multiple_needs_headlines


async def record_needs(ctx: Context, episode_id: str, needs: Sequence[str]) -> None:
    """The needs the episode's referral named (the `referral.decided` event's `needs`)."""
    await repo.record_needs(ctx.session, episode_id, needs)


def _scope(start: date | None, end: date | None) -> Any:
    if start and end and end < start:
        raise ValidationProblem("to", "must not be before from")
    return repo.opened_between(
        _at_day(start) if start else None, _at_day(end + timedelta(days=1)) if end else None
    )


# --- per family -------------------------------------------------------------------------------


def _headline(row: Any, evidence: list[repo.Evidence]) -> SfHeadlineRead:
    sources: list[SfStartSource] = []
    if row["from_needs"]:
        sources.append("referral_needs")
    if row["from_plan"]:
        sources.append("first_plan")
    broken: list[tuple[date, str]] = sorted(
        (on, kind)
        for on, kind in (
            (row["re_referral_on"], "re_referral"),
            (row["review_below_on"], "review_below_target"),
        )
        if on is not None
    )
    if row["met_on"] is None:
        status = "not_met"
    elif row["sustained_on"] is not None:
        status = "sustained"
    elif broken:
        status = "not_sustained"
    else:
        status = "met"
    return SfHeadlineRead(
        headline=row["headline"],
        at_start=bool(row["at_start"]),
        start_sources=sources,
        status=status,  # type: ignore[arg-type]
        met_on=row["met_on"],
        window_ends_on=row["window_ends_on"],
        sustained_on=row["sustained_on"],
        broken_by=broken[0][1] if broken else None,  # type: ignore[arg-type]
        broken_on=broken[0][0] if broken else None,
        evidence=[
            SfEvidence(
                kind=e.kind,  # type: ignore[arg-type]
                on=e.on,
                outcome_id=e.outcome_id,
                review_id=e.review_id,
                score=e.score,
                target_score=e.target_score,
            )
            for e in evidence
        ],
    )


async def _families(ctx: Context, episodes: list[Any]) -> list[SfFamily]:
    months, threshold = _settings(ctx)
    ids = [e.id for e in episodes]
    rows = await repo.headlines_of(ctx.session, ids, months, _today(ctx))
    evidence: dict[tuple[str, str], list[repo.Evidence]] = defaultdict(list)
    for e in await repo.evidence_of(ctx.session, ids):
        evidence[(e.episode_id, e.headline)].append(e)
    recorded = await repo.needs_recorded(ctx.session, ids)
    by_episode: dict[str, list[SfHeadlineRead]] = defaultdict(list)
    for row in rows:
        if row["headline"] in HEADLINES:  # a headline outside the ten is never reported
            by_episode[row["episode_id"]].append(
                _headline(row, evidence[(row["episode_id"], row["headline"])])
            )
    out = []
    for e in episodes:
        hs = sorted(by_episode[e.id], key=lambda h: _HEADLINE_ORDER[h.headline])
        start = [h for h in hs if h.at_start]
        eligible = len(start) >= threshold and all(h.status == "sustained" for h in start)
        out.append(
            SfFamily(
                episode_id=e.id,
                reference=e.reference,
                status=e.status,
                opened_at=e.opened_at,
                closed_at=e.closed_at,
                needs_recorded=e.id in recorded,
                headlines_at_start=[h.headline for h in start],
                multiple_needs=len(start) >= threshold,
                met=[h.headline for h in hs if h.met_on is not None],
                sustained=[h.headline for h in hs if h.status == "sustained"],
                eligible_for_claim=eligible,
                claimable_on=max(h.sustained_on for h in start if h.sustained_on) if eligible else None,
                headlines=hs,
            )
        )
    return out


async def families(ctx: Context, start: date | None, end: date | None, page: PageParams) -> SfFamilies:
    policy.may_read_family_outcomes(ctx.identity)
    scope = _scope(start, end)
    after = None
    if page.cursor:
        at, eid = decode_cursor(page.cursor)
        try:
            after = (parse_datetime(str(at)), eid)
        except ValueError as exc:
            raise ValidationProblem("cursor", "not a cursor this API issued") from exc
    episodes = await repo.episodes_page(ctx.session, scope, after, page.limit)
    cursor = None
    if len(episodes) > page.limit:
        episodes = episodes[: page.limit]
        cursor = encode_cursor(episodes[-1].opened_at, episodes[-1].id)
    months, threshold = _settings(ctx)
    return SfFamilies(
        from_=start,
        to=end,
        sustain_months=months,
        multiple_needs_threshold=threshold,
        families=await _families(ctx, episodes),
        next_cursor=cursor,
    )


# --- the claims export -------------------------------------------------------------------------


def _day(at: datetime | None) -> str:
    return at.astimezone(UTC).date().isoformat() if at else ""


def _claims_header() -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(SF_CLAIMS_COLUMNS)
    return buf.getvalue()


async def claims_csv(ctx: Context, start: date | None, end: date | None) -> str:
    """One row per claimable family; the rule is the SQL's (`family_rows`). On PostgreSQL the
    database writes every line (`sf_repository.claims_lines`); elsewhere Python does
    (`claims_csv_python`): the same bytes (a test compares the two)."""
    policy.may_read_family_outcomes(ctx.identity)
    scope = _scope(start, end)
    if ctx.session.get_bind().dialect.name != "postgresql":
        return await claims_csv_python(ctx, scope)
    months, threshold = _settings(ctx)
    lines = await repo.claims_lines(ctx.session, scope, months, _today(ctx), threshold, list(HEADLINES))
    return _claims_header() + "".join(lines)


async def claims_csv_python(ctx: Context, scope: Any) -> str:
    """The claims export written by Python, the evidence read for the claimable families only,
    2,000 at a time."""
    months, threshold = _settings(ctx)
    today = _today(ctx)
    claimable = await repo.claimable(ctx.session, scope, months, today, threshold)
    buf = io.StringIO()
    buf.write(_claims_header())
    writer = csv.writer(buf)
    for i in range(0, len(claimable), 2000):
        chunk = claimable[i : i + 2000]
        ids = [c.id for c in chunk]
        rows: dict[str, list[Any]] = defaultdict(list)
        for row in await repo.headlines_of(ctx.session, ids, months, today):
            rows[row["episode_id"]].append(row)
        evidence = await repo.evidence_texts(ctx.session, ids)
        for c in chunk:
            hs = sorted(rows[c.id], key=lambda r: _HEADLINE_ORDER.get(r["headline"], 99))
            start_hs = [r for r in hs if r["at_start"]]
            writer.writerow(
                [
                    c.id,
                    c.reference,
                    _day(c.opened_at),
                    _day(c.closed_at),
                    ";".join(r["headline"] for r in start_hs),
                    c.start_n,
                    c.claimable_on.isoformat(),
                    ";".join(f"{r['headline']}@{r['met_on'].isoformat()}" for r in start_hs),
                    ";".join(f"{r['headline']}@{r['sustained_on'].isoformat()}" for r in start_hs),
                    ";".join(evidence.get(c.id, ())),
                ]
            )
    return buf.getvalue()


# --- the quarterly summary ---------------------------------------------------------------------


def quarter_days(quarter: str) -> tuple[date, date]:
    """`2026-Q3` -> 1 July 2026 to 30 September 2026 (calendar quarters); else 422 `quarter`."""
    m = QUARTER.match(quarter)
    if not m:
        raise ValidationProblem("quarter", "must be a calendar quarter like 2026-Q3")
    year, q = int(m.group(1)), int(m.group(2))
    if not 2000 <= year <= 2100:
        raise ValidationProblem("quarter", "year must be between 2000 and 2100")
    first = date(year, 3 * q - 2, 1)
    after = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return first, after - timedelta(days=1)


async def summary(ctx: Context, quarter: str) -> SfSummary:
    policy.may_read_reports(ctx.identity)
    first, last = quarter_days(quarter)
    months, threshold = _settings(ctx)
    f = await repo.quarter_figures(
        ctx.session,
        first,
        last,
        _at_day(first),
        _at_day(last + timedelta(days=1)),
        months,
        _today(ctx),
        threshold,
    )
    return SfSummary(
        quarter=quarter,
        first_day=first,
        last_day=last,
        sustain_months=months,
        multiple_needs_threshold=threshold,
        families_started=f.families_started,
        with_multiple_needs=f.with_multiple_needs,
        needs_not_recorded=f.needs_not_recorded,
        families_met=f.families_met,
        families_sustained=f.families_sustained,
        families_claimable=f.families_claimable,
        by_headline={
            h: SfHeadlineFigures(
                **dict(zip(("started", "met", "sustained"), f.by_headline.get(h, (0, 0, 0)), strict=True))
            )  # type: ignore[misc]
            for h in HEADLINES
        },
    )


def summary_csv(s: SfSummary) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["section", "measure", "value"])
    for measure, value in (
        ("started", s.families_started),
        ("with_multiple_needs", s.with_multiple_needs),
        ("needs_not_recorded", s.needs_not_recorded),
        ("met", s.families_met),
        ("sustained", s.families_sustained),
        ("claimable", s.families_claimable),
    ):
        writer.writerow(["families", measure, value])
    for h, figures in s.by_headline.items():
        for measure, value in figures.model_dump().items():
            writer.writerow([h, measure, value])
    return buf.getvalue()
