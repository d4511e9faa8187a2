"""Administrative actions are custody events: users created, roles changed, (de)activated,
passwords set, stations added, tokens issued, rotated and revoked, through the API, the pages
and the CLI; each names who, when, from where and what, never a secret; the log still verifies
(`fullrecord custody verify`), signed checkpoint and all."""
from __future__ import annotations

import getpass
import hashlib
import json
import socket

import pytest
from sqlalchemy import select

from server import accounts
from storage.custody_admin import ADMIN_ACTIONS, AdminActor, record_admin_action
from storage.models import CustodyEvent, User
from tests.cli import run_cli
from tests.services.workers import write_config
from tests.web_support import csrf_token

PASSWORD = "custody-admin-password-1"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def admin_events(rt, after: int = 0) -> list[CustodyEvent]:
    with rt.session() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action.in_(ADMIN_ACTIONS),
                                                                 CustodyEvent.seq > after).order_by(CustodyEvent.seq)))


def last_seq(rt) -> int:
    with rt.session() as session:
        return session.scalar(select(CustodyEvent.seq).order_by(CustodyEvent.seq.desc()).limit(1)) or 0


def verify(rt, tmp_path, *args):
    config = write_config(rt.settings, tmp_path / "verify.yaml")
    return run_cli("--config", str(config), "--lang", "en", "custody", *args)


def assert_no_secret_in(events, secrets):
    for event in events:
        text = json.dumps({"details": event.details, "actor": event.actor_id, "source": event.source_address},
                          ensure_ascii=False)
        for secret in secrets:
            assert secret not in text, f"{event.action} (seq {event.seq}) carries a secret"


@pytest.fixture
def admin(client, rt):
    with rt.session() as session, session.begin():
        admin_id = accounts.create_user(session, rt.password_hasher(), "root", "admin", PASSWORD).id
    issued = client.post("/api/v1/auth/tokens", json={"username": "root", "password": PASSWORD}).get_json()
    return {"id": admin_id, "token": issued["token"], "token_id": issued["id"], "headers": bearer(issued["token"])}


