"""The referral report drawn as a chart (`GET /v1/reports/referrals?format=svg`): built from the
same `ReferralReport` as the JSON and CSV, so the three always agree (shared/charts.py draws)."""

from __future__ import annotations

from services.referrals.schemas import JsnaReport, ReferralReport, ThresholdAuditReport
from shared.charts import Bars, Chart, Line, label


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


# ---- the threshold audit (`GET /v1/reports/threshold-audit?format=svg`) ----

RATES = (
    ("agreement_rate", "Agreed with the decision"),
    ("same_level_rate", "Same level of need (blind)"),
    ("same_outcome_rate", "Same outcome (blind)"),
)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def threshold_audit_chart(report: ThresholdAuditReport) -> Chart:
    """Agreement by level of need and by month, as percentages; a level or month with nothing
    recorded is a gap ("none recorded"), never a 0 %."""
    t = report.totals
    levels = report.by_level_of_need if t.reviewed else []
    months = report.by_month
    rate = "no agreement recorded yet" if t.agreement_rate is None else f"{_percent(t.agreement_rate):g}%"
    return Chart(
        title=f"Threshold audit agreement {report.from_} to {report.to}",
        description=(
            f"{t.sampled} decisions sampled, {t.reviewed} reviewed blind, {t.agreed} of "
            f"{t.agreement_recorded} agreed with ({rate}); by level of need and by month."
        ),
        panels=[
            Bars(
                "Agreement by the original level of need (% of those recorded)",
                [label(r.level_of_need) for r in levels],
                {name: [_percent(getattr(r, key)) for r in levels] for key, name in RATES},
                value_label="Per cent",
                category_label="Level of need",
                gap_label="none recorded",
            ),
            Line(
                "Agreement by month of the decision (%)",
                [m.month for m in months],
                {name: [_percent(getattr(m, key)) for m in months] for key, name in RATES},
                value_label="Per cent",
                period_label="Month",
            ),
            Bars.counts(
                "The sample so far",
                {
                    "Sampled": t.sampled,
                    "Reviewed blind": t.reviewed,
                    "Agreement recorded": t.agreement_recorded,
                    "Agreed": t.agreed,
                    "Disagreed": t.disagreed,
                },
                value_label="Decisions",
                horizontal=True,
            ),
        ],
    )


# ---- the JSNA feed (`GET /v1/reports/jsna?format=svg`) ----

# The needs the JSNA asks about first (issue 21), drawn period by period.
JSNA_FOCUS = ("parental_mental_health", "parental_substance_misuse", "substance_misuse", "domestic_abuse")


def jsna_chart(report: JsnaReport) -> Chart:
    """Counts by need from the published need totals only (a need over every district, each
    period): a withheld total is a gap marked "suppressed", and a need's sum over the range is
    drawn only when every period's total was published - so the chart shows nothing the JSON
    does not, and no suppressed cell can be worked out from it."""
    by_need: dict[str, list[int | None]] = {n: [] for n in report.needs}
    for t in report.totals:
        if t.need is not None and t.district is None:
            by_need[t.need].append(t.count)
    summed = {n: None if None in counts else sum(c or 0 for c in counts) for n, counts in by_need.items()}
    withheld = sum(1 for counts in by_need.values() for c in counts if c is None)
    periods = [p.label for p in report.periods]
    kind = "month" if report.period == "month" else "quarter"
    return Chart(
        title=f"Referred families by need {report.from_} to {report.to}",
        description=(
            f"Families referred, by need, over {len(periods)} {kind}s (a family counts once a "
            f"{kind} for each need); counts from 1 to {report.threshold - 1}, and the counts that "
            f"would reveal them, are suppressed ({withheld} need totals withheld)."
        ),
        panels=[
            Bars.counts(
                f"Families by need, summed over the {kind}s (suppressed: a {kind} withheld)",
                {label(n): v for n, v in summed.items()},
                value_label=f"Families (once a {kind})",
                horizontal=True,
            ),
            Bars(
                f"Parental mental health, substance misuse and domestic abuse by {kind}",
                periods,
                {label(n): by_need[n] for n in JSNA_FOCUS if n in by_need},
                value_label="Families",
                category_label=kind.capitalize(),
            ),
        ],
    )
