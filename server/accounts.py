"""Stations, users and their API tokens: the operations shared by the CLI, the API and the pages.

A token is shown once, when it is made; only its SHA-256 is stored (tokens are 256
random bits, so a fast hash is enough; passwords use Argon2id).

Every administrative change is appended to the custody log in the same transaction
(storage/custody_admin.py), naming the actor passed in, else the principal of the current
request. Code that acts for no person (tests, scripts calling these functions directly)
passes no actor outside a request and leaves no event.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import g, has_request_context, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.passwords import check_password_strength, verify_password
from server.web.blueprint import WEB
from storage.custody_admin import AdminActor, record_admin_action
from storage.db import utcnow
from storage.models import ROLES, ApiToken, Station, User

TOKEN_PREFIX = "fr_"
STATION_ROLE = "station"
_DUMMY_HASH_INPUT = "timing-equaliser-not-a-password"
LAST_USED_RESOLUTION = timedelta(seconds=60)
"""How stale a token's last-used time may get before a request updates it."""


class AccountError(Exception):
    """A request about accounts that cannot be done; `key` names the i18n message."""

    def __init__(self, key: str, status: int = 409, **values):
        super().__init__(key, values)
        self.key, self.status, self.values = key, status, values


@dataclass(frozen=True)
class Principal:
    """Who is calling: a station or a user, with the role that decides access."""

    kind: str  # "station" | "user"
    id: str
    name: str
    role: str
    token_id: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- who acts, and the custody event of what they did --------------------------

def requesting_actor() -> AdminActor | None:
    """The principal of the current request as the actor of an administrative change, if any."""
    if not has_request_context() or g.get("principal") is None:
        return None
    principal = g.principal
    via = "web" if request.blueprint == WEB else "api"
    return AdminActor(principal.kind, principal.id, principal.name, via, request.remote_addr)


def _record(session: Session, actor: AdminActor | None, action: str, **details) -> None:
    actor = actor or requesting_actor()
    if actor is not None:
        record_admin_action(session, actor, action, **details)


def token_owner(row: ApiToken) -> dict:
    if row.station is not None:
        return {"kind": "station", "id": row.station.id, "name": row.station.name}
    return {"kind": "user", "id": row.user.id, "name": row.user.username}


def token_state(row: ApiToken, now: datetime | None = None) -> str:
    """active, expired, revoked, or disabled (its user is); a rotated token is active until its
    grace period ends."""
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if row.user is not None and not row.user.active:
        return "disabled"
    return "active"


def _sooner(when: datetime | None, other: datetime) -> datetime:
    return other if when is None else min(when, other)


