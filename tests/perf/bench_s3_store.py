"""S3 put with hashing against the same SDK upload without hashing: target ratio >= 0.9.

Run by `make bench` (pytest tests/perf -o python_files='bench_*.py' -s), against the real
SeaweedFS of the test fixture on this machine. Both sides make the same minio call (same
part size, one part in flight); the only difference is S3ObjectStore's SHA-256 + SM3.
Size: FULLRECORD_BENCH_S3_BYTES (default 1 GiB).

Two layouts are measured in the same run:
- `separate_cores` (the target): the server is pinned to one core and the client to the
  other, as in production where the S3 cluster runs on its own hosts;
- `shared_cores` (for information): server and client share both cores, so the client's
  hashing (about 4 CPU-seconds per GiB, SM3 being most of it) takes CPU from the server.
"""
import hashlib
import json
import os
import resource
import shutil
import statistics
import time
from pathlib import Path

import pytest

SIZE = int(os.environ.get("FULLRECORD_BENCH_S3_BYTES", 1 << 30))
ROUNDS = 3
TARGET = 0.9
RESULT = Path(__file__).resolve().parents[2] / "test-artifacts" / "bench" / "s3_put.json"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (the SeaweedFS server)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 64 << 20))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of a process onto these CPUs (threads made later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass


def _measure(seaweedfs, plain, hashed, client, bucket) -> dict:
    runs = {"sdk_without_hashing": [], "store_put_with_hashing": []}
    for round_ in range(ROUNDS):
        order = [("sdk_without_hashing", plain), ("store_put_with_hashing", hashed)]
        for name, upload in order if round_ % 2 == 0 else reversed(order):
            key = f"bench/{name}-{round_}"
            server, client_cpu, start = _cpu_seconds(seaweedfs.pid), _own_cpu_seconds(), time.perf_counter()
            upload(key)
            seconds = time.perf_counter() - start
            runs[name].append({"seconds": round(seconds, 3),
                               "server_cpu_seconds": round(_cpu_seconds(seaweedfs.pid) - server, 2),
                               "client_cpu_seconds": round(_own_cpu_seconds() - client_cpu, 2)})
            version = client.stat_object(bucket, key).version_id
            client.remove_object(bucket, key, version_id=version)
    median = {name: statistics.median(run["seconds"] for run in values) for name, values in runs.items()}
    throughput = {name: SIZE / seconds / 1e6 for name, seconds in median.items()}
    ratio = throughput["store_put_with_hashing"] / throughput["sdk_without_hashing"]
    return {"median_seconds": {k: round(v, 3) for k, v in median.items()},
            "throughput_MBps": {k: round(v, 1) for k, v in throughput.items()},
            "ratio": round(ratio, 3), "runs": runs}


def test_s3_put_with_hashing_keeps_sdk_throughput(seaweedfs, tmp_path):
    # The file, and every upload until it is deleted (SeaweedFS reclaims space later, on vacuum).
    need = SIZE * (2 * ROUNDS + 1) + (1 << 30)
    free = shutil.disk_usage(tmp_path).free
    if free < need:
        pytest.skip(f"needs {need >> 20} MiB free disk for a {SIZE >> 20} MiB benchmark, has {free >> 20} MiB; "
                    "set FULLRECORD_BENCH_S3_BYTES lower")
    source = tmp_path / "source.bin"
    sha256 = _random_file(source, SIZE)
    store = seaweedfs.store()
    store.check()
    client = store.client

    def plain(key):
        with open(source, "rb") as stream:
            return client.put_object(store.bucket, key, stream, -1, part_size=store.part_size,
                                     num_parallel_uploads=1)

    def hashed(key):
        with open(source, "rb") as stream:
            result = store.put(key, stream)
        assert result.sha256 == sha256 and result.size == SIZE

    all_cpus = os.sched_getaffinity(0)
    layouts = {"shared_cores": _measure(seaweedfs, plain, hashed, client, store.bucket)}
    if len(all_cpus) >= 2:
        server_cpu, client_cpu = sorted(all_cpus)[:2]
        _pin(seaweedfs.pid, {server_cpu})
        _pin(os.getpid(), {client_cpu})
        try:
            layouts["separate_cores"] = _measure(seaweedfs, plain, hashed, client, store.bucket)
        finally:
            _pin(os.getpid(), all_cpus)
            _pin(seaweedfs.pid, all_cpus)
    target_layout = "separate_cores" if "separate_cores" in layouts else "shared_cores"
    ratio = layouts[target_layout]["ratio"]
    result = {
        "benchmark": "s3_put", "bytes": SIZE, "rounds": ROUNDS, "part_size": store.part_size,
        "cpu_count": os.cpu_count(), "server": "SeaweedFS weed mini on 127.0.0.1 (same machine)",
        "target_layout": target_layout, "ratio": ratio, "target": TARGET, "passed": ratio >= TARGET,
        "layouts": layouts, "command": "make bench",
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    for name, layout in layouts.items():
        speed = layout["throughput_MBps"]
        print(f"\nS3 put {SIZE >> 20} MiB, {name}, median of {ROUNDS}: SDK without hashing "
              f"{speed['sdk_without_hashing']:.0f} MB/s, S3ObjectStore.put with SHA-256+SM3 "
              f"{speed['store_put_with_hashing']:.0f} MB/s, ratio {layout['ratio']:.2f}")
    print(f"target ({target_layout}) >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'} -> {RESULT}")
    assert ratio >= TARGET, f"hashing S3 put runs at {ratio:.2f} of the plain SDK upload (target {TARGET})"
