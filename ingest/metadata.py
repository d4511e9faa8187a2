"""tus `Upload-Metadata`: parsing the header and validating what a clip needs.

The header is `key base64value,key2 base64value2`. Required keys: filename, device_id,
recorded_at, sha256; officer_id is optional; other keys are kept as given. Values are
made harmless: no path separators in file names, no control characters anywhere.
"""
from __future__ import annotations

import base64
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import marshmallow as ma

MAX_VALUE_LENGTH = 1024
"""Longest decoded metadata value accepted."""
MAX_EXTRA_KEYS = 32

_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"


class MetadataError(ValueError):
    """The Upload-Metadata header is malformed or lacks what a clip needs."""


def parse_header(header: str | None) -> dict[str, str]:
    """Decode `Upload-Metadata` into a dict of strings."""
    values: dict[str, str] = {}
    if not header or not header.strip():
        return values
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not _KEY.match(parts[0]):
            raise MetadataError(f"malformed Upload-Metadata entry {pair.strip()[:80]!r}: expected 'key base64value'")
        key = parts[0]
        if key in values:
            raise MetadataError(f"Upload-Metadata key {key!r} appears twice")
        try:
            raw = base64.b64decode(parts[1], validate=True) if len(parts) == 2 else b""
            value = raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error, and non-ASCII text where base64 belongs
            raise MetadataError(f"Upload-Metadata value of {key!r} is not base64-encoded UTF-8") from None
        if len(value) > MAX_VALUE_LENGTH:
            raise MetadataError(f"Upload-Metadata value of {key!r} is longer than {MAX_VALUE_LENGTH} characters")
        values[key] = value
    return values


def safe_filename(name: str) -> str:
    """The last path component, without control characters; never empty, '.' or '..'."""
    base = re.split(r"[\\/]", name)[-1]
    base = _CONTROL.sub("", base).strip()
    if base in ("", ".", ".."):
        raise ma.ValidationError("must name a file, not a path or nothing")
    return base[:255]


class ClipMetadataSchema(ma.Schema):
    """What the sender says about the file; sha256 is checked against the received bytes."""

    class Meta:
        unknown = ma.INCLUDE

    filename = ma.fields.String(required=True, validate=ma.validate.Length(1, 1024))
    device_id = ma.fields.String(required=True, validate=ma.validate.Regexp(
        IDENTIFIER, error="expected a recorder serial: letters, digits, '_', '.', ':', '-' (at most 64)"))
    officer_id = ma.fields.String(load_default=None, validate=ma.validate.Regexp(
        IDENTIFIER, error="expected an officer number: letters, digits, '_', '.', ':', '-' (at most 64)"))
    recorded_at = ma.fields.String(required=True)
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[0-9a-fA-F]{64}$", error="expected the file's SHA-256 as 64 hexadecimal digits"))

    @ma.post_load
    def _normalise(self, data, **kwargs):
        try:
            data["filename"] = safe_filename(data["filename"])
        except ma.ValidationError as exc:
            raise ma.ValidationError(exc.messages, field_name="filename") from None
        data["sha256"] = data["sha256"].lower()
        extra = {k: v for k, v in data.items() if k not in self.fields}
        if len(extra) > MAX_EXTRA_KEYS:
            raise ma.ValidationError(f"at most {MAX_EXTRA_KEYS} extra metadata keys")
        for key, value in extra.items():
            data[key] = _CONTROL.sub("", value)
        return data


def parse_recorded_at(value: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    """An aware datetime, and whether the zone had to be assumed (recorders often omit it)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MetadataError(f"recorded_at {value[:40]!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone), True
    return moment, False


def clip_metadata(header: str | None, zone: ZoneInfo) -> dict:
    """Validated metadata for a new upload; MetadataError names what is wrong."""
    raw = parse_header(header)
    try:
        data = ClipMetadataSchema().load(raw)
    except ma.ValidationError as exc:
        problems = "; ".join(f"{key}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                             for key, msgs in exc.normalized_messages().items())
        raise MetadataError(f"Upload-Metadata: {problems}") from None
    data["recorded_at"], data["zone_assumed"] = parse_recorded_at(data["recorded_at"], zone)
    return data
