"""Several API nodes that share nothing but PostgreSQL, Redis and the object store (and the session
secret and custody signing key), each with its own data, staging and work directories and its own
host name (a UTS namespace: `unshare --uts`), behind nginx round-robin. All on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from server.runtime import Runtime
from storage.ingest_models import Upload
from tests.cli import run_cli
from tests.cluster.proxy import Nginx
from tests.services.ports import free_port
from tests.services.serve import Server
from tests.services.workers import write_config

LEASE_SECONDS = 3
"""An upload's lease here: a killed or stopped node's upload is free again after this long."""
SECRET = "cluster-test-session-secret-0123456789abcdef"


class Node:
    def __init__(self, name: str, directory: Path, config: Path, own_staging: bool = True):
        self.name, self.directory = name, directory
        directory.mkdir(parents=True)
        env = {"FULLRECORD_CONFIG": str(config), "FULLRECORD_DATA_DIR": str(directory / "data")}
        if own_staging:  # each host's own disk: with S3 nothing may be staged there
            env["FULLRECORD_STAGING_DIR"] = str(directory / "staging")
        prefix = ["unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "--"]
        self.server = Server(env, free_port(), log=directory / "serve.log", prefix=prefix)
        self.port, self.url = self.server.port, self.server.url

    def start(self) -> "Node":
        self.server.start()
        return self

    def kill(self) -> None:
        self.server.kill()

    def stop(self) -> None:
        self.server.stop()

    def staging_is_empty(self) -> bool:
        staging = self.directory / "staging"
        return not staging.exists() or not any(staging.iterdir())


class Cluster:
    def __init__(self, tmp: Path, make_settings, database_url: str, redis_url: str, seaweedfs, nodes: int = 2,
                 hash_uri: bool = False, local_store: bool = False, **overrides):
        """`local_store`: one node on the local object store and local staging (the `make up`
        layout), for comparisons; several nodes need S3."""
        if os.geteuid() != 0 or shutil.which("unshare") is None:  # a skipped proof must not read as passed
            pytest.fail("the multi-node tests give each node its own host name with `unshare --uts`, "
                        "which needs root (as CI runs)", pytrace=False)
        assert not (local_store and nodes > 1), "API nodes share only S3, not a local store"
        if local_store:
            store = {"object_store.backend": "local", "object_store.local.root": str(tmp / "store"),
                     "uploads.staging_dir": str(tmp / "staging")}
        else:
            s3 = seaweedfs.settings(f"cluster-{os.urandom(6).hex()}")
            store = {"object_store.backend": "s3", **{f"object_store.s3.{key}": value for key, value in s3.items()}}
        self.settings = make_settings(**{
            "database.url": database_url, "redis.url": redis_url, **store,
            "uploads.lock_lease_seconds": LEASE_SECONDS, "server.secret_key": SECRET, **overrides})
        self.config = write_config(self.settings, tmp / "config.yaml")
        env = {"FULLRECORD_CONFIG": str(self.config)}
        for argv in (("db", "upgrade"),):
            done = run_cli(*argv, env=env)
            assert done.returncode == 0, done.stderr
        added = run_cli("admin", "add-station", "集群采集站", env=env)
        assert added.returncode == 0, added.stderr
        self.token = added.stdout.strip().splitlines()[-1]
        self.rt = Runtime(self.settings)
        self.nodes = [Node(f"node-{chr(ord('a') + i)}", tmp / f"node-{i}", self.config, own_staging=not local_store)
                      for i in range(nodes)]
        for node in self.nodes:
            node.start()
        self.proxy = Nginx(tmp / "nginx", [node.port for node in self.nodes], hash_uri=hash_uri).start()
        self.url = self.proxy.url

    def node_by_host(self, host: str) -> Node:
        [node] = [node for node in self.nodes if node.name == host]
        return node

    def lock_holder(self, upload_id: str) -> tuple[str, int] | None:
        """(host, pid) of the process holding the upload's lease, from its owner tag."""
        with self.rt.session() as session:
            owner = session.scalar(select(Upload.lock_owner).where(Upload.id == upload_id))
        if not owner:
            return None
        host, pid, _tag = owner.split(":")
        return host, int(pid)

    def close(self) -> None:
        self.proxy.stop()
        for node in self.nodes:
            if node.server.process is not None and node.server.process.poll() is None:
                try:  # a process left stopped by a test would ignore SIGTERM
                    os.killpg(node.server.process.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                node.stop()
        self.rt.close()
