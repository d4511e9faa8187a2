"""Administrative actions in the custody log: accounts, stations and their tokens.

They are events like any other (hash-chained, append-only, checked by `fullrecord custody
verify`) that concern no clip or case. Each names who acted (a user or station through the API
or the pages, or an operator at the command line), from where, and what changed, by ids and
names only: never a password, a token or a hash of either.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from storage.custody import append_event
from storage.models import CustodyEvent

ADMIN_ACTIONS = (
    "user_created", "user_role_changed", "user_activated", "user_deactivated", "user_password_reset",
    "station_added", "token_issued", "token_rotated", "token_revoked",
)
SECRET_KEYS = frozenset({"password", "password_hash", "token", "token_hash", "secret", "secret_key", "prefix"})
"""Detail keys an administrative event may never carry (what would let someone sign in)."""


@dataclass(frozen=True)
class AdminActor:
    """Who performed an administrative action."""

    actor_type: str
    """user, station, or cli (an operator running `fullrecord admin ...` on a server host)."""
    actor_id: str
    """The user's or station's id; for cli, os-user@host."""
    name: str
    """The user's or station's name (the event stays readable if the account is renamed or removed)."""
    via: str
    """api, web or cli."""
    source_address: str | None = None


def _secret_keys(details, path: str = "") -> list[str]:
    found = []
    if isinstance(details, dict):
        for key, value in details.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).lower() in SECRET_KEYS:
                found.append(where)
            found += _secret_keys(value, where)
    elif isinstance(details, list):
        for item in details:
            found += _secret_keys(item, path)
    return found


def _plain(value):
    """Details as JSON the chain can hash: datetimes as ISO 8601 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def record_admin_action(session: Session, actor: AdminActor, action: str, **details) -> CustodyEvent:
    """Append the event in the caller's transaction (so it exists exactly when the change does)."""
    if action not in ADMIN_ACTIONS:
        raise ValueError(f"unknown administrative action {action!r}: expected one of {', '.join(ADMIN_ACTIONS)}")
    secret = _secret_keys(details)
    if secret:
        raise ValueError(f"an administrative event must not carry {', '.join(secret)}")
    return append_event(session, actor_type=actor.actor_type, actor_id=actor.actor_id, action=action,
                        details={**_plain(details), "by": actor.name, "via": actor.via},
                        source_address=actor.source_address)
