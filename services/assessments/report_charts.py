"""The episode report drawn as a chart (`GET /v1/reports/episodes?format=svg`): built from the
same `EpisodeReport` as the JSON and CSV, so the three always agree (shared/charts.py draws)."""

from __future__ import annotations

from services.assessments.drift import DriftSummary, band_labels
from services.assessments.schemas import EpisodeReport, SfSummary
from shared.charts import Bars, Chart, label
from shared.codes import HEADLINES

STAGES = (
    ("first_contact", "First contact"),
    ("assessment_started", "Assessment started"),
    ("assessment_completed", "Assessment completed"),
)


def _timescale(figures: dict[str, int]) -> tuple[str, int]:
    """The configured timescale's key (`within_72_hours`) as "72 hours", and its count."""
    key = next((k for k in figures if k.startswith("within_")), "within_timescale")
    return key.removeprefix("within_").replace("_", " "), figures.get(key, 0)


def episode_chart(report: EpisodeReport) -> Chart:
    stages, within, late, overdue = [], [], [], []
    for field, name in STAGES:
        figures: dict[str, int] = getattr(report, field)
        timescale, count = _timescale(figures)
        stages.append(f"{name} ({timescale})")
        within.append(count)
        late.append(figures.get("late", 0))
        overdue.append(next((v for k, v in figures.items() if k.startswith("overdue_")), 0))
    period = f"{report.opened_from or 'the start'} to {report.opened_to or 'today'}"
    drift = report.drift
    return Chart(
        title=f"Early help episodes opened {period}",
        description=(
            f"{report.episodes_opened} episodes opened: timeliness of first contact and assessment "
            f"against the council's timescales, closures by reason, outcomes achieved by headline, "
            f"and drift ({drift.open_and_drifting} open and drifting)."
        ),
        panels=[
            Bars(
                "Timeliness against the council's timescales",
                stages,
                {"Within timescale": within, "Late": late, "Overdue": overdue},
                value_label="Episodes",
                stacked=True,
                horizontal=True,
            ),
            Bars.counts(
                "Closures by reason",
                {label(k): v for k, v in report.closures_by_reason.items()},
                value_label="Episodes",
                horizontal=True,
            ),
            Bars.counts(
                "Outcomes achieved by Supporting Families headline",
                {HEADLINES.get(k, label(k)): v for k, v in report.outcomes_achieved_by_headline.items()},
                value_label="Outcomes",
                horizontal=True,
            ),
            Bars.counts(
                "Drift",
                {
                    "Open more than 12 months": drift.open_more_than_12_months,
                    "Three or more reviews": drift.three_or_more_reviews,
                    "Open and drifting": drift.open_and_drifting,
                },
                value_label="Episodes",
                horizontal=True,
            ),
        ],
    )


def drift_chart(summary: DriftSummary) -> Chart:
    """The drift list counted (`GET /v1/reports/drift?format=svg`): by reason, and by months open
    stacked by reason. The list as it stands today (the drift list has no period)."""
    too_long = f"Open more than {summary.open_months} months"
    stalled = "No movement in the latest three reviews"
    both = [sum(summary.both)]
    return Chart(
        title=f"Drifting episodes on {summary.on}",
        description=(
            f"{summary.episodes} open episodes drifting: {sum(summary.open_too_long_only) + both[0]} "
            f"open more than {summary.open_months} months, {sum(summary.no_movement_only) + both[0]} "
            f"with no movement in their latest three reviews ({both[0]} both); by months open."
        ),
        panels=[
            Bars.counts(
                "Drifting episodes by reason (an episode with both counts in each)",
                {
                    too_long: sum(summary.open_too_long_only) + both[0],
                    stalled: sum(summary.no_movement_only) + both[0],
                },
                value_label="Episodes",
                horizontal=True,
            ),
            Bars(
                "Drifting episodes by months open",
                band_labels(),
                {
                    f"{too_long} only": summary.open_too_long_only,
                    f"{stalled} only": summary.no_movement_only,
                    "Both": summary.both,
                },
                value_label="Episodes",
                category_label="Months open",
                stacked=True,
            ),
        ],
    )


def sf_summary_chart(summary: SfSummary) -> Chart:
    """The Supporting Families quarter (`GET /v1/reports/supporting-families/summary?format=svg`):
    the families' progress, and by headline started, met and sustained."""
    by = summary.by_headline
    return Chart(
        title=f"Supporting Families {summary.quarter} ({summary.first_day} to {summary.last_day})",
        description=(
            f"{summary.families_started} families started, {summary.with_multiple_needs} with multiple "
            f"needs; {summary.families_met} met a first headline, {summary.families_sustained} sustained "
            f"one ({summary.sustain_months} months) and {summary.families_claimable} became claimable."
        ),
        panels=[
            Bars.counts(
                "Families in the quarter",
                {
                    "Started": summary.families_started,
                    "With multiple needs": summary.with_multiple_needs,
                    "Needs not recorded": summary.needs_not_recorded,
                    "First headline met": summary.families_met,
                    "First headline sustained": summary.families_sustained,
                    "Became claimable": summary.families_claimable,
                },
                value_label="Families",
                horizontal=True,
            ),
            Bars(
                "By Supporting Families headline",
                [HEADLINES[h] for h in by],
                {
                    "Started with it": [f.started for f in by.values()],
                    "Met": [f.met for f in by.values()],
                    "Sustained": [f.sustained for f in by.values()],
                },
                value_label="Families",
                horizontal=True,
            ),
        ],
    )
