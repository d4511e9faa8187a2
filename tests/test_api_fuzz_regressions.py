"""What the API fuzzer (tests/test_api_fuzz.py) found, one focused test each: answers whose
status, body or content type the OpenAPI document did not describe, and document statements
the server does not keep. Each real answer is checked against the document with the same
schemathesis checks the fuzzer uses."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import uuid

import marshmallow as ma
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st

from server.resources.fields import Text, text_pattern
from storage.processing_models import Alert
from tests.casework_api import (SQUAD, admin_headers, if_match, make_case, make_officer, make_step, make_units,
                                station_headers, user_headers)
from tests.test_api_fuzz import CHECKS, tus_metadata

OFFICER, SERIAL = "3201001", "DSJ-001"
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def database_url(tmp_path):
    """What is checked here is the document and the statuses, the same on every database."""
    return f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}"


@pytest.fixture
def document(app) -> dict:
    answer = app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.get_json()


@pytest.fixture
def conforms(app):
    """conforms(answer, "PATCH", "/cases/{case_id}"): the answer's status, content type and body
    are what the document says that operation answers (AssertionError naming what is not)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)

    def check(answer, method: str, path: str) -> None:
        template = f"/api/v1{path}"
        values = re.fullmatch(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)), answer.request.path)
        case = schema[template][method].Case(path_parameters=values.groupdict())
        case.validate_response(answer, checks=CHECKS)
    return check


@pytest.fixture
def scene(client, rt) -> dict:
    admin = admin_headers(client, rt)
    make_units(client, admin)
    make_officer(client, admin, OFFICER)
    assert client.put(f"/api/v1/devices/{SERIAL}", json={"unit": SQUAD}, headers=admin).status_code == 201
    case = make_case(client, admin, officers=[OFFICER])
    step = make_step(client, admin, case["id"], officers=[OFFICER], devices=[SERIAL])
    return {"admin": admin, "legal": user_headers(client, rt, "legal"), "station": station_headers(rt),
            "case": case, "step": step}


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method.upper(), path, operation


# --- the document lists real statuses, no catch-all ------------------------------------------

def test_no_operation_hides_its_statuses_behind_a_default_answer(document):
    """Every operation used to document a "default" error, so an undocumented status passed."""
    hidden = [f"{method} {path}" for method, path, operation in operations(document)
              if "default" in operation["responses"]]
    assert hidden == []
    assert "DEFAULT_ERROR" not in document["components"].get("responses", {})


def test_statuses_every_operation_shares_follow_the_routes_declarations(document):
    by_label = {f"{method} {path}": operation for method, path, operation in operations(document)}
    sign_in = by_label["POST /api/v1/auth/tokens"]
    assert sign_in["security"] == [] and "403" not in sign_in["responses"]
    assert {"400", "401", "422", "429"} <= set(sign_in["responses"])
    for label in ("GET /api/v1/clips/{clip_id}", "PATCH /api/v1/uploads/{upload_id}", "GET /api/v1/units"):
        assert {"401", "403", "429"} <= set(by_label[label]["responses"]), label
        assert "security" not in by_label[label]  # the document's bearer requirement applies
    assert "404" in by_label["GET /api/v1/clips/{clip_id}"]["responses"]
    assert "404" not in by_label["GET /api/v1/units"]["responses"]
    assert "400" in by_label["POST /api/v1/cases"]["responses"]  # malformed JSON
    assert "400" not in by_label["GET /api/v1/cases/{case_id}"]["responses"]
    error = document["components"]["responses"]["NOT_FOUND"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


def test_a_malformed_json_body_is_a_documented_400(client, scene, conforms):
    answer = client.post("/api/v1/cases", data="{not json", content_type="application/json",
                         headers=scene["admin"])
    assert answer.status_code == 400
    conforms(answer, "POST", "/cases")


# --- versioned updates: 428 without If-Match, 409 with current_version when stale ---------

@pytest.mark.parametrize("what", ["cases", "steps"])
def test_missing_and_stale_if_match_answers_are_documented(client, scene, conforms, what):
    """428 was not documented, and the 409's current_version broke the error schema."""
    record = scene["case"] if what == "cases" else scene["step"]
    path, body = f"/{what}/{record['id']}", {"notes": "复核"} if what == "steps" else {"title": "复核"}
    template = f"/{what}/{{{'case_id' if what == 'cases' else 'step_id'}}}"
    missing = client.patch(f"/api/v1{path}", json=body, headers=scene["admin"])
    assert missing.status_code == 428
    conforms(missing, "PATCH", template)
    assert client.patch(f"/api/v1{path}", json=body, headers=if_match(scene["admin"], 1)).status_code == 200
    stale = client.patch(f"/api/v1{path}", json={**body, **({"title": "又改"} if what == "cases" else {"notes": "又改"})},
                         headers=if_match(scene["admin"], 1))
    assert stale.status_code == 409 and stale.get_json()["current_version"] == 2
    conforms(stale, "PATCH", template)


# --- conflicts the routes give -----------------------------------------------------------

def test_acknowledging_an_alert_twice_is_a_documented_409(client, rt, scene, conforms):
    with rt.session() as session, session.begin():
        alert = Alert(severity="critical", code="integrity_failed", details={"reason": "sha256"})
        session.add(alert)
        session.flush()
        alert_id = alert.id
    first = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=scene["admin"])
    assert first.status_code == 200
    conforms(first, "POST", "/alerts/{alert_id}/acknowledge")
    again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=scene["admin"])
    assert again.status_code == 409
    conforms(again, "POST", "/alerts/{alert_id}/acknowledge")


