"""shared/charts.py: deterministic, accessible charts; empty data draws "No data", not an error."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shared.charts import NO_DATA, Bars, Chart, Line, ReportFormat, chosen_format, label, render

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"

CHART = Chart(
    "Referrals in 2026",
    "Counts by source & outcome <all agencies>",
    [
        Bars.counts("By outcome", {"No further action": 3, "Early help": 5}, horizontal=True),
        Bars("By source", ["2A", "3F", "6"], {"NFA": [1, 2, 0], "Early help": [3, 0, 1]}, stacked=True),
        Bars("Grouped", ["Q1", "Q2"], {"Received": [4, 6], "Decided": [3, 6]}),
        Line("Over time", ["2026-01", "2026-02", "2026-03"], {"Received": [1, 4, 2], "Decided": [0, 3, 2]}),
    ],
)


def test_the_same_chart_gives_the_same_bytes() -> None:
    assert render(CHART) == render(CHART)
    assert render(CHART, "png") == render(CHART, "png")


def test_the_svg_is_labelled_by_its_title_and_description() -> None:
    root = ET.fromstring(render(CHART))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-title chart-desc"
    assert root.find(f"{SVG}title").text == "Referrals in 2026"
    assert root.find(f"{SVG}desc").text == "Counts by source & outcome <all agencies>"
    texts = {t.text for t in root.iter(f"{SVG}text")}
    # Text stays text (svg.fonttype none): the titles, labels and legends can be read and found.
    assert {"Referrals in 2026", "By outcome", "No further action", "2A", "Received", "Period"} <= texts
    assert NO_DATA not in texts


def test_no_date_or_random_ids() -> None:
    svg = render(CHART).decode()
    assert "<dc:date>" not in svg and "Matplotlib" not in svg


@pytest.mark.parametrize(
    "empty",
    [
        Chart("Nothing", "no panels"),
        Chart("Nothing", "no categories", [Bars("Empty", [], {})]),
        Chart("Nothing", "all zero", [Bars.counts("Zeros", {"a": 0, "b": 0})]),
        Chart("Nothing", "no periods", [Line("Empty", [], {"x": []})]),
    ],
)
def test_empty_data_draws_a_no_data_chart(empty: Chart) -> None:
    svg = render(empty).decode()
    assert NO_DATA in svg and "<title" in svg
    assert render(empty, "png").startswith(b"\x89PNG")


def test_only_chart_formats_render() -> None:
    with pytest.raises(ValueError):
        render(CHART, "gif")


def test_format_choice_and_labels() -> None:
    assert chosen_format(None, "application/json") == ReportFormat.json
    assert chosen_format(None, "text/csv") == ReportFormat.csv
    assert chosen_format(ReportFormat.svg, "text/csv") == ReportFormat.svg
    assert label("no_further_action") == "No further action"


def test_services_start_without_matplotlib() -> None:
    """matplotlib is imported on the first chart, not when a service or the gateway starts."""
    code = (
        "import sys, services.referrals.main, services.assessments.main, gateway.main; "
        "sys.exit('matplotlib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
