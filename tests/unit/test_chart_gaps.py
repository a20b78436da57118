"""shared/charts.py: a `None` value is a marked gap - no bar, the panel's `gap_label` - and the
value axis starts at zero whatever the gaps hide."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from shared.charts import NO_DATA, Bars, Chart, Line, render

SVG = "{http://www.w3.org/2000/svg}"


def texts(chart: Chart) -> list[str]:
    return [t.text or "" for t in ET.fromstring(render(chart)).iter(f"{SVG}text")]


def test_a_gap_is_marked_and_draws_no_bar() -> None:
    lying = Chart(
        "Gaps", "d", [Bars.counts("By need", {"Housing": None, "Debt": 7, "Exclusion": 0}, horizontal=True)]
    )
    upright = Chart("Gaps", "d", [Bars("By month", ["2026-01", "2026-02"], {"A": [None, 6], "B": [3, None]})])
    assert texts(lying).count(" suppressed") == 1 and "7" in texts(lying)
    assert texts(upright).count("suppressed ") == 2 and {"6", "3"} <= set(texts(upright))
    # Whatever a gap stands for, the drawing is the same: the value is never in it.
    assert render(upright) == render(
        Chart("Gaps", "d", [Bars("By month", ["2026-01", "2026-02"], {"A": [None, 6], "B": [3, None]})])
    )


def test_only_gaps_is_not_no_data_but_a_line_of_gaps_is() -> None:
    gaps = Chart("Gaps", "d", [Bars.counts("All hidden", {"a": None, "b": None}, gap_label="none recorded")])
    assert texts(gaps).count(" none recorded") == 0 and texts(gaps).count("none recorded ") == 2
    assert NO_DATA not in texts(gaps)
    line = Chart("Line", "d", [Line("Rates", ["2026-01", "2026-02"], {"x": [None, None]})])
    assert NO_DATA in texts(line)
    broken = Chart("Line", "d", [Line("Rates", ["2026-01", "2026-02", "2026-03"], {"x": [50, None, 75]})])
    assert NO_DATA not in texts(broken) and render(broken, "png").startswith(b"\x89PNG")


def test_the_value_axis_names_the_counts_and_starts_at_zero() -> None:
    svg = texts(Chart("Zeros", "d", [Bars.counts("Z", {"a": 0, "b": None}, value_label="Families")]))
    assert "Families" in svg
    assert not [t for t in svg if t.startswith(("−", "-"))]  # no negative ticks around an all-zero axis
