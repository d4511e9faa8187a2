"""The Runtime a job runs with. `fullrecord worker` sets it before RQ forks a work horse for
each job, so jobs (plain functions taking ids) find settings, database and store here."""
from __future__ import annotations

import os

from server.runtime import Runtime

_runtime: Runtime | None = None
_fork_hook_registered = False


def set_runtime(rt: Runtime) -> None:
    global _runtime, _fork_hook_registered
    _runtime = rt
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True


def runtime() -> Runtime:
    """The worker's Runtime; a process that never set one (an ad-hoc RQ worker) reads the config."""
    global _runtime
    if _runtime is None:
        from server.settings import load_settings
        set_runtime(Runtime(load_settings()))
    return _runtime


def _after_fork_in_child() -> None:
    # A forked work horse must not share the parent's pooled database or S3 connections.
    if _runtime is not None:
        _runtime.engine.dispose(close=False)
        _runtime.__dict__.pop("store", None)

