"""`fullrecord custody`: verify the custody log, make signing keys, sign a checkpoint now.

The group is added to the main command in server/cli.py. Helpers of server.cli are imported
inside the commands, since server.cli imports this module.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from storage.signing import SigningKeyError

EXIT_BROKEN = 1
"""The log is not intact."""
EXIT_CANNOT_VERIFY = 2
"""Verification could not run (no trusted key, store or database unreachable)."""


def _fail(message: str, code: int = 1):
    click.echo(f"fullrecord: {message}", err=True)
    sys.exit(code)


def require_signing_key(settings):
    """The signer, or exit 1 with what is wrong and how to fix it: `serve` and `worker` call this
    before starting."""
    from storage.signing import load_signer
    try:
        return load_signer(settings)
    except SigningKeyError as exc:
        _fail(exc.message(settings.language))


def ensure_signing_key_or_exit(settings) -> Path:
    """The key file, made on first start (`fullrecord up`); exit 1 if an existing file is unusable."""
    from storage.signing import ensure_signing_key
    try:
        return ensure_signing_key(settings)
    except SigningKeyError as exc:
        _fail(exc.message(settings.language))


@click.group()
def custody():
    """The custody log: verify it, sign checkpoints, make signing keys."""


@custody.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def verify(obj, as_json):
    """Walk the whole log and every signed checkpoint. Exit 0 when intact; 1 naming the first
    bad seq and why; 2 when verification could not run."""
    from server.cli import _require_schema
    from storage.checkpoints import head_seq
    from storage.custody_verify import verify_chain
    from storage.exceptions import StorageError
    rt = obj.runtime()
    _require_schema(rt)
    language = obj.settings.language
    try:
        with rt.session() as session:
            total = head_seq(session)
            with click.progressbar(length=max(total, 1), label=obj.msg("custody.cli.progress"),
                                   file=sys.stderr) as bar:
                report = verify_chain(session, rt.store, rt.settings,
                                      lambda done, _total: bar.update(max(0, done - bar.pos)))
    except SigningKeyError as exc:
        _fail(obj.msg("custody.cli.cannot_verify", reason=exc.message(language)), EXIT_CANNOT_VERIFY)
    except StorageError as exc:
        _fail(obj.msg("custody.cli.cannot_verify", reason=str(exc)), EXIT_CANNOT_VERIFY)
    if as_json:
        click.echo(json.dumps(report.as_dict(language), ensure_ascii=False, indent=2))
    else:
        for note in report.notes:
            click.echo(note.message(language))
        if report.ok:
            click.echo(obj.msg("custody.cli.intact", events=report.events_checked,
                               checkpoints=report.checkpoints_checked, last=report.last_seq))
        else:
            click.echo(obj.msg("custody.cli.broken", seq=report.first_bad_seq,
                               reason=report.problem.message(language)))
    sys.exit(0 if report.ok else EXIT_BROKEN)


@custody.command("keygen")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Key file to write (default: custody.signing_key, or data_dir/custody-signing-key.pem).")
@click.option("--force", is_flag=True, help="Replace an existing key (its public key is kept for trusted_keys).")
@click.pass_obj
def keygen(obj, out, force):
    """Make an Ed25519 signing key (mode 0600) and its public key next to it; the key id is
    printed as the last line."""
    from storage.signing import Signer, keep_public_key, public_key_path, read_private_key, write_key
    path = Path(out).expanduser().resolve() if out else obj.settings.custody_signing_key
    old = None
    if path.exists():
        try:
            old = Signer(read_private_key(path), path)
        except SigningKeyError:
            old = None  # not a usable key: nothing to keep, --force replaces it
        if not force:
            _fail(obj.msg("custody.cli.key_exists", path=path, key_id=old.key_id if old else "?"))
    if old is not None:
        retired = keep_public_key(old.public_key_raw, path)
        click.echo(obj.msg("custody.cli.key_retired", key_id=old.key_id, public=retired))
    try:
        signer = write_key(path, replace=force)
    except FileExistsError:
        _fail(obj.msg("custody.cli.key_exists", path=path, key_id="?"))
    except OSError as exc:
        _fail(f"{path}: {exc.strerror or exc}")
    click.echo(obj.msg("custody.cli.key_made", path=path, public=public_key_path(path)))
    click.echo(signer.key_id)


@custody.command("checkpoint")
@click.pass_obj
def checkpoint(obj):
    """Sign a checkpoint of the log now (workers also make them every N events or M minutes)."""
    from server.cli import _require_schema
    from storage.checkpoints import CheckpointRefused, create_checkpoint, last_checkpoint
    from storage.exceptions import StorageError
    signer = require_signing_key(obj.settings)
    rt = obj.runtime()
    _require_schema(rt)
    language = obj.settings.language
    try:
        with rt.session() as session, session.begin():
            made = create_checkpoint(session, rt.store, signer)
    except CheckpointRefused as exc:
        _fail(obj.msg("custody.cli.checkpoint_refused", reason=exc.problem.message(language)))
    except StorageError as exc:
        _fail(str(exc))
    if made is None:
        with rt.session() as session:
            last = last_checkpoint(session)
        click.echo(obj.msg("custody.cli.checkpoint_none", count=last.count if last else 0))
    else:
        click.echo(obj.msg("custody.cli.checkpoint_made", count=made.count, key_id=made.key_id,
                           object=made.object_key))
