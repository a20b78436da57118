"""Charts of the reports: a report's figures drawn as SVG (or PNG) with matplotlib.

A chart is described, not drawn, by the caller: a `Chart` with a title, a one-sentence
description and one or more panels (`Bars` - labelled counts, grouped or stacked series,
upright or lying - or `Line` - series over periods). `render(chart, "svg")` draws it and
`chart_response(...)` answers a request with it (docs/reports.md has the recipe for a report).

- matplotlib is imported on the first chart only (`_mpl`): a service starts as fast as before.
- The Agg backend; figures are `matplotlib.figure.Figure` objects, never pyplot's global state.
- The output is deterministic: the same chart gives the same bytes (`svg.hashsalt` fixed, no
  date in the metadata, text kept as text), so tests compare it and caches could too.
- Accessible: the SVG's root is `role="img"` labelled by its `<title>` and described by its
  `<desc>`; every panel has a title and labelled axes; a panel with nothing to show says "No
  data for this period" instead of drawing empty axes (never an error).
- A value may be a gap (`None`): a `Bars` panel draws no bar there but its `gap_label` (e.g.
  "suppressed" for a small-number cell), a `Line` breaks. A gap's value is never known to the
  chart, so no bar length, label or axis can give it away.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from html import escape
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from fastapi import Query
from starlette.responses import Response

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class ReportFormat(StrEnum):
    """How a report answers: `?format=` on every report."""

    json = "json"
    csv = "csv"
    svg = "svg"
    png = "png"


FORMAT_DESCRIPTION = (
    "`json` (the default; `Accept: text/csv` also asks for CSV), `csv`, or the report drawn as a "
    "chart: `svg` (image/svg+xml) or `png` (image/png)"
)
FormatQuery = Annotated[ReportFormat | None, Query(alias="format", description=FORMAT_DESCRIPTION)]


def chosen_format(fmt: ReportFormat | None, accept: str) -> ReportFormat:
    """`?format=` if given, else CSV when Accept asks for it, else JSON."""
    if fmt is not None:
        return fmt
    return ReportFormat.csv if "text/csv" in accept else ReportFormat.json


CHART_FORMATS = (ReportFormat.svg, ReportFormat.png)
MEDIA_TYPES = {ReportFormat.svg: "image/svg+xml", ReportFormat.png: "image/png"}
NO_DATA = "No data for this period"
# Colour-blind-safe (Okabe-Ito), in the order series take them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def openapi_content(what: str) -> dict[str, Any]:
    """The chart media types of a report's 200 response, for `responses={200: {"content": ...}}`."""
    return {
        "image/svg+xml": {
            "schema": {
                "type": "string",
                "description": f"With `format=svg`: {what} as an SVG image (its `<title>` and "
                "`<desc>` name the report and period; deterministic for the same figures).",
            }
        },
        "image/png": {
            "schema": {"type": "string", "format": "binary", "description": f"With `format=png`: {what}."}
        },
    }


def label(code: str) -> str:
    """A code as a label: `no_further_action` -> "No further action"."""
    return code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Bars:
    """Bars of labelled counts: one series is a plain bar chart; several are grouped side by
    side, or stacked (`stacked=True`). `horizontal` lays them down (long labels read better).
    A `None` value is a gap: no bar, `gap_label` written where it would stand."""

    title: str
    categories: Sequence[str]
    series: Mapping[str, Sequence[float | None]]
    value_label: str = "Count"
    category_label: str = ""
    stacked: bool = False
    horizontal: bool = False
    gap_label: str = "suppressed"

    @classmethod
    def counts(cls, title: str, counts: Mapping[str, float | None], **kw: Any) -> Bars:
        """One series from a mapping of label -> count, in the mapping's order."""
        return cls(title, list(counts), {kw.get("value_label", "Count"): list(counts.values())}, **kw)


@dataclass(frozen=True)
class Line:
    """Series over periods (months, quarters...), one line each, in `periods` order; a `None`
    value breaks the line (nothing to show for that period)."""

    title: str
    periods: Sequence[str]
    series: Mapping[str, Sequence[float | None]]
    value_label: str = "Count"
    period_label: str = "Period"


Panel = Bars | Line


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    panels: Sequence[Panel] = field(default_factory=tuple)


# ---- drawing ----

_LOCK = threading.Lock()


