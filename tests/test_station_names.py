"""Recording file names: fields from configurable patterns, what is known from unknown names."""
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st

from ingest.station.names import DEFAULT_PATTERN, NamePattern, compile_pattern, kind_of, recognise

ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT = [DEFAULT_PATTERN]


def test_default_pattern_reads_every_field():
    name = recognise("DSJ-A1/DSJ-A1_012345_20240305143007_0042.MP4", DEFAULT, ZONE)
    assert (name.serial, name.officer, name.seq, name.kind) == ("DSJ-A1", "012345", 42, "video")
    assert name.recorded_at == datetime(2024, 3, 5, 14, 30, 7, tzinfo=ZONE)
    assert name.matched_pattern == DEFAULT_PATTERN.regex
    tagged = recognise("DSJ-A1/DSJ-A1_012345_20240305143007_0043_IMP.MP4", DEFAULT, ZONE)
    assert (tagged.officer, tagged.seq, tagged.recorded_at) == ("012345", 43, datetime(2024, 3, 5, 14, 30, 7, tzinfo=ZONE))


def test_kinds_by_extension_any_case():
    assert [kind_of(f"a.{ext}") for ext in ("Mp4", "MOV", "ts", "3GP")] == ["video"] * 4
    assert [kind_of(f"a.{ext}") for ext in ("JPG", "jpeg", "heic", "png")] == ["photo"] * 4
    assert [kind_of(f"a.{ext}") for ext in ("WAV", "amr", "m4a", "mp3", "aac")] == ["audio"] * 5
    assert kind_of("notes.txt") == kind_of("README") == "other"
    assert recognise("R1/R1_7_20240101000000_1.jpg", DEFAULT, ZONE).kind == "photo"


def test_unknown_name_keeps_the_recorder_folder_and_kind():
    name = recognise("DOCK3/sub/VID_0001.wav", DEFAULT, ZONE)
    assert (name.serial, name.officer, name.recorded_at, name.seq) == ("DOCK3", None, None, None)
    assert (name.kind, name.matched_pattern) == ("audio", None)
    assert recognise("loose.mp4", DEFAULT, ZONE).serial is None


def test_impossible_date_tries_the_next_pattern():
    fallback = NamePattern(r"(?P<serial>\w+?)_.*")
    name = recognise("R/X1_007_20241301120000_0001.MP4", [DEFAULT_PATTERN, fallback], ZONE)
    assert (name.serial, name.recorded_at, name.matched_pattern) == ("X1", None, fallback.regex)
    assert recognise("R/X1_007_20240230120000_0001.MP4", DEFAULT, ZONE).matched_pattern is None


def test_custom_pattern_without_serial_uses_the_folder():
    pattern = NamePattern(r"(?P<time>\d{8}-\d{6})_(?P<officer>\d+)\.\w+", "%Y%m%d-%H%M%S")
    name = recognise("HX900/2023/20231231-235959_88.mp4", [pattern], ZONE)
    assert (name.serial, name.officer, name.seq) == ("HX900", "88", None)
    assert name.recorded_at == datetime(2023, 12, 31, 23, 59, 59, tzinfo=ZONE)


def test_time_with_its_own_offset_is_kept():
    pattern = NamePattern(r"(?P<time>.+)\.mp4", "%Y%m%dT%H%M%S%z")
    name = recognise("R/20240101T000000+0000.mp4", [pattern], ZONE)
    assert name.recorded_at.utcoffset().total_seconds() == 0


def test_bad_patterns_are_named():
    for regex, fmt, words in [("(", None, "regular expression"), (r"(?P<device>\w+)", None, "device"),
                              (r"(?P<time>\d+)", None, "time_format")]:
        try:
            compile_pattern(regex, fmt)
        except ValueError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(regex)


@given(st.text(max_size=80))
def test_any_name_never_raises(text):
    name = recognise(text, DEFAULT, ZONE)
    assert name.kind in ("video", "photo", "audio", "other")


@given(serial=st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True),
       officer=st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True),
       moment=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
       seq=st.integers(0, 99_999_999), ext=st.sampled_from(["MP4", "mp4", "JPG", "wav", "Mov"]))
def test_default_pattern_round_trips(serial, officer, moment, seq, ext):
    moment = moment.replace(microsecond=0)
    file_name = f"{serial}_{officer}_{moment:%Y%m%d%H%M%S}_{seq:04d}.{ext}"
    name = recognise(f"dock/{file_name}", DEFAULT, ZONE)
    assert (name.serial, name.officer, name.seq) == (serial, officer, seq)
    assert name.recorded_at == moment.replace(tzinfo=ZONE)
