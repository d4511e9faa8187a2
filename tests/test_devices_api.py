"""The recorder registry and its assignment history through the HTTP API, on SQLite and
PostgreSQL: sign-out / sign-in, periods entered and corrected after the fact, and the clips
they link. Also the upload and custody helpers the clock, link and queue tests share."""
import base64
import hashlib
import os
import uuid

import pytest
from sqlalchemy import select

from storage.custody import ACCESS_ACTIONS
from storage.models import CustodyEvent
from tests.casework_api import (DISTRICT, OTHER_DISTRICT, SQUAD, admin_headers, make_case, make_officer, make_step,
                                make_units, snapshot, station_headers, user_headers)

DAY = "2026-11-20T{}+08:00"
OFFICER, OTHER_OFFICER = "3201001", "3201002"
SERIAL = "DSJ-001"
DEVICE_TABLES = ("devices", "device_assignments", "clock_reports", "clip_links", "custody_events")


def at(clock: str) -> str:
    """A time on the test day, Beijing time: at("10:05") → 2026-11-20T10:05:00+08:00."""
    return DAY.format(clock if clock.count(":") == 2 else f"{clock}:00")


def upload(client, station, serial: str, recorded_at: str, officer: str | None = None) -> str:
    """Upload a small clip through the real tus API (creation-with-upload); its id from the receipt."""
    data = os.urandom(4096)
    values = {"filename": f"{serial}_{uuid.uuid4().hex[:6]}.mp4", "device_id": serial, "recorded_at": recorded_at,
              "sha256": hashlib.sha256(data).hexdigest(), **({"officer_id": officer} if officer else {})}
    metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())
    answer = client.post("/api/v1/uploads", data=data, headers={
        **station, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata,
        "Content-Type": "application/offset+octet-stream"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.headers["X-Clip-Id"]


def clip_links(client, headers, clip_id: str) -> list[dict]:
    answer = client.get(f"/api/v1/clips/{clip_id}", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["links"]


RETENTION_ACTIONS = ("legal_hold_set", "legal_hold_released", "retention_extended")


def custody(rt, clip_id: str) -> list[tuple[str, dict]]:
    """The clip's custody events about its receipt and links, in order: (action, details).
    Accesses (the tests read clips) and the retention changes links cause are tested elsewhere."""
    with rt.session() as session:
        return [(event.action, event.details) for event in session.scalars(
            select(CustodyEvent).where(CustodyEvent.clip_id == clip_id,
                                       CustodyEvent.action.not_in(ACCESS_ACTIONS + RETENTION_ACTIONS))
            .order_by(CustodyEvent.seq))]


@pytest.fixture
def world(client, rt):
    """Units, two officers of a squad, an administrator, an officer user and a station."""
    admin = admin_headers(client, rt)
    make_units(client, admin)
    make_officer(client, admin, OFFICER)
    make_officer(client, admin, OTHER_OFFICER)
    return {"admin": admin, "officer": user_headers(client, rt, "officer"), "station": station_headers(rt)}


def register(client, world, serial: str = SERIAL, unit: str | None = SQUAD):
    answer = client.put(f"/api/v1/devices/{serial}", json={"model": "DSJ-V9", "unit": unit}, headers=world["admin"])
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def sign_out(client, headers, officer: str, when: str, serial: str = SERIAL, assignment_id: str | None = None):
    return client.post(f"/api/v1/devices/{serial}/sign-out", headers=headers,
                       json={"id": assignment_id or str(uuid.uuid4()), "officer": officer, "at": when})


def test_registering_is_idempotent_and_checks_the_unit(client, rt, world):
    created = register(client, world, "DSJ-100")
    assert (created["serial"], created["unit"], created["current_assignment"]) == ("DSJ-100", SQUAD, None)
    again = client.put("/api/v1/devices/DSJ-100", json={"model": "DSJ-V9", "unit": SQUAD}, headers=world["admin"])
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"
    assert again.get_json()["id"] == created["id"]
    moved = client.put("/api/v1/devices/DSJ-100", json={"model": "DSJ-V10", "unit": DISTRICT}, headers=world["admin"])
    assert moved.status_code == 200 and "Idempotent-Replay" not in moved.headers
    assert (moved.get_json()["model"], moved.get_json()["unit"]) == ("DSJ-V10", DISTRICT)

    before = snapshot(rt, DEVICE_TABLES)
    unknown = client.put("/api/v1/devices/DSJ-101?lang=en", json={"unit": "9999"}, headers=world["admin"])
    assert unknown.status_code == 422 and "'9999'" in unknown.get_json()["errors"]["unit"][0]
    assert client.put("/api/v1/devices/DSJ-102", json={}, headers=world["officer"]).status_code == 403
    assert snapshot(rt, DEVICE_TABLES) == before
    assert client.get("/api/v1/devices/DSJ-101", headers=world["admin"]).status_code == 404

    register(client, world, "DSJ-200", unit=OTHER_DISTRICT)
    listed = client.get("/api/v1/devices", query_string={"unit": DISTRICT}, headers=world["officer"]).get_json()
    assert [device["serial"] for device in listed] == ["DSJ-100"]
    assert client.get("/api/v1/devices?unit=9999", headers=world["officer"]).status_code == 422


def test_sign_out_and_sign_in(client, rt, world):
    register(client, world)
    assignment_id = str(uuid.uuid4())
    out = sign_out(client, world["officer"], OFFICER, at("08:00"), assignment_id=assignment_id)
    assert out.status_code == 201, out.get_json()
    assert (out.get_json()["officer"], out.get_json()["ended_at"]) == (OFFICER, None)
    retry = sign_out(client, world["officer"], OFFICER, at("08:00"), assignment_id=assignment_id)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replay"] == "true"
    reused = sign_out(client, world["officer"], OTHER_OFFICER, at("08:00"), assignment_id=assignment_id)
    assert reused.status_code == 409 and assignment_id in reused.get_json()["message"]

    before = snapshot(rt, DEVICE_TABLES)
    taken = sign_out(client, world["station"], OTHER_OFFICER, at("09:00"))
    assert taken.status_code == 409
    assert OFFICER in taken.get_json()["message"] and "2026-11-20T00:00:00+00:00" in taken.get_json()["message"]
    unknown = sign_out(client, world["officer"], "3209999", at("09:00"), serial="DSJ-404")
    assert unknown.status_code == 404 and "DSJ-404" in unknown.get_json()["message"]
    early = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={"at": at("07:59")}, headers=world["station"])
    assert early.status_code == 422 and "at" in early.get_json()["errors"]
    naive = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={"at": "2026-11-20T12:00:00"},
                        headers=world["station"])
    assert naive.status_code == 422 and "+08:00" in naive.get_json()["errors"]["json"]["at"][0]
    assert snapshot(rt, DEVICE_TABLES) == before

    device = client.get(f"/api/v1/devices/{SERIAL}", headers=world["officer"]).get_json()
    assert device["current_assignment"]["officer"] == OFFICER
    back = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={"at": at("12:00")}, headers=world["station"])
    assert back.status_code == 200 and back.get_json()["ended_at"] == "2026-11-20T04:00:00+00:00"
    retried = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={"at": at("12:00")}, headers=world["station"])
    assert retried.status_code == 200 and retried.headers["Idempotent-Replay"] == "true"
    not_out = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={}, headers=world["station"])
    assert not_out.status_code == 409 and SERIAL in not_out.get_json()["message"]
    history = client.get(f"/api/v1/devices/{SERIAL}/assignments", headers=world["officer"]).get_json()
    assert [(row["id"], row["officer"], row["ended_at"]) for row in history] == [
        (assignment_id, OFFICER, "2026-11-20T04:00:00+00:00")]
    assert client.get(f"/api/v1/devices/{SERIAL}", headers=world["officer"]).get_json()["current_assignment"] is None


