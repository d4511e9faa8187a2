"""Units and officers through the HTTP API, on SQLite and PostgreSQL."""
import pytest

from tests.casework_api import (CITY, DISTRICT, OTHER_DISTRICT, OTHER_SQUAD, SQUAD, admin_headers, make_officer,
                                make_units, put_unit, snapshot, user_headers)


@pytest.fixture
def admin(client, rt):
    return admin_headers(client, rt)


def test_unit_tree_is_created_read_and_renamed(client, rt, admin):
    make_units(client, admin)
    units = client.get("/api/v1/units", headers=admin).get_json()
    assert [(unit["code"], unit["parent"]) for unit in units] == [
        (CITY, None), (DISTRICT, CITY), (SQUAD, DISTRICT), (OTHER_DISTRICT, CITY), (OTHER_SQUAD, OTHER_DISTRICT)]
    same = put_unit(client, admin, SQUAD, "玄武区一中队", DISTRICT)
    assert same.status_code == 200 and same.headers["Idempotent-Replay"] == "true"
    renamed = put_unit(client, admin, SQUAD, "玄武区第一中队", DISTRICT)
    assert renamed.status_code == 200 and "Idempotent-Replay" not in renamed.headers
    moved = put_unit(client, admin, SQUAD, "玄武区第一中队", OTHER_DISTRICT)
    assert moved.status_code == 200
    one = client.get(f"/api/v1/units/{SQUAD}", headers=admin).get_json()
    assert (one["name"], one["parent"]) == ("玄武区第一中队", OTHER_DISTRICT)
    missing = client.get("/api/v1/units/9999", headers=admin)
    assert missing.status_code == 404 and "9999" in missing.get_json()["message"]


def test_unknown_parent_is_refused_and_changes_nothing(client, rt, admin):
    make_units(client, admin)
    before = snapshot(rt)
    answer = client.put("/api/v1/units/320199?lang=en", json={"name": "新区", "parent": "3299"}, headers=admin)
    assert answer.status_code == 422
    body = answer.get_json()
    assert "3299" in body["errors"]["parent"][0] and "PUT /api/v1/units/3299" in body["message"]
    assert snapshot(rt) == before


@pytest.mark.parametrize("code, parent", [(CITY, SQUAD), (DISTRICT, DISTRICT)])
def test_a_cycle_in_the_tree_is_refused_and_changes_nothing(client, rt, admin, code, parent):
    make_units(client, admin)
    before = snapshot(rt)
    answer = put_unit(client, admin, code, "循环", parent)
    assert answer.status_code == 422
    assert code in answer.get_json()["errors"]["parent"][0] and parent in answer.get_json()["message"]
    assert snapshot(rt) == before


def test_bad_unit_body_and_code_are_refused(client, rt, admin):
    before = snapshot(rt)
    blank = client.put("/api/v1/units/3201", json={"name": ""}, headers=admin)
    assert blank.status_code == 422 and "name" in blank.get_json()["errors"]["json"]
    spaced = put_unit(client, admin, "32%2001", "南京")
    assert spaced.status_code == 422 and "32 01" in spaced.get_json()["errors"]["code"][0]
    assert snapshot(rt) == before


def test_officers_are_listed_by_unit_with_its_sub_units(client, rt, admin):
    make_units(client, admin)
    make_officer(client, admin, "3201001", SQUAD)
    make_officer(client, admin, "3201002", DISTRICT)
    make_officer(client, admin, "3201003", OTHER_SQUAD)
    make_officer(client, admin, "3201009", CITY)

    def codes(unit):
        answer = client.get("/api/v1/officers", query_string={"unit": unit}, headers=admin)
        assert answer.status_code == 200
        return [officer["code"] for officer in answer.get_json()]
    assert codes(DISTRICT) == ["3201001", "3201002"]
    assert codes(OTHER_DISTRICT) == ["3201003"]
    assert codes(CITY) == ["3201001", "3201002", "3201003", "3201009"]
    one = client.get("/api/v1/officers/3201001", headers=admin).get_json()
    assert (one["unit"], one["active"]) == (SQUAD, True)
    moved = client.put("/api/v1/officers/3201001", json={"name": "张三", "unit": OTHER_SQUAD, "active": False},
                       headers=admin)
    assert moved.status_code == 200 and moved.get_json()["active"] is False
    assert codes(OTHER_DISTRICT) == ["3201001", "3201003"]
    assert client.get("/api/v1/officers/0000", headers=admin).status_code == 404


def test_officer_in_an_unknown_unit_is_refused_and_changes_nothing(client, rt, admin):
    make_units(client, admin)
    before = snapshot(rt)
    answer = client.put("/api/v1/officers/3201001", json={"name": "张三", "unit": "3299"}, headers=admin)
    assert answer.status_code == 422 and "3299" in answer.get_json()["errors"]["unit"][0]
    assert snapshot(rt) == before
    listing = client.get("/api/v1/officers", query_string={"unit": "3299"}, headers=admin)
    assert listing.status_code == 422 and "3299" in listing.get_json()["message"]


def test_only_admins_write_the_registry(client, rt, admin):
    make_units(client, admin)
    officer = user_headers(client, rt, "officer")
    inspector = user_headers(client, rt, "inspector")
    assert put_unit(client, officer, "320105", "鼓楼区", CITY).status_code == 403
    assert client.put("/api/v1/officers/1", json={"name": "x", "unit": SQUAD}, headers=inspector).status_code == 403
    assert client.get("/api/v1/units", headers=inspector).status_code == 200
    assert client.get("/api/v1/units").status_code == 401
