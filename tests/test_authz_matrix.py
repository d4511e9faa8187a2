"""The authorization matrix, generated from the routes' own declarations: every API route and
method, called by anonymous, a revoked token and a token of every role. Anonymous and revoked
get 401, a role the route does not declare gets 403, a declared role is let through (whatever
the route then says of the dummy request), and nothing answers 5xx."""
from __future__ import annotations

import uuid
from collections import Counter

import pytest

from server import accounts
from server.auth import BUILTIN_PUBLIC_ENDPOINTS, PUBLIC, STATION_ROLE
from storage.models import ROLES

PASSWORD = "matrix-password-1"
DUMMY = {"uuid": lambda: str(uuid.uuid4()), "int": lambda: "1"}


def declared_access(app, endpoint: str, method: str):
    if endpoint in BUILTIN_PUBLIC_ENDPOINTS:
        return PUBLIC
    view = app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return getattr(view, "_access", None)
    return getattr(getattr(view_class, method.lower(), None), "_access", None)


def api_routes(app) -> list[tuple[str, str, str, object]]:
    """(method, path with dummy values, endpoint, declared access) for every API route."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "static":
            continue
        values = {name: DUMMY.get(type(converter).__name__.removesuffix("Converter").lower(),
                                  lambda: "x")()
                  for name, converter in rule._converters.items()}
        path = rule.build(values, append_unknown=False)[1] if values else rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path, rule.endpoint, declared_access(app, rule.endpoint, method)))
    return routes


@pytest.fixture
def callers(client, rt) -> dict[str, dict]:
    """Headers of every kind of caller."""
    headers = {"anonymous": {}}
    with rt.session() as session, session.begin():
        for role in ROLES:
            accounts.create_user(session, rt.password_hasher(), f"m-{role}", role, PASSWORD)
        _station, _row, station_token = accounts.create_station(session, "matrix-station")
    for role in ROLES:
        token = client.post("/api/v1/auth/tokens", json={"username": f"m-{role}", "password": PASSWORD}).get_json()
        headers[role] = {"Authorization": f"Bearer {token['token']}"}
    headers[STATION_ROLE] = {"Authorization": f"Bearer {station_token}"}
    revoked = client.post("/api/v1/auth/tokens", json={"username": "m-admin", "password": PASSWORD}).get_json()
    assert client.delete(f"/api/v1/auth/tokens/{revoked['id']}",
                         headers={"Authorization": f"Bearer {revoked['token']}"}).status_code == 204
    headers["revoked"] = {"Authorization": f"Bearer {revoked['token']}"}
    return headers


def test_every_route_declares_who_may_call_it(app):
    undeclared = [(method, path) for method, path, _, access in api_routes(app) if access is None]
    assert undeclared == []
    assert len(api_routes(app)) > 60  # the matrix really covers the API


def test_the_authorization_matrix_has_no_violations(app, client, callers):
    violations, cells, outcomes = [], 0, Counter()
    for method, path, endpoint, access in api_routes(app):
        for caller, headers in callers.items():
            kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            status = client.open(path, method=method, headers=headers, **kwargs).status_code
            cells += 1
            outcomes["denied" if status in (401, 403) else "through"] += 1
            if status >= 500:
                expected = "no 5xx"
            elif access is PUBLIC:
                expected = None if status != 403 else "public: never 403"
            elif caller in ("anonymous", "revoked"):
                expected = None if status == 401 else "401"
            elif caller in access:
                expected = None if status not in (401, 403) else "let through"
            else:
                expected = None if status == 403 else "403"
            if expected:
                violations.append(f"{method} {path} ({endpoint}) as {caller}: {status}, expected {expected}")
    assert violations == [], "\n".join(violations)
    assert cells == len(api_routes(app)) * len(callers)
    assert outcomes["denied"] > 200 and outcomes["through"] > 100, outcomes  # both sides really exercised
