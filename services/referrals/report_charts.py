"""The referral report drawn as a chart (`GET /v1/reports/referrals?format=svg`): built from the
same `ReferralReport` as the JSON and CSV, so the three always agree (shared/charts.py draws)."""

from __future__ import annotations

from services.referrals.schemas import ReferralReport
from shared.charts import Bars, Chart, label


def referral_chart(report: ReferralReport) -> Chart:
    sources = report.by_source_code
    settled = [
        ("No further action", [s.no_further_action for s in sources]),
        ("Early help", [s.early_help for s in sources]),
        ("Social care", [s.social_care for s in sources]),
    ]
    other = [s.received - s.no_further_action - s.early_help - s.social_care for s in sources]
    t = report.totals
    return Chart(
        title=f"Referrals received {report.from_} to {report.to}",
        description=(
            f"{t.received} referrals received, {t.decided} decided "
            f"({report.decided_within_timescale.within_timescale} within timescale), "
            f"{report.conversion_to_early_help.early_help} to early help; by source code and by outcome."
        ),
        panels=[
            Bars(
                "Referrals by source code and what was decided",
                [s.source_code for s in sources],
                dict([*settled, ("Other or not yet decided", other)]),
                value_label="Referrals",
                category_label="Source code",
                stacked=True,
            ),
            Bars.counts(
                "Referrals by outcome (or status, while not decided)",
                {label(o.outcome): o.count for o in report.by_outcome},
                value_label="Referrals",
                horizontal=True,
            ),
            Bars.counts(
                "Timeliness and what happened next",
                {
                    "Decided": report.decided_within_timescale.decided,
                    "Decided within timescale": report.decided_within_timescale.within_timescale,
                    "Children re-referred within 12 months": report.re_referrals_within_12_months.re_referrals,
                    "Children closed NFA, referred again": report.no_further_action_follow_up.re_referred_later,
                },
                value_label="Count",
                horizontal=True,
            ),
        ],
    )
