"""Hypothesis on the parsers that read what others wrote (issue 10): the tus Upload-Metadata
header, the configuration file, the stations' clock files and the recorders' file names. Whatever
comes in, each either gives a valid result or raises its own error with a message (a file name:
the unknown-name reading) — never anything else."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from pathlib import PurePath
from zoneinfo import ZoneInfo

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.metadata import MetadataError, clip_metadata
from ingest.station import clocks, names
from server.settings import SOURCE_CONFIG, ConfigError, load_settings

ZONE = ZoneInfo("Asia/Shanghai")
KEYS = st.sampled_from(["filename", "device_id", "officer_id", "recorded_at", "sha256", "extra", "a b", ""])
TEXT = st.text(max_size=80)


def encoded(value: str) -> str:
    return base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()


@given(st.lists(st.tuples(KEYS, TEXT), max_size=8), st.booleans())
def test_upload_metadata_is_valid_or_a_metadata_error(pairs, garble):
    header = ",".join(f"{key} {encoded(value) if not garble else value}" for key, value in pairs)
    try:
        data = clip_metadata(header, ZONE)
    except MetadataError as exc:
        assert str(exc)
    except UnicodeEncodeError:  # surrogates cannot even be sent in a header
        return
    else:
        assert len(data["sha256"]) == 64 and data["recorded_at"].tzinfo is not None
        assert "/" not in data["filename"] and "\\x00" not in data["filename"]


@given(st.text(max_size=300))
def test_any_header_text_is_valid_or_a_metadata_error(header):
    try:
        clip_metadata(header, ZONE)
    except MetadataError as exc:
        assert str(exc)


YAML_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=6)
SECTIONS = st.sampled_from(["server", "web", "uploads", "station", "audit", "retention", "processing", "timezone",
                            "language", "linking", "workers"])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150, deadline=None)
@given(SECTIONS, st.one_of(TEXT, st.none()), YAML_VALUES)
def test_a_config_with_any_value_loads_or_names_what_is_wrong(tmp_path, section, key, value):
    config = yaml.safe_load(SOURCE_CONFIG.read_text(encoding="utf-8"))
    if key is None or not isinstance(config.get(section), dict):
        config[section] = value
    else:
        config[section][key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


@given(st.one_of(TEXT, st.dictionaries(st.sampled_from(["device_time", "station_time", "serial", "x"]),
                                       YAML_VALUES, max_size=4).map(lambda d: yaml.safe_dump(d))))
def test_a_clock_file_with_anything_in_it_is_a_reading_or_a_clock_file_error(text):
    try:
        reading = clocks.parse(text, "DSJ-001/clock.json", 1, ZONE)
    except clocks.ClockFileError as exc:
        assert str(exc)
    else:
        assert reading.device_time.tzinfo is not None and reading.serial


# --- station file names (station.filename_patterns) ---------------------------------------

STATION = load_settings(SOURCE_CONFIG, env={})
"""config.yaml as shipped: its file-name patterns and time zone."""
OTHER_PATTERNS = [
    names.NamePattern(r"(?P<time>\d{8}-\d{6})_(?P<officer>\d+)\.\w+", "%Y%m%d-%H%M%S"),  # no serial: the folder's
    names.NamePattern(r"(?P<serial>[A-Z]{2,4}\d{3,6})-(?P<time>\d{8}T\d{6}[+-]\d{4})-(?P<seq>\d+)\.mp4",
                      "%Y%m%dT%H%M%S%z"),  # the recorder writes its UTC offset
]
PATTERN_SETS = st.sampled_from([STATION.station.name_patterns(), STATION.station.name_patterns() + OTHER_PATTERNS])
NAME_TEXT = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=60).map(lambda raw: raw.decode("utf-8", "surrogateescape")),  # undecodable names on disk
    *(st.from_regex(pattern.regex, fullmatch=True) for pattern in STATION.station.name_patterns() + OTHER_PATTERNS))
FOLDERS = st.one_of(st.none(), st.text(st.characters(blacklist_characters="/\x00"), min_size=1, max_size=16))


def in_folder(folder: str | None, file_name: str) -> str:
    return f"{folder}/{file_name}" if folder else file_name


@given(PATTERN_SETS, FOLDERS, NAME_TEXT)
def test_any_file_name_is_a_valid_reading_or_the_unknown_name(patterns, folder, file_name):
    path = in_folder(folder, file_name)
    folder_part = PurePath(path).parts[0] if len(PurePath(path).parts) > 1 else None
    name = names.recognise(path, patterns, STATION.zone)
    assert name.kind in (*names.KINDS, "other")
    if name.matched_pattern is None:  # the fallback: uploaded with the folder as serial and the mtime
        assert (name.serial, name.officer, name.recorded_at, name.seq) == (folder_part, None, None, None)
        return
    pattern = next(item for item in patterns if item.regex == name.matched_pattern)
    groups = re.fullmatch(pattern.regex, PurePath(path).name).groupdict()
    assert name.serial == (groups.get("serial") or folder_part)
    assert name.serial is None or (name.serial and "/" not in name.serial)
    assert name.officer == (groups.get("officer") or None)
    if groups.get("time"):
        assert name.recorded_at.utcoffset() is not None
        if "%z" not in pattern.time_format:  # local time of the configured zone
            assert name.recorded_at.tzinfo == STATION.zone
    else:
        assert name.recorded_at is None
    assert name.seq == (int(groups["seq"]) if groups.get("seq") else None)
    assert name.seq is None or name.seq >= 0


CODES = st.from_regex(r"[A-Za-z0-9-]{1,24}", fullmatch=True)
MOMENTS = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
EXTENSIONS = st.one_of(st.sampled_from([ext for kind in names.KINDS.values() for ext in kind]).map(
    lambda ext: ext.upper() if len(ext) % 2 else ext), st.from_regex(r"[A-Za-z0-9]{1,5}", fullmatch=True))


@given(CODES, CODES, MOMENTS, st.integers(0, 99_999_999), st.one_of(st.none(), st.from_regex(r"[A-Za-z]{1,12}",
                                                                                             fullmatch=True)),
       EXTENSIONS, FOLDERS)
def test_names_built_from_valid_fields_read_back_as_those_fields(serial, officer, moment, seq, tag, ext, folder):
    """DEVICE_OFFICER_YYYYMMDDhhmmss_NNNN[_TAG].EXT as config.yaml reads it, in its time zone."""
    moment = moment.replace(microsecond=0)
    file_name = f"{serial}_{officer}_{moment:%Y%m%d%H%M%S}_{seq:04d}{f'_{tag}' if tag else ''}.{ext}"
    name = names.recognise(in_folder(folder, file_name), STATION.station.name_patterns(), STATION.zone)
    assert (name.serial, name.officer, name.seq) == (serial, officer, seq)
    assert name.recorded_at == moment.replace(tzinfo=STATION.zone)
    assert name.kind == names.kind_of(file_name) and name.matched_pattern is not None


@given(st.from_regex(r"[A-Z]{2,4}\d{3,6}", fullmatch=True).filter(str.isascii), MOMENTS,
       st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
       st.integers(0, 10**6), FOLDERS)
def test_a_time_with_its_own_offset_reads_back_as_that_instant(serial, moment, offset, seq, folder):
    moment = moment.replace(microsecond=0, tzinfo=offset)
    name = names.recognise(in_folder(folder, f"{serial}-{moment:%Y%m%dT%H%M%S%z}-{seq}.mp4"), OTHER_PATTERNS,
                           STATION.zone)
    assert (name.serial, name.seq, name.officer) == (serial, seq, None)
    assert name.recorded_at == moment and name.recorded_at.utcoffset() == moment.utcoffset()
