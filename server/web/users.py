"""User accounts, for administrators: list, create, change a role, disable or enable, set a new
password. Changes count from the user's next request (server/web/identity.py reads the user on
every request). An administrator cannot demote or disable their own account."""
from __future__ import annotations

import logging

import marshmallow as ma
from sqlalchemy import select

from server import accounts
from server.accounts import AccountError
from server.auth import current_principal, roles
from server.i18n import t
from server.passwords import MIN_PASSWORD_LENGTH
from server.resources.fields import Text
from server.resources.users import UserSchema
from server.runtime import runtime
from server.web.blueprint import bp
from server.web.legal_support import Form, form_errors, form_values, load_form
from server.web.pages import Query, back, done, parse_query, refused, render
from storage.custody import in_custody_transaction
from storage.models import ROLES, User

log = logging.getLogger(__name__)
ERRORS = "web.users.invalid"


class CreateForm(UserSchema):
    """The API's validation of a new user, from a form (a blank display name is none)."""

    class Meta:
        unknown = ma.EXCLUDE

    @ma.pre_load
    def _blank_is_none(self, data, **_kwargs):
        return {**data, "display_name": (data.get("display_name") or "").strip() or None}


class RoleForm(Form):
    role = Text(required=True, validate=ma.validate.OneOf(ROLES))


class ActiveForm(Form):
    active = ma.fields.Boolean(required=True)


class PasswordForm(Form):
    password = Text(required=True, validate=ma.validate.Length(MIN_PASSWORD_LENGTH, 1024))


def _page(status: int = 200, errors: list[str] | None = None, values: dict | None = None):
    with runtime().session() as db:
        users = db.scalars(select(User).order_by(User.username)).all()
    return render("users.html.j2", status, users=users, roles=ROLES, errors=errors or [], values=values or {},
                  min_password=MIN_PASSWORD_LENGTH)


@bp.route("/users")
@roles("admin")
def users():
    parse_query(Query())
    return _page()


@bp.route("/users", methods=["POST"])
@roles("admin")
def user_create():
    values = form_values()
    kept = {key: values.get(key, "") for key in ("username", "display_name", "role")}  # never the password
    try:
        body = CreateForm().load(values)
    except ma.ValidationError as error:
        return _page(422, form_errors(error, ERRORS), kept)
    rt = runtime()
    try:
        in_custody_transaction(rt.session, lambda db: accounts.create_user(
            db, rt.password_hasher(), body["username"], body["role"], body["password"], body["display_name"]))
    except AccountError as error:
        return _page(error.status, [t(error.key, **error.values)], kept)
    log.info("user %s created user %s with role %s", current_principal().name, body["username"], body["role"])
    done("web.users.done.created", name=body["username"], role=t(f"web.role.{body['role']}"))
    return back("web.users")


def _me() -> str:
    return current_principal().id


def _change(form: ma.Schema, change, message):
    """Load the form, apply `change(db, rt, body) -> User`, flash `message(body) -> (key, values)`."""
    body = load_form(form, ERRORS)
    if body is None:
        return back("web.users")
    rt = runtime()
    try:  # the change appends a custody event: retried when another writer extended the chain first
        name = in_custody_transaction(rt.session, lambda db: change(db, rt, body).username)
    except AccountError as error:
        refused(error)
        return back("web.users")
    key, values = message(body)
    log.info("user %s: %s for user %s", current_principal().name, key, name)
    done(key, name=name, **values)
    return back("web.users")


@bp.route("/users/<uuid:user_id>/role", methods=["POST"])
@roles("admin")
def user_role(user_id):
    return _change(RoleForm(), lambda db, rt, body: accounts.set_user_role(db, str(user_id), body["role"], _me()),
                   lambda body: ("web.users.done.role", {"role": t(f"web.role.{body['role']}")}))


@bp.route("/users/<uuid:user_id>/active", methods=["POST"])
@roles("admin")
def user_active(user_id):
    return _change(ActiveForm(), lambda db, rt, body: accounts.set_user_active(db, str(user_id), body["active"], _me()),
                   lambda body: ("web.users.done.enabled" if body["active"] else "web.users.done.disabled", {}))


@bp.route("/users/<uuid:user_id>/password", methods=["POST"])
@roles("admin")
def user_password(user_id):
    return _change(PasswordForm(),
                   lambda db, rt, body: accounts.set_password(db, rt.password_hasher(), str(user_id), body["password"]),
                   lambda body: ("web.users.done.password", {}))
