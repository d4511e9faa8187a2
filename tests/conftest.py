"""Shared fixtures. Real services (Redis, PostgreSQL, SeaweedFS) are started on 127.0.0.1 on
free ports by tests/services and stopped afterwards."""
import pytest

from server import create_app
from server.runtime import Runtime
from server.settings import SOURCE_CONFIG, load_settings
from storage.migrate import upgrade
from storage.objects.local import LocalObjectStore
from tests.custody_keys import KEY_NAME, make_key

pytest_plugins = ["tests.services.fixtures"]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """Every object store backend, for the contract suite."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "store", chunk_size=256 * 1024)
    return request.getfixturevalue("s3_store")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each database the project supports: the embedded SQLite file and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_settings(tmp_path):
    signing_key = tmp_path / "custody-keys" / KEY_NAME  # outside data_dir, whose contents tests check
    make_key(signing_key)

    def make(**overrides):
        values = {"data_dir": str(tmp_path / "data"), "auth.password_memory_cost": 8192,
                  "auth.password_time_cost": 1, "custody.signing_key": str(signing_key),
                  "audit.nightly.enabled": False, **overrides}
        return load_settings(SOURCE_CONFIG, env={}, overrides=values)
    return make


@pytest.fixture
def settings(make_settings, database_url, redis_url):
    return make_settings(**{"database.url": database_url, "redis.url": redis_url})


@pytest.fixture
def app(settings):
    application = create_app(settings)
    upgrade(application.extensions["fullrecord"].engine)
    yield application
    application.extensions["fullrecord"].close()


@pytest.fixture
def app_with(make_settings, tmp_path, redis_url):
    """app_with(**overrides): another app on a SQLite file of its own and the test's Redis,
    with these settings; all are closed afterwards."""
    apps = []

    def make(**overrides):
        values = {"database.url": f"sqlite:///{tmp_path / f'app{len(apps)}.sqlite'}", "redis.url": redis_url,
                  **overrides}
        application = create_app(make_settings(**values))
        upgrade(application.extensions["fullrecord"].engine)
        apps.append(application)
        return application
    yield make
    for application in apps:
        application.extensions["fullrecord"].close()


@pytest.fixture
def rt(app) -> Runtime:
    return app.extensions["fullrecord"]


@pytest.fixture
def client(app):
    return app.test_client()
