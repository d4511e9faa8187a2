"""Signing in (a user's username and password for a bearer token), who am I, revoking tokens."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from server import accounts
from server.auth import USER_ROLES, current_principal, public, roles
from server.i18n import t
from server.resources.fields import Text
from server.runtime import runtime
from storage.models import ApiToken

blp = Blueprint("tokens", __name__, url_prefix="/auth", description="Sign in and API tokens")


class LoginSchema(ma.Schema):
    username = Text(required=True, validate=ma.validate.Length(1, 64))
    password = Text(required=True, load_only=True, validate=ma.validate.Length(1, 1024))


class IssuedTokenSchema(ma.Schema):
    id = Text()
    token = Text(metadata={"description": "Shown once; only its hash is stored."})
    expires_at = ma.fields.AwareDateTime(allow_none=True)


class PrincipalSchema(ma.Schema):
    kind = Text()
    id = Text()
    name = Text()
    role = Text()
    token_id = Text()


@blp.route("/tokens")
class Tokens(MethodView):
    @public
    @blp.arguments(LoginSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, body):
        """Exchange a user's name and password for a bearer token."""
        rt = runtime()
        with rt.session() as session, session.begin():
            issued = accounts.login(session, rt.password_hasher(), body["username"], body["password"],
                                    rt.settings.auth.user_token_hours)
            if issued is None:
                abort(401, message=t("auth.bad_login"))
            row, token = issued
            return {"id": row.id, "token": token, "expires_at": row.expires_at}


@blp.route("/tokens/<uuid:token_id>")
class Token(MethodView):
    @roles(*USER_ROLES)
    @blp.response(204)
    def delete(self, token_id):
        """Revoke a token: admins any token, others only their own."""
        token_id = str(token_id)
        principal = current_principal()
        with runtime().session() as session, session.begin():
            row = session.get(ApiToken, token_id)
            if row is None or (principal.role != "admin" and row.user_id != principal.id):
                abort(404, message=t("accounts.not_found", what="token", id=token_id))
            accounts.revoke_token(session, token_id)


@blp.route("/me")
class Me(MethodView):
    @roles("admin", "legal", "inspector", "officer", "station")
    @blp.response(200, PrincipalSchema)
    def get(self):
        """The station or user that the bearer token belongs to."""
        return current_principal()
