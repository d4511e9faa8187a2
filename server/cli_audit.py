"""`fullrecord audit`: run a completeness audit here (not on a worker), store it like any other
run (so the next one reports what changed) and write it as JSON, CSV or a standalone HTML report."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from server.cli_export import _who

BAR_STEPS = 1000


def _date(_ctx, param, value):
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected a date as YYYY-MM-DD") from None


@click.command("audit")
@click.option("--from", "period_from", required=True, callback=_date,
              help="First day (local date YYYY-MM-DD) of the steps' start.")
@click.option("--to", "period_to", required=True, callback=_date, help="Last day, inclusive.")
@click.option("--unit", help="Unit code: its cases and those of its sub-units.")
@click.option("--case", "case", help="Case id, or case number if only one agency uses it.")
@click.option("--officer", help="Badge number: the steps this officer was on.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="html", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The report file to write.")
@click.pass_obj
def audit(obj, period_from, period_to, unit, case, officer, fmt, out):
    """Audit the steps that started from --from to --to (local dates, inclusive): which have the
    footage their rules require, and why the others do not."""
    from server.cli import _require_schema, fail
    from server.operations import Refused
    from server.operations.audits import start_run
    from storage.audit_models import AuditRun
    from workers.audit.reports import write_report
    from workers.audit.run import execute

    rt = obj.runtime()
    _require_schema(rt)
    target = Path(out).expanduser().absolute()
    if not target.parent.is_dir():
        fail(obj.msg("export.cli.out_dir_missing", path=target.parent))
    try:
        with rt.session() as session, session.begin():
            run = start_run(session, rt.settings, kind="cli", requested_by=_who(), period_from=period_from,
                            period_to=period_to, unit=unit, officer=officer, case=case)
            run_id = run.id
    except Refused as refused:
        fail(obj.msg(refused.key, **refused.values))
    try:
        with click.progressbar(length=BAR_STEPS, label=obj.msg("audit.cli.progress"), file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(round(BAR_STEPS * (done / total if total else 1)) - bar.pos)
            execute(rt, run_id, on_progress=progress)
            bar.update(BAR_STEPS - bar.pos)
        partial = target.with_name(f".{target.name}.{run_id}.part")
        with rt.session() as session, open(partial, "wb") as stream:
            finished = session.get(AuditRun, run_id)
            write_report(session, finished, fmt, stream, obj.settings.language)
            summary = finished.summary
        partial.replace(target)
    except Exception as exc:  # recorded on the run (by execute) and reported
        fail(obj.msg("audit.cli.failed", error=f"{type(exc).__name__}: {exc}"))
    click.echo(obj.msg("audit.cli.done", id=run_id, required=summary.get("required", 0),
                       passed=summary.get("pass", 0), warnings=summary.get("warning", 0),
                       failed=summary.get("fail", 0), out=target))
