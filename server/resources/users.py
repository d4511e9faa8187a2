"""User accounts (admins only)."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from server import accounts
from server.auth import roles
from server.passwords import MIN_PASSWORD_LENGTH
from server.resources.fields import Text
from server.runtime import runtime
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
    def post(self, body):
        """Create a user with a role: admin, legal, inspector or officer."""
        rt = runtime()
        with rt.session() as session, session.begin():
            return accounts.create_user(session, rt.password_hasher(), body["username"], body["role"],
                                        body["password"], body.get("display_name"))
