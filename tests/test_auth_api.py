"""Authentication and role declarations through the real HTTP API."""
import hashlib
import itertools

import pytest
from sqlalchemy import select, text

from server import accounts
from server.auth import roles
from storage.models import ApiToken

PASSWORD = "correct horse battery"


def make_user(rt, name, role):
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), name, role, PASSWORD)


def login(client, name, password=PASSWORD):
    return client.post("/api/v1/auth/tokens", json={"username": name, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(client, rt):
    make_user(rt, "root", "admin")
    return login(client, "root").get_json()["token"]


def test_user_login_gives_a_working_revocable_token(client, rt):
    make_user(rt, "li", "legal")
    answer = login(client, "li")
    assert answer.status_code == 201
    body = answer.get_json()
    me = client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200 and me.get_json()["role"] == "legal" and me.get_json()["name"] == "li"
    assert client.delete(f"/api/v1/auth/tokens/{body['id']}", headers=bearer(body["token"])).status_code == 204
    again = client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert again.status_code == 401 and again.get_json()["message"]


def test_wrong_password_and_unknown_user_get_the_same_answer(client, rt):
    make_user(rt, "wang", "inspector")
    wrong = login(client, "wang", "not the password")
    unknown = login(client, "nobody", "whatever")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["message"] == unknown.get_json()["message"]


def test_tokens_and_passwords_are_stored_only_as_hashes(client, rt, admin_token):
    created = client.post("/api/v1/stations", json={"name": "east-1"}, headers=bearer(admin_token))
    assert created.status_code == 201
    station_token = created.get_json()["token"]
    with rt.engine.connect() as connection:
        dump = " ".join(str(row) for table in ("api_tokens", "users", "stations")
                        for row in connection.execute(text(f"SELECT * FROM {table}")))
    assert station_token not in dump and admin_token not in dump and PASSWORD not in dump
    assert hashlib.sha256(station_token.encode()).hexdigest() in dump
    assert "$argon2id$" in dump


def test_station_token_authenticates_as_station_and_can_be_revoked(client, rt, admin_token):
    created = client.post("/api/v1/stations", json={"name": "west-2", "location": "西区"},
                          headers=bearer(admin_token)).get_json()
    me = client.get("/api/v1/auth/me", headers=bearer(created["token"])).get_json()
    assert me == {"kind": "station", "id": created["id"], "name": "west-2", "role": "station",
                  "token_id": created["token_id"]}
    # stations may not administer
    assert client.get("/api/v1/stations", headers=bearer(created["token"])).status_code == 403
    assert client.delete(f"/api/v1/auth/tokens/{created['token_id']}",
                         headers=bearer(admin_token)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(created["token"])).status_code == 401
    with rt.session() as session:
        assert session.scalars(select(ApiToken.revoked_at).where(ApiToken.id == created["token_id"])).one()


def test_roles_are_enforced(client, rt, admin_token):
    make_user(rt, "zhao", "legal")
    legal = login(client, "zhao").get_json()["token"]
    denied = client.post("/api/v1/users", json={"username": "x", "role": "admin", "password": "x" * 12},
                         headers=bearer(legal))
    assert denied.status_code == 403 and "legal" in denied.get_json()["message"]
    allowed = client.post("/api/v1/users", json={"username": "x", "role": "officer", "password": "x" * 12},
                          headers=bearer(admin_token))
    assert allowed.status_code == 201 and "password" not in allowed.get_json()


def test_undeclared_endpoint_is_denied_even_to_admins(app, rt):
    @app.get("/api/v1/forgotten")
    def forgotten():
        return {"secret": 1}

    @app.get("/api/v1/declared")
    @roles("admin")
    def declared():
        return {"ok": 1}

    client = app.test_client()
    make_user(rt, "root", "admin")
    admin_token = login(client, "root").get_json()["token"]
    answer = client.get("/api/v1/forgotten", headers=bearer(admin_token))
    assert answer.status_code == 403 and "secret" not in answer.get_data(as_text=True)
    assert client.get("/api/v1/declared", headers=bearer(admin_token)).status_code == 200


def test_every_registered_api_view_declares_access(app):
    from server.auth import BUILTIN_PUBLIC_ENDPOINTS
    for rule in app.url_map.iter_rules():
        if rule.endpoint in BUILTIN_PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        targets = [getattr(cls, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}] if cls else [view]
        for target in targets:
            assert getattr(target, "_access", None), f"{rule.rule} {target.__name__} declares no roles"


def test_bad_input_gets_clear_4xx_and_changes_nothing(client, rt, admin_token):
    cases = [
        ({"name": ""}, "name"),
        ({"name": "a" * 101}, "name"),
        ({"location": "x"}, "name"),
        ({"name": "ok", "surprise": True}, "surprise"),
    ]
    for body, field in cases:
        answer = client.post("/api/v1/stations", json=body, headers=bearer(admin_token))
        assert answer.status_code == 422, body
        assert field in answer.get_json()["message"]
    weak = client.post("/api/v1/users", json={"username": "y", "role": "legal", "password": "short"},
                       headers=bearer(admin_token))
    assert weak.status_code == 422 and "password" in weak.get_json()["message"]
    bad_role = client.post("/api/v1/users", json={"username": "y", "role": "god", "password": "x" * 12},
                           headers=bearer(admin_token))
    assert bad_role.status_code == 422 and "role" in bad_role.get_json()["message"]
    junk = client.post("/api/v1/stations", data="{not json", content_type="application/json",
                       headers=bearer(admin_token))
    assert junk.status_code == 400
    duplicate = [client.post("/api/v1/stations", json={"name": "dup"}, headers=bearer(admin_token))
                 for _ in range(2)]
    assert duplicate[1].status_code == 409 and "dup" in duplicate[1].get_json()["message"]
    stations = client.get("/api/v1/stations", headers=bearer(admin_token)).get_json()
    assert [s["name"] for s in stations] == ["dup"]


def test_messages_default_to_chinese_with_english_available(client):
    zh = client.get("/api/v1/stations").get_json()["message"]
    en = client.get("/api/v1/stations?lang=en").get_json()["message"]
    en_header = client.get("/api/v1/stations", headers={"Accept-Language": "en-US,en;q=0.9"}).get_json()
    assert "需要登录" in zh and "Authentication required" in en
    assert en_header["message"] == en


def test_openapi_document_lists_the_api_with_bearer_security(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    spec = answer.get_json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path in ("/api/v1/auth/tokens", "/api/v1/auth/me", "/api/v1/stations", "/api/v1/users"):
        assert path in spec["paths"]


JUNK_BODIES = [None, [], "text", 42, {"name": None}, {"username": ["a"], "password": {"x": 1}},
               {"name": "x" * 100_000}, {"role": "admin", "username": "\x00", "password": "p" * 20},
               {"username": "a\x00b", "password": "p\x00" * 10}, {"name": "站\x00"}]


def test_no_junk_input_gets_a_5xx(client, admin_token):
    spec = client.get("/api/v1/openapi.json").get_json()
    identifiers = ("nope", "a%00b", "00000000-0000-4000-8000-000000000000")
    headers = ({}, bearer(admin_token), bearer("fr_forged"), {"Authorization": "Bearer fr_a\x00b"})
    for path, operations in spec["paths"].items():
        for method, ident, body, header in itertools.product(operations, identifiers, JUNK_BODIES, headers):
            concrete = path
            for name in ("token_id", "station_id", "upload_id", "clip_id"):
                concrete = concrete.replace("{%s}" % name, ident)
            answer = client.open(concrete, method=method.upper(), json=body, headers=header)
            assert answer.status_code < 500, (method, concrete, body, answer.get_json())
            assert answer.status_code < 400 or method == "head" or answer.get_json()["message"], \
                (method, concrete, answer.status_code, answer.get_data()[:200])
