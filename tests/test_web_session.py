"""Signing in to the pages: the login form, CSRF, the session cookie's flags and lifetime,
roles, the language switch and the pages' security headers (Flask test client, SQLite and
PostgreSQL)."""
from __future__ import annotations

import time

import pytest

from storage.models import User
from tests.casework_api import PASSWORD
from tests.web_support import assert_no_server_error, csrf_token, make_user, post_form, sign_in


def login(client, username: str, password: str = PASSWORD, **extra):
    return client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": password, **extra})


def test_pages_need_signing_in_and_come_back_after_it(client, rt):
    answer = client.get("/cases?unit=3201")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/cases?unit%3D3201"
    name = make_user(rt, "legal")
    signed = login(client, name, next="/cases?unit=3201")
    assert signed.status_code == 303 and signed.headers["Location"] == "/cases?unit=3201"
    assert client.get("/").headers["Location"] == "/cases"


def test_a_wrong_password_is_refused_with_a_message(client, rt):
    name = make_user(rt, "legal")
    answer = login(client, name, "not the password")
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.get_data(as_text=True)
    assert client.get("/cases").status_code == 302  # still signed out
    assert login(client, "nobody-here").status_code == 401


def test_officers_and_disabled_users_cannot_use_the_pages(client, rt):
    officer = make_user(rt, "officer")
    answer = login(client, officer)
    assert answer.status_code == 403 and "移动端" in answer.get_data(as_text=True)
    assert client.get("/cases").status_code == 302

    name = sign_in(client, rt, "inspector")
    assert client.get("/cases").status_code == 200
    with rt.session() as session, session.begin():
        session.query(User).filter_by(username=name).one().active = False
    assert client.get("/cases").status_code == 302  # disabled: signed out at the next request
    assert login(client, name).status_code == 401


def test_a_role_change_counts_at_the_next_request(client, rt):
    name = sign_in(client, rt, "admin")
    assert client.get("/users").status_code == 200
    with rt.session() as session, session.begin():
        session.query(User).filter_by(username=name).one().role = "inspector"
    answer = client.get("/users")
    assert answer.status_code == 403
    assert "inspector" in answer.get_data(as_text=True)


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(client, rt, app):
    from server import accounts
    name = sign_in(client, rt, "legal")
    other = app.test_client()
    assert login(other, name).status_code == 303
    with rt.session() as session, session.begin():
        user = session.query(User).filter_by(username=name).one()
        accounts.set_password(session, rt.password_hasher(), user.id, "a brand new password 42")
    assert client.get("/cases").status_code == 302
    assert other.get("/cases").status_code == 302
    assert login(client, name, "a brand new password 42").status_code == 303
    assert client.get("/cases").status_code == 200


def test_forms_need_the_csrf_token(client, rt):
    name = make_user(rt, "legal")
    client.get("/login")
    answer = client.post("/login", data={"username": name, "password": PASSWORD})
    assert answer.status_code == 400 and "刷新页面" in answer.get_data(as_text=True)
    assert client.get("/cases").status_code == 302
    sign_in(client, rt, "legal")
    assert client.post("/logout").status_code == 400  # without the token: still signed in
    assert client.post("/logout", headers={"Authorization": "Basic eDp5"}).status_code == 400  # not a bearer token
    assert client.get("/cases").status_code == 200
    assert post_form(client, "/logout", {}).status_code == 303
    assert client.get("/cases").status_code == 302


def test_the_api_ignores_the_page_session(client, rt):
    """A signed-in browser cannot be made to call the API: the API takes bearer tokens only."""
    sign_in(client, rt, "admin")
    assert client.get("/api/v1/units").status_code == 401
    assert client.post("/api/v1/users", json={"username": "x", "role": "admin", "password": "y" * 20}).status_code == 401


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(client, rt, app):
    name = make_user(rt, "legal")
    cookie = login(client, name).headers["Set-Cookie"]
    assert "fullrecord_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on the loopback: a Secure cookie would never come back

    https = app.test_client()
    page = https.get("/login", base_url="https://evidence.example")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    answer = https.post("/login", base_url="https://evidence.example",
                        headers={"Referer": "https://evidence.example/login"},
                        data={"csrf_token": token, "username": name, "password": PASSWORD})
    assert answer.status_code == 303
    assert "Secure" in answer.headers["Set-Cookie"]


def test_always_secure_cookies_when_configured(make_settings, database_url, redis_url):
    from server import create_app
    app = create_app(make_settings(**{"database.url": database_url, "redis.url": redis_url,
                                      "web.cookie_secure": "always"}))
    try:
        assert "Secure" in app.test_client().get("/login").headers["Set-Cookie"]
    finally:
        app.extensions["fullrecord"].close()


@pytest.mark.parametrize("stale", ["seen", "signed_in"])
def test_idle_and_old_sessions_end(client, rt, stale):
    sign_in(client, rt, "legal")
    assert client.get("/cases").status_code == 200
    with client.session_transaction() as session:  # as if the time had passed
        session[stale] = int(time.time()) - 13 * 3600
    assert client.get("/cases").headers["Location"].startswith("/login")
    assert "登录已超时" in client.get("/login").get_data(as_text=True)
    assert client.get("/cases").status_code == 302


def test_each_sign_in_starts_a_new_session(client, rt):
    sign_in(client, rt, "legal")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    sign_in(client, rt, "inspector")
    with client.session_transaction() as session:
        assert "planted" not in session


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)",
                                    "cases", "/\\evil.example", "/\t/evil.example", "/\n/evil.example"])
def test_sign_in_never_redirects_off_site(client, rt, target):
    name = make_user(rt, "legal")
    answer = login(client, name, next=target)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/cases"


def test_the_language_switch_holds_for_the_session(client, rt):
    sign_in(client, rt, "legal")
    assert 'lang="zh-CN"' in client.get("/cases").get_data(as_text=True)  # the default, whatever the browser says
    english = client.get("/cases?lang=en", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'lang="en"' in english and "Sign out" in english
    assert "Sign out" in client.get("/unlinked").get_data(as_text=True)
    assert "退出登录" in client.get("/unlinked?lang=zh-CN").get_data(as_text=True)


def test_pages_forbid_framing_sniffing_caching_and_foreign_scripts(client, rt):
    sign_in(client, rt, "legal")
    answer = client.get("/cases")
    headers = answer.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "private, no-store"
    assert "<script>" not in answer.get_data(as_text=True)  # no inline scripts (they would be blocked)


def test_bad_query_parameters_on_the_login_page(client, rt):
    assert_no_server_error(client, "/login", ["next", "lang"])
    assert_no_server_error(client, "/", ["next"])
    answer = client.get("/login", query_string={"next": "x" * 3000})
    assert answer.status_code == 400 and "next" in answer.get_data(as_text=True)
