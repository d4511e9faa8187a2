"""What the load run measures on the client side: every request (kind, status, latency, whether it
was the expected success) and every upload completed; summaries by kind."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

KINDS = ("tus POST", "tus PATCH", "tus PATCH (final)", "receipt GET", "report PUT")
"""Request kinds. The final PATCH (the one that completes the upload: the original is stored,
the clip row, custody event and outbox written) is its own kind: it costs more than the others."""
ERROR_SAMPLES = 20
"""Failed requests described in full in the report (all are counted)."""


@dataclass(frozen=True)
class Request:
    kind: str
    status: int | None
    """HTTP status; None when no answer came (connection error, timeout)."""
    seconds: float
    ok: bool
    at: float
    """Seconds since the run started."""


@dataclass
class RequestLog:
    started: float = field(default_factory=time.monotonic)
    requests: list[Request] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    uploads: int = 0
    upload_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.started

    def add(self, kind: str, status: int | None, seconds: float, ok: bool, detail: str = "") -> None:
        with self._lock:
            self.requests.append(Request(kind, status, seconds, ok, self.now()))
            if not ok and len(self.errors) < ERROR_SAMPLES:
                self.errors.append({"kind": kind, "status": status, "at": round(self.now(), 1),
                                    "detail": detail[:500]})

    def uploaded(self, size: int) -> None:
        with self._lock:
            self.uploads += 1
            self.upload_bytes += size

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(requests: list[Request]) -> dict:
    """Count, errors and p50/p95/p99/max latency in milliseconds."""
    values = sorted(request.seconds * 1000 for request in requests)
    return {"requests": len(requests), "errors": sum(not request.ok for request in requests),
            **{name: round(percentile(values, share), 1) for name, share in
               (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99), ("max_ms", 1.0))}}


def by_kind(requests: list[Request]) -> dict[str, dict]:
    """latency_summary per kind (in KINDS order) and "overall"."""
    summary = {kind: latency_summary([r for r in requests if r.kind == kind]) for kind in KINDS}
    summary["overall"] = latency_summary(requests)
    return summary


def statuses(requests: list[Request]) -> dict[str, int]:
    """How many answers of each status (\"none\": no answer), for the report."""
    counts: dict[str, int] = {}
    for request in requests:
        key = "none" if request.status is None else str(request.status)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
