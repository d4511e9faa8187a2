"""Security headers on every answer: each API route family (success or error), evidence files,
/healthz, the OpenAPI document and unknown addresses get a CSP that loads nothing, nosniff,
no-store and no referrer; the pages keep their own policy; Strict-Transport-Security when the
request came over HTTPS or the configuration says the site is HTTPS-only."""
from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from server import accounts

PASSWORD = "headers-password-1"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def assert_api_headers(answer, what: str) -> None:
    headers = answer.headers
    assert headers.get("Content-Security-Policy") == API_CSP, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") == "no-referrer", what
    assert "no-store" in headers.get("Cache-Control", ""), what


@pytest.fixture
def tokens(client, rt) -> dict[str, str]:
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), "hdr-admin", "admin", PASSWORD)
        _station, _row, station = accounts.create_station(session, "采集站-头")
    admin = client.post("/api/v1/auth/tokens", json={"username": "hdr-admin", "password": PASSWORD}).get_json()
    return {"admin": admin["token"], "station": station}


def families(app) -> dict[str, tuple[str, str]]:
    """One route of every API family (/api/v1/<family>/...): family → (method, path)."""
    chosen = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1/"):
            continue
        family = rule.rule.split("/")[3]
        values = {name: str(uuid.uuid4()) if "UUID" in type(conv).__name__ else "x"
                  for name, conv in rule._converters.items()}
        path = rule.build(values, append_unknown=False)[1] if values else rule.rule
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        if family not in chosen or (method == "GET" and chosen[family][0] != "GET"):
            chosen[family] = (method, path)
    return chosen


def test_every_api_route_family_sends_the_headers(app, client, tokens):
    found = families(app)
    assert {"auth", "stations", "users", "uploads", "clips", "cases", "steps", "devices", "links", "audits",
            "exports", "alerts", "units", "officers", "queues", "sync", "retention", "openapi.json"} <= set(found)
    for family, (method, path) in found.items():
        for who, headers in (("admin", {"Authorization": f"Bearer {tokens['admin']}"}), ("anonymous", {})):
            kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            answer = client.open(path, method=method, headers=headers, **kwargs)
            assert answer.status_code < 500, (family, path, answer.status_code)
            assert_api_headers(answer, f"{method} {path} as {who}: {answer.status_code}")
    for path in ("/healthz", "/api/v1/no-such-thing", "/no-such-page"):
        assert_api_headers(client.get(path), path)
    assert_api_headers(client.options("/api/v1/uploads"), "tus OPTIONS")


def test_evidence_and_tokens_are_never_cached(client, tokens):
    data = b"an original recording"
    values = {"filename": "DSJ001.mp4", "device_id": "DSJ-001", "recorded_at": "2026-11-20T10:00:00+08:00",
              "sha256": hashlib.sha256(data).hexdigest()}
    created = client.post("/api/v1/uploads", data=data, headers={
        "Authorization": f"Bearer {tokens['station']}", "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())})
    assert created.status_code == 201
    assert_api_headers(created, "the upload's receipt")
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    original = client.get(f"/api/v1/clips/{created.headers['X-Clip-Id']}/original", headers=admin)
    assert original.status_code == 200 and original.data == data
    assert_api_headers(original, "the original")
    ranged = client.get(f"/api/v1/clips/{created.headers['X-Clip-Id']}/original", headers={**admin, "Range": "bytes=0-3"})
    assert ranged.status_code == 206
    assert_api_headers(ranged, "a byte range of the original")
    signed_in = client.post("/api/v1/auth/tokens", json={"username": "hdr-admin", "password": PASSWORD})
    assert signed_in.status_code == 201
    assert_api_headers(signed_in, "a new token")


def test_the_pages_keep_their_own_policy(client):
    login = client.get("/login")
    assert login.status_code == 200
    assert "script-src 'self'" in login.headers["Content-Security-Policy"]
    assert login.headers["X-Frame-Options"] == "DENY" and login.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in login.headers["Cache-Control"]
    static = client.get("/static/web/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")


def test_strict_transport_security_over_https(app_with):
    client = app_with().test_client()
    for path in ("/api/v1/auth/me", "/login", "/healthz"):
        assert client.get(path, base_url="https://evidence.example").headers["Strict-Transport-Security"] == \
            "max-age=31536000; includeSubDomains"
        assert "Strict-Transport-Security" not in client.get(path).headers  # plain HTTP: not ours to pin


def test_strict_transport_security_as_configured(app_with):
    always = app_with(**{"security.hsts": "always", "security.hsts_max_age_seconds": 600}).test_client()
    assert always.get("/healthz").headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    never = app_with(**{"security.hsts": "never"}).test_client()
    assert "Strict-Transport-Security" not in never.get("/healthz", base_url="https://evidence.example").headers


def test_https_behind_a_trusted_proxy(app_with):
    client = app_with(**{"limits.trusted_proxies": 1}).test_client()
    answer = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in answer.headers
    untrusted = app_with().test_client()  # no proxy trusted: a forged header changes nothing
    assert "Strict-Transport-Security" not in untrusted.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