@functools.cache
def _mpl() -> Any:
    """matplotlib, imported and configured on the first chart (not at service start-up)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "early-help-charts",  # clip-path ids the same on every render
            "svg.fonttype": "none",  # text stays text: readable, searchable, smaller
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    from matplotlib.figure import Figure

    return Figure


def _empty(panel: Panel) -> bool:
    """Nothing to show: no categories, or every value zero (a bar chart's gap is something to
    show - "suppressed" is not "none"; a line's is not)."""
    labels = panel.categories if isinstance(panel, Bars) else panel.periods
    values = [v for series in panel.series.values() for v in series]
    gaps = isinstance(panel, Bars) and any(v is None for v in values)
    return not labels or not (gaps or any(v for v in values))


def _gaps(ax: Axes, panel: Bars, where: Sequence[float], values: Sequence[float | None]) -> None:
    """Write `gap_label` where a bar of a `None` value would stand, from the axis line out: a
    marked gap, whose place on the value axis says nothing of the value."""
    style: dict[str, Any] = {"fontsize": 7, "style": "italic", "color": "#555"}
    for p, v in zip(where, values, strict=True):
        if v is not None:
            continue
        if panel.horizontal:
            ax.text(0, p, " " + panel.gap_label, ha="left", va="center", **style)
        else:
            ax.text(p, 0, panel.gap_label + " ", ha="center", va="bottom", rotation=90, **style)


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="#444")
    ax.set_xticks([])
    ax.set_yticks([])


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _draw_bars(ax: Axes, panel: Bars) -> None:
    n, k = len(panel.categories), max(len(panel.series), 1)
    positions = list(range(n))
    width = 0.8 if panel.stacked or k == 1 else 0.8 / k
    base = [0.0] * n
    for i, (name, values) in enumerate(panel.series.items()):
        vals = [0.0 if v is None else float(v) for v in values]
        offset = 0.0 if panel.stacked or k == 1 else (i - (k - 1) / 2) * width
        where = [p + offset for p in positions]
        colour = PALETTE[i % len(PALETTE)]
        if panel.horizontal:
            bars = ax.barh(
                where, vals, height=width, left=base if panel.stacked else None, label=name, color=colour
            )
        else:
            bars = ax.bar(
                where, vals, width=width, bottom=base if panel.stacked else None, label=name, color=colour
            )
        if not panel.stacked:
            ax.bar_label(bars, labels=[f"{v:g}" if v else "" for v in vals], fontsize=8, padding=2)
        _gaps(ax, panel, where, values)
        base = [b + v for b, v in zip(base, vals, strict=True)]
    ticks, labels = (
        (ax.set_yticks, ax.set_yticklabels) if panel.horizontal else (ax.set_xticks, ax.set_xticklabels)
    )
    ticks(positions)
    labels(
        list(panel.categories),
        rotation=0 if panel.horizontal or n <= 4 else 30,
        ha="right" if panel.horizontal or n > 4 else "center",
    )
    value_axis, category_axis = (
        (ax.set_xlabel, ax.set_ylabel) if panel.horizontal else (ax.set_ylabel, ax.set_xlabel)
    )
    value_axis(panel.value_label)
    category_axis(panel.category_label)
    _whole_numbers(ax.xaxis if panel.horizontal else ax.yaxis)
    # From zero, and at least to one: all zeros and gaps must not draw a -0.05..0.05 axis.
    shown = [float(v) for series in panel.series.values() for v in series if v is not None]
    top = max(base) if panel.stacked else max(shown, default=0.0)
    (ax.set_xlim if panel.horizontal else ax.set_ylim)(0, max(1.0, top) * 1.08)
    if panel.horizontal:
        ax.invert_yaxis()  # the first category on top, as it reads
    if len(panel.series) > 1:
        ax.legend(frameon=False, fontsize=8)


def _draw_line(ax: Axes, panel: Line) -> None:
    positions = list(range(len(panel.periods)))
    for i, (name, values) in enumerate(panel.series.items()):
        ax.plot(
            positions,
            [float("nan") if v is None else float(v) for v in values],
            marker="o",
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.set_xticks(positions)
    ax.set_xticklabels(list(panel.periods), rotation=30 if len(positions) > 6 else 0)
    ax.set_xlabel(panel.period_label)
    ax.set_ylabel(panel.value_label)
    ax.set_ylim(bottom=0)
    _whole_numbers(ax.yaxis)
    if len(panel.series) > 1:
        ax.legend(frameon=False, fontsize=8)


def _height(panel: Panel) -> float:
    if isinstance(panel, Bars) and panel.horizontal:
        return max(2.6, 0.9 + 0.28 * len(panel.categories))
    return 3.2


def _accessible_svg(svg: bytes, chart: Chart) -> bytes:
    """Label the root element by its <title> and describe it with a <desc> (matplotlib writes
    the title; the description it only puts in RDF metadata)."""
    text = svg.decode("utf-8")
    text = text.replace("<svg ", '<svg role="img" aria-labelledby="chart-title chart-desc" ', 1)
    title = f"<title>{escape(chart.title, quote=False)}</title>"
    labelled = f'<title id="chart-title">{escape(chart.title, quote=False)}</title>'
    desc = f'<desc id="chart-desc">{escape(chart.description, quote=False)}</desc>'
    if title in text:
        text = text.replace(title, labelled + "\n " + desc, 1)
    return text.encode("utf-8")


def render(chart: Chart, fmt: str = "svg") -> bytes:
    """The chart as SVG or PNG bytes. Deterministic; a chart with no panels, or a panel with
    nothing to show, draws "No data for this period"."""
    if fmt not in CHART_FORMATS:
        raise ValueError(f"not a chart format: {fmt}")
    figure_cls = _mpl()
    panels: list[Panel] = list(chart.panels) or [Bars(chart.title, [], {})]
    heights = [_height(p) for p in panels]
    with _LOCK:  # rcParams and the font cache are process-wide
        fig = figure_cls(figsize=(8, sum(heights) + 0.6), dpi=100, layout="constrained")
        axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
        fig.suptitle(chart.title, fontsize=13, fontweight="bold")
        for ax, panel in zip(axes, panels, strict=True):
            ax.set_title(panel.title, fontsize=11, loc="left")
            if _empty(panel):
                _no_data(ax)
            elif isinstance(panel, Bars):
                _draw_bars(ax, panel)
            else:
                _draw_line(ax, panel)
        import io

        out = io.BytesIO()
        if fmt == ReportFormat.svg:
            fig.savefig(out, format="svg", metadata={"Title": chart.title, "Date": None, "Creator": None})
            return _accessible_svg(out.getvalue(), chart)
        fig.savefig(out, format="png", metadata={"Title": chart.title, "Software": None})
        return out.getvalue()


async def chart_response(chart: Chart, fmt: str, filename: str) -> Response:
    """Answer a request with the chart (drawn in a worker thread: it is CPU work)."""
    body = await anyio.to_thread.run_sync(render, chart, fmt)
    media = MEDIA_TYPES[ReportFormat(fmt)]
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'inline; filename="{filename}.{fmt}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
