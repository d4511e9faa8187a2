"""API fuzzing (issue 10): schemathesis generates requests for every operation of our own OpenAPI
document, read from the app in process (WSGI, no sockets), and sends them with a valid bearer
token of each role against a database seeded with real rows, so that reads and writes of
existing ids happen too. Every answer must be no 5xx, have a status the operation documents,
the documented content type and a body that fits the documented schema.

Runs are deterministic (derandomized, no example database) and every failure is collected, not
shrunk, so that one run reports all of them with a curl line to reproduce each."""
from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections import Counter
from datetime import timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from schemathesis.transport.serialization import serialize_binary

from server.auth import PUBLIC, STATION_ROLE
from storage.models import ROLES
from storage.processing_models import Alert
from tests.casework_api import PASSWORD, SQUAD, make_case, make_officer, make_step, make_units, station_headers, \
    user_headers

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CALLERS = (*ROLES, STATION_ROLE)
BUDGETS = {"sqlite": (int(os.environ.get("FUZZ_EXAMPLES", 20)), 2, 1000), "postgresql": (4, 1, 250)}
"""Per database: generated cases per operation for a role it lets in (FUZZ_EXAMPLES=60 for a
longer hunt), for a role it refuses (403: enough to see the refusal documented), and the fewest
cases the run must make. SQLite runs the full campaign; PostgreSQL, stricter about what it
stores, a smaller one."""
SEEDED_SHARE = 0.6
"""How often a path parameter is replaced by the id of a row that exists."""
OFFICER, SERIAL = "3201001", "DSJ-001"
TUS_CREATE = "POST /api/v1/uploads"


def tus_metadata(values: dict) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def tus_upload(client, station: dict, data: bytes | None, length: int) -> tuple[str, str | None]:
    """(upload id, clip id of the receipt if the body completed the file)."""
    values = {"filename": f"{SERIAL}_{OFFICER}_20261120100000_0001.mp4", "device_id": SERIAL, "officer_id": OFFICER,
              "recorded_at": "2026-11-20T10:00:00+08:00", "sha256": hashlib.sha256(data or b"x").hexdigest()}
    headers = {**station, "Tus-Resumable": "1.0.0", "Upload-Length": str(length),
               "Upload-Metadata": tus_metadata(values)}
    if data is not None:
        headers["Content-Type"] = "application/offset+octet-stream"
    answer = client.post("/api/v1/uploads", data=data or b"", headers=headers)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.headers["Location"].rsplit("/", 1)[-1], answer.headers.get("X-Clip-Id")


def created(answer, status: int = 201) -> dict:
    assert answer.status_code == status, answer.get_data(as_text=True)
    return answer.get_json()


@pytest.fixture
def settings(make_settings, database_url, redis_url):
    """One caller per role sends a few thousand requests a minute, many without a token or with a
    wrong password: the rate limits (tested in tests/test_rate_limits.py) are lifted so that they
    do not answer most of them 429."""
    generous = "1000000 per minute"
    return make_settings(**{"database.url": database_url, "redis.url": redis_url, "limits.per_token": generous,
                            "limits.per_address": generous, "limits.sign_in": generous})


@pytest.fixture
def world(client, rt) -> tuple[dict, dict]:
    """(bearer headers by role, ids of existing rows by path parameter name): units, an officer,
    a recorder with an assignment and a clock report, a case with a step, a clip uploaded through
    tus and linked to the step, an unfinished upload, a legal hold, an export, an audit run, an
    alert, and a spare station and token for the operations that change those."""
    callers = {role: user_headers(client, rt, role, f"fuzz-{role}") for role in ROLES}
    callers[STATION_ROLE] = station_headers(rt, "fuzz-station")
    admin, legal, station = callers["admin"], callers["legal"], callers[STATION_ROLE]
    make_units(client, admin)
    make_officer(client, admin, OFFICER)
    created(client.put(f"/api/v1/devices/{SERIAL}", json={"model": "DSJ-V9", "unit": SQUAD}, headers=admin))
    case = make_case(client, admin, officers=[OFFICER])
    step = make_step(client, admin, case["id"], officers=[OFFICER], devices=[SERIAL])
    assignment = created(client.post(f"/api/v1/devices/{SERIAL}/assignments", headers=admin, json={
        "id": str(uuid.uuid4()), "officer": OFFICER, "started_at": "2026-11-20T08:00:00+08:00",
        "ended_at": "2026-11-20T12:00:00+08:00"}))
    created(client.post(f"/api/v1/devices/{SERIAL}/clock-reports", headers=station, json={
        "device_time": "2026-11-20T12:00:05+08:00", "station_time": "2026-11-20T12:00:00+08:00"}))
    _, clip_id = tus_upload(client, station, os.urandom(2048), 2048)
    unfinished, _ = tus_upload(client, station, None, 4096)
    [link] = client.get(f"/api/v1/links?clip_id={clip_id}", headers=admin).get_json()
    hold = created(client.post(f"/api/v1/clips/{clip_id}/legal-hold", json={"reason": "复议中"}, headers=legal))
    export = created(client.post(f"/api/v1/cases/{case['id']}/exports", json={}, headers=legal), 202)
    run = created(client.post("/api/v1/audits", json={"from": "2026-11-01", "to": "2026-11-30"}, headers=admin), 202)
    spare_station = created(client.post("/api/v1/stations", json={"name": "备用采集站"}, headers=admin))
    spare_token = created(client.post("/api/v1/auth/tokens", json={"username": "fuzz-legal", "password": PASSWORD}))
    with rt.session() as session, session.begin():
        alert = Alert(severity="critical", code="integrity_failed", clip_id=clip_id, details={"reason": "sha256"})
        session.add(alert)
        session.flush()
        alert_id = alert.id
    known = {"clip_id": [clip_id], "case_id": [case["id"]], "step_id": [step["id"]], "code": [SQUAD, OFFICER],
             "serial": [SERIAL], "upload_id": [unfinished], "token_id": [spare_token["id"]],
             "station_id": [spare_station["id"]], "alert_id": [alert_id], "hold_id": [hold["id"]],
             "link_id": [link["id"]], "assignment_id": [assignment["id"]], "export_id": [export["id"]],
             "run_id": [run["id"]]}
    return callers, known


