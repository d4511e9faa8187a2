"""No secret reaches a log: the real `fullrecord serve` (gunicorn: error and access log), a real
worker and the real station agent run with their output captured to files while people sign in
(API and pages), stations upload with bearer tokens, tokens are rotated and revoked, users are
created with passwords, and requests fail in the ways that get logged. Then no password, bearer
token, token hash, session cookie, session signing key, custody signing key or S3 secret may
appear in any of those files, nor in any custody event (the access log of evidence)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import uuid

import pytest
import requests
import yaml
from sqlalchemy import create_engine, select

from server.settings import SOURCE_CONFIG, load_settings
from storage.models import Clip, CustodyEvent
from tests.cli import fullrecord_script, run_cli
from tests.services.ports import free_port
from tests.services.serve import Server
from tests.services.workers import WorkerProcess, wait_for, write_config
from tests.station_world import FAST_STATION

pytestmark = pytest.mark.slow
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Secrets:
    """Every secret the run handles, by what it is."""

    def __init__(self):
        self.found: dict[str, str] = {}

    def add(self, what: str, value: str) -> str:
        assert value and len(value) >= 8, what
        self.found[what] = value
        return value

    def token(self, what: str, value: str) -> str:
        self.add(what, value)
        self.add(f"{what} (its hash)", hashlib.sha256(value.encode()).hexdigest())
        return value

    def in_text(self, text: str) -> list[str]:
        return [what for what, value in self.found.items() if value in text]


@pytest.fixture
def stack(tmp_path, redis_url, seaweedfs):
    """serve (env secrets, output to serve.log) and a worker (config file, output to worker.log)."""
    config = yaml.safe_load(SOURCE_CONFIG.read_text(encoding="utf-8"))
    config["station"].update(FAST_STATION)
    config["workers"]["sweep_seconds"] = 1
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {"FULLRECORD_CONFIG": str(config_path), "FULLRECORD_DATA_DIR": str(tmp_path / "data"),
           "FULLRECORD_DATABASE_URL": f"sqlite:///{tmp_path / 'server.db'}", "FULLRECORD_REDIS_URL": redis_url,
           "FULLRECORD_SECRET_KEY": secrets.token_hex(32), "FULLRECORD_OBJECT_STORE": "s3",
           "FULLRECORD_S3_ENDPOINT": seaweedfs.endpoint, "FULLRECORD_S3_BUCKET": f"secrets-{uuid.uuid4().hex[:16]}",
           "FULLRECORD_S3_ACCESS_KEY": seaweedfs.access_key, "FULLRECORD_S3_SECRET_KEY": seaweedfs.secret_key}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert run_cli("custody", "keygen", env=env).returncode == 0
    server = Server(env, free_port(), log=tmp_path / "serve.log")
    server.start()
    settings = load_settings(config_path, env=env)
    worker = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log").start()
    yield server, env, settings
    worker.stop()
    if server.process.poll() is None:
        server.kill()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def tus_upload(url: str, token: str, data: bytes, checksum: str | None = None):
    values = {"filename": "DSJ002_20261120_110000.mp4", "device_id": "DSJ-002",
              "recorded_at": "2026-11-20T11:00:00+08:00", "sha256": hashlib.sha256(data).hexdigest()}
    headers = {**bearer(token), "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
               "Upload-Metadata": ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())}
    created = requests.post(f"{url}/api/v1/uploads", headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    location = location if location.startswith("http") else url + location
    patch = {**bearer(token), "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
             "Content-Type": "application/offset+octet-stream"}
    if checksum:  # a damaged chunk: refused (460) and logged
        bad = requests.patch(location, data=data, timeout=30, headers={**patch, "Upload-Checksum": checksum})
        assert bad.status_code == 460
    done = requests.patch(location, data=data, headers=patch, timeout=30)
    assert done.status_code == 204, done.text
    return done.headers["X-Clip-Id"]


def sign_in_to_pages(url: str, name: str, password: str) -> requests.Session:
    browser = requests.Session()
    form = CSRF_FIELD.search(browser.get(f"{url}/login", timeout=30).text).group(1)
    answer = browser.post(f"{url}/login", data={"csrf_token": form, "username": name, "password": password},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text[-500:]
    return browser


def test_no_secret_reaches_a_log(stack, tmp_path):
    server, env, settings = stack
    url = server.url
    found = Secrets()
    found.add("session signing key", env["FULLRECORD_SECRET_KEY"])
    found.add("S3 secret key", env["FULLRECORD_S3_SECRET_KEY"])
    key_pem = settings.custody_signing_key.read_text()
    for number, line in enumerate(key_pem.splitlines()):
        if not line.startswith("-----"):
            found.add(f"custody signing key, line {number}", line)

    admin_password = found.add("admin's password", "admin password of the secrets test")
    added = run_cli("admin", "add-user", "root", "--role", "admin", "--password-stdin", env=env,
                    input=admin_password + "\n")
    assert added.returncode == 0, added.stderr
    # people sign in: the API (a wrong password first) and the pages
    found.add("a wrong password", "wrong-password-guessed-here")
    assert requests.post(f"{url}/api/v1/auth/tokens", json={"username": "root", "password": "wrong-password-guessed-here"},
                         timeout=30).status_code == 401
    signed_in = requests.post(f"{url}/api/v1/auth/tokens", json={"username": "root", "password": admin_password},
                              timeout=30).json()
    admin = bearer(found.token("admin's token", signed_in["token"]))
    found.add("a wrong page password", "wrong-page-password-typed")
    form = CSRF_FIELD.search(requests.get(f"{url}/login", timeout=30).text).group(1)
    assert requests.post(f"{url}/login", data={"csrf_token": form, "username": "root",
                                               "password": "wrong-page-password-typed"}, timeout=30).status_code in (400, 401)
    browser = sign_in_to_pages(url, "root", admin_password)
    found.add("session cookie", browser.cookies["fullrecord_session"])
    assert browser.get(f"{url}/cases", timeout=30).status_code == 200
    users_form = CSRF_FIELD.search(browser.get(f"{url}/users", timeout=30).text).group(1)
    page_password = found.add("password set on a page", "password typed into the users page")
    created = browser.post(f"{url}/users", data={"csrf_token": users_form, "username": "clerk-page", "role": "legal",
                                                 "password": page_password, "display_name": ""},
                           allow_redirects=False, timeout=30)
    assert created.status_code in (302, 303), created.text[-500:]
    # users created and changed through the API
    api_password = found.add("password set through the API", "password sent to the users API")
    user = requests.post(f"{url}/api/v1/users", json={"username": "clerk", "role": "inspector",
                                                      "password": api_password}, headers=admin, timeout=30).json()
    reset_password = found.add("password reset through the API", "password reset through PATCH")
    assert requests.patch(f"{url}/api/v1/users/{user['id']}", json={"password": reset_password}, headers=admin,
                          timeout=30).status_code == 200
    # stations: one uploads with the agent, one with raw tus requests; tokens rotated and revoked
    agent_station = requests.post(f"{url}/api/v1/stations", json={"name": "采集站-代理"}, headers=admin, timeout=30).json()
    raw_station = requests.post(f"{url}/api/v1/stations", json={"name": "采集站-直传"}, headers=admin, timeout=30).json()
    found.token("agent station's token", agent_station["token"])
    raw_token = found.token("raw station's token", raw_station["token"])
    assert requests.get(f"{url}/api/v1/auth/me", headers=bearer("fr_" + "n" * 43), timeout=30).status_code == 401
    misplaced = found.add("a token put in a query string", "fr_" + "q" * 43)
    assert requests.get(f"{url}/api/v1/auth/me", params={"access_token": misplaced}, headers=admin,
                        timeout=30).status_code == 200
    clip_id = tus_upload(url, raw_token, os.urandom(4096), checksum="sha256 " + base64.b64encode(b"x" * 32).decode())
    rotated = requests.post(f"{url}/api/v1/stations/{raw_station['id']}/tokens/rotate", headers=admin, timeout=30).json()
    found.token("raw station's rotated token", rotated["token"])
    tus_upload(url, rotated["token"], os.urandom(2048))
    assert requests.delete(f"{url}/api/v1/auth/tokens/{raw_station['token_id']}", headers=admin,
                           timeout=30).status_code == 204
    assert requests.get(f"{url}/api/v1/auth/me", headers=bearer(raw_token), timeout=30).status_code == 401
    own = requests.post(f"{url}/api/v1/auth/tokens/{signed_in['id']}/rotate", headers=admin, timeout=30).json()
    found.token("admin's rotated token", own["token"])

    token_file = tmp_path / "station.token"
    token_file.write_text(agent_station["token"] + "\n")
    dock = tmp_path / "dock" / "DSJ-003"
    dock.mkdir(parents=True)
    (dock / "DSJ-003_3201003_20261120120000_0001.MP4").write_bytes(os.urandom(8192))
    os.utime(dock / "DSJ-003_3201003_20261120120000_0001.MP4", (time.time() - 60, time.time() - 60))
    agent_env = {"FULLRECORD_CONFIG": env["FULLRECORD_CONFIG"]}
    with open(tmp_path / "agent.log", "wb") as log:
        agent = subprocess.run([fullrecord_script(), "station", "run", "--server", url, "--token-file", str(token_file),
                                "--watch", str(tmp_path / "dock"), "--no-progress", "--once"],
                               env={**{k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")},
                                    **agent_env}, stdout=log, stderr=subprocess.STDOUT, timeout=120)
    assert agent.returncode == 0, (tmp_path / "agent.log").read_text()[-2000:]

    # the worker has processed a clip (and so logged what it logs)
    engine = create_engine(env["FULLRECORD_DATABASE_URL"])

    def processed():
        with engine.connect() as connection:
            return connection.execute(select(Clip.status).where(Clip.id == clip_id)).scalar() != "received"
    wait_for(processed, timeout=120, what="the worker to process the clip")

    answer = requests.get(f"{url}/healthz", timeout=30)
    assert answer.headers["Server"] == "gunicorn"  # no version to look up vulnerabilities by

    logs = {name: (tmp_path / name).read_text(encoding="utf-8", errors="replace")
            for name in ("serve.log", "worker.log", "agent.log")}
    assert "POST /api/v1/auth/tokens" in logs["serve.log"], "the access log was not captured"
    assert logs["worker.log"].strip() and logs["agent.log"].strip()
    leaks = {name: found.in_text(text) for name, text in logs.items() if found.in_text(text)}
    assert leaks == {}, leaks
    with engine.connect() as connection:
        events = connection.execute(select(CustodyEvent.action, CustodyEvent.details, CustodyEvent.actor_id,
                                           CustodyEvent.source_address)).all()
    assert {"received", "station_added", "token_rotated", "token_revoked", "user_created"} <= {e.action for e in events}
    custody_text = json.dumps([list(event) for event in events], ensure_ascii=False, default=str)
    assert found.in_text(custody_text) == []
    engine.dispose()


# -- leaks found by this file, fixed: regression tests -----------------------------------------

def test_a_database_error_does_not_carry_its_parameters(rt):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    with rt.session() as session, pytest.raises(DBAPIError) as error:
        session.execute(text("SELECT id FROM api_tokens WHERE token_hash = :hash AND no_such_column = 1"),
                        {"hash": "a-token-hash-never-logged"})
    assert "a-token-hash-never-logged" not in str(error.value)


def test_a_configuration_error_does_not_print_a_password():
    from server.settings import ConfigError
    with pytest.raises(ConfigError) as error:
        load_settings(SOURCE_CONFIG, env={"FULLRECORD_REDIS_URL": "http://:hunter2@redis1:6379/0"})
    assert "redis.url" in str(error.value) and "hunter2" not in str(error.value)
