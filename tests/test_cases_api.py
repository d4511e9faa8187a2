"""Cases through the HTTP API: idempotent creates, numbering per agency, versions and If-Match."""
import uuid

import pytest

from tests.casework_api import (CITY, DISTRICT, OTHER_DISTRICT, OTHER_SQUAD, SQUAD, admin_headers, case_body,
                                if_match, make_case, make_officer, make_units, snapshot, user_headers)


@pytest.fixture
def admin(client, rt):
    headers = admin_headers(client, rt)
    make_units(client, headers)
    make_officer(client, headers, "3201001")
    make_officer(client, headers, "3201002")
    return headers


def test_create_read_and_replay_a_case(client, rt, admin):
    body = case_body(officers=["3201002", "3201001"], opened_at="2026-11-20T08:00:00+08:00")
    created = client.post("/api/v1/cases", json=body, headers=admin)
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    case = created.get_json()
    assert (case["id"], case["agency"], case["unit"], case["status"]) == (body["id"], CITY, SQUAD, "open")
    assert case["officers"] == ["3201001", "3201002"] and case["opened_at"] == "2026-11-20T00:00:00+00:00"
    assert case["version"] == 1 and case["created_by"].startswith("user:admin-")
    read = client.get(f"/api/v1/cases/{body['id']}", headers=admin)
    assert read.status_code == 200 and read.headers["ETag"] == '"1"' and read.get_json()["steps"] == []
    before = snapshot(rt)
    replay = client.post("/api/v1/cases", json={**body, "officers": ["3201001", "3201002"]}, headers=admin)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replay"] == "true"
    assert replay.get_json()["id"] == body["id"] and snapshot(rt) == before


def test_an_id_reused_with_other_content_is_a_conflict(client, rt, admin):
    body = case_body()
    make_case(client, admin, **body)
    before = snapshot(rt)
    answer = client.post("/api/v1/cases?lang=en", json={**body, "title": "另一个案件"}, headers=admin)
    assert answer.status_code == 409 and body["id"] in answer.get_json()["message"]
    assert "original body" in answer.get_json()["message"]
    assert snapshot(rt) == before


def test_case_number_is_unique_per_agency(client, rt, admin):
    first = make_case(client, admin, case_number="玄城管罚〔2026〕1号", unit=SQUAD, agency=DISTRICT)
    before = snapshot(rt)
    clash = client.post("/api/v1/cases", json=case_body(case_number="玄城管罚〔2026〕1号", unit=SQUAD,
                                                        agency=DISTRICT), headers=admin)
    assert clash.status_code == 409
    message = clash.get_json()["message"]
    assert first["id"] in message and DISTRICT in message and "玄城管罚〔2026〕1号" in message
    assert snapshot(rt) == before
    elsewhere = make_case(client, admin, case_number="玄城管罚〔2026〕1号", unit=OTHER_SQUAD, agency=OTHER_DISTRICT)
    assert elsewhere["agency"] == OTHER_DISTRICT


@pytest.mark.parametrize("overrides, field, named", [
    ({"unit": "3299"}, "unit", "3299"),
    ({"officers": ["3201001", "9999"]}, "officers", "9999"),
    ({"agency": OTHER_DISTRICT}, "agency", OTHER_DISTRICT),
    ({"status": "closed", "opened_at": "2026-11-20T08:00:00+08:00", "closed_at": "2026-11-19T08:00:00+08:00"},
     "closed_at", "2026-11-19"),
    ({"status": "open", "closed_at": "2026-11-21T08:00:00+08:00"}, "closed_at", "closed"),
])
def test_bad_references_are_refused_and_change_nothing(client, rt, admin, overrides, field, named):
    before = snapshot(rt)
    answer = client.post("/api/v1/cases", json=case_body(**overrides), headers=admin)
    assert answer.status_code == 422, answer.get_json()
    assert named in answer.get_json()["errors"][field][0]
    assert snapshot(rt) == before


@pytest.mark.parametrize("overrides, field", [
    ({"opened_at": "2026-11-20T08:00:00"}, "opened_at"), ({"id": "not-a-uuid"}, "id"),
    ({"status": "pending"}, "status"), ({"case_number": ""}, "case_number"), ({"unit": None}, "unit"),
])
def test_invalid_bodies_are_refused_by_the_schema(client, rt, admin, overrides, field):
    before = snapshot(rt)
    answer = client.post("/api/v1/cases?lang=en", json=case_body(**overrides), headers=admin)
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]["json"]
    if field == "opened_at":
        assert "UTC offset" in answer.get_json()["message"]
    assert snapshot(rt) == before


