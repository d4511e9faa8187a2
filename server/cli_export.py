"""`fullrecord export CASE_NO --out FILE.zip`: a case's evidence bundle written to a local file by
the same code as the worker's export job, with a progress bar; recorded as an Export row and as
custody events (actor cli@host). (server.cli is imported inside the command: it imports this
module to register the command.)"""
from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click


BAR_STEPS = 1000


def _who() -> str:
    from storage.owners import host_name
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = str(os.getuid())
    return f"cli:{user}@{host_name()}"


def _find_case(obj, rt, number: str, agency: str | None):
    from sqlalchemy import select

    from server.cli import fail
    from storage.case_models import Case
    query = select(Case).where(Case.case_number == number)
    if agency:
        query = query.where(Case.agency_code == agency)
    with rt.session() as session:
        cases = session.scalars(query.order_by(Case.agency_code)).all()
    if not cases:
        where = obj.msg("export.cli.in_agency", agency=agency) if agency else ""
        fail(obj.msg("export.cli.unknown_case", number=number, where=where))
    if len(cases) > 1:
        fail(obj.msg("export.cli.ambiguous", number=number, agencies=", ".join(case.agency_code for case in cases)))
    return cases[0]


@click.command("export")
@click.argument("case_number")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The zip file to write (must not exist).")
@click.option("--agency", help="Agency (unit) code of the case number, when several agencies use that number.")
@click.option("--with-review", is_flag=True, help="Also copy the review copies (the originals are always in).")
@click.pass_obj
def export(obj, case_number, out, agency, with_review):
    """Write the evidence bundle of case CASE_NUMBER to --out: originals, manifest, case and links,
    custody excerpt with a signed checkpoint, and verify_bundle.py to check it all offline."""
    from server.checks import check_store_part
    from server.cli import _require_schema, fail
    from storage.bundle import build_bundle
    from storage.custody_models import Export
    from storage.db import utcnow
    from storage.owners import host_name
    from storage.signing import SigningKeyError, load_signer
    from workers.exports import record_failure

    rt = obj.runtime()
    _require_schema(rt)
    store = check_store_part(rt)
    if not store.ok:
        fail(store.line())
    target = Path(out).expanduser().absolute()
    if target.exists():
        fail(obj.msg("export.cli.out_exists", path=target))
    if not target.parent.is_dir():
        fail(obj.msg("export.cli.out_dir_missing", path=target.parent))
    try:
        signer = load_signer(rt.settings)
    except SigningKeyError as exc:
        fail(exc.message(rt.settings.language))
    case = _find_case(obj, rt, case_number, agency)
    with rt.session() as session, session.begin():
        row = Export(case_id=case.id, requested_by=_who(), include_review=with_review, status="running",
                     progress=0.0, attempts=1)
        session.add(row)
    partial = target.with_name(f".{target.name}.{row.id}.part")
    actor = {"actor_type": "worker", "actor_id": f"cli@{host_name()}", "source_address": None}
    try:
        with click.progressbar(length=BAR_STEPS, label=obj.msg("export.cli.progress"), file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(round(BAR_STEPS * (done / total if total else 1)) - bar.pos)
            result = build_bundle(rt, row.id, partial, actor=actor, signer=signer, progress=progress,
                                  hash_output=True)
        if target.exists():  # appeared while the bundle was written: not ours to replace
            raise FileExistsError(obj.msg("export.cli.out_exists", path=target))
        partial.rename(target)
    except (Exception, KeyboardInterrupt) as exc:  # recorded on the Export row and reported; the partial file goes
        partial.unlink(missing_ok=True)
        fail(obj.msg("export.cli.failed", id=row.id, reason=record_failure(rt, row.id, exc, log_it=False)))
    with rt.session() as session, session.begin():
        done = session.get(Export, row.id)
        done.status, done.progress, done.finished_at = "done", 1.0, utcnow()
        done.size, done.sha256 = result.size, result.sha256
        done.total_bytes, done.checkpoint_count = result.total_bytes, result.checkpoint_count
    click.echo(obj.msg("export.cli.done", path=target, files=result.files, bytes=result.total_bytes,
                       size=result.size, sha256=result.sha256, id=row.id))
