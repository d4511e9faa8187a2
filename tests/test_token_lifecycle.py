"""The token lifecycle through the HTTP API and the CLI: issue, list (never the token), rotate
with a grace period, revoke; revoked and expired tokens get 401 everywhere; disabling a user
or setting their password revokes their tokens."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from server import accounts, create_app
from storage.db import utcnow
from storage.models import ApiToken
from tests.cli import run_cli

PASSWORD = "lifecycle-password-1"
TOKEN_FIELDS = {"id", "owner", "state", "created_at", "last_used_at", "expires_at", "revoked_at"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def add_user(rt, name, role):
    with rt.session() as session, session.begin():
        return accounts.create_user(session, rt.password_hasher(), name, role, PASSWORD).id


def sign_in(client, name):
    answer = client.post("/api/v1/auth/tokens", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


@pytest.fixture
def admin(client, rt):
    add_user(rt, "root", "admin")
    return bearer(sign_in(client, "root")["token"])


@pytest.fixture
def station(client, admin):
    answer = client.post("/api/v1/stations", json={"name": "采集站-轮换"}, headers=admin)
    assert answer.status_code == 201
    return answer.get_json()


def expire(rt, token_id):
    """As if the token's time had run out (its grace period, or a user token's hours)."""
    with rt.session() as session, session.begin():
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(
            expires_at=utcnow() - timedelta(seconds=1)))


def refused_everywhere(client, token) -> list[str]:
    """Calls of every kind with this token that were not refused with 401."""
    calls = [("GET", "/api/v1/auth/me", {}), ("GET", "/api/v1/clips?sha256=" + "0" * 64, {}),
             ("GET", "/api/v1/auth/tokens", {}), ("PUT", "/api/v1/stations/me/agent", {"json": {}}),
             ("POST", "/api/v1/uploads", {"headers": {"Tus-Resumable": "1.0.0", "Upload-Length": "1"}}),
             ("GET", "/api/v1/cases", {}), ("POST", "/api/v1/sync", {"json": {"operations": []}})]
    wrong = []
    for method, path, kwargs in calls:
        headers = {**bearer(token), **kwargs.pop("headers", {})}
        answer = client.open(path, method=method, headers=headers, **kwargs)
        if answer.status_code != 401:
            wrong.append(f"{method} {path}: {answer.status_code}")
    return wrong


def assert_no_secrets(answer, *tokens):
    text = answer.get_data(as_text=True)
    for token in tokens:
        assert token not in text and hashlib.sha256(token.encode()).hexdigest() not in text


def test_an_admin_rotates_a_stations_token_with_a_grace_period(client, rt, admin, station):
    old = station["token"]
    answer = client.post(f"/api/v1/stations/{station['id']}/tokens/rotate", headers=admin)
    assert answer.status_code == 201
    rotated = answer.get_json()
    assert rotated["token"].startswith("fr_") and rotated["token"] != old and rotated["expires_at"] is None
    [replaced] = rotated["replaced"]
    assert replaced["id"] == station["token_id"]
    # both work during the grace period (60 minutes by default), so the station loses no upload
    assert client.get("/api/v1/auth/me", headers=bearer(rotated["token"])).get_json()["token_id"] == rotated["id"]
    assert client.get("/api/v1/auth/me", headers=bearer(old)).status_code == 200
    listing = client.get(f"/api/v1/stations/{station['id']}/tokens", headers=admin)
    assert listing.status_code == 200
    rows = {row["id"]: row for row in listing.get_json()}
    assert set(rows) == {rotated["id"], station["token_id"]}
    assert all(set(row) == TOKEN_FIELDS for row in rows.values())
    assert rows[station["token_id"]]["state"] == "active"
    assert rows[station["token_id"]]["expires_at"] == replaced["expires_at"]
    assert rows[station["token_id"]]["owner"] == {"kind": "station", "id": station["id"], "name": "采集站-轮换"}
    assert rows[rotated["id"]]["last_used_at"] is not None
    assert_no_secrets(listing, old, rotated["token"])
    # when the grace period is over, the old token is refused everywhere; the new one is not
    expire(rt, station["token_id"])
    assert refused_everywhere(client, old) == []
    assert client.get("/api/v1/auth/me", headers=bearer(rotated["token"])).status_code == 200
    states = {row["id"]: row["state"] for row in client.get(f"/api/v1/stations/{station['id']}/tokens",
                                                             headers=admin).get_json()}
    assert states == {station["token_id"]: "expired", rotated["id"]: "active"}


def test_without_a_grace_period_the_old_token_stops_at_once(make_settings, settings, admin, station, rt):
    sharp = create_app(make_settings(**{"database.url": settings.database.url, "redis.url": settings.redis.url,
                                        "auth.rotation_grace_minutes": 0}))
    client = sharp.test_client()
    rotated = client.post(f"/api/v1/stations/{station['id']}/tokens/rotate", headers=admin).get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(station["token"])).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(rotated["token"])).status_code == 200
    sharp.extensions["fullrecord"].close()


def test_a_user_rotates_and_revokes_their_own_tokens_only(client, rt, admin):
    add_user(rt, "lin", "legal")
    add_user(rt, "zhao", "inspector")
    mine = sign_in(client, "lin")
    theirs = sign_in(client, "zhao")
    answer = client.post(f"/api/v1/auth/tokens/{mine['id']}/rotate", headers=bearer(mine["token"]))
    assert answer.status_code == 201
    rotated = answer.get_json()
    assert rotated["expires_at"] is not None  # a user's token lasts auth.user_token_hours
    assert client.get("/api/v1/auth/me", headers=bearer(rotated["token"])).get_json()["name"] == "lin"
    # another user's token is not theirs to see, rotate or revoke
    assert client.post(f"/api/v1/auth/tokens/{theirs['id']}/rotate", headers=bearer(mine["token"])).status_code == 404
    assert client.delete(f"/api/v1/auth/tokens/{theirs['id']}", headers=bearer(mine["token"])).status_code == 404
    own = client.get("/api/v1/auth/tokens", headers=bearer(rotated["token"]))
    assert {row["id"] for row in own.get_json()} == {mine["id"], rotated["id"]}
    assert_no_secrets(own, mine["token"], rotated["token"])
    # revoking ends it at once, grace period or not
    assert client.delete(f"/api/v1/auth/tokens/{mine['id']}", headers=bearer(rotated["token"])).status_code == 204
    assert refused_everywhere(client, mine["token"]) == []
    # a revoked token cannot be rotated back to life
    refused = client.post(f"/api/v1/auth/tokens/{mine['id']}/rotate?lang=en", headers=admin)
    assert refused.status_code == 409
    assert refused.get_json()["message"] == (f"Token {mine['id']} is revoked and cannot be rotated; "
                                             "issue its owner a new token instead.")
    # an admin may rotate anyone's
    assert client.post(f"/api/v1/auth/tokens/{theirs['id']}/rotate", headers=admin).status_code == 201


def test_an_expired_user_token_gets_401_everywhere(client, rt):
    add_user(rt, "qian", "admin")
    issued = sign_in(client, "qian")
    expire(rt, issued["id"])
    assert refused_everywhere(client, issued["token"]) == []


def test_disabling_a_user_revokes_their_tokens_and_enabling_does_not_bring_them_back(client, rt, admin):
    user_id = add_user(rt, "sun", "officer")
    tokens = [sign_in(client, "sun") for _ in range(2)]
    answer = client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=admin)
    assert answer.status_code == 200 and answer.get_json()["active"] is False
    for issued in tokens:
        assert refused_everywhere(client, issued["token"]) == []
    assert client.patch(f"/api/v1/users/{user_id}", json={"active": True}, headers=admin).status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(tokens[0]["token"])).status_code == 401
    listing = client.get(f"/api/v1/users/{user_id}/tokens", headers=admin).get_json()
    assert {row["state"] for row in listing} == {"revoked"} and all(row["revoked_at"] for row in listing)
    assert client.get("/api/v1/auth/me", headers=bearer(sign_in(client, "sun")["token"])).status_code == 200


def test_a_new_password_revokes_the_users_tokens(client, rt, admin):
    user_id = add_user(rt, "zhou", "legal")
    issued = sign_in(client, "zhou")
    new_password = "another long password"
    answer = client.patch(f"/api/v1/users/{user_id}", json={"password": new_password}, headers=admin)
    assert answer.status_code == 200 and "password" not in answer.get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(issued["token"])).status_code == 401
    assert client.post("/api/v1/auth/tokens", json={"username": "zhou", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/tokens", json={"username": "zhou", "password": new_password}).status_code == 201


def test_user_changes_are_validated(client, rt, admin):
    user_id = add_user(rt, "wu", "legal")
    me = client.get("/api/v1/auth/me", headers=admin).get_json()["id"]
    assert client.patch(f"/api/v1/users/{user_id}", json={}, headers=admin).status_code == 422
    assert client.patch(f"/api/v1/users/{user_id}", json={"role": "god"}, headers=admin).status_code == 422
    assert client.patch(f"/api/v1/users/{user_id}", json={"password": "short"}, headers=admin).status_code == 422
    own = client.patch(f"/api/v1/users/{me}", json={"active": False}, headers=admin)
    assert own.status_code == 409  # an administrator cannot lock themselves out
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.patch(f"/api/v1/users/{missing}", json={"role": "legal"}, headers=admin).status_code == 404
    assert client.get(f"/api/v1/users/{missing}/tokens", headers=admin).status_code == 404
    assert client.get(f"/api/v1/stations/{missing}/tokens", headers=admin).status_code == 404
    changed = client.patch(f"/api/v1/users/{user_id}", json={"role": "inspector"}, headers=admin)
    assert changed.status_code == 200 and changed.get_json()["role"] == "inspector"


# -- the CLI -------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path, database_url, redis_url):
    env = {"FULLRECORD_DATA_DIR": str(tmp_path / "data"), "FULLRECORD_DATABASE_URL": database_url,
           "FULLRECORD_REDIS_URL": redis_url}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    return env


@pytest.fixture
def cli_client(make_settings, cli_env):
    app = create_app(make_settings(**{"database.url": cli_env["FULLRECORD_DATABASE_URL"],
                                      "redis.url": cli_env["FULLRECORD_REDIS_URL"]}))
    yield app.test_client()
    app.extensions["fullrecord"].close()


def last_line(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_cli_rotates_lists_and_revokes(cli_env, cli_client):
    old = last_line(run_cli("admin", "add-station", "采集站-命令行", env=cli_env))
    old_id = cli_client.get("/api/v1/auth/me", headers=bearer(old)).get_json()["token_id"]
    rotation = run_cli("--lang", "en", "admin", "rotate-token", "--station", "采集站-命令行", env=cli_env)
    new = last_line(rotation)
    assert new.startswith("fr_") and new != old
    assert old_id in rotation.stdout and "keeps working until" in rotation.stdout
    assert cli_client.get("/api/v1/auth/me", headers=bearer(old)).status_code == 200  # the grace period
    assert cli_client.get("/api/v1/auth/me", headers=bearer(new)).status_code == 200
    listing = run_cli("admin", "tokens", "--station", "采集站-命令行", "--json", env=cli_env)
    rows = json.loads(listing.stdout)
    assert [row["state"] for row in rows] == ["active", "active"] and rows[1]["id"] == old_id
    assert rows[1]["expires_at"] is not None and rows[0]["expires_at"] is None
    assert old not in listing.stdout and new not in listing.stdout
    assert hashlib.sha256(old.encode()).hexdigest() not in listing.stdout
    new_id = cli_client.get("/api/v1/auth/me", headers=bearer(new)).get_json()["token_id"]
    # a single token, with no grace: the old one stops at once
    newest = last_line(run_cli("admin", "rotate-token", new_id, "--grace-minutes", "0", env=cli_env))
    assert cli_client.get("/api/v1/auth/me", headers=bearer(new)).status_code == 401
    assert cli_client.get("/api/v1/auth/me", headers=bearer(newest)).status_code == 200
    assert run_cli("admin", "revoke-token", old_id, env=cli_env).returncode == 0
    assert cli_client.get("/api/v1/auth/me", headers=bearer(old)).status_code == 401
    text = run_cli("--lang", "en", "admin", "tokens", "--station", "采集站-命令行", env=cli_env).stdout
    assert text.count("revoked") == 1 and text.count("expired") == 1 and text.count("active") == 1


def test_cli_token_errors_are_clear(cli_env):
    missing = run_cli("--lang", "en", "admin", "rotate-token", "--station", "nowhere", env=cli_env)
    assert missing.returncode == 1 and "No station is named 'nowhere'" in missing.stderr
    neither = run_cli("admin", "rotate-token", env=cli_env)
    assert neither.returncode == 2 and "TOKEN_ID or --station" in neither.stderr
    unknown = run_cli("--lang", "en", "admin", "tokens", "--user", "nobody", env=cli_env)
    assert unknown.returncode == 1 and "No user is named 'nobody'" in unknown.stderr
    token = last_line(run_cli("admin", "add-station", "采集站-吊销", env=cli_env))
    rows = json.loads(run_cli("admin", "tokens", "--station", "采集站-吊销", "--json", env=cli_env).stdout)
    assert run_cli("admin", "revoke-token", rows[0]["id"], env=cli_env).returncode == 0
    dead = run_cli("--lang", "en", "admin", "rotate-token", rows[0]["id"], env=cli_env)
    assert dead.returncode == 1 and "is revoked and cannot be rotated" in dead.stderr
    assert token not in dead.stdout + dead.stderr
