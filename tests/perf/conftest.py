"""Fixtures of the benchmarks (collected only by `make bench`)."""
from tests.perf.tus_harness import api_server, memory, scratch  # noqa: F401
