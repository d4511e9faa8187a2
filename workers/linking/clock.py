"""Correcting a clip's times by its recorder's clock offset.

A station measures a recorder's clock when it is docked (offset = device time − true time).
The report in force for a recording is the first one measured at or after the recording
started (the docking that brought it in), else the latest one before it; with no report at
all the recorder's times are taken as they are. Comparisons use the recorder's own clock,
like the clip's raw times.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Report:
    id: str
    device_time: datetime
    offset_seconds: float


class DeviceClock:
    """The clock reports of one recorder."""

    def __init__(self, reports: list[Report]):
        self.reports = sorted(reports, key=lambda report: report.device_time)
        self._times = [report.device_time for report in self.reports]

    def in_force(self, raw_start: datetime) -> Report | None:
        if not self.reports:
            return None
        index = bisect_left(self._times, raw_start)
        return self.reports[index] if index < len(self.reports) else self.reports[-1]


def corrected(raw_start: datetime, duration_seconds: float | None,
              report: Report | None) -> tuple[datetime, datetime, float | None]:
    """(corrected start, corrected end, offset applied or None). A recorder whose clock read a
    time at the edge of the calendar (year 1 or 9999) is left uncorrected where the arithmetic
    would leave the representable range; such a clip links nowhere useful either way."""
    offset = report.offset_seconds if report else None
    try:
        start = raw_start - timedelta(seconds=offset or 0.0)
    except OverflowError:
        start, offset = raw_start, None
    try:
        end = start + timedelta(seconds=max(duration_seconds or 0.0, 0.0))
    except OverflowError:
        end = start
    return start, end, offset
