"""Fixtures of the benchmarks (collected only by `make bench`)."""
import pytest

from storage.db import make_engine
from storage.migrate import upgrade
from tests.perf.tus_harness import api_server, memory, scratch  # noqa: F401


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(name, engine) of a migrated, empty database of each kind the project supports."""
    url = (f"sqlite:///{tmp_path / 'bench.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    upgrade(engine)
    yield request.param, engine
    engine.dispose()
