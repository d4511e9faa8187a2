"""Configuration: defaults from config.yaml, environment overrides, clear errors."""
import subprocess
import sys

import pytest

from server.settings import SOURCE_CONFIG, ConfigError, load_settings


def write_config(tmp_path, extra: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(SOURCE_CONFIG.read_text(encoding="utf-8") + "\n" + extra + "\n", encoding="utf-8")
    return str(path)


def test_defaults_follow_the_design(tmp_path):
    settings = load_settings(SOURCE_CONFIG, env={"FULLRECORD_DATA_DIR": str(tmp_path)})
    assert settings.timezone == "Asia/Shanghai" and settings.language == "zh-CN"
    assert settings.database_url == f"sqlite:///{tmp_path / 'fullrecord.db'}"
    assert settings.local_store_root == tmp_path / "objects"
    assert settings.retention.field_recording_days >= 183
    seizure = settings.step_types["seizure"]
    assert (seizure.requirement, seizure.min_devices) == ("continuous", 2)
    assert settings.step_types["document_service"].requirement == "recorded"
    assert settings.step_types["case_closing"].requirement == "none"
    assert settings.audit.upload_deadline_hours == 24 and settings.audit.link_buffer_minutes == 5


def test_environment_overrides_addresses_and_secrets(tmp_path):
    env = {
        "FULLRECORD_DATABASE_URL": "postgresql+psycopg://u:secret@db.example:5432/fr",
        "FULLRECORD_REDIS_URL": "redis://queue.example:6380/2",
        "FULLRECORD_OBJECT_STORE": "s3",
        "FULLRECORD_S3_ENDPOINT": "s3.example:9000",
        "FULLRECORD_S3_SECURE": "true",
        "FULLRECORD_S3_ACCESS_KEY": "AK",
        "FULLRECORD_S3_SECRET_KEY": "SK",
        "FULLRECORD_PORT": "9090",
    }
    settings = load_settings(SOURCE_CONFIG, env=env)
    assert settings.database_url == env["FULLRECORD_DATABASE_URL"]
    assert settings.redis.url == env["FULLRECORD_REDIS_URL"]
    assert settings.object_store.backend == "s3"
    assert settings.object_store.s3.secure is True and settings.object_store.s3.secret_key == "SK"
    assert settings.server.port == 9090


def test_config_file_named_by_environment(tmp_path):
    path = write_config(tmp_path, "timezone: Europe/Berlin")
    assert load_settings(env={"FULLRECORD_CONFIG": path}).timezone == "Europe/Berlin"


@pytest.mark.parametrize("extra, expected", [
    ("server: {port: 99999}", ["server.port", "99999", "less than or equal to 65535"]),
    ("timezone: Mars/Olympus", ["timezone", "'Mars/Olympus'", "IANA time zone"]),
    ("object_store: {backend: ftp}", ["object_store.backend", "'ftp'", "'local' or 's3'"]),
    ("redis: {url: 'http://x'}", ["redis.url", "'http://x'", "redis://"]),
    ("retention: {field_recording_days: many}", ["retention.field_recording_days", "'many'", "integer"]),
    ("datadir: /tmp", ["datadir", "unknown key"]),
    ("step_types: {Bad-Code: {name_zh: x, name_en: x, requirement: none}}", ["step_types", "Bad-Code"]),
    ("step_types: {seizure: {name_zh: x, name_en: x, requirement: sometimes}}",
     ["step_types.seizure.requirement", "'sometimes'", "'none', 'recorded' or 'continuous'"]),
])
def test_invalid_values_name_key_value_and_expectation(tmp_path, extra, expected):
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, extra), env={})
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file .*missing.yaml"):
        load_settings(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_settings(bad, env={})
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(bad, env={})


def test_cli_refuses_to_start_on_invalid_config(tmp_path):
    path = write_config(tmp_path, "server: {port: -1}")
    result = subprocess.run([sys.executable, "-m", "server", "--config", path, "db", "upgrade"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "server.port = -1" in lines[0]
    assert not (tmp_path / "data").exists()