def test_a_clip_links_to_the_step_of_the_officer_who_had_the_recorder(client, rt, world):
    register(client, world)
    case = make_case(client, world["admin"], officers=[OFFICER])
    step = make_step(client, world["admin"], case["id"], officers=[OFFICER],
                     started_at=at("10:00"), ended_at=at("10:30"))
    assert sign_out(client, world["officer"], OFFICER, at("09:00")).status_code == 201
    during = upload(client, world["station"], SERIAL, at("10:05"))  # no officer_id in its metadata

    [link] = clip_links(client, world["admin"], during)
    assert (link["step_id"], link["case_id"], link["origin"], link["state"], link["rule"]) == (
        step["id"], case["id"], "auto", "linked", "officer")
    assert link["details"]["officers"] == {OFFICER: "assignment"}
    assert [action for action, _details in custody(rt, during)] == ["received", "linked"]

    signed_in = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={"at": at("10:10")}, headers=world["station"])
    assert signed_in.status_code == 200
    after = upload(client, world["station"], SERIAL, at("10:20"))  # inside the step, but nobody had the recorder
    assert clip_links(client, world["admin"], after) == []
    assert [item["step_id"] for item in clip_links(client, world["admin"], during)] == [step["id"]]


def test_history_entries_refuse_overlaps_and_corrections_move_links(client, rt, world):
    register(client, world)
    clip = upload(client, world["station"], SERIAL, at("10:05"))
    first = make_step(client, world["admin"], make_case(client, world["admin"])["id"], officers=[OFFICER],
                      started_at=at("10:00"), ended_at=at("10:30"))
    second = make_step(client, world["admin"], make_case(client, world["admin"])["id"], officers=[OTHER_OFFICER],
                       started_at=at("10:00"), ended_at=at("10:30"))
    assert clip_links(client, world["admin"], clip) == []

    entry = {"id": str(uuid.uuid4()), "officer": OFFICER, "started_at": at("09:00"), "ended_at": at("11:00")}
    added = client.post(f"/api/v1/devices/{SERIAL}/assignments", json=entry, headers=world["officer"])
    assert added.status_code == 201 and added.get_json()["linking"]["added"] == 1
    assert [link["step_id"] for link in clip_links(client, world["admin"], clip)] == [first["id"]]

    before = snapshot(rt, DEVICE_TABLES)
    overlapping = client.post(f"/api/v1/devices/{SERIAL}/assignments", headers=world["officer"], json={
        "id": str(uuid.uuid4()), "officer": OTHER_OFFICER, "started_at": at("10:30"), "ended_at": at("12:00")})
    assert overlapping.status_code == 409 and entry["id"] in overlapping.get_json()["message"]
    url = f"/api/v1/devices/{SERIAL}/assignments/{entry['id']}"
    assert client.patch(url, json={"officer": OTHER_OFFICER}, headers=world["officer"]).status_code == 403
    backwards = client.patch(url, json={"ended_at": at("08:00")}, headers=world["admin"])
    assert backwards.status_code == 422 and "ended_at" in backwards.get_json()["errors"]
    assert snapshot(rt, DEVICE_TABLES) == before

    corrected = client.patch(url, json={"officer": OTHER_OFFICER}, headers=world["admin"])
    assert corrected.status_code == 200 and corrected.get_json()["linking"] == {
        "clips": 1, "added": 1, "removed": 1, "updated": 0, "retimed": 0}
    assert [link["step_id"] for link in clip_links(client, world["admin"], clip)] == [second["id"]]
    events = custody(rt, clip)[-2:]
    assert sorted((action, details["step_id"]) for action, details in events) == [
        ("linked", second["id"]), ("unlinked", first["id"])]