def test_signing_in_a_recorder_that_is_not_out_is_a_documented_409(client, scene, conforms):
    answer = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={}, headers=scene["admin"])
    assert answer.status_code == 409
    conforms(answer, "POST", "/devices/{serial}/sign-in")


def test_withdrawing_an_automatic_link_and_lifting_a_lifted_hold_are_documented_409s(client, scene, conforms):
    clip_id = upload(client, scene["station"], os.urandom(1024))
    [link] = client.get(f"/api/v1/links?clip_id={clip_id}", headers=scene["admin"]).get_json()
    assert link["origin"] == "auto"
    withdraw = client.post(f"/api/v1/links/{link['id']}/withdraw", json={"reason": "误关联"}, headers=scene["legal"])
    assert withdraw.status_code == 409
    conforms(withdraw, "POST", "/links/{link_id}/withdraw")
    hold = client.post(f"/api/v1/clips/{clip_id}/legal-hold", json={"reason": "复议"}, headers=scene["legal"])
    assert hold.status_code == 201
    lift = f"/api/v1/clips/{clip_id}/legal-hold/{hold.get_json()['id']}/lift"
    assert client.post(lift, json={"reason": "复议结束"}, headers=scene["legal"]).status_code == 200
    again = client.post(lift, json={"reason": "复议结束"}, headers=scene["legal"])
    assert again.status_code == 409
    conforms(again, "POST", "/clips/{clip_id}/legal-hold/{hold_id}/lift")


# --- tus: every answer documented, empty answers without a content type ------------------

def upload(client, station: dict, data: bytes, **headers) -> str:
    metadata = tus_metadata({"filename": f"{SERIAL}_{OFFICER}_20261120100000_0001.mp4", "device_id": SERIAL,
                             "officer_id": OFFICER, "recorded_at": "2026-11-20T10:00:00+08:00",
                             "sha256": hashlib.sha256(data).hexdigest()})
    answer = client.post("/api/v1/uploads", data=data, headers={
        **station, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata,
        "Content-Type": "application/offset+octet-stream", **headers})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.headers["X-Clip-Id"]


def test_every_tus_answer_is_documented_and_an_empty_one_has_no_content_type(client, scene, conforms, document):
    """The tus answers (201, 200, 204) were undocumented, and the empty ones said text/html."""
    station = scene["station"]
    options = client.options("/api/v1/uploads")
    assert options.status_code == 204 and "Content-Type" not in options.headers
    conforms(options, "OPTIONS", "/uploads")
    data = os.urandom(3000)
    metadata = tus_metadata({"filename": "a.mp4", "device_id": SERIAL, "recorded_at": "2026-11-20T10:00:00+08:00",
                             "sha256": hashlib.sha256(data).hexdigest()})
    created = client.post("/api/v1/uploads", headers={**station, **TUS, "Upload-Length": "3000",
                                                      "Upload-Metadata": metadata})
    assert created.status_code == 201 and "Content-Type" not in created.headers
    conforms(created, "POST", "/uploads")
    url = created.headers["Location"].removeprefix("http://localhost")
    head = client.head(url, headers={**station, **TUS})
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"
    conforms(head, "HEAD", "/uploads/{upload_id}")
    status = client.get(url, headers={**station, **TUS})
    assert status.status_code == 200 and status.get_json()["status"] == "receiving"
    conforms(status, "GET", "/uploads/{upload_id}")
    checksum = f"sha256 {base64.b64encode(hashlib.sha256(data[:1000]).digest()).decode()}"
    patched = client.patch(url, data=data[:1000], headers={
        **station, **TUS, "Upload-Offset": "0", "Upload-Checksum": checksum,
        "Content-Type": "application/offset+octet-stream"})
    assert patched.status_code == 204 and patched.headers["Upload-Offset"] == "1000"
    conforms(patched, "PATCH", "/uploads/{upload_id}")
    mismatch = client.patch(url, data=b"x" * 10, headers={
        **station, **TUS, "Upload-Offset": "1000", "Upload-Checksum": checksum,
        "Content-Type": "application/offset+octet-stream"})
    assert mismatch.status_code == 460
    conforms(mismatch, "PATCH", "/uploads/{upload_id}")
    no_version = client.get(url, headers=station)
    assert no_version.status_code == 412
    conforms(no_version, "GET", "/uploads/{upload_id}")
    deleted = client.delete(url, headers={**station, **TUS})
    assert deleted.status_code == 204 and "Content-Type" not in deleted.headers
    conforms(deleted, "DELETE", "/uploads/{upload_id}")
    post = next(op for method, path, op in operations(document) if (method, path) == ("POST", "/api/v1/uploads"))
    required = {p["name"] for p in post["parameters"] if p["in"] == "header" and p["required"]}
    assert required == {"Tus-Resumable", "Upload-Length"}


