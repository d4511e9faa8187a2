"""A large audit judged by several processes side by side, each over its own run of steps (cut
at slice keys in start order): the judging is CPU-bound Python, one core a process. Each process
reads through its own database connection and writes its own findings; the tallies come back
here and are added up. A process that dies fails the whole run (it is then run again whole)."""
from __future__ import annotations

import multiprocessing
import queue as queue_module
import traceback

from workers.audit.aggregate import Aggregates

POLL_SECONDS = 1.0


class ProcessFailed(RuntimeError):
    pass


def judge_in_processes(settings, job, keys: list[tuple], report) -> Aggregates:
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    messages = context.Queue()
    bounds = list(zip([None, *keys], [*keys, None]))
    processes = [context.Process(target=_judge_slice, args=(settings, job, after, until, messages),
                                 name=f"audit-{job.run_id[:8]}-{n}") for n, (after, until) in enumerate(bounds)]
    for process in processes:
        process.start()
    totals, finished = Aggregates(job.scope.timezone), 0
    try:
        while finished < len(processes):
            try:
                kind, value = messages.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise ProcessFailed(f"audit process {dead[0].name} died (exit code {dead[0].exitcode})")
                continue
            if kind == "progress":
                report(value)
            elif kind == "done":
                totals.merge(value)
                finished += 1
            else:
                raise ProcessFailed(value)
    finally:
        for process in processes:
            if process.is_alive() and finished < len(processes):
                process.terminate()
            process.join()
    return totals


def _judge_slice(settings, job, after, until, messages) -> None:
    from server.stack import die_with_parent
    from storage.db import make_engine, make_sessionmaker
    from workers.audit.run import judge_range

    die_with_parent()
    engine = make_engine(settings.database_url)
    try:
        totals = judge_range(make_sessionmaker(engine), settings, job, lambda steps: messages.put(("progress", steps)),
                             after=after, until=until)
        messages.put(("done", totals))
    except BaseException as exc:  # reported to the parent, which fails the run with it
        messages.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
    finally:
        engine.dispose()
