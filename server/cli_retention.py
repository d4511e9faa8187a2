"""`fullrecord retention sweep [--dry-run]` and `fullrecord retention report`: delete (or list)
the originals whose retention has expired and that are neither held nor linked to an open case."""
from __future__ import annotations

import json
import sys

import click

from server.cli import CliContext, _require_schema, pass_ctx


@click.group()
def retention():
    """Retention of originals and the retention sweep."""


def _rows(obj: CliContext, report) -> list[dict]:
    language = obj.settings.language
    return [{"clip_id": item.clip_id, "original_key": item.original_key, "size": item.size,
             "total_bytes": item.total_bytes, "retain_until": item.retain_until.isoformat(),
             "derivatives": [entry["key"] for entry in item.derivatives],
             "why": [reason.text(language) for reason in item.reasons]} for item in report]


def _print_report(obj: CliContext, report, as_json: bool) -> None:
    rows = _rows(obj, report)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['clip_id']}  {row['original_key']}  {row['total_bytes']} B  "
                       f"retain_until {row['retain_until']}")
            for line in row["why"]:
                click.echo(f"    {line}")
    click.echo(obj.msg("retention.dry_run_summary", count=len(rows), bytes=sum(row["total_bytes"] for row in rows)),
               err=as_json)


def _run(obj: CliContext, dry_run: bool):
    from workers import retention as sweeper
    rt = obj.runtime()
    _require_schema(rt)
    with click.progressbar(length=0, label="retention" + (" (dry run)" if dry_run else ""), file=sys.stderr) as bar:
        def total(count: int) -> None:
            bar.length = count
            bar.render_progress()
        result = sweeper.sweep(rt, dry_run=dry_run, progress=bar.update, total=total)
    return result


@retention.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted and why; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the list as JSON on standard output.")
@pass_ctx
def sweep(obj: CliContext, dry_run, as_json):
    """Delete expired originals and their derivatives, each with a custody event `deleted`.
    Safe to interrupt and run again: a re-run finishes what an interrupted one began."""
    result = _run(obj, dry_run)
    if dry_run:
        _print_report(obj, result.report, as_json)
        return
    for clip_id, error in result.failed.items():
        click.echo(f"failed {clip_id}: {error}", err=True)
    click.echo(obj.msg("retention.sweep_summary", deleted=len(result.deleted), bytes=result.bytes_freed,
                       kept=len(result.kept), failed=len(result.failed)))
    if result.failed:
        sys.exit(1)


@retention.command("report")
@click.option("--json", "as_json", is_flag=True, help="The list as JSON on standard output.")
@pass_ctx
def report(obj: CliContext, as_json):
    """What the sweep would delete now and why (the same as `sweep --dry-run`)."""
    _print_report(obj, _run(obj, True).report, as_json)
