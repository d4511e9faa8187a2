"""User accounts (admins only): create, change role, disable or enable, set a new password,
and list a user's tokens. Every change is a custody event; disabling a user or setting a new
password revokes their tokens."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from server import accounts
from server.auth import current_principal, roles
from server.passwords import MIN_PASSWORD_LENGTH
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.resources.tokens import TokenSchema, token_views
from server.runtime import runtime
from storage.custody import in_custody_transaction
from storage.models import ROLES, User

blp = Blueprint("users", __name__, url_prefix="/users", description="User accounts")


class UserSchema(ma.Schema):
    id = Text(dump_only=True)
    username = Text(required=True, validate=[
        ma.validate.Length(1, 64),
        ma.validate.Regexp(r"^[A-Za-z0-9_.\-]+$", error="use letters, digits, '.', '_' or '-'")])
    display_name = Text(allow_none=True, validate=ma.validate.Length(max=100))
    role = Text(required=True, validate=ma.validate.OneOf(ROLES))
    password = Text(required=True, load_only=True,
                                validate=ma.validate.Length(MIN_PASSWORD_LENGTH, 1024))
    active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class UserChangeSchema(ma.Schema):
    """Any of these; each given one is applied (an administrator cannot demote or disable themselves)."""
    role = Text(validate=ma.validate.OneOf(ROLES))
    active = ma.fields.Boolean(metadata={"description": "false: disabled at once, and every token revoked"})
    password = Text(load_only=True, validate=ma.validate.Length(MIN_PASSWORD_LENGTH, 1024),
                    metadata={"description": "A new password; the user's tokens are revoked"})

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("give at least one of role, active, password")


@blp.route("")
class Users(MethodView):
    @roles("admin")
    @blp.response(200, UserSchema(many=True))
    def get(self):
        """All users, by user name."""
        with runtime().session() as session:
            return session.scalars(select(User).order_by(User.username)).all()

    @roles("admin")
    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    @blp.errors(409)
    def post(self, body):
        """Create a user with a role: admin, legal, inspector or officer."""
        rt = runtime()
        return in_custody_transaction(rt.session, lambda session: accounts.create_user(
            session, rt.password_hasher(), body["username"], body["role"], body["password"], body.get("display_name")))


@blp.route("/<uuid:user_id>")
class UserAccount(MethodView):
    @roles("admin")
    @blp.arguments(UserChangeSchema)
    @blp.response(200, UserSchema)
    @blp.errors(409)
    def patch(self, body, user_id):
        """Change a user's role, disable or enable them, or set a new password; each counts from
        their next request. Refused (409) on the administrator's own role or state."""
        rt, user_id, me = runtime(), str(user_id), current_principal().id

        def change(session):
            user = accounts.find_user(session, user_id)
            if "role" in body:
                accounts.set_user_role(session, user_id, body["role"], me)
            if "active" in body:
                accounts.set_user_active(session, user_id, body["active"], me)
            if "password" in body:
                accounts.set_password(session, rt.password_hasher(), user_id, body["password"])
            return user
        return in_custody_transaction(rt.session, change)


@blp.route("/<uuid:user_id>/tokens")
class UserTokens(MethodView):
    @roles("admin")
    @blp.response(200, TokenSchema(many=True))
    def get(self, user_id):
        """The user's tokens, newest first (never the tokens themselves)."""
        with runtime().session() as session:
            accounts.find_user(session, str(user_id))  # 404 for an unknown user
            return token_views(accounts.list_tokens(session, user_id=str(user_id)))
