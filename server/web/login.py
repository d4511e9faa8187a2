"""Signing in and out of the pages, and the start page."""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import redirect, request, session, url_for

from server import accounts
from server.auth import current_principal, public, roles
from server.i18n import t
from server.runtime import runtime
from server.web.blueprint import bp
from server.web.identity import sign_in, sign_out
from server.web.pages import PAGE_ROLES, Query, parse_form, parse_query, render, safe_next

log = logging.getLogger(__name__)


class LoginQuery(Query):
    next = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


class LoginForm(Query):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(1, 1024))
    next = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


def _start_page() -> str:
    return url_for("web.cases")


@bp.route("/")
@public
def home():
    return redirect(_start_page() if current_principal() else url_for("web.login"))


@bp.route("/login", methods=["GET"])
@public
def login():
    query = parse_query(LoginQuery())
    expired = session.pop("expired", False)
    return render("login.html.j2", next=safe_next(query["next"], _start_page()),
                  notice=t("web.login.expired") if expired else None, error=None)


@bp.route("/login", methods=["POST"])
@public
def login_submit():
    form = parse_form(LoginForm())
    rt = runtime()
    with rt.session() as db, db.begin():
        user = accounts.check_credentials(db, rt.password_hasher(), form["username"], form["password"])
        role = user.role if user else None
        if user is not None and role in PAGE_ROLES:
            sign_in(user)
    target = safe_next(form["next"], _start_page())
    if user is None:
        log.warning("failed page sign-in for %r from %s", form["username"][:64], request.remote_addr)
        return render("login.html.j2", 401, next=target, notice=None, error=t("auth.bad_login"),
                      username=form["username"])
    if role not in PAGE_ROLES:
        return render("login.html.j2", 403, next=target, notice=None, username=form["username"],
                      error=t("web.login.no_pages", role=role))
    log.info("user %s signed in to the pages from %s", form["username"], request.remote_addr)
    return redirect(target, 303)


@bp.route("/logout", methods=["POST"])
@roles(*PAGE_ROLES)
def logout():
    sign_out()
    return redirect(url_for("web.login"), 303)
