"""Local store `put` (SHA-256 and SM3 in the same pass, fsync'd) against `dd conv=fdatasync`
of the same bytes, in the same run. Target from the issue: throughput ratio >= 0.9.

SM3 cannot be split across cores (each block depends on the one before), so a put can
never be faster than hashing the bytes with SM3 alone. The run therefore also measures
SM3 alone. Where the disk is the slower of the two (design.md's machines: ~250 MB/s disk,
~490 MB/s SM3) the issue's target is asserted as written; where the disk is faster than SM3
can ever go, the target is unreachable by any implementation, and the assertion is the same
ratio against the real bound: the slower of dd and SM3 alone.
"""
import hashlib
import subprocess

from storage.objects.local import LocalObjectStore
from tests.perf.common import bench_bytes, make_source, median, record, timed

ROUNDS = 3


def sm3_alone(path, chunk=1 << 20):
    digest = hashlib.new("sm3")
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def test_local_put_against_dd(tmp_path):
    size = bench_bytes("FULLRECORD_BENCH_LOCAL_BYTES", 1 << 30)
    source = make_source(tmp_path, size)
    store = LocalObjectStore(tmp_path / "store")
    dd_times, put_times, sm3_times = [], [], []
    for round_ in range(ROUNDS):
        target = tmp_path / f"dd-{round_}.bin"
        dd_times.append(timed(lambda: subprocess.run(
            ["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fdatasync", "status=none"], check=True)))
        target.unlink()
        with open(source, "rb") as stream:
            put_times.append(timed(lambda: store.put(f"bench/{round_}", stream)))
        sm3_times.append(timed(lambda: sm3_alone(source)))
    dd, put, sm3 = median(dd_times), median(put_times), median(sm3_times)
    mib = size / (1 << 20)
    result = {
        "bytes": size,
        "dd_fdatasync_MiB_s": round(mib / dd, 1),
        "put_sha256_sm3_MiB_s": round(mib / put, 1),
        "sm3_alone_MiB_s": round(mib / sm3, 1),
        "ratio_put_vs_dd": round(dd / put, 3),
        "ratio_put_vs_bound": round(max(dd, sm3) / put, 3),
        "target": 0.9,
        "target_reachable": sm3 <= dd,
        "rounds": ROUNDS,
        "command": "make bench",
    }
    record("local_put", result)
    if not result["target_reachable"]:
        print(f"dd writes at {result['dd_fdatasync_MiB_s']} MiB/s but SM3 alone hashes at "
              f"{result['sm3_alone_MiB_s']} MiB/s: the ratio against dd cannot reach 0.9 here; "
              f"asserting the ratio against SM3 alone instead")
    assert result["ratio_put_vs_bound"] >= result["target"], result
