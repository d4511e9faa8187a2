"""Interval arithmetic on seconds (floats): the union of footage, what obstruction removes from
it, what a step's interval leaves uncovered. Intervals are (start, end) with start <= end; a
"merged" list is sorted, disjoint and has no zero-length members."""
from __future__ import annotations

from typing import Iterable

Interval = tuple[float, float]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union as a merged list (touching intervals join; zero-length ones vanish)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def clip_to(merged: list[Interval], low: float, high: float) -> list[Interval]:
    """The parts of a merged list inside [low, high]."""
    out = []
    for start, end in merged:
        start, end = max(start, low), min(end, high)
        if end > start:
            out.append((start, end))
    return out


def subtract(merged: list[Interval], holes: list[Interval]) -> list[Interval]:
    """merged minus the union of holes (holes need not be merged)."""
    holes = merge(holes)
    if not holes:
        return list(merged)
    out, h = [], 0
    for start, end in merged:
        while h < len(holes) and holes[h][1] <= start:
            h += 1
        cursor, k = start, h
        while k < len(holes) and holes[k][0] < end:
            if holes[k][0] > cursor:
                out.append((cursor, holes[k][0]))
            cursor = max(cursor, holes[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def length(merged: list[Interval]) -> float:
    return sum(end - start for start, end in merged)


def gaps(merged: list[Interval], low: float, high: float) -> list[Interval]:
    """What [low, high] leaves uncovered by a merged list already clipped to it."""
    out, cursor = [], low
    for start, end in merged:
        if start > cursor:
            out.append((cursor, start))
        cursor = max(cursor, end)
    if high > cursor:
        out.append((cursor, high))
    return out


def longest_gap(merged: list[Interval], low: float, high: float) -> Interval | None:
    """The first longest uncovered stretch of [low, high] (None when nothing is uncovered)."""
    best = None
    for gap in gaps(merged, low, high):
        if best is None or gap[1] - gap[0] > best[1] - best[0]:
            best = gap
    return best


def covers_point(merged: list[Interval], at: float) -> bool:
    return any(start <= at <= end for start, end in merged)


def share(merged: list[Interval], low: float, high: float) -> float:
    """Covered share of [low, high]; for an instant (low == high), 1 if footage contains it."""
    if high <= low:
        return 1.0 if covers_point(merged, low) else 0.0
    return min(1.0, length(clip_to(merged, low, high)) / (high - low))