def test_a_clip_from_an_unregistered_recorder_links_once_it_is_registered_and_assigned(client, rt, world):
    clip = upload(client, world["station"], "DSJ-NEW", at("10:05"))
    step = make_step(client, world["admin"], make_case(client, world["admin"])["id"], officers=[OFFICER],
                     started_at=at("10:00"), ended_at=at("10:30"))
    assert clip_links(client, world["admin"], clip) == []

    registered = register(client, world, "DSJ-NEW")
    assert registered["linking"]["clips"] == 1
    shown = client.get(f"/api/v1/clips/{clip}", headers=world["admin"]).get_json()
    assert shown["device_id"] == registered["id"] and shown["links"] == []
    assert sign_out(client, world["station"], OFFICER, at("09:00"), serial="DSJ-NEW").status_code == 201
    [link] = clip_links(client, world["admin"], clip)
    assert (link["step_id"], link["rule"]) == (step["id"], "officer")
    assert [action for action, _details in custody(rt, clip)] == ["received", "linked"]


def test_batch_sync_signs_recorders_out_and_in(client, rt, world):
    register(client, world)
    assignment_id = str(uuid.uuid4())
    operations = [
        {"op": "sign_out", "id": assignment_id, "body": {"device": SERIAL, "officer": OFFICER, "at": at("08:00")}},
        {"op": "sign_out", "body": {"device": SERIAL, "id": str(uuid.uuid4()), "officer": OTHER_OFFICER,
                                    "at": at("09:00")}},
        {"op": "sign_in", "body": {"device": SERIAL, "at": at("17:00")}},
        {"op": "sign_in", "body": {"device": SERIAL, "at": "17:00"}},
    ]
    answer = client.post("/api/v1/sync", json={"operations": operations}, headers=world["officer"])
    assert answer.status_code == 200, answer.get_json()
    results = answer.get_json()["results"]
    assert [item["status"] for item in results] == [201, 409, 200, 422]
    assert results[0]["id"] == results[2]["id"] == assignment_id and not results[0]["replay"]
    assert OFFICER in results[1]["error"]["message"] and "at" in results[3]["error"]["errors"]
    retried = client.post("/api/v1/sync", json={"operations": operations[:1]}, headers=world["officer"])
    assert retried.get_json()["results"][0]["replay"] is True
    history = client.get(f"/api/v1/devices/{SERIAL}/assignments", headers=world["officer"]).get_json()
    assert [(row["officer"], row["ended_at"]) for row in history] == [(OFFICER, "2026-11-20T09:00:00+00:00")]


def test_times_with_any_utc_offset_are_accepted_and_answered_in_utc(client, rt, world):
    register(client, world)
    answer = sign_out(client, world["officer"], OFFICER, "2026-11-19T20:00:00-05:00")
    assert answer.status_code == 201 and answer.get_json()["started_at"] == "2026-11-20T01:00:00+00:00"
    back = client.post(f"/api/v1/devices/{SERIAL}/sign-in", json={"at": "2026-11-20T10:00:00+09:00"},
                       headers=world["station"])
    assert back.status_code == 200 and back.get_json()["ended_at"] == "2026-11-20T01:00:00+00:00"
