"""Pure parts of the station agent: backoff with jitter, what the upload metadata says, clock
files, the bandwidth limit and the file checks before each chunk."""
import base64
import hashlib
import json
import os
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.metadata import clip_metadata
from ingest.station import clocks
from ingest.station.agent import backoff_delay, upload_metadata
from ingest.station.journal import FileRow
from ingest.station.transfer import FileChanged, FileGone, FileState, Throttle, check_unchanged, look, sha256_of
from server.settings import SOURCE_CONFIG, load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCHEDULE = [2.0, 10.0, 60.0]


@given(st.integers(min_value=0, max_value=1000), st.floats(min_value=0, max_value=0.999999))
def test_backoff_follows_the_schedule_with_jitter_around_it(attempts, rnd):
    base = SCHEDULE[min(attempts, len(SCHEDULE) - 1)]
    delay = backoff_delay(attempts, SCHEDULE, lambda: rnd)
    assert 0.5 * base <= delay < 1.5 * base


def test_backoff_differs_between_stations():
    delays = {round(backoff_delay(1, SCHEDULE, random.Random(seed).random), 6) for seed in range(20)}
    assert len(delays) == 20


def row(path, **values):
    fields = dict(path=path, recorder=path.split("/")[0], size=10, mtime_ns=1_763_604_000 * 10**9, recorded_at=None,
                  flagged=False, sha256="ab" * 32, state="ready", upload_url=None, offset=0, clip_id=None, reason=None,
                  attempts=0, next_try_at=None, first_seen=0.0, updated=0.0)
    return FileRow(**{**fields, **values})


@pytest.fixture(scope="module")
def settings():
    return load_settings(SOURCE_CONFIG, env={})


def test_metadata_from_a_recognised_name_passes_the_servers_own_validation(settings):
    values = upload_metadata(row("DSJ-001/DSJ-001_8001_20261120101500_0007.MP4", flagged=True),
                             "/dock/DSJ-001/DSJ-001_8001_20261120101500_0007.MP4", settings)
    assert values["device_id"] == "DSJ-001" and values["officer_id"] == "8001" and values["seq"] == "7"
    assert values["recorded_at"] == "2026-11-20T10:15:00+08:00" and values["recorded_at_source"] == "name"
    assert values["flagged"] == "true" and values["station_path"] == "DSJ-001/DSJ-001_8001_20261120101500_0007.MP4"
    header = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())
    parsed = clip_metadata(header, SHANGHAI)
    assert parsed["recorded_at"] == datetime(2026, 11, 20, 10, 15, tzinfo=SHANGHAI)


def test_metadata_of_an_unknown_name_keeps_what_is_known(settings):
    values = upload_metadata(row("记录仪 7/VID 0001.mp4"), "/dock/记录仪 7/VID 0001.mp4", settings)
    assert values["device_id"] == "unknown" and values["recorder_folder"] == "记录仪 7"
    assert values["recorded_at_source"] == "mtime" and "officer_id" not in values
    assert datetime.fromisoformat(values["recorded_at"]) == datetime.fromtimestamp(1_763_604_000, tz=timezone.utc)
    assert values["kind"] == "video" and values["name_pattern"] == "none"


def test_metadata_of_a_very_deep_file_still_passes_the_servers_validation(settings):
    deep = "/".join(["深层目录" + str(i) for i in range(200)]) + "/DSJ-001/DSJ-001_8001_20261120101500_0007.MP4"
    values = upload_metadata(row(deep), "/dock/" + deep, settings)
    assert values["station_path"].endswith("/DSJ-001/DSJ-001_8001_20261120101500_0007.MP4")
    assert values["station_path"].startswith("…") and len(values["station_path"]) == 1024
    header = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())
    assert clip_metadata(header, SHANGHAI)["station_path"] == values["station_path"]


def test_a_clock_file_reads_in_the_station_zone_and_names_its_recorder():
    reading = clocks.parse(json.dumps({"device_time": "2026-11-20T10:00:07", "station_time": "2026-11-20T02:00:00Z",
                                       "vendor": "x"}), "DSJ-001/clock.json", 5, SHANGHAI)
    assert reading.serial == "DSJ-001"
    assert reading.device_time - reading.station_time == timedelta(seconds=7)
    named = clocks.parse('{"device_time": "2026-11-20T10:00:07+08:00", "station_time": "2026-11-20T10:00:00+08:00",'
                         ' "serial": "DSJ-777"}', "a/b/clock.json", 5, SHANGHAI)
    assert named.serial == "DSJ-777"


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"device_time": "2026-11-20T10:00:07"}', "station_time"),
    ('{"device_time": "yesterday", "station_time": "2026-11-20T10:00:00"}', "device_time 'yesterday'"),
    ('{"device_time": "2026-11-20T10:00:07", "station_time": "2026-11-20T10:00:00", "serial": "../x"}', "serial"),
])
def test_a_bad_clock_file_says_what_is_wrong(text, message):
    with pytest.raises(clocks.ClockFileError, match=message.replace("(", r"\(")):
        clocks.parse(text, "DSJ-001/clock.json", 1, SHANGHAI)


def test_an_oversized_clock_file_is_not_read(tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "big/clock.json").write_bytes(b" " * (clocks.MAX_CLOCK_FILE_BYTES + 1))
    with pytest.raises(clocks.ClockFileError, match="larger than"):
        clocks.read(tmp_path, "big/clock.json", 1, SHANGHAI)


class FakeTime:
    def __init__(self):
        self.now, self.slept = 100.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_throttle_spreads_bytes_at_the_configured_rate():
    fake = FakeTime()
    throttle = Throttle(1000, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        throttle.take(500)
    assert fake.now == pytest.approx(102.0)  # 2,500 bytes at 1,000/s: the first goes at once
    unlimited = Throttle(None, clock=fake.clock, sleep=fake.sleep)
    unlimited.take(10**9)
    assert fake.now == pytest.approx(102.0)


def test_a_file_is_checked_before_each_chunk(tmp_path):
    path = tmp_path / "a.mp4"
    path.write_bytes(b"x" * 100)
    state = look(str(path))
    check_unchanged(str(path), state)
    assert sha256_of(str(path), state) == hashlib.sha256(b"x" * 100).hexdigest()
    with open(path, "ab") as handle:
        handle.write(b"y")
    with pytest.raises(FileChanged):
        check_unchanged(str(path), state)
    os.truncate(path, 10)
    with pytest.raises(FileGone) as gone:
        check_unchanged(str(path), state)
    assert gone.value.text("en") == "truncated from 100 to 10 bytes before its upload finished"
    path.unlink()
    with pytest.raises(FileGone) as deleted:
        sha256_of(str(path), FileState(100, 1))
    assert deleted.value.text("zh-CN") == "文件在上传完成前被删除"
