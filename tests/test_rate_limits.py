"""Rate limits through the real HTTP API and pages: per token wherever it calls from, per address
for everyone else, failed sign-ins per address and per user name; 429 in the API's error shape
with Retry-After; counters in the real Redis; and Redis going away never fails a request."""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import time

import pytest
from redis import Redis

from server import accounts
from tests.services.ports import free_port
from tests.services.redis_server import RestartableRedis
from tests.web_support import csrf_token

PASSWORD = "rate-limit-password-1"
FAR = "10.20.30.40"


@pytest.fixture
def limited(app_with, redis_url):
    """An app with these limit settings (the rest generous) on SQLite and the test's Redis."""
    def make(redis=None, **limits):
        return app_with(**{"redis.url": redis or redis_url, "limits.per_token": "1000 per minute",
                           "limits.per_address": "1000 per minute", "limits.sign_in": "1000 per minute",
                           **{f"limits.{key}": value for key, value in limits.items()}})
    return make


def station_token(app, name="采集站-限流") -> tuple[str, str]:
    """(token, token id) of a new station."""
    rt = app.extensions["fullrecord"]
    with rt.session() as session, session.begin():
        _station, row, token = accounts.create_station(session, name)
    return token, row.id


def add_user(app, name, role="legal"):
    rt = app.extensions["fullrecord"]
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), name, role, PASSWORD)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_each_token_is_a_bucket_of_its_own_whatever_its_address(limited):
    app = limited(per_token="3 per minute")
    client = app.test_client()
    first, _ = station_token(app, "采集站-甲")
    second, _ = station_token(app, "采集站-乙")
    answers = [client.get("/api/v1/auth/me", headers=bearer(first)).status_code for _ in range(2)]
    answers.append(client.get("/api/v1/auth/me", headers=bearer(first), environ_base={"REMOTE_ADDR": FAR}).status_code)
    assert answers == [200, 200, 200]
    # the fourth from yet another address is the same token: limited
    assert client.get("/api/v1/auth/me", headers=bearer(first), environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 429
    # the other station, from the same address, has its own bucket
    assert [client.get("/api/v1/auth/me", headers=bearer(second)).status_code for _ in range(3)] == [200] * 3
    assert client.get("/api/v1/auth/me", headers=bearer(second)).status_code == 429


def test_requests_without_a_valid_token_count_per_address(limited):
    app = limited(per_address="3 per minute")
    client = app.test_client()
    token, _ = station_token(app)
    wrong = bearer("fr_" + "x" * 43)
    # anonymous and wrong-token requests share the address's bucket: guessing tokens is limited too
    assert [client.get("/api/v1/clips", headers=headers).status_code for headers in ({}, wrong, {})] == [401] * 3
    assert client.get("/api/v1/clips", headers=wrong).status_code == 429
    assert client.get("/api/v1/clips").status_code == 429
    assert client.get("/api/v1/clips", environ_base={"REMOTE_ADDR": FAR}).status_code == 401  # another address
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200  # a valid token: its own bucket


def sign_in(client, username, password, address="127.0.0.1"):
    return client.post("/api/v1/auth/tokens", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_failed_sign_ins_are_limited_per_address_and_per_user_name(limited):
    app = limited(sign_in="3 per minute")
    client = app.test_client()
    for name in ("alice", "bob", "carol"):
        add_user(app, name)
    # successful sign-ins are not failures: they never use up the allowance
    assert [sign_in(client, "carol", PASSWORD, "10.0.0.3").status_code for _ in range(5)] == [201] * 5
    # three wrong passwords for alice from one address ...
    assert [sign_in(client, "alice", f"guess-{i}", "10.0.0.1").status_code for i in range(3)] == [401] * 3
    # ... and that address may not even try the right one now, nor another user
    assert sign_in(client, "alice", PASSWORD, "10.0.0.1").status_code == 429
    assert sign_in(client, "bob", PASSWORD, "10.0.0.1").status_code == 429
    # alice is limited from every address (guessing from many addresses is as slow) ...
    assert sign_in(client, "alice", PASSWORD, "10.0.0.2").status_code == 429
    # ... while bob signs in from elsewhere
    assert sign_in(client, "bob", PASSWORD, "10.0.0.2").status_code == 201


def page_sign_in(client, username, password):
    return client.post("/login", data={"csrf_token": csrf_token(client), "username": username, "password": password})


def test_the_pages_sign_in_form_counts_the_same(limited):
    app = limited(sign_in="2 per minute")
    client = app.test_client()
    add_user(app, "dora")
    assert [page_sign_in(client, "dora", f"guess-{i}").status_code for i in range(2)] == [401, 401]
    page = page_sign_in(client, "dora", PASSWORD)
    assert page.status_code == 429
    assert page.mimetype == "text/html" and int(page.headers["Retry-After"]) >= 1
    assert "登录失败次数过多" in page.get_data(as_text=True)
    # the API's sign-in for the same user name is limited as well, from anywhere
    assert sign_in(client, "dora", PASSWORD, FAR).status_code == 429


def test_a_limited_request_gets_429_in_the_error_shape_with_retry_after(limited):
    app = limited(per_token="1 per minute")
    client = app.test_client()
    token, _ = station_token(app)
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    answer = client.get("/api/v1/auth/me", headers=bearer(token))
    assert answer.status_code == 429
    body = answer.get_json()
    assert set(body) == {"code", "status", "message"}
    assert body["code"] == 429 and body["status"] == "Too Many Requests"
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["message"] == f"此令牌的请求过于频繁（上限为每分钟 1 次），请在 {retry_after} 秒后重试。"
    english = client.get("/api/v1/auth/me?lang=en", headers=bearer(token))
    assert english.status_code == 429
    assert re.fullmatch(r"Too many requests with this token \(limit 1 per minute\); retry in \d+ s\.",
                        english.get_json()["message"])
    assert english.headers["Content-Type"].startswith("application/json")


def test_a_signed_in_page_user_is_limited_by_their_session(limited):
    app = limited(per_token="2 per minute", per_address="1000 per minute")
    add_user(app, "erin", "inspector")
    client = app.test_client()
    assert page_sign_in(client, "erin", PASSWORD).status_code == 303
    statuses = [client.get("/cases").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    page = client.get("/cases")
    assert page.status_code == 429 and page.mimetype == "text/html" and "Retry-After" in page.headers


def test_the_counters_live_in_redis(limited, redis_url):
    app = limited()
    client = app.test_client()
    token, token_id = station_token(app)
    for _ in range(3):
        client.get("/api/v1/auth/me", headers=bearer(token))
    for _ in range(2):
        client.get("/api/v1/clips", environ_base={"REMOTE_ADDR": FAR})
    redis = Redis.from_url(redis_url)
    keys = {key.decode(): int(redis.get(key)) for key in redis.scan_iter("LIMITS:*")}
    assert keys[f"LIMITS:LIMITER/fullrecord/token:{token_id}/token/1000/1/minute"] == 3
    assert keys[f"LIMITS:LIMITER/fullrecord/address:{FAR}/address/1000/1/minute"] == 2
    assert 0 < redis.ttl(f"LIMITS:LIMITER/fullrecord/token:{token_id}/token/1000/1/minute") <= 60
    assert not any(token in key for key in keys)  # the bucket is the token's id, never the token


def test_healthz_is_never_limited(limited):
    client = limited(per_address="1 per minute").test_client()
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    assert client.get("/api/v1/clips").status_code == 401
    assert client.get("/api/v1/clips").status_code == 429


def test_a_trusted_proxy_names_the_client_address(limited):
    behind = limited(per_address="1 per minute", trusted_proxies=1).test_client()
    assert behind.get("/api/v1/clips", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 401
    assert behind.get("/api/v1/clips", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    assert behind.get("/api/v1/clips", headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 401
    direct = limited(per_address="1 per minute").test_client()  # no proxy trusted: the header is ignored
    assert direct.get("/api/v1/clips", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 401
    assert direct.get("/api/v1/clips", headers={"X-Forwarded-For": "198.51.100.10"}).status_code == 429


def upload(client, token, data: bytes):
    values = {"filename": "DSJ001_20261120_100000.mp4", "device_id": "DSJ-001",
              "recorded_at": "2026-11-20T10:00:00+08:00", "sha256": hashlib.sha256(data).hexdigest()}
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
    return client.post("/api/v1/uploads", data=data, headers={
        **bearer(token), "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata,
        "Content-Type": "application/offset+octet-stream"})


def test_requests_are_served_while_redis_is_down(limited, tmp_path, caplog):
    redis = RestartableRedis(tmp_path / "redis").start()
    try:
        app = limited(redis=redis.url, per_token="5 per minute")
        client = app.test_client()
        token, token_id = station_token(app)
        assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
        assert any(token_id in key.decode() for key in Redis.from_url(redis.url).scan_iter("LIMITS:*"))
        redis.stop()
        caplog.set_level(logging.INFO)
        stored = upload(client, token, b"evidence while redis is down")
        assert stored.status_code == 201, stored.get_json()
        assert stored.headers["X-Clip-Id"]
        # counted in this process's memory meanwhile: the limit still holds, nothing is a 5xx
        statuses = [client.get("/api/v1/auth/me", headers=bearer(token)).status_code for _ in range(6)]
        assert statuses == [200, 200, 200, 200, 429, 429]
        fallbacks = [r for r in caplog.records if "falling back to in-memory" in r.getMessage()]
        assert len(fallbacks) == 1, "logged once, not once a request"
        redis.start()  # empty, like a Redis that restarted
        deadline = time.monotonic() + 60
        while not any(token_id in key.decode() for key in Redis.from_url(redis.url).scan_iter("LIMITS:*")):
            assert time.monotonic() < deadline, "the limiter never went back to Redis"
            assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code in (200, 429)
            time.sleep(0.5)
    finally:
        redis.stop()


def test_an_unreachable_redis_from_the_start_fails_nothing(limited, caplog):
    app = limited(redis=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    token, _ = station_token(app)
    caplog.set_level(logging.INFO)
    assert [client.get("/api/v1/auth/me", headers=bearer(token)).status_code for _ in range(3)] == [200] * 3
    assert client.post("/api/v1/auth/tokens", json={"username": "nobody", "password": "x"}).status_code == 401
    assert upload(client, token, b"another recording").status_code == 201
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_unix_socket_redis_is_named_as_flask_limiter_spells_it():
    from server.limits import storage_uri
    assert storage_uri("unix:///srv/fr/redis.sock?db=0") == "redis+unix:///srv/fr/redis.sock?db=0"
    assert storage_uri("redis://:pw@10.0.0.5:6379/1") == "redis://:pw@10.0.0.5:6379/1"
