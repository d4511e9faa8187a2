"""Clock reports through the HTTP API, on SQLite and PostgreSQL: a station's measurement of a
recorder's clock corrects its clips' times (the raw time stays as recorded) and re-links them."""
import uuid

import pytest

from tests.casework_api import make_case, make_step, snapshot
from tests.test_devices_api import (DEVICE_TABLES, OFFICER, SERIAL, at, clip_links, custody, register, sign_out,
                                    upload, world)  # noqa: F401  (world is a fixture)


@pytest.fixture
def scene(client, world):  # noqa: F811
    """The recorder signed out to the officer all day, and a step of that officer 10:00-10:30
    (linking window 09:55-10:35 with the default 5-minute buffer)."""
    register(client, world)
    assert sign_out(client, world["officer"], OFFICER, at("08:00")).status_code == 201
    case = make_case(client, world["admin"], officers=[OFFICER])
    step = make_step(client, world["admin"], case["id"], officers=[OFFICER], started_at=at("10:00"),
                     ended_at=at("10:30"))
    return {**world, "step": step}


def report(client, headers, device_time: str, station_time: str, serial: str = SERIAL):
    return client.post(f"/api/v1/devices/{serial}/clock-reports", headers=headers,
                       json={"device_time": device_time, "station_time": station_time})


def test_a_clock_report_moves_a_clip_into_the_step_window(client, rt, scene):
    clip = upload(client, scene["station"], SERIAL, at("10:40"))  # by the recorder's clock: after the window
    assert clip_links(client, scene["admin"], clip) == []

    # Docked at 11:50 true time, the recorder said 12:00: it runs 600 s ahead.
    created = report(client, scene["station"], at("12:00"), at("11:50"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["offset_seconds"] == 600.0 and body["station_id"] is not None
    assert body["linking"]["retimed"] == 1 and body["linking"]["added"] == 1

    shown = client.get(f"/api/v1/clips/{clip}", headers=scene["admin"]).get_json()
    assert shown["recorded_at"] == "2026-11-20T02:40:00+00:00"  # raw, unchanged
    assert shown["corrected_start"] == shown["corrected_end"] == "2026-11-20T02:30:00+00:00"
    assert shown["clock_offset_seconds"] == 600.0 and shown["clock_report_id"] == body["id"]
    [link] = shown["links"]
    assert link["step_id"] == scene["step"]["id"] and link["details"]["clock_offset_seconds"] == 600.0
    action, details = custody(rt, clip)[-1]
    assert action == "linked" and details["step_id"] == scene["step"]["id"]

    device = client.get(f"/api/v1/devices/{SERIAL}", headers=scene["officer"]).get_json()
    assert device["latest_clock_report"]["id"] == body["id"]


def test_a_clock_report_moves_a_clip_out_of_the_step_window(client, rt, scene):
    clip = upload(client, scene["station"], SERIAL, at("10:20"))
    assert [link["step_id"] for link in clip_links(client, scene["admin"], clip)] == [scene["step"]["id"]]

    # The recorder runs 30 minutes slow: 10:20 on its clock was 10:50 true time.
    created = report(client, scene["station"], at("11:30"), at("12:00"))
    assert created.status_code == 201 and created.get_json()["offset_seconds"] == -1800.0
    assert created.get_json()["linking"]["removed"] == 1
    shown = client.get(f"/api/v1/clips/{clip}", headers=scene["admin"]).get_json()
    assert shown["recorded_at"] == "2026-11-20T02:20:00+00:00"
    assert shown["corrected_start"] == "2026-11-20T02:50:00+00:00" and shown["links"] == []
    action, details = custody(rt, clip)[-1]
    assert (action, details["step_id"], details["why"]) == ("unlinked", scene["step"]["id"], "rule_no_longer_matches")


def test_replays_conflicts_and_bad_reports(client, rt, scene):
    first = report(client, scene["station"], at("12:00"), at("11:59:58"))
    assert first.status_code == 201
    again = report(client, scene["station"], at("12:00"), at("11:59:58"))
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]

    before = snapshot(rt, DEVICE_TABLES)
    conflict = report(client, scene["station"], at("12:00"), at("11:59:00"))
    assert conflict.status_code == 409 and first.get_json()["id"] in conflict.get_json()["message"]
    assert "station_time" in conflict.get_json()["errors"]
    naive = report(client, scene["station"], "2026-11-20T13:00:00", at("13:00"))
    assert naive.status_code == 422 and "device_time" in naive.get_json()["errors"]["json"]
    future = report(client, scene["station"], "2099-01-01T00:00:00+08:00", "2099-01-01T00:00:00+08:00")
    assert future.status_code == 422 and "station_time" in future.get_json()["errors"]
    implausible = report(client, scene["station"], "9999-01-01T00:00:00+00:00", at("13:00"))
    assert implausible.status_code == 422 and "device_time" in implausible.get_json()["errors"]
    assert report(client, scene["officer"], at("13:00"), at("13:00")).status_code == 403
    unknown = report(client, scene["station"], at("13:00"), at("13:00"), serial="DSJ-404")
    assert unknown.status_code == 404
    assert snapshot(rt, DEVICE_TABLES) == before

    listed = client.get(f"/api/v1/devices/{SERIAL}/clock-reports", headers=scene["officer"]).get_json()
    assert [(item["id"], item["offset_seconds"]) for item in listed] == [(first.get_json()["id"], 2.0)]


def test_the_report_from_the_docking_after_a_recording_is_the_one_in_force(client, rt, scene):
    clip = upload(client, scene["station"], SERIAL, at("10:40"))
    assert report(client, scene["station"], at("12:00"), at("11:50")).status_code == 201  # +600 s
    assert clip_links(client, scene["admin"], clip)[0]["step_id"] == scene["step"]["id"]
    # An earlier docking (10:45 on the recorder's clock, after the recording) measured no drift:
    # it, not the later one, tells the clip's true time, and the clip leaves the window again.
    earlier = report(client, scene["station"], at("10:45"), at("10:45"))
    assert earlier.status_code == 201 and earlier.get_json()["linking"]["removed"] == 1
    shown = client.get(f"/api/v1/clips/{clip}", headers=scene["admin"]).get_json()
    assert (shown["clock_offset_seconds"], shown["corrected_start"]) == (0.0, "2026-11-20T02:40:00+00:00")
    assert shown["links"] == [] and str(uuid.UUID(shown["clock_report_id"])) == earlier.get_json()["id"]
