"""Hypothesis on the parsers that read what others wrote (issue 10 groundwork): the tus
Upload-Metadata header, the configuration file and the stations' clock files. Whatever comes in,
each either gives a valid result or raises its own error with a message — never anything else."""
from __future__ import annotations

import base64
from zoneinfo import ZoneInfo

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.metadata import MetadataError, clip_metadata
from ingest.station import clocks
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
