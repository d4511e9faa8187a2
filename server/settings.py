"""The one typed settings object that the server, the workers and the CLI share.

Read from config.yaml, then overridden by FULLRECORD_* environment variables for
addresses and secrets. Nothing is read at import time: call `load_settings()`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest.station import names

CONFIG_ENV = "FULLRECORD_CONFIG"
SOURCE_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"

# Environment variable -> dotted key it overrides.
ENV_OVERRIDES = {
    "FULLRECORD_DATA_DIR": "data_dir",
    "FULLRECORD_TIMEZONE": "timezone",
    "FULLRECORD_HOST": "server.host",
    "FULLRECORD_PORT": "server.port",
    "FULLRECORD_SECRET_KEY": "server.secret_key",
    "FULLRECORD_DATABASE_URL": "database.url",
    "FULLRECORD_REDIS_URL": "redis.url",
    "FULLRECORD_OBJECT_STORE": "object_store.backend",
    "FULLRECORD_LOCAL_STORE_ROOT": "object_store.local.root",
    "FULLRECORD_STAGING_DIR": "uploads.staging_dir",
    "FULLRECORD_WORK_DIR": "processing.work_dir",
    "FULLRECORD_CUSTODY_SIGNING_KEY": "custody.signing_key",
    "FULLRECORD_S3_ENDPOINT": "object_store.s3.endpoint",
    "FULLRECORD_S3_SECURE": "object_store.s3.secure",
    "FULLRECORD_S3_BUCKET": "object_store.s3.bucket",
    "FULLRECORD_S3_ACCESS_KEY": "object_store.s3.access_key",
    "FULLRECORD_S3_SECRET_KEY": "object_store.s3.secret_key",
}


class ConfigError(Exception):
    """The configuration cannot be read or is invalid; the message names key, value and expectation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    processes: int = Field(2, ge=1)
    threads: int = Field(8, ge=1)
    request_timeout: int = Field(600, ge=1)
    secret_key: str | None = None


class WebSettings(_Strict):
    session_idle_minutes: int = Field(30, ge=1)
    """A signed-in page session ends after this long without a request."""
    session_max_hours: int = Field(12, ge=1)
    """... and this long after signing in, whatever the activity."""
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    """Secure flag of the session cookie: auto sets it when the request came over HTTPS; behind
    a proxy that ends TLS, use always."""
    page_size: int = Field(50, ge=5, le=500)
    """Rows per page in the pages' lists."""
    station_stale_minutes: int = Field(60, ge=1)
    """The stations page highlights a station not heard from for this long."""
    clock_offset_flag_seconds: float = Field(30.0, gt=0)
    """The stations page flags a recorder clock off by more than this (its clips are corrected,
    but the clock should be set)."""


class DatabaseSettings(_Strict):
    url: str | None = None
    connect_timeout: float = Field(5, gt=0)


