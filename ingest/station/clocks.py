"""Recorders' clock readings left by the docking software: a small JSON file in a recorder's
folder with the recorder's own time and the station's (true) time at the same moment.

    {"device_time": "2026-11-20T10:00:07", "station_time": "2026-11-20T10:00:00+08:00",
     "serial": "DSJ-001"}

Times without a zone are the station's local time (`timezone`); `serial` is optional (the
recorder's folder name otherwise). Pure apart from reading the file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path, PurePosixPath

import marshmallow as ma

from ingest.metadata import IDENTIFIER

MAX_CLOCK_FILE_BYTES = 64 * 1024


class ClockFileError(ValueError):
    """The clock file cannot be used; the message says why."""


@dataclass(frozen=True)
class ClockReading:
    path: str
    """Relative to the watch dir."""
    mtime_ns: int
    serial: str
    device_time: datetime
    station_time: datetime


class ClockSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    device_time = ma.fields.String(required=True)
    station_time = ma.fields.String(required=True)
    serial = ma.fields.String(load_default=None, validate=ma.validate.Regexp(
        IDENTIFIER, error="expected a recorder serial: letters, digits, '_', '.', ':', '-' (at most 64)"))


def _moment(value: str, field: str, zone: tzinfo) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ClockFileError(f"{field} {value[:40]!r} is not an ISO 8601 date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def parse(text: str, relative_path: str, mtime_ns: int, zone: tzinfo) -> ClockReading:
    """The reading in a clock file's text; ClockFileError naming what is wrong."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ClockFileError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ClockFileError("expected a JSON object with device_time and station_time")
    try:
        data = ClockSchema().load(raw)
    except ma.ValidationError as exc:
        problems = "; ".join(f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                             for key, value in exc.normalized_messages().items())
        raise ClockFileError(problems) from None
    parts = PurePosixPath(relative_path).parts
    serial = data["serial"] or (parts[-2] if len(parts) > 1 else None)
    if not serial:
        raise ClockFileError("no serial in the file and no recorder folder around it")
    return ClockReading(relative_path, mtime_ns, serial, _moment(data["device_time"], "device_time", zone),
                        _moment(data["station_time"], "station_time", zone))


def read(watch_dir: str | Path, relative_path: str, mtime_ns: int, zone: tzinfo) -> ClockReading:
    full = Path(watch_dir) / relative_path
    try:
        with open(full, "rb") as handle:
            data = handle.read(MAX_CLOCK_FILE_BYTES + 1)
    except OSError as exc:
        raise ClockFileError(f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_CLOCK_FILE_BYTES:
        raise ClockFileError(f"larger than {MAX_CLOCK_FILE_BYTES} bytes: not a clock reading")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClockFileError("not UTF-8 text") from None
    return parse(text, relative_path, mtime_ns, zone)
