"""`fullrecord station run|status|retry`: the collection-station agent on a station host.
(server.cli is imported inside the commands: it imports this module to register them.)"""
from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

import click

STATE_ORDER = ("failed", "uploading", "ready", "hashing", "pending", "done")


def _journal_or_fail(obj, watch: Path, create: bool):
    from ingest.station.journal import Journal, JournalError
    from server.cli import fail
    path = obj.settings.station.journal_path(watch)
    if not create and not path.exists():
        fail(obj.msg("station.cli.no_journal", path=path))
    try:
        return Journal.open(path)
    except JournalError as exc:
        fail(str(exc))


def _token(obj, token_file: Path) -> str:
    from server.cli import fail
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(obj.msg("station.cli.token_file", path=token_file, error=exc.strerror or exc))
    if not token:
        fail(obj.msg("station.cli.token_empty", path=token_file))
    return token


def _watch_dir(obj, watch: str) -> Path:
    from server.cli import fail
    path = Path(watch).expanduser().resolve()
    if not path.is_dir():
        fail(obj.msg("station.cli.watch_missing", path=path))
    return path


@click.group()
def station():
    """The collection-station agent: upload every recording of the docked recorders."""


@station.command("run")
@click.option("--server", "server_url", required=True, metavar="URL",
              help="The fullrecord server, e.g. https://evidence.example.gov.cn")
@click.option("--token-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the station's token (the last line of `fullrecord admin add-station`).")
@click.option("--watch", required=True, type=click.Path(file_okay=False),
              help="Folder the docking software fills: one sub-folder per recorder.")
@click.option("--delete-after-receipt", is_flag=True,
              help="Remove each file once the server's receipt shows its SHA-256 (frees the recorder's space).")
@click.option("--once", is_flag=True, help="Exit when every file found is done or failed (for tests and cron).")
@click.option("--no-progress", is_flag=True, help="No progress bars (they show only on a terminal anyway).")
@click.pass_obj
def run(obj, server_url, token_file, watch, delete_after_receipt, once, no_progress):
    """Watch a folder and upload every recording, resuming after any crash or outage."""
    from ingest.station.agent import HASHING_THREADS, Agent, AgentOptions
    from ingest.station.journal import JournalError
    from ingest.station.progress import Bars, NoProgress
    from server.cli import fail
    from tqdm.contrib.logging import logging_redirect_tqdm

    settings = obj.settings
    token = _token(obj, token_file)
    watch_dir = _watch_dir(obj, watch)
    journal = _journal_or_fail(obj, watch_dir, create=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    progress = NoProgress() if no_progress else Bars(settings.station.parallel_uploads + HASHING_THREADS)
    agent = Agent(settings, AgentOptions(server_url, token, watch_dir, delete_after_receipt, once), journal, progress)

    def stop(signum, frame):
        agent.stop.set()
        agent.wake.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(obj.msg("station.cli.started", watch=watch_dir, server=server_url, journal=journal.path), err=True)
    try:
        with logging_redirect_tqdm():  # log lines above the bars
            agent.run()
    except JournalError as exc:
        fail(str(exc))
    finally:
        counts = journal.counts()
        journal.close()
    waiting = sum(counts[state] for state in ("pending", "hashing", "ready", "uploading"))
    click.echo(obj.msg("station.cli.stopped", done=counts["done"], failed=counts["failed"], waiting=waiting), err=True)


@station.command("status")
@click.option("--watch", required=True, type=click.Path(file_okay=False),
              help="The watch folder given to `station run` (its journal is found from it).")
@click.option("--state", "states", multiple=True,
              type=click.Choice(["pending", "hashing", "ready", "uploading", "done", "failed"]),
              help="Only files in this state (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.pass_obj
def status(obj, watch, states, as_json):
    """Every file the agent knows: pending, uploading, done and failed, with reasons."""
    watch_dir = Path(watch).expanduser().resolve()
    journal = _journal_or_fail(obj, watch_dir, create=False)
    try:
        counts = journal.counts()
        rows = journal.listing(tuple(states) if states else STATE_ORDER)
        clocks = journal.clock_readings()
        failures = journal.failures()
    finally:
        journal.close()
    rows.sort(key=lambda row: (STATE_ORDER.index(row.state), row.path))
    if as_json:
        click.echo(json.dumps({
            "counts": counts,
            "files": [{"path": row.path, "state": row.state, "size": row.size, "offset": row.offset,
                       "sha256": row.sha256, "clip_id": row.clip_id, "reason": row.reason, "attempts": row.attempts,
                       "flagged": row.flagged, "next_try_at": row.next_try_at} for row in rows],
            "clock_readings": clocks, "failures": failures}, ensure_ascii=False, indent=2))
        return
    click.echo(obj.msg("station.cli.summary", **counts))
    for row in rows:
        state = obj.msg(f"station.state.{row.state}")
        progress = f" {row.offset * 100 // row.size if row.size else 100}%" if row.state == "uploading" else ""
        detail = row.clip_id if row.state == "done" else (row.reason or "")
        click.echo(f"{state}{progress}\t{row.path}\t{row.size}\t{detail}")
    for reading in clocks:
        if reading["state"] != "reported":
            click.echo(f"clock {reading['state']}\t{reading['path']}\t{reading['reason'] or ''}")


@station.command("retry")
@click.option("--watch", required=True, type=click.Path(file_okay=False), help="The watch folder of `station run`.")
@click.argument("paths", nargs=-1)
@click.pass_obj
def retry(obj, watch, paths):
    """Queue failed files again (all, or the PATHS given relative to the watch folder)."""
    journal = _journal_or_fail(obj, Path(watch).expanduser().resolve(), create=False)
    try:
        count = journal.retry_failed(list(paths) if paths else None)
    finally:
        journal.close()
    click.echo(obj.msg("station.cli.retried", count=count))
