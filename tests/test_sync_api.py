"""Batch sync through the HTTP API: ordered operations, one transaction each, per-item answers,
retries answered with replays; and the casework paths in the OpenAPI document."""
import uuid

import pytest

from tests.casework_api import (admin_headers, case_body, make_case, make_officer, make_units, snapshot,
                                station_headers, step_body, user_headers)


@pytest.fixture
def officer(client, rt):
    admin = admin_headers(client, rt)
    make_units(client, admin)
    make_officer(client, admin, "3201001")
    return user_headers(client, rt, "officer")


def sync(client, headers, *operations, lang="en"):
    answer = client.post(f"/api/v1/sync?lang={lang}", json={"operations": list(operations)}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["results"]


def offline_work():
    """What an officer's app recorded offline: a case, a step, two corrections of the step and one
    of the case."""
    case = case_body(officers=["3201001"])
    step = step_body(case["id"], officers=["3201001"])
    return [
        {"op": "create_case", "body": case},
        {"op": "create_step", "id": step["id"], "body": {k: v for k, v in step.items() if k != "id"}},
        {"op": "update_step", "id": step["id"], "version": 1, "body": {"notes": "当事人拒绝签字"}},
        {"op": "update_step", "id": step["id"], "version": 2, "body": {"place": "人民路 12 号门前"}},
        {"op": "update_case", "id": case["id"], "version": 1, "body": {"title": "占道经营（已整改）"}},
    ]


def test_a_batch_is_applied_in_order_and_a_retry_is_answered_with_replays(client, rt, officer):
    work = offline_work()
    case_id, step_id = work[0]["body"]["id"], work[1]["id"]
    results = sync(client, officer, *work)
    assert [(r["index"], r["op"], r["status"], r["version"], r["replay"], r["error"]) for r in results] == [
        (0, "create_case", 201, 1, False, None), (1, "create_step", 201, 1, False, None),
        (2, "update_step", 200, 2, False, None), (3, "update_step", 200, 3, False, None),
        (4, "update_case", 200, 2, False, None)]
    assert [r["id"] for r in results] == [case_id, step_id, step_id, step_id, case_id]
    case = client.get(f"/api/v1/cases/{case_id}", headers=officer).get_json()
    assert case["title"] == "占道经营（已整改）" and case["steps"][0]["notes"] == "当事人拒绝签字"
    assert case["steps"][0]["place"] == "人民路 12 号门前"
    before = snapshot(rt)
    again = sync(client, officer, *work)  # the answer was lost: the app sends the whole batch again
    assert [(r["status"], r["version"], r["replay"], r["error"]) for r in again] == [
        (200, 2, True, None), (200, 3, True, None), (200, 3, True, None), (200, 3, True, None),
        (200, 2, True, None)]
    assert snapshot(rt) == before


def test_one_bad_item_among_good_ones_is_reported_and_the_good_ones_are_applied(client, rt, officer):
    existing = make_case(client, officer)
    case = case_body()
    good_step, bad_step = step_body(case["id"]), step_body(case["id"], type="parade")
    results = sync(client, officer,
                   {"op": "create_case", "body": case},
                   {"op": "create_step", "body": bad_step},
                   {"op": "create_step", "body": good_step},
                   {"op": "update_case", "id": existing["id"], "version": 7, "body": {"title": "过期的修改"}},
                   {"op": "create_step", "body": step_body(case["id"], ended_at="2026-11-20T09:00:00+08:00")})
    assert [r["status"] for r in results] == [201, 422, 201, 409, 422]
    assert "parade" in results[1]["error"]["errors"]["type"][0] and results[1]["id"] is None
    assert "site_inspection" in results[1]["error"]["message"]
    assert results[3]["error"]["current_version"] == 1 == results[3]["version"]
    assert "version 1, not 7" in results[3]["error"]["message"]
    assert "before started_at" in results[4]["error"]["errors"]["ended_at"][0]
    steps = client.get(f"/api/v1/cases/{case['id']}/steps", headers=officer).get_json()
    assert [step["id"] for step in steps] == [good_step["id"]]
    assert client.get(f"/api/v1/steps/{bad_step['id']}", headers=officer).status_code == 404
    assert client.get(f"/api/v1/cases/{existing['id']}", headers=officer).get_json()["version"] == 1


def test_item_errors_name_what_is_wrong_and_change_nothing(client, rt, officer):
    case = make_case(client, officer)
    before = snapshot(rt)
    step = step_body(case["id"])
    results = sync(client, officer,
                   {"op": "create_step", "body": {**step, "started_at": "2026-11-20T09:30:00"}},
                   {"op": "create_step", "id": str(uuid.uuid4()), "body": step},
                   {"op": "update_case", "id": case["id"], "body": {"title": "x"}},
                   {"op": "update_case", "version": 1, "body": {"title": "x"}},
                   {"op": "update_case", "id": "case-1", "version": 1, "body": {"title": "x"}},
                   {"op": "update_step", "id": str(uuid.uuid4()), "version": 1, "body": {"notes": "x"}},
                   {"op": "delete_case", "id": case["id"]},
                   {"op": "create_case", "body": {**case_body(), "unit": "3299"}})
    assert [r["status"] for r in results] == [422, 422, 428, 422, 422, 404, 422, 422]
    fields = [sorted(r["error"]["errors"]) for r in results]
    assert fields == [["started_at"], ["id"], ["version"], ["id"], ["id"], [], ["op"], ["unit"]]
    assert "UTC offset" in results[0]["error"]["message"]
    assert "create_case" in results[6]["error"]["message"] and "delete_case" in results[6]["error"]["message"]
    assert "3299" in results[7]["error"]["message"]
    assert snapshot(rt) == before


def test_roles_are_checked_per_operation(client, rt, officer):
    station = station_headers(rt)
    inspector = user_headers(client, rt, "inspector")
    before = snapshot(rt)
    [refused] = sync(client, station, {"op": "create_case", "body": case_body()})
    assert refused["status"] == 403 and "station" in refused["error"]["message"]
    [unknown] = sync(client, station, {"op": "sign_in", "body": {"device": "DSJ-404"}})
    assert unknown["status"] in (404, 422) and "DSJ-404" in unknown["error"]["message"]
    answer = client.post("/api/v1/sync", json={"operations": [{"op": "create_case", "body": case_body()}]},
                         headers=inspector)
    assert answer.status_code == 403
    assert snapshot(rt) == before


@pytest.mark.parametrize("payload, field", [
    ({"operations": []}, "operations"), ({}, "operations"),
    ({"operations": [{"op": "create_case", "body": {}}] * 501}, "operations"),
    ({"operations": [{"op": "update_case", "version": "2", "body": {}}]}, "operations.0.version"),
])
def test_a_malformed_batch_is_refused_whole(client, rt, officer, payload, field):
    before = snapshot(rt)
    answer = client.post("/api/v1/sync", json=payload, headers=officer)
    assert answer.status_code == 422 and field in answer.get_json()["message"]
    assert snapshot(rt) == before


def test_casework_endpoints_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    expected = {"/api/v1/units": {"get"}, "/api/v1/units/{code}": {"get", "put"}, "/api/v1/officers": {"get"},
                "/api/v1/officers/{code}": {"get", "put"}, "/api/v1/cases": {"get", "post"},
                "/api/v1/cases/{case_id}": {"get", "patch"}, "/api/v1/cases/{case_id}/steps": {"get"},
                "/api/v1/steps": {"post"}, "/api/v1/steps/{step_id}": {"get", "patch"}, "/api/v1/sync": {"post"}}
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    patch = paths["/api/v1/steps/{step_id}"]["patch"]
    assert {"in": "header", "name": "If-Match"}.items() <= patch["parameters"][0].items()
    schemas = document["components"]["schemas"]
    assert {"CaseBody", "CasePatch", "StepBody", "StepPatch", "StepView", "CaseView", "SyncRequest"} <= set(schemas)
    assert "started_at" in schemas["StepBody"]["required"]
    assert set(schemas["SyncItem"]["properties"]["op"]["enum"]) >= {"create_case", "update_step", "sign_out"}
