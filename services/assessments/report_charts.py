"""The episode report drawn as a chart (`GET /v1/reports/episodes?format=svg`): built from the
same `EpisodeReport` as the JSON and CSV, so the three always agree (shared/charts.py draws)."""

from __future__ import annotations

from services.assessments.schemas import EpisodeReport
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
