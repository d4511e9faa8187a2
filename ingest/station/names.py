"""What a recording's file name tells: recorder serial, officer, start time, sequence, kind.

Pure: no file system access. Patterns are regular expressions matched against the whole file
name (not the folders) with any of the named groups serial, officer, time and seq; a pattern
with a `time` group gives the strptime format of that group.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import PurePath

GROUPS = frozenset({"serial", "officer", "time", "seq"})

# DEVICE_OFFICER_YYYYMMDDhhmmss_NNNN[_TAG].EXT; recorders name their photos and audio alike, so
# any extension matches and the kind comes from the extension. A recorder marks an important
# recording with a tag such as _IMP (see station.flagged_regex).
DEFAULT_REGEX = (r"(?P<serial>[A-Za-z0-9-]+)_(?P<officer>[A-Za-z0-9-]+)_(?P<time>\d{14})"
                 r"_(?P<seq>\d{1,8})(?:_[A-Za-z]{1,12})?\.[A-Za-z0-9]{1,5}")
DEFAULT_TIME_FORMAT = "%Y%m%d%H%M%S"

KINDS = {
    "video": ("mp4", "mov", "avi", "mkv", "ts", "3gp"),
    "photo": ("jpg", "jpeg", "png", "heic"),
    "audio": ("wav", "mp3", "aac", "m4a", "amr"),
}
_KIND_OF = {ext: kind for kind, exts in KINDS.items() for ext in exts}


@dataclass(frozen=True)
class NamePattern:
    regex: str
    time_format: str | None = None


DEFAULT_PATTERN = NamePattern(DEFAULT_REGEX, DEFAULT_TIME_FORMAT)


@dataclass(frozen=True)
class RecordingName:
    serial: str | None
    officer: str | None
    recorded_at: datetime | None
    seq: int | None
    kind: str
    matched_pattern: str | None


def compile_pattern(regex: str, time_format: str | None) -> re.Pattern:
    """The compiled pattern; ValueError naming what is wrong (for the settings' validation)."""
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    unknown = sorted(set(compiled.groupindex) - GROUPS)
    if unknown:
        raise ValueError(f"unknown named group(s) {', '.join(unknown)}; "
                         f"expected only {', '.join(sorted(GROUPS))}")
    if "time" in compiled.groupindex and not time_format:
        raise ValueError("the pattern has a (?P<time>...) group but no time_format, e.g. %Y%m%d%H%M%S")
    return compiled


def kind_of(name: str) -> str:
    return _KIND_OF.get(PurePath(name).suffix.lower().lstrip("."), "other")


def _parse(match: re.Match, pattern: NamePattern, zone: tzinfo) -> dict | None:
    """The fields of a match, or None when they do not make sense (month 13, seq 'x')."""
    groups = {key: value for key, value in match.groupdict().items() if value}
    fields: dict = {"serial": groups.get("serial"), "officer": groups.get("officer"),
                    "recorded_at": None, "seq": None}
    try:
        if "seq" in groups:
            fields["seq"] = int(groups["seq"])
        if "time" in groups and pattern.time_format:
            moment = datetime.strptime(groups["time"], pattern.time_format)
            fields["recorded_at"] = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    except (ValueError, OverflowError):
        return None
    return fields


def recognise(relative_path: str | PurePath, patterns: list[NamePattern], zone: tzinfo) -> RecordingName:
    """What the name of a file at this path under the watch dir tells; never raises for a name.

    The first pattern whose match parses wins. The recorder's folder (the first path part) is
    the serial when the name gives none.
    """
    path = PurePath(relative_path)
    folder = path.parts[0] if len(path.parts) > 1 else None
    kind = kind_of(path.name)
    for pattern in patterns:
        match = compile_pattern(pattern.regex, pattern.time_format).fullmatch(path.name)
        fields = _parse(match, pattern, zone) if match else None
        if fields is not None:
            fields["serial"] = fields["serial"] or folder
            return RecordingName(kind=kind, matched_pattern=pattern.regex, **fields)
    return RecordingName(serial=folder, officer=None, recorded_at=None, seq=None, kind=kind,
                         matched_pattern=None)
