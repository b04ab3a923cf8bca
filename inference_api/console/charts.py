"""Charts drawn on the server as SVG: nothing to load, nothing for a script to run.

Colours and fonts are CSS classes (inference_api/static/inference_api/console.css),
never `style` attributes, so the charts work under `style-src 'self'`. Every
text in the drawing is escaped by format_html.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 760
HEIGHT = 220
LEFT = 48  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 8


@dataclass(frozen=True)
class Bars:
    """One stacked series: its CSS class suffix, its name, one value per slot."""

    key: str
    label: str
    values: Sequence[int]


def stacked_bars(*, slot_labels: Sequence[str], series: Sequence[Bars], title: str) -> SafeString:
    """A stacked bar chart, one bar per slot, series stacked in the given order.

    Each segment carries a <title> (slot, series, count) that browsers show on
    hover. Labels are drawn under every n-th bar so that they do not overlap.
    """
    slots = len(slot_labels)
    peak = max((sum(s.values[i] for s in series) for i in range(slots)), default=0)
    scale = (HEIGHT - TOP - BOTTOM) / peak if peak else 0
    pitch = (WIDTH - LEFT) / max(slots, 1)
    segments = []
    for i, slot in enumerate(slot_labels):
        base = HEIGHT - BOTTOM
        for s in series:
            value = s.values[i]
            if not value:
                continue
            height = max(value * scale, 1)
            base -= height
            box = (LEFT + i * pitch + 1, base, max(pitch - 2, 1), height)
            segments.append((s.key, *_numbers(box), slot, s.label, value))
    bars = format_html_join(
        "",
        '<rect class="bar s-{}" x="{}" y="{}" width="{}" height="{}">'
        "<title>{}: {} {}</title></rect>",
        segments,
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}{}{}</svg>",
        WIDTH,
        HEIGHT,
        title,
        title,
        _y_axis(peak),
        bars,
        _x_labels(slot_labels, pitch),
    )


def _numbers(values: Sequence[float]) -> tuple[str, ...]:
    # format_html escapes its arguments into text first: numbers go in formatted.
    return tuple(f"{v:.1f}" for v in values)


def _y_axis(peak: int) -> SafeString:
    bottom = HEIGHT - BOTTOM
    return format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">0</text>',
        LEFT,
        bottom,
        WIDTH,
        bottom,
        LEFT - 4,
        TOP + 10,
        peak,
        LEFT - 4,
        bottom,
    )


def _x_labels(slot_labels: Sequence[str], pitch: float) -> SafeString:
    every = max(1, round(len(slot_labels) / 8))
    return format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (*_numbers((LEFT + i * pitch + pitch / 2,)), HEIGHT - 6, label)
            for i, label in enumerate(slot_labels)
            if i % every == 0
        ),
    )
