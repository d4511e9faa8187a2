"""The station: section of config.yaml."""
from pathlib import Path

import pytest

from ingest.station.names import DEFAULT_PATTERN
from server.settings import SOURCE_CONFIG, ConfigError, StationSettings, load_settings


def load(tmp_path, extra):
    path = tmp_path / "config.yaml"
    path.write_text(SOURCE_CONFIG.read_text(encoding="utf-8") + "\n" + extra + "\n", encoding="utf-8")
    return load_settings(path, env={})


def test_config_yaml_states_the_defaults():
    station = load_settings(SOURCE_CONFIG, env={}).station
    assert station == StationSettings()
    assert station.name_patterns() == [DEFAULT_PATTERN]
    assert (station.stable_seconds, station.parallel_uploads, station.order) == (10, 2, "newest")
    assert station.chunk_bytes == 256 << 20 and station.bandwidth_limit_bytes_per_second is None


def test_journal_path(tmp_path):
    station = StationSettings()
    assert station.journal_path(tmp_path / "dock") == tmp_path / ".dock.fullrecord-station.db"
    assert StationSettings(journal=str(tmp_path / "j.db")).journal_path("/x") == tmp_path / "j.db"
    assert station.journal_path("/").parent == Path("/")


@pytest.mark.parametrize("extra, expected", [
    ("station: {filename_patterns: [{regex: '(?P<device>.+)'}]}", ["station.filename_patterns.0", "device"]),
    ("station: {filename_patterns: [{regex: '(?P<time>\\d+)'}]}", ["time_format"]),
    ("station: {filename_patterns: [{regex: '('}]}", ["regular expression"]),
    ("station: {order: random}", ["station.order", "'newest' or 'oldest'"]),
    ("station: {retry_backoff_seconds: [1, 0]}", ["station.retry_backoff_seconds", "greater than 0"]),
    ("station: {clock_file: a/clock.json}", ["station.clock_file", "without folders"]),
    ("station: {parallel_uploads: 0}", ["station.parallel_uploads"]),
])
def test_bad_station_values_are_named(tmp_path, extra, expected):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    for word in expected:
        assert word in str(caught.value)
