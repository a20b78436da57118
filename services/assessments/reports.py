"""The episode report: timeliness against the council's timescales, closures, outcomes and
drift, as JSON (`EpisodeReport`) or CSV.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text

from services.assessments import insight_repository as insight
from services.assessments import repository as repo
from services.assessments.config import Settings
from services.assessments.context import Context
from services.assessments.schemas import EpisodeDrift, EpisodeReport, PlanActionsOverdue
from shared.problems import ValidationProblem


def _at_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def timeliness_keys(settings: Settings) -> tuple[str, str, str]:
    """The report's "within" keys, named after this council's timescales (with the default
    settings: `within_72_hours`, `within_10_working_days`, `within_45_working_days`)."""
    return (
        f"within_{settings.first_contact_hours}_hours",
        f"within_{settings.assessment_start_working_days}_working_days",
        f"within_{settings.assessment_complete_working_days}_working_days",
    )


def review_keys(settings: Settings) -> tuple[str, str]:
    """The review cadence's "within" keys, named after this council's settings (defaults:
    `within_6_weeks` for the first review, `within_3_months` between reviews)."""
    return (f"within_{settings.first_review_weeks}_weeks", f"within_{settings.review_interval_months}_months")


def _timeliness(within_key: str, within: int, late: int, overdue_key: str, overdue: int) -> dict[str, int]:
    """A timeliness section: the "within" key (named from the settings), `late`, then overdue."""
    return {within_key: within, "late": late, overdue_key: overdue}


# The episode report's planner settings on PostgreSQL, for its statements only (`SET LOCAL`: the
# router gives it a transaction of its own): a custom plan for each period (a cached generic plan
# guesses 1,000 episodes for any period and chose nested loops over 200,000), no JIT compilation
# (it cost more than it saved), and sorts and hashes of a few hundred thousand rows in memory
# (docs/performance.md, "Assessments insight reports at 200,000 episodes").
POSTGRES_REPORT_SETTINGS = (
    "SET LOCAL plan_cache_mode = force_custom_plan",
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '64MB'",
)


async def episode_report(ctx: Context, opened_from: date | None, opened_to: date | None) -> EpisodeReport:
    start = _at_day(opened_from) if opened_from else None
    end = _at_day(opened_to + timedelta(days=1)) if opened_to else None
    if start and end and end <= start:
        raise ValidationProblem("opened_to", "must not be before opened_from")
    if ctx.session.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_REPORT_SETTINGS:
            await ctx.session.execute(text(statement))
    # The first-review counts read in the same pass over the cohort as the timeliness counts.
    dialect = ctx.session.get_bind().dialect.name
    first_review = insight.first_review_counts(dialect, ctx.today, ctx.settings.first_review_weeks)
    f = await repo.episode_report(ctx.session, start, end, ctx.now, extra=first_review)
    contact, started, completed = timeliness_keys(ctx.settings)
    first_key, later_key = review_keys(ctx.settings)
    cadence = await insight.review_cadence(
        ctx.session,
        start,
        end,
        ctx.today,
        ctx.settings.review_interval_months,
        first_counts=f.extra,
    )
    actions = await insight.plan_actions_overdue(ctx.session, start, end, ctx.today)
    return EpisodeReport(
        opened_from=opened_from,
        opened_to=opened_to,
        episodes_opened=f.episodes_opened,
        first_contact=_timeliness(
            contact,
            f.first_contact_within,
            f.first_contact_late,
            "overdue_no_contact",
            f.first_contact_overdue,
        ),
        assessment_started=_timeliness(
            started,
            f.assessment_started_within,
            f.assessment_started_late,
            "overdue_not_started",
            f.assessment_started_overdue,
        ),
        assessment_completed=_timeliness(
            completed,
            f.assessment_completed_within,
            f.assessment_completed_late,
            "overdue_not_completed",
            f.assessment_completed_overdue,
        ),
        closures_by_reason=f.closures_by_reason,
        outcomes_achieved_by_headline=f.outcomes_achieved_by_headline,
        drift=EpisodeDrift(
            open_more_than_12_months=f.open_more_than_12_months,
            three_or_more_reviews=f.three_or_more_reviews,
            open_and_drifting=f.open_and_drifting,
        ),
        first_review=_timeliness(
            first_key, cadence.first_within, cadence.first_late, "overdue_no_review", cadence.first_overdue
        ),
        later_reviews=_timeliness(
            later_key, cadence.later_within, cadence.later_late, "overdue", cadence.later_overdue
        ),
        plan_actions_overdue=PlanActionsOverdue(total=sum(actions.values()), by_owner_agency_type=actions),
    )


def report_csv(report: EpisodeReport) -> str:
    """One row per figure: section, measure, value, in the order of the JSON."""
    import csv
    import io

    figures = report.model_dump(mode="json")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["section", "measure", "value"])
    writer.writerow(["episodes", "opened", report.episodes_opened])
    for section in (
        "first_contact",
        "assessment_started",
        "assessment_completed",
        "closures_by_reason",
        "outcomes_achieved_by_headline",
        "drift",
        "first_review",
        "later_reviews",
    ):
        for measure, value in figures[section].items():
            writer.writerow([section, measure, value])
    actions = report.plan_actions_overdue
    writer.writerow(["plan_actions_overdue", "total", actions.total])
    for agency_type, value in actions.by_owner_agency_type.items():
        writer.writerow(["plan_actions_overdue", f"by_owner_agency_type.{agency_type}", value])
    return buf.getvalue()
