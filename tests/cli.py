"""Run the installed `fullrecord` console script as a user would."""
import os
import subprocess
import sysconfig
from pathlib import Path

import pytest


def fullrecord_script() -> str:
    path = Path(sysconfig.get_path("scripts")) / "fullrecord"
    if not path.exists():
        pytest.fail("the `fullrecord` console script is not installed: run `make test` (pip install -e '.[test]')")
    return str(path)


def run_cli(*args, env=None, input=None, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    full_env.update(env or {})
    return subprocess.run([fullrecord_script(), *args], env=full_env, input=input, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)
