"""The per-process services an app uses: settings, database engine, object store, Redis.

Made once by create_app (or by the CLI and workers without an app) and never at import.
"""
from __future__ import annotations

import functools

from flask import current_app
from redis import Redis

from server.settings import Settings
from storage.db import make_engine, make_sessionmaker
from storage.objects import ObjectStore, open_store

HEALTH_SOCKET_TIMEOUT = 3.0
"""Seconds a health or start-up check waits for Redis before calling it down."""


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = make_engine(settings.database_url, settings.database.connect_timeout)
        self.session = make_sessionmaker(self.engine)

    @functools.cached_property
    def store(self) -> ObjectStore:
        return open_store(self.settings)

    @functools.cached_property
    def staging(self):
        """Where unfinished uploads wait (storage/staging): this host's disk, or the S3 bucket."""
        from storage.staging import open_staging
        return open_staging(self.settings, self.store)

    def redis(self, *, for_checks: bool = False) -> Redis:
        timeout = HEALTH_SOCKET_TIMEOUT if for_checks else None
        return Redis.from_url(self.settings.redis.url,
                              socket_connect_timeout=self.settings.redis.connect_timeout,
                              socket_timeout=timeout)

    def password_hasher(self):
        from server.passwords import make_hasher
        return make_hasher(self.settings.auth)

    def close(self) -> None:
        self.engine.dispose()

    def init_app(self, app) -> None:
        app.extensions["fullrecord"] = self


def runtime() -> Runtime:
    return current_app.extensions["fullrecord"]
