"""Shared helpers for the benchmarks (`make bench`): data, timing, result files."""
import json
import os
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "bench"


def bench_bytes(env_name: str, default: int) -> int:
    return int(os.environ.get(env_name, default))


def make_source(directory: Path, size: int) -> Path:
    """A file of random bytes, written once and read from the page cache by every round."""
    path = directory / "source.bin"
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(os.urandom(1 << 20))
        handle.write(os.urandom(size & ((1 << 20) - 1)))
    return path


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def median(values) -> float:
    return statistics.median(values)


def record(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"\n{name}: " + json.dumps(result, ensure_ascii=False))
    return path
