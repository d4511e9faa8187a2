"""The station agent end to end against `fullrecord serve`: every recording found, uploaded once
and confirmed by its SHA-256; names read; photos, audio and unknown names too; clock readings
reported; --delete-after-receipt; status on the command line and on the server."""
import json
import os

import pytest

from tests.station_world import sha256, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_every_recording_reaches_the_server_once_with_what_its_name_tells(world):
    world.register("DSJ-001")
    video = os.urandom(700_000)
    same_name = os.urandom(300_000)
    photo, audio, unknown = os.urandom(50_000), os.urandom(80_000), os.urandom(40_000)
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", video)
    world.put("DSJ-002/DSJ-001_8001_20261120101500_0001.MP4", same_name)  # the same name under another recorder
    world.put("DSJ-001/DSJ-001_8001_20261120102000_0002.JPG", photo)
    world.put("DSJ-001/audio/DSJ-001_8001_20261120102500_0003.WAV", audio)
    world.put("DSJ-009/记录 0001.mp4", unknown)
    world.put("DSJ-001/.hidden.mp4", b"not a recording")
    world.put("DSJ-001/copying.mp4.part", b"still being copied")
    (world.watch / "DSJ-001" / "clock.json").write_text(json.dumps(
        {"device_time": "2026-11-20T10:00:07", "station_time": "2026-11-20T10:00:00+08:00"}))

    output = world.run_agent()

    [clip] = world.clips(sha256(video))
    assert (clip["device_serial"], clip["officer_id"], clip["filename"]) == (
        "DSJ-001", "8001", "DSJ-001_8001_20261120101500_0001.MP4")
    assert clip["recorded_at"].startswith("2026-11-20T02:15:00")  # 10:15 in Asia/Shanghai
    assert clip["clock_offset_seconds"] == 7.0  # the reported clock reading corrects it
    assert len(world.clips(sha256(same_name))) == 1
    assert [c["filename"] for c in world.clips(sha256(photo))] == ["DSJ-001_8001_20261120102000_0002.JPG"]
    assert len(world.clips(sha256(audio))) == 1
    [odd] = world.clips(sha256(unknown))
    assert odd["device_serial"] == "DSJ-009" and odd["filename"] == "记录 0001.mp4"
    assert world.clips(sha256(b"not a recording")) == [] and world.clips(sha256(b"still being copied")) == []

    rows = world.journal_rows()
    assert sorted(rows) == ["DSJ-001/DSJ-001_8001_20261120101500_0001.MP4",
                            "DSJ-001/DSJ-001_8001_20261120102000_0002.JPG",
                            "DSJ-001/audio/DSJ-001_8001_20261120102500_0003.WAV",
                            "DSJ-002/DSJ-001_8001_20261120101500_0001.MP4", "DSJ-009/记录 0001.mp4"]
    assert {row["state"] for row in rows.values()} == {"done"}
    assert rows["DSJ-001/DSJ-001_8001_20261120101500_0001.MP4"]["clip_id"] == clip["id"]
    assert all((world.watch / path).exists() for path in rows)  # kept without --delete-after-receipt
    assert "clock of DSJ-001 reported (offset +7.0 s)" in output

    status = world.status()
    assert status.returncode == 0, status.stderr
    assert "完成 5" in status.stdout and clip["id"] in status.stdout
    listed = json.loads(world.status("--json").stdout)
    assert listed["counts"]["done"] == 5 and listed["clock_readings"][0]["state"] == "reported"

    [station] = [s for s in world.admin_get("/api/v1/stations") if s["name"] == "采集站-一号"]
    report = station["agent_report"]
    assert report["files"]["done"] == 5 and report["backlog_bytes"] == 0 and report["watch_dir"] == str(world.watch)

    again = world.run_agent(log_name="again.log")  # nothing new: nothing sent again
    assert "found" not in again and len(world.clips(sha256(video))) == 1


def test_delete_after_receipt_removes_only_what_the_server_confirmed(world):
    first, second = os.urandom(200_000), os.urandom(200_000)
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", first)
    world.run_agent("--delete-after-receipt")
    assert not (world.watch / "DSJ-001/DSJ-001_8001_20261120101500_0001.MP4").exists()
    assert len(world.clips(sha256(first))) == 1

    # the recorder reuses the name for a new recording: it is new evidence and goes up too
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", second, age=30)
    world.run_agent("--delete-after-receipt", log_name="again.log")
    assert len(world.clips(sha256(second))) == 1
    listed = json.loads(world.status("--json").stdout)
    assert listed["counts"] == {"pending": 0, "hashing": 0, "ready": 0, "uploading": 0, "done": 1, "failed": 0}


def test_clock_readings_of_unknown_recorders_wait_and_bad_ones_say_why(world):
    world.register("DSJ-001")
    reading = {"device_time": "2026-11-20T10:00:00", "station_time": "2026-11-20T10:00:03"}
    (world.watch / "DSJ-001").mkdir()
    (world.watch / "DSJ-001" / "clock.json").write_text(json.dumps(reading))
    (world.watch / "DSJ-404").mkdir()
    (world.watch / "DSJ-404" / "clock.json").write_text(json.dumps(reading))
    (world.watch / "DSJ-bad").mkdir()
    (world.watch / "DSJ-bad" / "clock.json").write_text('{"device_time": "soon"')
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", os.urandom(1000))
    world.run_agent()
    readings = {item["path"]: item for item in json.loads(world.status("--json").stdout)["clock_readings"]}
    assert readings["DSJ-001/clock.json"]["state"] == "reported"
    assert readings["DSJ-404/clock.json"]["state"] == "retry"  # it may be registered later
    assert "DSJ-404" in readings["DSJ-404/clock.json"]["reason"]
    assert readings["DSJ-bad/clock.json"]["state"] == "failed"
    assert readings["DSJ-bad/clock.json"]["reason"].startswith("时钟文件无法使用：not JSON")
    [device] = [d for d in world.admin_get("/api/v1/devices") if d["serial"] == "DSJ-001"]
    assert device["latest_clock_report"]["offset_seconds"] == -3.0
    shown = world.status()
    assert "clock retry\tDSJ-404/clock.json" in shown.stdout and "clock failed\tDSJ-bad/clock.json" in shown.stdout


def test_flagged_recordings_go_first_then_the_newest(world):
    world.configure(parallel_uploads=1)
    oldest, newest, flagged = os.urandom(1000), os.urandom(1000), os.urandom(1000)
    world.put("DSJ-001/DSJ-001_8001_20261120080000_0001.MP4", oldest)
    world.put("DSJ-001/DSJ-001_8001_20261120180000_0003.MP4", newest)
    world.put("DSJ-001/DSJ-001_8001_20261120070000_0002_IMP.MP4", flagged)  # marked important on the recorder
    world.run_agent()
    received = [world.clips(sha256(data))[0]["received_at"] for data in (flagged, newest, oldest)]
    assert received == sorted(received)
    [first] = world.clips(sha256(flagged))
    assert first["filename"].endswith("_IMP.MP4") and first["officer_id"] == "8001"  # the tag keeps the name readable
