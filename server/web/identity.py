"""Who is signed in to the pages: the user id in the signed session cookie, checked against the
database on every request (a disabled user or a changed role counts at once), with an idle
timeout and a maximum age; a new password ends every page session signed in with the old one."""
from __future__ import annotations

import hashlib
import time

from flask import current_app, session
from sqlalchemy.orm import Session

from server.accounts import Principal
from storage.models import User

SEEN_RESOLUTION = 60
"""Seconds before a request refreshes the session's last-seen time (each refresh resends the cookie)."""


def password_mark(user: User) -> str:
    """A short digest of the stored password hash: it changes with the password and reveals nothing
    (the cookie is signed, not encrypted)."""
    return hashlib.sha256(f"session:{user.password_hash}".encode()).hexdigest()[:16]


def sign_in(user: User) -> None:
    language = session.get("lang")
    session.clear()  # a new session on every sign-in: nothing from before carries over
    now = int(time.time())
    session.update({"uid": user.id, "signed_in": now, "seen": now, "pw": password_mark(user)})
    if language:
        session["lang"] = language


def sign_out() -> None:
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def session_principal(db: Session) -> Principal | None:
    """The signed-in user, or None (never signed in, timed out, disabled); a stale session is cleared."""
    user_id = session.get("uid")
    if not user_id:
        return None
    settings = current_app.extensions["fullrecord"].settings.web
    now = int(time.time())
    signed_in, seen = session.get("signed_in", 0), session.get("seen", 0)
    if now - seen > settings.session_idle_minutes * 60 or now - signed_in > settings.session_max_hours * 3600:
        sign_out()
        session["expired"] = True
        return None
    user = db.get(User, user_id)
    if user is None or not user.active or session.get("pw") != password_mark(user):
        sign_out()
        return None
    if now - seen >= SEEN_RESOLUTION:
        session["seen"] = now
    return Principal("user", user.id, user.username, user.role)
