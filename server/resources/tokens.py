"""Signing in (a user's username and password for a bearer token), who am I, and the token
lifecycle: list, rotate, revoke. A token is shown once, when it is made; listings show what a
token is (owner, state, times), never the token nor its hash."""
from __future__ import annotations

from datetime import timedelta

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import abort

from server import accounts
from server.auth import ALL_ROLES, USER_ROLES, current_principal, public, roles
from server.i18n import t
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.custody import in_custody_transaction
from storage.db import utcnow
from storage.models import ApiToken

blp = Blueprint("tokens", __name__, url_prefix="/auth", description="Sign in and API tokens")


class LoginSchema(ma.Schema):
    username = Text(required=True, validate=ma.validate.Length(1, 64))
    password = Text(required=True, load_only=True, validate=ma.validate.Length(1, 1024))


class IssuedTokenSchema(ma.Schema):
    id = Text()
    token = Text(metadata={"description": "Shown once; only its hash is stored."})
    expires_at = ma.fields.AwareDateTime(allow_none=True)


class ReplacedTokenSchema(ma.Schema):
    id = Text()
    expires_at = ma.fields.AwareDateTime(metadata={"description": "It keeps working until then (the grace period)"})


class RotatedTokenSchema(IssuedTokenSchema):
    replaced = ma.fields.List(ma.fields.Nested(ReplacedTokenSchema))


class OwnerSchema(ma.Schema):
    kind = Text(metadata={"description": "station or user"})
    id = Text()
    name = Text()


class TokenSchema(ma.Schema):
    """What a token is; never the token itself nor its hash."""
    id = Text()
    owner = ma.fields.Nested(OwnerSchema)
    state = Text(metadata={"description": "active, expired, revoked, or disabled (its user is)"})
    created_at = ma.fields.AwareDateTime()
    last_used_at = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "To the minute; null: never used"})
    expires_at = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "null: station tokens do not expire"})
    revoked_at = ma.fields.AwareDateTime(allow_none=True)


class PrincipalSchema(ma.Schema):
    kind = Text()
    id = Text()
    name = Text()
    role = Text()
    token_id = Text()


def token_view(row: ApiToken, now=None) -> dict:
    return {"id": row.id, "owner": accounts.token_owner(row), "state": accounts.token_state(row, now),
            "created_at": row.created_at,
            "last_used_at": row.last_used_at, "expires_at": row.expires_at, "revoked_at": row.revoked_at}


def token_views(rows) -> list[dict]:
    now = utcnow()
    return [token_view(row, now) for row in rows]


def grace() -> timedelta:
    return timedelta(minutes=runtime().settings.auth.rotation_grace_minutes)


def rotated_view(row: ApiToken, token: str, replaced: list[ApiToken]) -> dict:
    return {"id": row.id, "token": token, "expires_at": row.expires_at,
            "replaced": [{"id": old.id, "expires_at": old.expires_at} for old in replaced]}


def _own_token(session, token_id: str) -> ApiToken:
    """The token, if the caller may manage it: admins any, others their own; else 404."""
    principal = current_principal()
    row = session.get(ApiToken, token_id)
    if row is None or (principal.role != "admin" and row.user_id != principal.id):
        abort(404, message=t("accounts.not_found", what="token", id=token_id))
    return row


@blp.route("/tokens")
class Tokens(MethodView):
    @public
    @blp.arguments(LoginSchema)
    @blp.response(201, IssuedTokenSchema)
    @blp.errors(401)
    def post(self, body):
        """Exchange a user's name and password for a bearer token. Failed attempts are limited
        per client address and per user name (429 with Retry-After)."""
        rt = runtime()
        with rt.session() as session, session.begin():
            issued = accounts.login(session, rt.password_hasher(), body["username"], body["password"],
                                    rt.settings.auth.user_token_hours)
            if issued is None:
                abort(401, message=t("auth.bad_login"))
            row, token = issued
            return {"id": row.id, "token": token, "expires_at": row.expires_at}

    @roles(*ALL_ROLES)
    @blp.response(200, TokenSchema(many=True))
    def get(self):
        """The caller's own tokens (the station's or the user's), newest first."""
        principal = current_principal()
        owner = {"station_id": principal.id} if principal.kind == "station" else {"user_id": principal.id}
        with runtime().session() as session:
            return token_views(accounts.list_tokens(session, **owner))


@blp.route("/tokens/<uuid:token_id>")
class Token(MethodView):
    @roles(*USER_ROLES)
    @blp.response(204)
    def delete(self, token_id):
        """Revoke a token at once: admins any token, others only their own."""
        token_id = str(token_id)

        def revoke(session):
            accounts.revoke_token(session, _own_token(session, token_id).id)
        in_custody_transaction(runtime().session, revoke)


@blp.route("/tokens/<uuid:token_id>/rotate")
class TokenRotation(MethodView):
    @roles(*USER_ROLES)
    @blp.response(201, RotatedTokenSchema)
    @blp.errors(409)
    def post(self, token_id):
        """Replace a token (admins any, others their own): the answer holds the new token, shown
        once; the old one keeps working for `auth.rotation_grace_minutes`, then expires. A
        revoked or expired token cannot be rotated (409)."""
        token_id = str(token_id)
        settings = runtime().settings

        def rotate(session):
            _own_token(session, token_id)
            row, token, old = accounts.rotate_token(session, token_id, grace=grace(),
                                                    user_token_hours=settings.auth.user_token_hours)
            return rotated_view(row, token, [old])
        return in_custody_transaction(runtime().session, rotate)


@blp.route("/me")
class Me(MethodView):
    @roles("admin", "legal", "inspector", "officer", "station")
    @blp.response(200, PrincipalSchema)
    def get(self):
        """The station or user that the bearer token belongs to."""
        return current_principal()
