"""A job's workspace: the original streamed in and checked, and workspaces of dead jobs removed."""
import hashlib
import io
import json
import subprocess
from types import SimpleNamespace

import pytest

from storage.objects.local import LocalObjectStore
from storage.owners import host_name
from workers.workspace import OWNER_FILE, OriginalChanged, Workspace, remove_abandoned


@pytest.fixture
def stored(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    data = b"recorded bytes" * 1000
    result = store.put_original(io.BytesIO(data))
    clip = SimpleNamespace(original_key=result.key, sha256=result.sha256, size=result.size, filename="DSJ_0001.MP4")
    return store, clip, data


def test_the_original_arrives_whole_under_its_extension(tmp_path, stored):
    store, clip, data = stored
    with Workspace(tmp_path / "work", "probe-x") as workspace:
        path = workspace.fetch_original(store, clip)
        assert path.name == "original.mp4" and path.read_bytes() == data
    assert not workspace.path.exists(), "the workspace is removed when the job ends"


def test_an_original_that_changed_is_refused(tmp_path, stored):
    store, clip, _ = stored
    clip.sha256 = hashlib.sha256(b"what was received").hexdigest()
    with Workspace(tmp_path / "work", "review-x") as workspace, pytest.raises(OriginalChanged, match=clip.sha256):
        workspace.fetch_original(store, clip)


def test_an_unsafe_extension_is_dropped(tmp_path, stored):
    store, clip, _ = stored
    clip.filename = "evil.mp4;rm -rf"
    with Workspace(tmp_path / "work", "probe-x") as workspace:
        assert workspace.fetch_original(store, clip).name == "original"


def test_only_workspaces_of_dead_jobs_on_this_host_are_removed(tmp_path):
    work = tmp_path / "work"
    alive = Workspace(work, "alive")
    dead = work / "dead.1"
    dead.mkdir()
    (dead / OWNER_FILE).write_text(json.dumps({"host": host_name(), "pid": _ended_pid()}))
    elsewhere = work / "elsewhere.1"
    elsewhere.mkdir()
    (elsewhere / OWNER_FILE).write_text(json.dumps({"host": "another-host", "pid": _ended_pid()}))
    assert remove_abandoned(work) == 1
    assert not dead.exists() and alive.path.exists() and elsewhere.exists()


def _ended_pid() -> int:
    """The pid of a process that has certainly ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
