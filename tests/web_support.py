"""Helpers for the pages' tests: users signed in through the login form with the Flask test
client, forms posted with their CSRF token, and the checks every page must pass."""
from __future__ import annotations

import re
import uuid

from server import accounts
from tests.casework_api import PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
BAD_QUERY_VALUES = ("", "x", "-1", "99999999999999999999", "2026-13-45", "' OR 1=1 --", "<script>", "%00",
                    "../../etc/passwd", "null", "1e309", "中文")


def make_user(rt, role: str, name: str | None = None) -> str:
    name = name or f"{role}-{uuid.uuid4().hex[:8]}"
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), name, role, PASSWORD)
    return name


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path)
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client, rt, role: str, name: str | None = None) -> str:
    """A new user with this role, signed in to the pages on `client`; returns the user name."""
    name = make_user(rt, role, name)
    answer = client.post("/login", data={"csrf_token": csrf_token(client), "username": name, "password": PASSWORD})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return name


def post_form(client, path: str, data: dict, *, page: str = "/cases", **kwargs):
    """POST a form as the browser would: with the CSRF token of a page the user can open."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data}, **kwargs)


def assert_no_server_error(client, path: str, params: list[str]) -> None:
    """Every parameter with every bad value, alone: a page or a 4xx, never a 5xx."""
    for name in params:
        for value in BAD_QUERY_VALUES:
            answer = client.get(path, query_string={name: value})
            assert answer.status_code < 500, (path, name, value, answer.get_data(as_text=True)[-600:])