def test_every_administrative_action_through_the_api_is_a_custody_event(client, rt, admin, tmp_path):
    start = last_seq(rt)
    headers = {**admin["headers"], "X-Forwarded-For": "203.0.113.1"}  # not trusted: the peer's address counts
    new_password, second_password = "first password of lu", "second password of lu"
    user = client.post("/api/v1/users", json={"username": "lu", "role": "legal", "password": new_password},
                       headers=headers).get_json()
    lu = client.post("/api/v1/auth/tokens", json={"username": "lu", "password": new_password}).get_json()
    assert client.patch(f"/api/v1/users/{user['id']}", json={"role": "inspector"}, headers=headers).status_code == 200
    assert client.patch(f"/api/v1/users/{user['id']}", json={"password": second_password},
                        headers=headers).status_code == 200
    assert client.patch(f"/api/v1/users/{user['id']}", json={"active": False}, headers=headers).status_code == 200
    assert client.patch(f"/api/v1/users/{user['id']}", json={"active": True}, headers=headers).status_code == 200
    station = client.post("/api/v1/stations", json={"name": "采集站-审计", "location": "北区"}, headers=headers).get_json()
    extra = client.post(f"/api/v1/stations/{station['id']}/tokens", headers=headers).get_json()
    rotated = client.post(f"/api/v1/stations/{station['id']}/tokens/rotate", headers=headers).get_json()
    mine = client.post(f"/api/v1/auth/tokens/{admin['token_id']}/rotate", headers=headers).get_json()
    assert client.delete(f"/api/v1/auth/tokens/{extra['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/auth/tokens/{extra['id']}", headers=headers).status_code == 204  # no second event

    events = admin_events(rt, start)
    assert [event.action for event in events] == [
        "user_created", "user_role_changed", "user_password_reset", "user_deactivated", "user_activated",
        "station_added", "token_issued", "token_rotated", "token_rotated", "token_revoked"]
    for event in events:
        assert (event.actor_type, event.actor_id) == ("user", admin["id"])
        assert event.details["by"] == "root" and event.details["via"] == "api"
        assert event.source_address == "127.0.0.1"
        assert event.clip_id is None and event.case_id is None
    by_action = {event.action: event.details for event in events}
    assert by_action["user_created"] == {"user_id": user["id"], "username": "lu", "role": "legal",
                                         "display_name": None, "by": "root", "via": "api"}
    assert (by_action["user_role_changed"]["before"], by_action["user_role_changed"]["after"]) == ("legal", "inspector")
    assert by_action["user_password_reset"]["tokens_revoked"] == [lu["id"]]
    assert by_action["user_deactivated"]["tokens_revoked"] == []  # already revoked by the new password
    assert by_action["station_added"] == {"station_id": station["id"], "name": "采集站-审计", "location": "北区",
                                          "token_id": station["token_id"], "by": "root", "via": "api"}
    assert by_action["token_issued"]["token_id"] == extra["id"]
    station_rotation, own_rotation = [e.details for e in events if e.action == "token_rotated"]
    assert station_rotation["token_id"] == rotated["id"]
    assert {item["token_id"] for item in station_rotation["replaced"]} == {station["token_id"], extra["id"]}
    assert station_rotation["owner"] == {"kind": "station", "id": station["id"], "name": "采集站-审计"}
    assert own_rotation["replaced"][0]["token_id"] == admin["token_id"] and own_rotation["token_id"] == mine["id"]
    assert by_action["token_revoked"]["token_id"] == extra["id"]

    tokens = [admin["token"], lu["token"], station["token"], extra["token"], rotated["token"], mine["token"]]
    with rt.session() as session:
        password_hash = session.scalar(select(User.password_hash).where(User.id == user["id"]))
    assert_no_secret_in(events, [new_password, second_password, PASSWORD, password_hash, *tokens,
                                 *(hashlib.sha256(token.encode()).hexdigest() for token in tokens)])

    made = verify(rt, tmp_path, "checkpoint")
    assert made.returncode == 0, made.stderr
    result = verify(rt, tmp_path, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"custody log intact: {last_seq(rt)} events" in result.stdout


def test_the_pages_user_changes_are_custody_events_too(client, rt, admin):
    with rt.session() as session, session.begin():
        user_id = accounts.create_user(session, rt.password_hasher(), "ma", "legal", PASSWORD).id
    start = last_seq(rt)
    page = client.post("/login", data={"csrf_token": csrf_token(client), "username": "root", "password": PASSWORD})
    assert page.status_code == 303
    for path, data in ((f"/users/{user_id}/role", {"role": "inspector"}),
                       (f"/users/{user_id}/active", {"active": "false"})):
        answer = client.post(path, data={"csrf_token": csrf_token(client, "/users"), **data})
        assert answer.status_code in (302, 303), answer.get_data(as_text=True)[-500:]
    events = admin_events(rt, start)
    assert [event.action for event in events] == ["user_role_changed", "user_deactivated"]
    assert all(event.details["via"] == "web" and event.actor_id == admin["id"] for event in events)


def test_the_cli_names_the_operator(rt, tmp_path):
    env = {"FULLRECORD_CONFIG": str(write_config(rt.settings, tmp_path / "cli.yaml"))}
    start = last_seq(rt)
    password = "cli operator password"
    added = run_cli("admin", "add-user", "han", "--role", "officer", "--password-stdin", env=env, input=password + "\n")
    assert added.returncode == 0, added.stderr
    token = run_cli("admin", "add-station", "采集站-终端", env=env).stdout.strip().splitlines()[-1]
    rotation = run_cli("admin", "rotate-token", "--station", "采集站-终端", env=env)
    assert rotation.returncode == 0, rotation.stderr
    rows = json.loads(run_cli("admin", "tokens", "--station", "采集站-终端", "--json", env=env).stdout)
    assert run_cli("admin", "revoke-token", rows[-1]["id"], env=env).returncode == 0
    events = admin_events(rt, start)
    assert [event.action for event in events] == ["user_created", "station_added", "token_rotated", "token_revoked"]
    operator = f"{getpass.getuser()}@{socket.gethostname()[:32]}"
    for event in events:
        assert (event.actor_type, event.actor_id, event.details["via"]) == ("cli", operator, "cli")
        assert event.source_address is None
    new_token = rotation.stdout.strip().splitlines()[-1]
    assert_no_secret_in(events, [password, token, new_token, hashlib.sha256(token.encode()).hexdigest()])


def test_an_administrative_event_refuses_secrets_and_unknown_actions(rt):
    actor = AdminActor("cli", "ops@host", "ops@host", "cli")
    with rt.session() as session, session.begin():
        with pytest.raises(ValueError, match="must not carry owner.token"):
            record_admin_action(session, actor, "token_issued", token_id="t", owner={"token": "fr_x"})
        with pytest.raises(ValueError, match="must not carry password"):
            record_admin_action(session, actor, "user_created", password="x")
        with pytest.raises(ValueError, match="unknown administrative action"):
            record_admin_action(session, actor, "user_teleported")
