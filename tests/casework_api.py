"""Helpers for tests that need users, units, officers, cases and steps, made through the HTTP
API with the Flask test client (`client`, `rt` fixtures). Each make_* asserts its answer and
returns the answer's JSON."""
from __future__ import annotations

import uuid

from sqlalchemy import inspect, text

from server import accounts
from storage.models import Device

PASSWORD = "correct horse battery"
CITY, DISTRICT, SQUAD = "3201", "320102", "320102-01"
OTHER_DISTRICT, OTHER_SQUAD = "320104", "320104-01"
STEP_START, STEP_END = "2026-11-20T09:30:00+08:00", "2026-11-20T10:30:00+08:00"
CASEWORK_TABLES = ("units", "officers", "cases", "case_officers", "steps", "step_officers", "step_devices",
                   "devices", "clip_links", "custody_events")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def user_headers(client, rt, role: str, name: str | None = None) -> dict:
    """A new user with this role (admin, legal, inspector, officer), logged in through the API."""
    name = name or f"{role}-{uuid.uuid4().hex[:8]}"
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), name, role, PASSWORD)
    answer = client.post("/api/v1/auth/tokens", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    return bearer(answer.get_json()["token"])


def admin_headers(client, rt) -> dict:
    return user_headers(client, rt, "admin")


def station_headers(rt, name: str = "采集站-1") -> dict:
    with rt.session() as session, session.begin():
        _station, _row, token = accounts.create_station(session, name)
    return bearer(token)


def put_unit(client, headers, code: str, name: str, parent: str | None = None):
    return client.put(f"/api/v1/units/{code}", json={"name": name, "parent": parent}, headers=headers)


def make_units(client, headers) -> dict:
    """City 3201 → districts 320102 and 320104 → one squad each; {code: unit}."""
    tree = [(CITY, "南京市城市管理局", None), (DISTRICT, "玄武区城管大队", CITY), (SQUAD, "玄武区一中队", DISTRICT),
            (OTHER_DISTRICT, "秦淮区城管大队", CITY), (OTHER_SQUAD, "秦淮区一中队", OTHER_DISTRICT)]
    units = {}
    for code, name, parent in tree:
        answer = put_unit(client, headers, code, name, parent)
        assert answer.status_code == 201, answer.get_json()
        units[code] = answer.get_json()
    return units


def make_officer(client, headers, code: str, unit: str = SQUAD, name: str | None = None) -> dict:
    answer = client.put(f"/api/v1/officers/{code}", json={"name": name or f"执法员{code}", "unit": unit},
                        headers=headers)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer.get_json()


def make_device(rt, serial: str, unit: str | None = None) -> str:
    """A registered recorder, written straight to the registry (the devices API is tested on its own)."""
    with rt.session() as session, session.begin():
        device = Device(id=str(uuid.uuid4()), serial=serial, unit_code=unit)
        session.add(device)
    return device.id


def case_body(**overrides) -> dict:
    body = {"id": str(uuid.uuid4()), "case_number": f"玄城管罚〔2026〕{uuid.uuid4().hex[:6]}号", "unit": SQUAD,
            "title": "占道经营", "officers": []}
    body.update(overrides)
    return body


def make_case(client, headers, **overrides) -> dict:
    answer = client.post("/api/v1/cases", json=case_body(**overrides), headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def step_body(case_id: str, **overrides) -> dict:
    body = {"id": str(uuid.uuid4()), "case_id": case_id, "type": "site_inspection", "started_at": STEP_START,
            "ended_at": STEP_END, "place": "中山路 1 号", "officers": [], "devices": []}
    body.update(overrides)
    return body


def make_step(client, headers, case_id: str, **overrides) -> dict:
    answer = client.post("/api/v1/steps", json=step_body(case_id, **overrides), headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def if_match(headers: dict, version: int) -> dict:
    return {**headers, "If-Match": f'"{version}"'}


def snapshot(rt, tables=CASEWORK_TABLES) -> dict:
    """Every row of the casework tables, to assert that a refused request changed nothing."""
    with rt.engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        return {table: sorted(map(repr, connection.execute(text(f"SELECT * FROM {table}"))))
                for table in tables if table in present}