def test_downloads_document_their_content_types(client, scene, conforms, document):
    answers = document["paths"]["/api/v1/clips/{clip_id}/original"]["get"]["responses"]
    assert list(answers["200"]["content"]) == list(answers["206"]["content"]) == ["application/octet-stream"]
    report = document["paths"]["/api/v1/audits/{run_id}/report"]["get"]["responses"]["200"]["content"]
    assert set(report) == {"application/json", "text/csv", "text/html"}
    clip_id = upload(client, scene["station"], os.urandom(2000))
    whole = client.get(f"/api/v1/clips/{clip_id}/original", headers=scene["admin"])
    assert whole.status_code == 200 and whole.content_type == "application/octet-stream"
    conforms(whole, "GET", "/clips/{clip_id}/original")
    part = client.get(f"/api/v1/clips/{clip_id}/original", headers={**scene["admin"], "Range": "bytes=10-19"})
    assert part.status_code == 206 and len(part.data) == 10
    conforms(part, "GET", "/clips/{clip_id}/original")
    outside = client.get(f"/api/v1/clips/{clip_id}/original", headers={**scene["admin"], "Range": "bytes=5000-"})
    assert outside.status_code == 416
    conforms(outside, "GET", "/clips/{clip_id}/original")


# --- what the document says of requests, the server keeps ---------------------------------

def test_bodies_whose_fields_are_all_optional_are_documented_as_optional(client, scene, document, conforms):
    """The document required a body that the server never required (PUT devices, sign-in, export)."""
    bodies = {(method, path): op.get("requestBody") for method, path, op in operations(document)}
    for method, path in [("PUT", "/api/v1/devices/{serial}"), ("POST", "/api/v1/devices/{serial}/sign-in"),
                         ("POST", "/api/v1/cases/{case_id}/exports")]:
        assert bodies[(method, path)]["required"] is False, path
    assert bodies[("POST", "/api/v1/cases")]["required"] is True
    registered = client.put("/api/v1/devices/DSJ-009", headers=scene["admin"])
    assert registered.status_code == 201 and registered.get_json()["unit"] is None
    conforms(registered, "PUT", "/devices/{serial}")
    out = client.post("/api/v1/devices/DSJ-009/sign-out", json={"id": str(uuid.uuid4()), "officer": OFFICER},
                      headers=scene["admin"])
    assert out.status_code == 201
    back = client.post("/api/v1/devices/DSJ-009/sign-in", headers=scene["admin"])
    assert back.status_code == 200 and back.get_json()["ended_at"] is not None
    conforms(back, "POST", "/devices/{serial}/sign-in")
    export = client.post(f"/api/v1/cases/{scene['case']['id']}/exports", headers=scene["legal"])
    assert export.status_code == 202 and export.get_json()["include_review"] is False
    conforms(export, "POST", "/cases/{case_id}/exports")


TEXT_PATTERN = text_pattern(None, Text())["pattern"]


def test_text_fields_document_that_they_refuse_control_characters(document):
    unit = document["components"]["schemas"]["UnitBody"]["properties"]
    assert unit["name"]["pattern"] == TEXT_PATTERN
    assert unit["parent"]["pattern"] != TEXT_PATTERN  # a code's own stricter pattern stays


@given(st.text(max_size=20))
def test_the_documented_text_pattern_accepts_exactly_what_text_accepts(value):
    try:
        Text().deserialize(value)
    except ma.ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted == bool(re.fullmatch(TEXT_PATTERN, value))
