"""Small disks made real with tmpfs mounts (root only; tests skip elsewhere)."""
import subprocess

import pytest


def mount_tmpfs(path, size, *options):
    """A tmpfs of `size` (e.g. "1m") at path; options such as "ro" are added to the mount's."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join((f"size={size}", *options)), "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); needs root")


def resize(path, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """make(name, size, *options) mounts a tmpfs under tmp_path; all are unmounted afterwards."""
    mounted = []

    def make(name, size="1m", *options):
        path = tmp_path / name
        mount_tmpfs(path, size, *options)
        mounted.append(path)
        return path
    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)