def test_update_needs_the_current_version(client, rt, admin):
    case = make_case(client, admin)
    url = f"/api/v1/cases/{case['id']}"
    before = snapshot(rt)
    missing = client.patch(url, json={"title": "新标题"}, headers=admin)
    assert missing.status_code == 428 and "If-Match" in missing.get_json()["message"]
    garbled = client.patch(url, json={"title": "新标题"}, headers={**admin, "If-Match": '"v1"'})
    assert garbled.status_code == 400
    assert snapshot(rt) == before
    updated = client.patch(url, json={"title": "新标题", "officers": ["3201001"]}, headers=if_match(admin, 1))
    assert updated.status_code == 200 and updated.headers["ETag"] == '"2"'
    assert (updated.get_json()["title"], updated.get_json()["officers"], updated.get_json()["version"]) == (
        "新标题", ["3201001"], 2)
    assert client.get(url, headers=admin).headers["ETag"] == '"2"'


def test_a_stale_version_is_a_conflict_that_changes_nothing(client, rt, admin):
    case = make_case(client, admin)
    url = f"/api/v1/cases/{case['id']}"
    assert client.patch(url, json={"title": "甲"}, headers=if_match(admin, 1)).status_code == 200
    before = snapshot(rt)
    stale = client.patch(f"{url}?lang=en", json={"title": "乙"}, headers=if_match(admin, 1))
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["current_version"] == 2 and "version 2, not 1" in body["message"]
    assert stale.headers["ETag"] == '"2"'
    assert snapshot(rt) == before
    assert client.get(url, headers=admin).get_json()["title"] == "甲"


def test_a_replayed_update_is_answered_without_a_second_write(client, rt, admin):
    case = make_case(client, admin)
    url = f"/api/v1/cases/{case['id']}"
    change = {"status": "closed", "closed_at": "2026-11-25T17:00:00+08:00"}
    first = client.patch(url, json=change, headers=if_match(admin, 1))
    assert first.status_code == 200 and first.get_json()["version"] == 2
    before = snapshot(rt)
    again = client.patch(url, json=change, headers=if_match(admin, 1))
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"
    assert again.get_json() == first.get_json() and snapshot(rt) == before
    unchanged = client.patch(url, json={"status": "closed"}, headers=if_match(admin, 2))
    assert unchanged.status_code == 200 and unchanged.headers["ETag"] == '"2"' and snapshot(rt) == before
    reopened = client.patch(url, json={"status": "open"}, headers=if_match(admin, 2)).get_json()
    assert (reopened["status"], reopened["closed_at"], reopened["version"]) == ("open", None, 3)


def test_update_checks_number_unit_and_officers(client, rt, admin):
    taken = make_case(client, admin, case_number="N-1", unit=DISTRICT, agency=DISTRICT)
    case = make_case(client, admin, case_number="N-2", unit=SQUAD, agency=DISTRICT)
    url = f"/api/v1/cases/{case['id']}"
    before = snapshot(rt)
    clash = client.patch(url, json={"case_number": "N-1"}, headers=if_match(admin, 1))
    assert clash.status_code == 409 and taken["id"] in clash.get_json()["errors"]["case_number"][0]
    outside = client.patch(url, json={"unit": OTHER_SQUAD}, headers=if_match(admin, 1))
    assert outside.status_code == 422 and DISTRICT in outside.get_json()["errors"]["unit"][0]
    nobody = client.patch(url, json={"officers": ["9999"]}, headers=if_match(admin, 1))
    assert nobody.status_code == 422 and "9999" in nobody.get_json()["errors"]["officers"][0]
    empty = client.patch(url, json={}, headers=if_match(admin, 1))
    assert empty.status_code == 422
    assert snapshot(rt) == before


def test_cases_are_listed_by_number_unit_officer_and_status(client, rt, admin):
    one = make_case(client, admin, case_number="A-1", unit=SQUAD, officers=["3201001"])
    two = make_case(client, admin, case_number="A-2", unit=OTHER_SQUAD, officers=["3201002"])
    three = make_case(client, admin, case_number="A-3", unit=DISTRICT, status="closed")

    def ids(**query):
        answer = client.get("/api/v1/cases", query_string=query, headers=admin)
        assert answer.status_code == 200, answer.get_json()
        return [case["id"] for case in answer.get_json()], int(answer.headers["X-Total-Count"])
    assert ids(case_number="A-2") == ([two["id"]], 1)
    assert ids(unit=DISTRICT) == ([one["id"], three["id"]], 2)
    assert ids(officer="3201001") == ([one["id"]], 1)
    assert ids(status="closed") == ([three["id"]], 1)
    assert ids(limit=2, offset=1) == ([two["id"], three["id"]], 3)
    assert client.get("/api/v1/cases", query_string={"limit": 0}, headers=admin).status_code == 422
    assert client.get("/api/v1/cases", query_string={"unit": "3299"}, headers=admin).status_code == 422


def test_who_may_read_and_write_cases(client, rt, admin):
    inspector = user_headers(client, rt, "inspector")
    officer = user_headers(client, rt, "officer")
    legal = user_headers(client, rt, "legal")
    assert client.post("/api/v1/cases", json=case_body(), headers=inspector).status_code == 403
    assert make_case(client, officer)["created_by"].startswith("user:officer-")
    assert make_case(client, legal)["status"] == "open"
    assert client.get("/api/v1/cases", headers=inspector).status_code == 200
    assert client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=inspector).status_code == 404
