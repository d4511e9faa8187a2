"""Charts for the HTML report as inline SVG, drawn here so that the report needs no script, font
or image from anywhere: stacked bars of pass / warning / fail per row (step type, unit) with the
compliance rate beside each, and a line of the weekly compliance rate. Pure: text in, SVG out;
every label is escaped. Hovering a bar or a point shows its figures (an SVG <title>)."""
from __future__ import annotations

import math
import unicodedata
from html import escape
from typing import NamedTuple, Sequence

FONT = 12
ROW = 22
BAR = 14
PLOT_WIDTH = 360
LABEL_MAX = 280
INDENT = 14
COLOURS = {"pass": "#2e7d32", "warning": "#f9a825", "fail": "#c62828"}
LINE_SIZE = (720, 240)
MARGIN = (48, 20, 34, 44)
"""Left, right, top, bottom margin of the line chart."""


class Bar(NamedTuple):
    label: str
    passed: int
    warnings: int
    failed: int
    depth: int = 0
    """Indentation of the label (a sub-unit under its unit)."""

    @property
    def total(self) -> int:
        return self.passed + self.warnings + self.failed

    @property
    def rate(self) -> float | None:
        return self.passed / self.total if self.total else None


class Point(NamedTuple):
    label: str
    rate: float | None
    """0..1, or None where there is nothing to measure (the line breaks there)."""
    note: str = ""


def text_width(text: str, size: float = FONT) -> float:
    """The width a text takes, estimated: CJK characters are about twice as wide as Latin ones."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.6 for ch in text)


def shorten(text: str, width: float, size: float = FONT) -> str:
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-size="{FONT}" '
            f'font-family="sans-serif"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _heading(title: str) -> str:
    return f'<text x="4" y="16" font-weight="bold" font-size="{FONT + 2}">{escape(title)}</text>'


def _empty(title: str, empty: str) -> str:
    width = max(text_width(title, FONT + 2), text_width(empty)) + 16
    return _svg(width, 50, title, [_heading(title), f'<text x="4" y="40" fill="#555">{escape(empty)}</text>'])


def compliance_bars(bars: Sequence[Bar], *, title: str, legend: tuple[str, str, str], empty: str) -> str:
    """One stacked bar per row: the shares of pass, warning and fail, with the compliance rate
    (pass / steps needing footage) and the counts at the right. legend: the three status names."""
    if not bars:
        return _empty(title, empty)
    label_width = min(LABEL_MAX, max(text_width(b.label) + b.depth * INDENT for b in bars) + 12)
    left, top = label_width, 48
    width = left + PLOT_WIDTH + 130
    bottom = top + len(bars) * ROW
    height = bottom + 22
    body = [_heading(title)]
    x = float(left)
    for name, colour in zip(legend, COLOURS.values()):
        body.append(f'<rect x="{x:.1f}" y="26" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{x + 14:.1f}" y="35">{escape(name)}</text>')
        x += text_width(name) + 34
    for tick in range(0, 101, 25):
        gx = left + PLOT_WIDTH * tick / 100
        body.append(f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" y2="{bottom}" stroke="#ddd"/>'
                    f'<text x="{gx:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{tick}%</text>')
    for index, bar in enumerate(bars):
        y = top + index * ROW
        label = shorten(bar.label, label_width - 12 - bar.depth * INDENT)
        tip = f"{bar.label}: {legend[0]} {bar.passed}, {legend[1]} {bar.warnings}, {legend[2]} {bar.failed}"
        parts = [f'<g><title>{escape(tip)}</title>',
                 f'<text x="{4 + bar.depth * INDENT}" y="{y + BAR - 2}">{escape(label)}</text>']
        x = float(left)
        for count, colour in zip((bar.passed, bar.warnings, bar.failed), COLOURS.values()):
            if count and bar.total:
                w = PLOT_WIDTH * count / bar.total
                parts.append(f'<rect x="{x:.1f}" y="{y + 1}" width="{w:.1f}" height="{BAR}" fill="{colour}"/>')
                x += w
        parts.append(f'<text x="{left + PLOT_WIDTH + 8:.1f}" y="{y + BAR - 2}">'
                     f'{_pct(bar.rate)} ({bar.passed}/{bar.total})</text></g>')
        body.append("".join(parts))
    return _svg(width, height, title, body)


def trend_line(points: Sequence[Point], *, title: str, empty: str) -> str:
    """The compliance rate per point (week) as a line on a 0–100% axis; points without a rate
    break the line. At most about ten x labels are written, evenly spaced."""
    if not any(p.rate is not None for p in points):
        return _empty(title, empty)
    width, height = LINE_SIZE
    left, right, top, bottom = MARGIN
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / (len(points) - 1) if len(points) > 1 else 0.0

    def at(index: int, rate: float) -> tuple[float, float]:
        x = left + (index * step if len(points) > 1 else plot_w / 2)
        return x, top + plot_h * (1 - rate)

    body = [_heading(title)]
    for tick in range(0, 101, 25):
        gy = top + plot_h * (1 - tick / 100)
        body.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{left + plot_w}" y2="{gy:.1f}" stroke="#ddd"/>'
                    f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#555">{tick}%</text>')
    every = max(1, math.ceil(len(points) / 10))
    for index, point in enumerate(points):
        if index % every == 0:
            x = at(index, 0)[0]
            body.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle" fill="#555" '
                        f'font-size="{FONT - 1}">{escape(point.label)}</text>')
    run: list[str] = []
    runs = [run]
    for index, point in enumerate(points):
        if point.rate is None:
            run = []
            runs.append(run)
            continue
        x, y = at(index, point.rate)
        run.append(f"{x:.1f},{y:.1f}")
    for segment in runs:
        if len(segment) > 1:
            body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{COLOURS["pass"]}" '
                        f'stroke-width="2"/>')
    for index, point in enumerate(points):
        if point.rate is not None:
            x, y = at(index, point.rate)
            tip = f"{point.label}: {_pct(point.rate)}" + (f" ({point.note})" if point.note else "")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{COLOURS["pass"]}">'
                        f'<title>{escape(tip)}</title></circle>')
    return _svg(width, height, title, body)
