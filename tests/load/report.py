"""The load run's figures: one JSON document (test-artifacts/load.json) and the Markdown tables
printed for docs/reliability.md."""
from __future__ import annotations

import json
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARTIFACT = ARTIFACTS / "load.json"
LOGS = ARTIFACTS / "load-logs"
"""Where the run's server and worker logs are kept."""
BACKLOG_ROWS = 21
"""Rows of the printed backlog table (the JSON keeps every sample)."""


def write(figures: dict, path: Path = ARTIFACT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return path


def _row(*cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def markdown(figures: dict) -> str:
    run, totals = figures["run"], figures["totals"]
    drain = figures["drain"]
    drained = f"{drain['seconds']:.0f} s" if drain["drained"] else f"not drained after {drain['seconds']:.0f} s"
    lines = [
        f"Load run: {run['stations']} stations for {run['seconds']:.0f} s against `fullrecord serve` "
        f"({run['api_processes']}×{run['api_threads']} threads) with {run['workers']} workers; one recording every "
        f"{run['interval_seconds'][0]:g}-{run['interval_seconds'][1]:g} s per station, "
        f"{run['chunk_bytes'] // 1024} KiB PATCHes, a report every {run['report_seconds']:g} s.", "",
        _row("figure", "value"), _row("---", "---"),
        _row("uploads completed (receipt read back)", totals["uploads"]),
        _row("bytes uploaded", f"{totals['bytes'] / 1e6:.1f} MB"),
        _row("throughput", f"{totals['uploads_per_minute']:.1f} uploads/min, {totals['mb_per_second']:.2f} MB/s"),
        _row("requests", totals["requests"]),
        _row("errors", f"{totals['errors']} ({totals['error_rate'] * 100:.2f} %)"),
        _row("answers by status", ", ".join(f"{k}: {v}" for k, v in figures["statuses"].items())),
        _row("clips processed / stored", f"{figures['processing']['processed']} / {figures['processing']['clips']}"),
        _row("failed / retried processing steps", f"{figures['processing']['failed_steps']} / "
                                                  f"{figures['processing']['retried_steps']}"),
        _row("problem lines in the logs", ", ".join(f"{k}: {v}" for k, v in figures["log_problems"].items())),
        _row("largest backlog", f"{figures['backlog_peak']['queued_jobs']} jobs, "
                                f"{figures['backlog_peak']['unprocessed_clips']} clips"),
        _row("drain time after the stations stopped", drained),
        _row("API memory (RSS) start → end", f"{figures['memory']['api_rss_mb'][0]} → "
                                             f"{figures['memory']['api_rss_mb'][1]} MB"),
        "", _row("request", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"),
        _row(*["---"] * 7),
    ]
    for kind, summary in figures["latency"].items():
        lines.append(_row(kind, summary["requests"], summary["errors"], summary["p50_ms"], summary["p95_ms"],
                          summary["p99_ms"], summary["max_ms"]))
    lines += ["", _row("processing step", "runs", "mean s", "p95 s"), _row(*["---"] * 4)]
    for step, timing in figures["processing"]["step_seconds"].items():
        lines.append(_row(step, timing["runs"], timing["mean"], timing["p95"]))
    series = figures["backlog"]
    every = max(1, -(-len(series) // BACKLOG_ROWS))
    shown = series[::every] + ([series[-1]] if series and (len(series) - 1) % every else [])
    queues = list(series[0]["queued_by_queue"]) if series else []
    lines += ["", _row("t s", f"queued jobs ({' / '.join(queues)})", "running jobs", "unprocessed clips", "uploads",
                       "API RSS MB", "workers RSS MB"), _row(*["---"] * 7)]
    for sample in shown:
        by_queue = " / ".join(str(sample["queued_by_queue"][name]) for name in queues)
        lines.append(_row(sample["t"], f"{sample['queued_jobs']} ({by_queue})", sample["running_jobs"],
                          sample["unprocessed_clips"], sample["uploads"], sample["api_rss_mb"],
                          sample["workers_rss_mb"]))
    return "\n".join(lines)