class RedisSettings(_Strict):
    url: str = "redis://127.0.0.1:6379/0"
    connect_timeout: float = Field(5, gt=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL starting with redis://, rediss:// or unix://")
        return value


class LocalStoreSettings(_Strict):
    root: str | None = None


class S3StoreSettings(_Strict):
    endpoint: str = "127.0.0.1:8333"
    secure: bool = False
    bucket: str = Field("fullrecord-evidence", min_length=3, max_length=63)
    access_key: str | None = None
    secret_key: str | None = None
    region: str | None = None
    retention_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"


class ObjectStoreSettings(_Strict):
    backend: Literal["local", "s3"] = "local"
    local: LocalStoreSettings = LocalStoreSettings()
    s3: S3StoreSettings = S3StoreSettings()
    chunk_size: int = Field(1 << 20, ge=64 * 1024, le=64 << 20)


class RetentionSettings(_Strict):
    field_recording_days: int = Field(183, ge=1)
    evidence_permanent: bool = True
    closed_case_years: float = Field(10, ge=0)
    sweep_hours: float = Field(24, gt=0)


class CustodySettings(_Strict):
    signing_key: str | None = None
    trusted_keys: list[str] = Field(default_factory=list)
    checkpoint_every_events: int = Field(1000, ge=1)
    checkpoint_every_minutes: float = Field(10, gt=0)


class ExportSettings(_Strict):
    queue: str = "long"
    timeout_seconds: int = Field(21600, ge=60)


class UploadSettings(_Strict):
    max_size: int = Field(64 << 30, gt=0)
    expires_hours: int = Field(168, gt=0)
    staging_dir: str | None = None
    max_open_per_station: int = Field(64, ge=1)
    lock_lease_seconds: float = Field(30, ge=1)
    idle_timeout_seconds: float = Field(60, gt=0)


class AuthSettings(_Strict):
    password_time_cost: int = Field(3, ge=1)
    password_memory_cost: int = Field(65536, ge=8192)
    password_parallelism: int = Field(2, ge=1)
    user_token_hours: int = Field(12, ge=1)
    rotation_grace_minutes: int = Field(60, ge=0)
    """Minutes a rotated token keeps working beside its replacement."""


class LimitSettings(_Strict):
    """Request rate limits (server/limits.py); each limit is Flask-Limiter's notation, e.g. "10 per minute"."""
    enabled: bool = True
    per_token: str = "1200 per minute"
    per_address: str = "300 per minute"
    sign_in: str = "10 per minute"
    trusted_proxies: int = Field(0, ge=0, le=10)

    @field_validator("per_token", "per_address", "sign_in")
    @classmethod
    def _limit(cls, value: str) -> str:
        from limits import parse_many
        try:
            parse_many(value)
        except ValueError:
            raise ValueError('expected a rate such as "10 per minute" (several separated by ";")') from None
        return value


class SecuritySettings(_Strict):
    hsts: Literal["auto", "always", "never"] = "auto"
    """Strict-Transport-Security: auto sends it to requests that came over HTTPS."""
    hsts_max_age_seconds: int = Field(31536000, ge=0)


class WorkerSettings(_Strict):
    queues: list[str] = Field(default_factory=lambda: ["short", "long", "default"], min_length=1)
    sweep_seconds: float = Field(60, gt=0)
    stale_temp_hours: float = Field(24, gt=0)


class ReviewProfile(_Strict):
    """How a review copy is made. The fast path copies the streams when the original already
    plays in a browser (its container, codecs and pixel format are all listed below)."""
    max_height: int = Field(720, ge=64)
    video_codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = Field(23, ge=0, le=51)
    pix_fmt: str = "yuv420p"
    audio_codec: str = "aac"
    audio_bitrate: str = "128k"
    remux_containers: list[str] = Field(default_factory=lambda: ["mp4", "mov"])
    remux_video_codecs: list[str] = Field(default_factory=lambda: ["h264"])
    remux_audio_codecs: list[str] = Field(default_factory=lambda: ["aac"])
    remux_pix_fmts: list[str] = Field(default_factory=lambda: ["yuv420p", "yuvj420p"])


class ThumbnailSettings(_Strict):
    poster_width: int = Field(640, ge=16)
    poster_at: float = Field(0.1, ge=0, le=1)
    sheet_columns: int = Field(4, ge=1, le=16)
    sheet_rows: int = Field(4, ge=1, le=16)
    sheet_tile_width: int = Field(320, ge=16)


class ObstructionSettings(_Strict):
    sample_fps: float = Field(2, gt=0, le=30)
    analysis_width: int = Field(160, ge=16, le=1920)
    keyframe_interval_seconds: float = Field(2.0, ge=0)
    decode_processes: int = Field(2, ge=1, le=64)
    dark_luma: float = Field(30, ge=0, le=255)
    covered_contrast: float = Field(18, ge=0, le=255)
    blurred_sharpness: float = Field(0.06, ge=0)
    min_interval_seconds: float = Field(1.0, ge=0)


STEP_NAMES = ("verify", "probe", "review", "thumbnails", "obstruction")
QUEUE_KEYS = STEP_NAMES + ("remux",)
"""Queues are chosen per step, and for a review copy made by remuxing (seconds) apart from one
made by transcoding (minutes)."""

RECORDER_INPUT_FORMATS = ("mov", "mp4", "3gp", "avi", "matroska", "webm", "mpegts", "flv", "image2", "jpeg_pipe",
                          "png_pipe", "wav", "mp3", "aac", "amr")
"""ffmpeg demuxers that read what recorders produce: MP4/MOV/3GP, AVI, MKV/WebM, MPEG-TS, FLV, JPEG and
PNG stills, WAV/MP3/AAC/AMR audio. image2 reads only the file it is given (the workers name it)."""
INPUT_FORMATS_NEVER_ALLOWED = ("concat", "hls", "dash", "ffmetadata", "image2pipe", "sdp", "rtsp", "rtp", "tee")
"""Demuxers that open other files or addresses named inside the input: never allowed on evidence."""


def _exactly(value: dict, expected: tuple[str, ...]) -> dict:
    missing = [key for key in expected if key not in value]
    unknown = [key for key in value if key not in expected]
    if missing or unknown:
        raise ValueError(f"expected exactly the keys {', '.join(expected)}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    return value


class ProcessingSettings(_Strict):
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    work_dir: str | None = None
    probe_timeout_seconds: float = Field(60, gt=0)
    retries: int = Field(3, ge=0)
    retry_backoff_seconds: list[int] = Field(default_factory=lambda: [10, 60, 300], min_length=1)
    stale_after_seconds: float = Field(300, gt=0)
    queues: dict[str, str] = Field(default_factory=lambda: {
        "verify": "short", "probe": "short", "remux": "short", "thumbnails": "short", "review": "long",
        "obstruction": "long"})
    timeouts: dict[str, int] = Field(default_factory=lambda: {
        "verify": 3600, "probe": 300, "thumbnails": 600, "review": 21600, "obstruction": 7200})
    review_profiles: dict[str, ReviewProfile] = Field(default_factory=lambda: {"review": ReviewProfile()},
                                                      min_length=1)
    thumbnails: ThumbnailSettings = ThumbnailSettings()
    obstruction: ObstructionSettings = ObstructionSettings()
    memory_limit_bytes: int | None = Field(2 << 30, ge=64 << 20)
    """Data-segment limit of every ffmpeg/ffprobe process (RLIMIT_DATA); None: no limit."""
    max_pixels: int = Field(8192 * 8192, ge=64 * 64)
    """A picture declaring more pixels than this is not decoded."""
    max_duration_seconds: float = Field(86400, gt=0)
    """A file declaring a longer duration is not decoded."""
    input_formats: list[str] = Field(default_factory=lambda: list(RECORDER_INPUT_FORMATS), min_length=1)
    """Demuxers ffmpeg/ffprobe may use to open an original."""

    @field_validator("input_formats")
    @classmethod
    def _safe_formats(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ValueError(f"demuxer name {name!r}: expected 1-32 of a-z, 0-9, _")
            if name in INPUT_FORMATS_NEVER_ALLOWED:
                raise ValueError(f"demuxer {name!r} opens other files or addresses named in the input; "
                                 f"it cannot be allowed")
        return value

    @field_validator("queues")
    @classmethod
    def _every_queue(cls, value: dict) -> dict:
        return _exactly(value, QUEUE_KEYS)

    @field_validator("timeouts")
    @classmethod
    def _every_step(cls, value: dict) -> dict:
        return _exactly(value, STEP_NAMES)

    @field_validator("review_profiles")
    @classmethod
    def _profile_names(cls, value: dict) -> dict:
        for name in value:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ValueError(f"profile name {name!r}: expected 1-32 of a-z, 0-9, _")
        return value


class NightlyAudit(_Strict):
    enabled: bool = True
    at: str = "02:30"
    """Local time (settings.timezone) of day, HH:MM, at which the nightly audit starts."""
    lookback_days: int = Field(90, ge=1, le=3660)
    """The nightly audit covers the steps that started in this many days before the night."""

    @field_validator("at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("expected HH:MM on a 24-hour clock, e.g. 02:30")
        return value


class AuditDefaults(_Strict):
    max_gap_seconds: float = Field(30, ge=0)
    device_min_share: float = Field(0.8, gt=0, le=1)
    upload_deadline_hours: float = Field(24, gt=0)
    link_buffer_minutes: float = Field(5, ge=0)
    queue: str = "long"
    timeout_seconds: int = Field(7200, ge=60)
    processes: int = Field(2, ge=1, le=64)
    nightly: NightlyAudit = NightlyAudit()


class StepType(_Strict):
    name_zh: str
    name_en: str
    requirement: Literal["none", "recorded", "continuous"]
    min_devices: int = Field(1, ge=1)
    max_gap_seconds: float | None = Field(None, ge=0)
    device_min_share: float | None = Field(None, gt=0, le=1)
    upload_deadline_hours: float | None = Field(None, gt=0)
    link_buffer_minutes: float | None = Field(None, ge=0)


class LinkingSettings(_Strict):
    unlinked_after_hours: float = Field(24, gt=0)
    """A clip received this long ago and still linked to no step is listed as unlinked."""


class FilenamePattern(_Strict):
    regex: str
    """Matched against a whole file name; named groups serial, officer, time, seq."""
    time_format: str | None = None
    """strptime format of the time group, in the recorder's local time unless it has %z."""

    @model_validator(mode="after")
    def _compiles(self) -> "FilenamePattern":
        names.compile_pattern(self.regex, self.time_format)
        return self


class StationSettings(_Strict):
    """The collection-station agent (`fullrecord station run`)."""
    filename_patterns: list[FilenamePattern] = Field(default_factory=lambda: [
        FilenamePattern(regex=names.DEFAULT_REGEX, time_format=names.DEFAULT_TIME_FORMAT)])
    stable_seconds: float = Field(10, ge=0)
    parallel_uploads: int = Field(2, ge=1, le=64)
    bandwidth_limit_bytes_per_second: int | None = Field(None, gt=0)
    order: Literal["newest", "oldest"] = "newest"
    flagged_first: bool = True
    retry_backoff_seconds: list[float] = Field(default_factory=lambda: [2, 10, 60, 300], min_length=1)
    chunk_bytes: int = Field(256 << 20, ge=64 * 1024, le=1 << 30)
    request_checksum: Literal["crc32c", "sha1", "sha256"] = "crc32c"
    clock_file: str = "clock.json"
    journal: str | None = None
    flagged_regex: str = r"(?i)(^|[_\-.])(IMP|IMPORTANT|FLAG)([_\-.]|$)"
    scan_seconds: float = Field(5, gt=0)
    report_seconds: float = Field(30, gt=0)
    request_timeout_seconds: float = Field(60, gt=0)

    @field_validator("flagged_regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("retry_backoff_seconds")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(delay <= 0 for delay in value):
            raise ValueError("expected delays greater than 0 seconds")
        return value

    @field_validator("clock_file")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value:
            raise ValueError("expected a file name without folders, e.g. clock.json")
        return value

    def name_patterns(self) -> list[names.NamePattern]:
        return [names.NamePattern(item.regex, item.time_format) for item in self.filename_patterns]

    def journal_path(self, watch_dir: str | os.PathLike) -> Path:
        """station.journal, else a hidden file beside (not in) the watch dir, named after it,
        so that each watch dir has its own journal and wiping the watch dir keeps it."""
        if self.journal:
            return Path(self.journal).expanduser().resolve()
        watch = Path(watch_dir).expanduser().resolve()
        return watch.parent / f".{watch.name or 'root'}.fullrecord-station.db"


class Settings(_Strict):
    data_dir: Path = Path("./data")
    timezone: str = "Asia/Shanghai"
    language: Literal["zh-CN", "en"] = "zh-CN"
    server: ServerSettings = ServerSettings()
    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    object_store: ObjectStoreSettings = ObjectStoreSettings()
    retention: RetentionSettings = RetentionSettings()
    custody: CustodySettings = CustodySettings()
    exports: ExportSettings = ExportSettings()
    uploads: UploadSettings = UploadSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    security: SecuritySettings = SecuritySettings()
    workers: WorkerSettings = WorkerSettings()
    processing: ProcessingSettings = ProcessingSettings()
    linking: LinkingSettings = LinkingSettings()
    station: StationSettings = StationSettings()
    audit: AuditDefaults = AuditDefaults()
    step_types: dict[str, StepType] = Field(min_length=1)
    source: str = Field("<defaults>", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as Asia/Shanghai") from None
        return value

    @field_validator("step_types")
    @classmethod
    def _step_codes(cls, value: dict[str, StepType]) -> dict[str, StepType]:
        for code in value:
            if not code.isidentifier() or code != code.lower():
                raise ValueError(f"step type code {code!r}: expected lower_case_with_underscores")
        return value

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> "Settings":
        object.__setattr__(self, "data_dir", self.data_dir.expanduser().resolve())
        return self

    def step_type_name(self, code: str, language: str) -> str:
        """A step type's name in this language (zh-CN or en); its code if config no longer lists it."""
        kind = self.step_types.get(code)
        if kind is None:
            return code
        return kind.name_en if language == "en" else kind.name_zh

    def audit_value(self, step_type: str, key: str) -> float:
        """An audit key (max_gap_seconds, link_buffer_minutes, ...) for a step type: its own
        value if it sets one, else the default under `audit`."""
        own = getattr(self.step_types[step_type], key) if step_type in self.step_types else None
        return own if own is not None else getattr(self.audit, key)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'fullrecord.db'}"

    @property
    def local_store_root(self) -> Path:
        root = self.object_store.local.root
        return Path(root).expanduser().resolve() if root else self.data_dir / "objects"

    @property
    def staging_dir(self) -> Path:
        directory = self.uploads.staging_dir
        return Path(directory).expanduser().resolve() if directory else self.data_dir / "staging"

    @property
    def work_dir(self) -> Path:
        directory = self.processing.work_dir
        return Path(directory).expanduser().resolve() if directory else self.data_dir / "work"

    @property
    def custody_signing_key(self) -> Path:
        key = self.custody.signing_key
        return Path(key).expanduser().resolve() if key else self.data_dir / "custody-signing-key.pem"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def find_config(explicit: str | os.PathLike | None = None, env: dict | None = None) -> Path:
    """The config file to read: explicit path, $FULLRECORD_CONFIG, ./config.yaml, the checkout's."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path.cwd() / "config.yaml"
    return local if local.is_file() else SOURCE_CONFIG


def _set_dotted(tree: dict, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def _printable(key: str) -> str:
    """A key as it can be read on one line (a key may hold a line break or a control character)."""
    return key if key.isprintable() else repr(key)


SECRET_KEY_WORDS = ("password", "secret", "token", "access_key", "signing_key")
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _shown_value(key: str, value):
    """A rejected value as an error message may show it: secrets hidden, URL passwords masked
    (these messages end up in service logs)."""
    if any(word in key.lower() for word in SECRET_KEY_WORDS):
        return "(hidden)"
    if isinstance(value, str):
        return URL_PASSWORD.sub(r"\1***@", value)
    return value


def _format_errors(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(_printable(str(part)) for part in item["loc"]) or "(top level)"
        value = _shown_value(key, item.get("input"))
        if item["type"] == "missing":
            lines.append(f"{source}: {key} is missing ({item['msg']})")
        elif item["type"] == "extra_forbidden":
            lines.append(f"{source}: {key} = {value!r}: unknown key (check its spelling)")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {key} = {value!r}: {msg}")
    return "; ".join(lines)


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None,
                  overrides: dict | None = None) -> Settings:
    """Read, override and validate the configuration. Raises ConfigError with a one-line reason."""
    env = os.environ if env is None else env
    config_path = find_config(path, env)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {config_path}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{config_path}: not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    for name, dotted in ENV_OVERRIDES.items():
        if env.get(name):
            _set_dotted(raw, dotted, env[name])
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(str(config_path), exc)) from None
    object.__setattr__(settings, "source", str(config_path))
    return settings
