"""Server-side SVG charts: pure functions, no database."""

import re
from datetime import UTC, datetime

from inference_api.console import charts, overview


def heights(svg: str, key: str) -> list[float]:
    return [float(h) for h in re.findall(rf'class="bar s-{key}"[^>]*height="([\d.]+)"', svg)]


def test_bars_are_stacked_in_proportion_to_their_values():
    svg = charts.stacked_bars(
        slot_labels=["a", "b"],
        series=[charts.Bars("accepted", "accepted", [10, 5]), charts.Bars("422", "422", [0, 5])],
        title="t",
    )

    accepted, hostile = heights(svg, "accepted"), heights(svg, "422")
    assert len(accepted) == 2 and len(hostile) == 1  # a zero draws nothing
    assert accepted[0] == accepted[1] + hostile[0]
    assert accepted[1] == hostile[0]


def test_text_in_a_chart_is_escaped_and_styled_by_class_only():
    svg = charts.stacked_bars(
        slot_labels=["<script>alert(1)</script>"],
        series=[charts.Bars("accepted", '"><img src=x onerror=alert(1)>', [3])],
        title="<b>",
    )

    assert "<script>" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    assert "style=" not in svg


def test_an_empty_chart_draws_no_bars():
    svg = charts.stacked_bars(slot_labels=["a"], series=[], title="none")

    assert "<rect" not in svg and svg.startswith("<svg")


def test_each_status_falls_in_one_family():
    families = [overview.outcome_family(s) for s in (200, 400, 403, 413, 422, 429, 500, 503)]

    assert families == ["accepted", "400", "403", "413", "422", "429", "5xx", "5xx"]
    assert overview.family_label("422").startswith("422 Unprocessable")


def test_a_window_ends_with_the_slot_that_holds_now():
    now = datetime(2026, 11, 29, 12, 37, 10, tzinfo=UTC)

    start = overview.window_start(overview.WINDOWS["1h"], now)
    day = overview.window_start(overview.WINDOWS["24h"], now)

    assert start == datetime(2026, 11, 29, 11, 40, tzinfo=UTC)
    assert day == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
