"""A throw-away PostgreSQL cluster from Debian's server binaries, in a temp dir.

initdb and postgres refuse to run as root, and CI runs as root: then the cluster is
run as the unprivileged `postgres` system user in a directory it owns.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.services.ports import free_port, stop, tail, wait_for_port


def _bin_dir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        pytest.fail("PostgreSQL server binaries are missing: run `make test`, which installs postgresql")
    return os.path.dirname(candidates[-1])


def _as_user():
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root but there is no `postgres` user: install Debian's postgresql package")
    return ["runuser", "-u", "postgres", "--"], user


@pytest.fixture(scope="session")
def postgres_server():
    bin_dir = _bin_dir()
    prefix, user = _as_user()
    base = tempfile.mkdtemp(prefix="fullrecord-pg-")
    data, sockets, log = f"{base}/data", f"{base}/sock", f"{base}/postgres.log"
    os.mkdir(sockets)
    if user is not None:
        for path in (base, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    subprocess.run([*prefix, f"{bin_dir}/initdb", "-D", data, "-U", "fullrecord", "-A", "trust",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
    process = subprocess.Popen(
        [*prefix, f"{bin_dir}/postgres", "-D", data, "-p", str(port), "-k", sockets,
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
         "-c", f"logging_collector=off"],
        start_new_session=True, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        yield f"postgresql+psycopg://fullrecord@127.0.0.1:{port}"
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}\n{tail(log)}")
    finally:
        stop(process, timeout=20)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{postgres_server}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
