"""Stations, users and their API tokens: the operations shared by the CLI and the API.

A token is shown once, when it is made; only its SHA-256 is stored (tokens are 256
random bits, so a fast hash is enough; passwords use Argon2id).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.passwords import check_password_strength, verify_password
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


def _new_token(session: Session, *, station: Station | None = None, user: User | None = None,
               expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=hash_token(token), prefix=token[:10], station=station, user=user,
                   expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def create_station(session: Session, name: str, location: str | None = None) -> tuple[Station, ApiToken, str]:
    name = name.strip()
    if not name:
        raise ValueError("station name must not be empty")
    if session.scalar(select(Station).where(Station.name == name)):
        raise AccountError("accounts.station_exists", name=name)
    station = Station(name=name, location=location)
    session.add(station)
    row, token = _new_token(session, station=station)
    return station, row, token


def new_station_token(session: Session, station_id: str) -> tuple[ApiToken, str]:
    station = session.get(Station, station_id)
    if station is None:
        raise AccountError("accounts.not_found", 404, what="station", id=station_id)
    return _new_token(session, station=station)


def create_user(session: Session, hasher, username: str, role: str, password: str,
                display_name: str | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    check_password_strength(password)
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError("accounts.user_exists", name=username)
    user = User(username=username, role=role, display_name=display_name,
                password_hash=hasher.hash(password))
    session.add(user)
    session.flush()
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


def revoke_token(session: Session, token_id: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError("accounts.not_found", 404, what="token", id=token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


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


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("web.users.not_found", 404, id=user_id)
    return user


def _not_self(user: User, acting_user_id: str) -> None:
    # An administrator who demoted or disabled themselves would lock themselves out (perhaps the last one).
    if user.id == acting_user_id:
        raise AccountError("web.users.own_account", 409, name=user.username)


def set_user_role(session: Session, user_id: str, role: str, acting_user_id: str) -> User:
    """Give a user another role; it counts from their next request (pages and tokens)."""
    if role not in ROLES:
        raise AccountError("web.users.unknown_role", 422, role=role, roles=", ".join(ROLES))
    user = _user(session, user_id)
    if user.role != role:
        _not_self(user, acting_user_id)
        user.role = role
    return user


def set_user_active(session: Session, user_id: str, active: bool, acting_user_id: str) -> User:
    """Disable a user (signed out of the pages and refused on the API at once) or enable them again."""
    user = _user(session, user_id)
    if user.active != active:
        _not_self(user, acting_user_id)
        user.active = active
    return user


def set_password(session: Session, hasher, user_id: str, password: str) -> User:
    check_password_strength(password)
    user = _user(session, user_id)
    user.password_hash = hasher.hash(password)
    return user