def declared_access(app, operation):
    """The roles (or PUBLIC) the operation's view declares."""
    for rule in app.url_map.iter_rules():
        if rule.rule.replace("<uuid:", "<").replace("<string:", "<") == operation.path.replace("{", "<").replace(
                "}", ">"):
            view_class = app.view_functions[rule.endpoint].view_class
            return getattr(getattr(view_class, operation.method.lower()), "_access")
    raise AssertionError(f"no route serves {operation.label}")


LIKELY = st.sampled_from([True, False])
"""A coin that lands True first (hypothesis tries simple values first: st.booleans() gives False)."""
ZONES = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), None])
METADATA = st.fixed_dictionaries(
    {"filename": st.text(min_size=1, max_size=40), "device_id": st.sampled_from([SERIAL, "DSJ-404"]),
     "recorded_at": st.datetimes(timezones=ZONES).map(lambda moment: moment.isoformat())},
    optional={"officer_id": st.sampled_from([OFFICER, "3209999"])})


def make_tus_create_meaningful(case, data) -> None:
    """Random text in Upload-Metadata or Upload-Checksum is a 400 every time: give half the
    creations valid metadata whose sha256 is the body's (and, some, the body's checksum) so that
    creation, creation-with-upload and completion with its receipt are exercised too."""
    if not data.draw(LIKELY, label="valid tus request"):
        return
    body = serialize_binary(case.body) if case.body is not NOT_SET else b""
    headers = {key: value for key, value in (case.headers or {}).items() if key.lower() != "upload-checksum"}
    headers["Upload-Metadata"] = tus_metadata({**data.draw(METADATA), "sha256": hashlib.sha256(body).hexdigest()})
    if data.draw(LIKELY, label="whole file in the body"):
        headers["Upload-Length"] = str(len(body))
    if data.draw(LIKELY, label="checksum"):
        headers["Upload-Checksum"] = f"sha256 {base64.b64encode(hashlib.sha256(body).digest()).decode()}"
    case.headers = headers


def fuzz_operation(operation, headers: dict, known: dict, examples: int, tally: Counter, failures: dict) -> None:
    """Send `examples` generated cases (valid and invalid ones) as this caller; count statuses,
    collect failures by (operation, check, status)."""
    strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @hypothesis_settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                         phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy, data=st.data())
    def send(case, data):
        for name in case.path_parameters or {}:
            if known.get(name) and data.draw(st.floats(0, 1), label="seeded id") < SEEDED_SHARE:
                case.path_parameters[name] = data.draw(st.sampled_from(known[name]), label=name)
        if operation.label == TUS_CREATE:
            make_tus_create_meaningful(case, data)
        response = case.call(headers=headers)
        tally[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                failures.setdefault((operation.label, failure.title, response.status_code),
                                    f"{failure.message}\n{reproduction(case, response)}")

    send()


def reproduction(case, response) -> str:
    body = response.content[:600].decode("utf-8", "replace")
    return f"{case.as_curl_command()}\n→ {response.status_code} {response.headers.get('content-type')}: {body}"


def test_every_operation_as_every_role_answers_as_documented(app, world, database_url):
    callers, known = world
    allowed_examples, denied_examples, min_cases = BUDGETS["sqlite" if database_url.startswith("sqlite")
                                                           else "postgresql"]
    # tus bodies are plain bytes: send them as schemathesis sends application/octet-stream
    schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60 and any(op.label == TUS_CREATE for op in operations)
    counts, failures = {role: Counter() for role in CALLERS}, {}
    for operation in operations:
        access = declared_access(app, operation)
        for role in CALLERS:
            allowed = access == PUBLIC or role in access
            fuzz_operation(operation, callers[role], known, allowed_examples if allowed else denied_examples,
                           counts[role], failures)
    for role, tally in counts.items():
        print(f"{role}: {sum(tally.values())} cases; statuses {dict(sorted(tally.items()))}")
    report = "\n\n".join(f"{label} [{check}, {status}]\n{text}" for (label, check, status), text in failures.items())
    assert not failures, f"{len(failures)} distinct failures:\n{report}"
    total = sum(sum(tally.values()) for tally in counts.values())
    print(f"total: {total} cases over {len(operations)} operations")
    assert total >= min_cases
    for role, tally in counts.items():  # each caller really got through, not only refusals
        assert sum(n for status, n in tally.items() if status < 300) > 20, (role, tally)
