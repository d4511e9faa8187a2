"""What makes case work safe to retry from a patchy network: body digests that recognise a
replayed create or update, versions checked against If-Match, and the shared field types of
the casework schemas (instants with a UTC offset, codes, id lists)."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime, timezone
from typing import NamedTuple

import marshmallow as ma

from server.i18n import t
from server.operations import Refused
from server.resources.fields import Text
from storage.case_models import UPDATE_DIGESTS_KEPT

CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
"""Unit codes, badge numbers: what appears in URLs and in recorders' metadata."""
NO_LINKING = {"clips": 0, "added": 0, "removed": 0, "updated": 0}


class Outcome(NamedTuple):
    status: int
    answer: dict
    replay: bool = False


class Stale(Refused):
    """An update based on a version that is no longer current (409, with `current_version`)."""

    def __init__(self, what_key: str, row_id: str, given: int, current: int):
        super().__init__(409, "casework.stale_version", what=t(what_key), id=row_id, given=given, current=current)
        self.current_version = current


class Instant(ma.fields.AwareDateTime):
    """ISO 8601 with its UTC offset (a naive time would be ambiguous); answered in UTC."""

    def make_error(self, key: str, **kwargs) -> ma.ValidationError:
        if key in ("invalid", "invalid_awareness"):
            return ma.ValidationError(t("casework.time_offset"))
        return super().make_error(key, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None:
            value = value.astimezone(timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


def code_field(**kwargs) -> Text:
    return Text(validate=ma.validate.Regexp(CODE, error="use 1-64 letters, digits, '.', '_' or '-'"), **kwargs)


def code_list(description: str, **kwargs) -> ma.fields.List:
    return ma.fields.List(code_field(), load_default=list, validate=ma.validate.Length(max=200),
                          metadata={"description": description}, **kwargs)


def check_code(value: str, field: str) -> str:
    if not CODE.match(value):
        raise Refused(422, "casework.bad_code", field, name=field, value=value)
    return value


def normalise(body: dict, *id_fields: str, lists: tuple[str, ...] = ("officers", "devices")) -> dict:
    """UUIDs as strings and id lists as sorted sets, so that a retry with the same meaning
    has the same digest."""
    for key in id_fields:
        if isinstance(body.get(key), uuid.UUID):
            body[key] = str(body[key])
    for key in lists:
        if body.get(key) is not None:
            body[key] = sorted(set(body[key]))
    return body


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot digest {type(value).__name__}")


def digest(body: dict) -> str:
    """SHA-256 of the validated body as canonical JSON (sorted keys, times in UTC)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def is_create_replay(row, what_key: str, body_digest: str) -> bool:
    """True when `row` (the record with the create's id, or None) was made by this very create;
    refuses (409) when the id is taken by different content."""
    if row is None:
        return False
    if row.create_digest != body_digest:
        raise Refused(409, "casework.id_reused", "id", what=t(what_key), id=row.id)
    return True


def is_update_replay(row, what_key: str, given: int, body_digest: str) -> bool:
    """False when `given` is the current version (apply the update); True when this is a retry of
    an update already applied on top of version `given` (answer it, write nothing); otherwise Stale."""
    if given == row.version:
        return False
    if given < row.version and (row.update_digests or {}).get(str(given)) == body_digest:
        return True
    raise Stale(what_key, row.id, given, row.version)


def remember_update(row, based_on: int, body_digest: str) -> None:
    """Record an applied update's digest under the version it was based on (keeping the latest)."""
    kept = {**(row.update_digests or {}), str(based_on): body_digest}
    newest = sorted(kept, key=int)[-UPDATE_DIGESTS_KEPT:]
    row.update_digests = {version: kept[version] for version in newest}


def parse_if_match(header: str | None) -> int:
    """The version in an If-Match header: "3", W/"3" or 3."""
    if header is None or not header.strip() or header.strip() == "*":
        raise Refused(428, "casework.if_match_required", "If-Match")
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise Refused(400, "casework.if_match_invalid", "If-Match", value=header)
    return int(value)


def etag(version: int) -> dict:
    return {"ETag": f'"{version}"'}


def fill_id(body: dict, item: dict) -> dict:
    """A sync item's body with the item's `id` (when given) as the record's id."""
    raw = dict(body)
    if item.get("id") is not None:
        if raw.get("id") not in (None, item["id"]):
            raise Refused(422, "casework.sync_id_mismatch", "id", id=item["id"], body_id=raw["id"])
        raw["id"] = item["id"]
    return raw


def sync_target(item: dict, op: str) -> tuple[str, int]:
    """The record id and the version an update item is based on."""
    if item.get("id") is None:
        raise Refused(422, "casework.sync_id_missing", "id", op=op)
    try:
        record = str(uuid.UUID(str(item["id"])))
    except ValueError:
        raise Refused(422, "casework.bad_uuid", "id", value=item["id"]) from None
    if item.get("version") is None:
        raise Refused(428, "casework.sync_version_missing", "version", op=op)
    return record, item["version"]
