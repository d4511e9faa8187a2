"""Reachability checks of the parts the stack depends on, shared by /healthz and start-up."""
from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import RedisError

from storage.db import DatabaseUnavailable, check_database, redacted
from storage.exceptions import StorageError


@dataclass(frozen=True)
class CheckResult:
    part: str
    ok: bool
    address: str
    error: str | None = None

    def line(self) -> str:
        return f"{self.part} unreachable at {self.address}: {self.error}"


def redis_address(url: str) -> str:
    return redacted(url) if "@" in url else url


def check_database_part(rt) -> CheckResult:
    address = redacted(rt.settings.database_url)
    try:
        check_database(rt.engine)
    except DatabaseUnavailable as exc:
        return CheckResult("database", False, address, str(exc).split(": ", 1)[-1])
    return CheckResult("database", True, address)


def check_redis_part(rt) -> CheckResult:
    address = redis_address(rt.settings.redis.url)
    try:
        connection = rt.redis(for_checks=True)
        try:
            connection.ping()
        finally:
            connection.close()
    except (RedisError, OSError) as exc:
        return CheckResult("redis", False, address, str(exc) or type(exc).__name__)
    return CheckResult("redis", True, address)


def check_store_part(rt) -> CheckResult:
    try:
        store = rt.store
        address = store.address
        store.check()
    except StorageError as exc:
        return CheckResult("object store", False, _store_address(rt), str(exc))
    return CheckResult("object store", True, address)


def _store_address(rt) -> str:
    config = rt.settings.object_store
    if config.backend == "s3":
        scheme = "https" if config.s3.secure else "http"
        return f"{scheme}://{config.s3.endpoint}/{config.s3.bucket}"
    return f"file://{rt.settings.local_store_root}"


def check_all(rt, parts=("database", "redis", "object store")) -> list[CheckResult]:
    checks = {"database": check_database_part, "redis": check_redis_part, "object store": check_store_part}
    return [checks[part](rt) for part in parts]