def _new_token(session: Session, *, station: Station | None = None, user: User | None = None,
               expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=hash_token(token), prefix=token[:10], station=station, user=user,
                   expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def create_station(session: Session, name: str, location: str | None = None, *,
                   actor: AdminActor | None = None) -> tuple[Station, ApiToken, str]:
    name = name.strip()
    if not name:
        raise ValueError("station name must not be empty")
    if session.scalar(select(Station).where(Station.name == name)):
        raise AccountError("accounts.station_exists", name=name)
    station = Station(name=name, location=location)
    session.add(station)
    row, token = _new_token(session, station=station)
    _record(session, actor, "station_added", station_id=station.id, name=name, location=location, token_id=row.id)
    return station, row, token


def find_station(session: Session, station_id: str) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise AccountError("accounts.not_found", 404, what="station", id=station_id)
    return station


def new_station_token(session: Session, station_id: str, *, actor: AdminActor | None = None) -> tuple[ApiToken, str]:
    """Another token for a station, beside the ones it has."""
    row, token = _new_token(session, station=find_station(session, station_id))
    _record(session, actor, "token_issued", token_id=row.id, owner=token_owner(row))
    return row, token


def list_tokens(session: Session, *, station_id: str | None = None, user_id: str | None = None) -> list[ApiToken]:
    """A station's or a user's tokens, newest first (revoked and expired ones too)."""
    if (station_id is None) == (user_id is None):
        raise ValueError("name exactly one owner: station_id or user_id")
    owner = ApiToken.station_id == station_id if station_id else ApiToken.user_id == user_id
    return list(session.scalars(select(ApiToken).where(owner).order_by(ApiToken.created_at.desc(), ApiToken.id)))


def _live_token(session: Session, token_id: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError("accounts.not_found", 404, what="token", id=token_id)
    state = token_state(row)
    if state != "active":
        raise AccountError(f"accounts.token_not_live.{state}", 409, id=token_id)
    return row


def rotate_token(session: Session, token_id: str, *, grace: timedelta, user_token_hours: int,
                 actor: AdminActor | None = None) -> tuple[ApiToken, str, ApiToken]:
    """A new token for the same station or user; the old one keeps working for `grace`, then
    expires. Returns the new row, the new token (shown once) and the old row."""
    old = _live_token(session, token_id)
    now = utcnow()
    expires = None if old.station is not None else now + timedelta(hours=user_token_hours)
    row, token = _new_token(session, station=old.station, user=old.user, expires_at=expires)
    old.expires_at = _sooner(old.expires_at, now + grace)
    _record(session, actor, "token_rotated", token_id=row.id, owner=token_owner(row),
            replaced=[{"token_id": old.id, "expires_at": old.expires_at}])
    return row, token, old


def rotate_station_tokens(session: Session, station_id: str, *, grace: timedelta,
                          actor: AdminActor | None = None) -> tuple[ApiToken, str, list[ApiToken]]:
    """A station's new token; every token it had ends after `grace`. Returns the new row, the
    new token (shown once) and the replaced rows."""
    station = find_station(session, station_id)
    now = utcnow()
    replaced = [row for row in list_tokens(session, station_id=station.id) if token_state(row, now) == "active"]
    row, token = _new_token(session, station=station)
    for old in replaced:
        old.expires_at = _sooner(old.expires_at, now + grace)
    _record(session, actor, "token_rotated", token_id=row.id, owner=token_owner(row),
            replaced=[{"token_id": old.id, "expires_at": old.expires_at} for old in replaced])
    return row, token, replaced


def create_user(session: Session, hasher, username: str, role: str, password: str,
                display_name: str | None = None, *, actor: AdminActor | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    check_password_strength(password)
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError("accounts.user_exists", name=username)
    user = User(username=username, role=role, display_name=display_name,
                password_hash=hasher.hash(password))
    session.add(user)
    session.flush()
    _record(session, actor, "user_created", user_id=user.id, username=username, role=role, display_name=display_name)
    return user


def check_credentials(session: Session, hasher, username: str, password: str) -> User | None:
    """The active user with these credentials, else None (same work either way)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(hasher, hasher.hash(_DUMMY_HASH_INPUT), password)
        return None
    if not verify_password(hasher, user.password_hash, password) or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def login(session: Session, hasher, username: str, password: str, hours: int) -> tuple[ApiToken, str] | None:
    """A new user token for valid credentials, else None (same work either way)."""
    user = check_credentials(session, hasher, username, password)
    if user is None:
        return None
    return _new_token(session, user=user, expires_at=utcnow() + timedelta(hours=hours))


def revoke_token(session: Session, token_id: str, *, actor: AdminActor | None = None) -> ApiToken:
    """Refused from now on (revoking a revoked token changes nothing)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError("accounts.not_found", 404, what="token", id=token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _record(session, actor, "token_revoked", token_id=row.id, owner=token_owner(row))
    return row


def _revoke_user_tokens(session: Session, user: User) -> list[str]:
    """Revoke every token of the user not yet revoked; their ids."""
    now = utcnow()
    rows = [row for row in list_tokens(session, user_id=user.id) if row.revoked_at is None]
    for row in rows:
        row.revoked_at = now
    return [row.id for row in rows]


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal behind a bearer token, or None if it is unknown, expired or revoked."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now  # not on every request: each update is a database write
        if row.station is not None:
            row.station.last_seen_at = now
    if row.station is not None:
        return Principal("station", row.station.id, row.station.name, STATION_ROLE, row.id)
    if not row.user.active:
        return None
    return Principal("user", row.user.id, row.user.username, row.user.role, row.id)


def find_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("web.users.not_found", 404, id=user_id)
    return user


def _not_self(user: User, acting_user_id: str) -> None:
    # An administrator who demoted or disabled themselves would lock themselves out (perhaps the last one).
    if user.id == acting_user_id:
        raise AccountError("web.users.own_account", 409, name=user.username)


def set_user_role(session: Session, user_id: str, role: str, acting_user_id: str, *,
                  actor: AdminActor | None = None) -> User:
    """Give a user another role; it counts from their next request (pages and tokens)."""
    if role not in ROLES:
        raise AccountError("web.users.unknown_role", 422, role=role, roles=", ".join(ROLES))
    user = find_user(session, user_id)
    if user.role != role:
        _not_self(user, acting_user_id)
        before, user.role = user.role, role
        _record(session, actor, "user_role_changed", user_id=user.id, username=user.username, before=before,
                after=role)
    return user


def set_user_active(session: Session, user_id: str, active: bool, acting_user_id: str, *,
                    actor: AdminActor | None = None) -> User:
    """Disable a user (signed out of the pages at once, every API token revoked) or enable them
    again (with no token: they sign in anew)."""
    user = find_user(session, user_id)
    if user.active != active:
        _not_self(user, acting_user_id)
        user.active = active
        revoked = [] if active else _revoke_user_tokens(session, user)
        _record(session, actor, "user_activated" if active else "user_deactivated", user_id=user.id,
                username=user.username, tokens_revoked=revoked)
    return user


def set_password(session: Session, hasher, user_id: str, password: str, *, actor: AdminActor | None = None) -> User:
    """A new password; the user's API tokens are revoked (whoever knew the old one may hold one)."""
    check_password_strength(password)
    user = find_user(session, user_id)
    user.password_hash = hasher.hash(password)
    revoked = _revoke_user_tokens(session, user)
    _record(session, actor, "user_password_reset", user_id=user.id, username=user.username, tokens_revoked=revoked)
    return user
