"""The `fullrecord` command: migrations, accounts, refusing to start without the database, and an
API node that starts during an outage of Redis or the object store."""
import hashlib
import io
import os

import pytest
import requests
from tusclient import client as tus_client

from server import create_app
from tests.cli import run_cli
from tests.services.ports import free_port
from tests.services.serve import Server


@pytest.fixture
def cli_env(tmp_path, database_url, redis_url):
    return {"FULLRECORD_DATA_DIR": str(tmp_path / "data"), "FULLRECORD_DATABASE_URL": database_url,
            "FULLRECORD_REDIS_URL": redis_url}


@pytest.fixture
def migrated(cli_env):
    result = run_cli("db", "upgrade", env=cli_env)
    assert result.returncode == 0, result.stderr
    return cli_env


def api_client(make_settings, env):
    settings = make_settings(**{"database.url": env["FULLRECORD_DATABASE_URL"],
                                "redis.url": env["FULLRECORD_REDIS_URL"]})
    return create_app(settings).test_client()


def test_add_station_prints_a_working_token_as_last_line(migrated, make_settings):
    result = run_cli("admin", "add-station", "采集站-东区", "--location", "东区中队", env=migrated)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("fr_") and " " not in token
    me = api_client(make_settings, migrated).get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["kind"] == "station" and me.get_json()["name"] == "采集站-东区"


def test_add_user_with_password_on_stdin_then_login(migrated, make_settings):
    result = run_cli("admin", "add-user", "chen", "--role", "inspector", "--password-stdin",
                     env=migrated, input="a long enough password\n")
    assert result.returncode == 0, result.stderr
    client = api_client(make_settings, migrated)
    answer = client.post("/api/v1/auth/tokens", json={"username": "chen", "password": "a long enough password"})
    assert answer.status_code == 201


def test_account_errors_are_clear_and_change_nothing(migrated, make_settings):
    short = run_cli("admin", "add-user", "liu", "--role", "legal", "--password-stdin", env=migrated, input="short\n")
    assert short.returncode == 1 and "password too short" in short.stderr
    bad_role = run_cli("admin", "add-user", "liu", "--role", "god", "--password-stdin", env=migrated,
                       input="long enough password\n")
    assert bad_role.returncode == 2 and "god" in bad_role.stderr
    client = api_client(make_settings, migrated)
    assert client.post("/api/v1/auth/tokens", json={"username": "liu", "password": "short"}).status_code == 401
    assert run_cli("admin", "add-station", "s1", env=migrated).returncode == 0
    again = run_cli("admin", "add-station", "s1", env=migrated)
    assert again.returncode == 1 and "s1" in again.stderr


def test_revoke_token(migrated, make_settings):
    token = run_cli("admin", "add-station", "s2", env=migrated).stdout.strip().splitlines()[-1]
    client = api_client(make_settings, migrated)
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    result = run_cli("admin", "revoke-token", me["token_id"], env=migrated)
    assert result.returncode == 0, result.stderr
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert run_cli("admin", "revoke-token", "no-such-id", env=migrated).returncode == 1


def test_admin_commands_need_a_migrated_database(cli_env):
    result = run_cli("admin", "add-station", "s3", env=cli_env)
    assert result.returncode == 1 and "fullrecord db upgrade" in result.stderr


def test_worker_refuses_to_start_without_redis(migrated):
    port = free_port()
    env = {**migrated, "FULLRECORD_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    result = run_cli("worker", "--burst", env=env, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fullrecord: redis unreachable at redis://127.0.0.1:{port}/0")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about processes, not the database
def test_an_api_node_starts_during_a_redis_outage_and_takes_uploads(migrated, tmp_path):
    """A restarted node must not stay out while Redis is down: uploads need only the database
    and the object store. /healthz names what is missing; processing waits in the outbox."""
    redis_port = free_port()
    env = {**migrated, "FULLRECORD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    assert run_cli("custody", "keygen", env=env).returncode == 0
    token = run_cli("admin", "add-station", "采集站-断连", env=env).stdout.strip().splitlines()[-1]
    node = Server(env, free_port(), log=tmp_path / "serve.log")
    try:
        node.start(healthy=False)
        health = requests.get(f"{node.url}/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["checks"]["redis"]["status"] == "unavailable"
        assert health.json()["checks"]["database"]["status"] == "ok"
        data = os.urandom(300_000)
        uploader = tus_client.TusClient(f"{node.url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
        upload = uploader.uploader(file_stream=io.BytesIO(data), chunk_size=100_000, metadata={
            "filename": "DSJ1_20261120_100000.mp4", "device_id": "DSJ-1", "recorded_at": "2026-11-20T10:00:00+08:00",
            "sha256": hashlib.sha256(data).hexdigest()})
        upload.upload()
        head = requests.head(upload.url, headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"})
        assert head.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        node.stop()
    warning = next(line for line in (tmp_path / "serve.log").read_text().splitlines() if "unreachable" in line)
    assert warning.startswith(f"fullrecord: redis unreachable at redis://127.0.0.1:{redis_port}/0")
    assert "serving anyway" in warning


@pytest.mark.parametrize("command", [["serve"], ["worker", "--burst"], ["db", "upgrade"]])
def test_commands_refuse_to_start_without_the_database(tmp_path, redis_url, command):
    port = free_port()
    env = {"FULLRECORD_DATA_DIR": str(tmp_path), "FULLRECORD_REDIS_URL": redis_url,
           "FULLRECORD_DATABASE_URL": f"postgresql+psycopg://fr:pw@127.0.0.1:{port}/fr"}
    result = run_cli(*command, env=env, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"fullrecord: database unreachable at postgresql+psycopg://fr:***@127.0.0.1:{port}/fr")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about processes, not the database
def test_an_api_node_starts_without_the_object_store_and_names_it(migrated, tmp_path):
    port = free_port()
    env = {**migrated, "FULLRECORD_OBJECT_STORE": "s3", "FULLRECORD_S3_ENDPOINT": f"127.0.0.1:{port}",
           "FULLRECORD_S3_ACCESS_KEY": "key", "FULLRECORD_S3_SECRET_KEY": "secret"}
    assert run_cli("custody", "keygen", env=env).returncode == 0
    node = Server(env, free_port(), log=tmp_path / "serve.log")
    try:
        node.start(healthy=False)
        health = requests.get(f"{node.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["checks"]["object_store"]["status"] == "unavailable"
    finally:
        node.stop()
    log = (tmp_path / "serve.log").read_text()
    assert f"object store unreachable at http://127.0.0.1:{port}/" in log and "secret" not in log


