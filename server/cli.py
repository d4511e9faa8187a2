"""The `fullrecord` command: run the stack, migrate the database, manage accounts."""
from __future__ import annotations

import functools
import os
import sys
import time
import urllib.error
import urllib.request

import click

from server.settings import ConfigError, Settings, load_settings

EXIT_FAILURE = 1
EXIT_CONFIG = 2
MALLOC_ARENAS_ENV = "MALLOC_ARENA_MAX"


def fail(message: str, code: int = EXIT_FAILURE):
    click.echo(f"fullrecord: {message}", err=True)
    sys.exit(code)


class CliContext:
    def __init__(self, config: str | None, data: str | None, lang: str | None):
        self.config, self.data, self.lang = config, data, lang

    @functools.cached_property
    def settings(self) -> Settings:
        overrides = {}
        if self.data:
            overrides["data_dir"] = self.data
        if self.lang:
            overrides["language"] = self.lang
        try:
            return load_settings(self.config, overrides=overrides)
        except ConfigError as exc:
            fail(f"configuration error: {exc}", EXIT_CONFIG)

    def runtime(self):
        from server.runtime import Runtime
        return Runtime(self.settings)

    def msg(self, key: str, **values) -> str:
        from server.i18n import t
        return t(key, self.settings.language, **values)


pass_ctx = click.make_pass_decorator(CliContext)


@click.group()
@click.option("--config", envvar="FULLRECORD_CONFIG", type=click.Path(dir_okay=False),
              help="config.yaml to read (default: $FULLRECORD_CONFIG, ./config.yaml, the checkout's).")
@click.option("--data", type=click.Path(file_okay=False), help="Data directory (overrides data_dir).")
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), help="Language of messages.")
@click.pass_context
def main(ctx, config, data, lang):
    """fullrecord: evidence backend for law-enforcement body cameras."""
    ctx.obj = CliContext(config, data, lang)


def _require_parts(obj: CliContext, parts=("database", "redis", "object store")):
    from server.checks import check_all
    for result in check_all(obj.runtime(), parts):
        if not result.ok:
            fail(result.line())


def _warn_missing_parts(obj: CliContext, parts) -> None:
    """An API node starts during an outage of these and names them (here and in /healthz):
    uploads need only the database and the object store, reads only the database."""
    from server.checks import check_all
    for result in check_all(obj.runtime(), parts):
        if not result.ok:
            click.echo(f"fullrecord: {result.line()}; serving anyway, /healthz reports it until it is back",
                       err=True)


def _require_schema(rt) -> None:
    from server.checks import check_database_part
    from storage.migrate import current_revision, head_revision
    database = check_database_part(rt)
    if not database.ok:
        fail(database.line())
    if current_revision(rt.engine) != head_revision(rt.engine):
        fail(f"the database at {database.address} is not up to date: run `fullrecord db upgrade` first")


# -- running -------------------------------------------------------------------

@main.command()
@click.option("--host", help="Address to bind (default: server.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to bind (default: server.port).")
@pass_ctx
def serve(obj: CliContext, host, port):
    """Serve the API with gunicorn (production)."""
    from server.gunicorn_app import FullrecordServer
    if MALLOC_ARENAS_ENV not in os.environ:
        # glibc gives every thread its own arena that keeps freed memory; many upload threads
        # then hold hundreds of MB. It reads this only at process start, hence the re-exec.
        os.environ[MALLOC_ARENAS_ENV] = "2"
        os.execv(sys.executable, [sys.executable, "-m", "server", *sys.argv[1:]])
    _warn_missing_parts(obj, ("redis", "object store"))
    _require_schema(obj.runtime())
    settings = obj.settings
    require_signing_key(settings)
    FullrecordServer(settings, host or settings.server.host, port or settings.server.port).run()


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@pass_ctx
def worker(obj: CliContext, burst):
    """Run one RQ worker on the configured queues."""
    from workers.queues import run_worker
    _require_parts(obj)
    require_signing_key(obj.settings)
    run_worker(obj.settings, burst=burst)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API binds.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False),
              help="Data directory (default: data_dir of the config).")
@pass_ctx
def up(obj: CliContext, host, port, data_dir):
    """The whole stack in the foreground: private Redis, the API and one worker. Ctrl-C stops it all."""
    from server import secret_key, stack
    from server.checks import check_database_part, check_store_part
    from storage.migrate import upgrade

    if data_dir:
        obj.data = data_dir
    settings = obj.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stack.install_signal_handlers()
    running = stack.Stack(settings.data_dir, host, port, obj.config)
    code = 0
    try:
        running.start_redis()
        rt = obj.runtime()
        for result in (check_database_part(rt), check_store_part(rt)):
            if not result.ok:
                raise stack.StackError(result.line())
        before, after = upgrade(rt.engine)
        if before is None:
            click.echo(obj.msg("up.created_db", url=rt.settings.database_url))
        secret_key(settings)  # made once here, not raced by the API's worker processes
        ensure_signing_key_or_exit(settings)  # likewise the custody signing key, on first start
        running.start_api()
        running.start_worker()
        url = f"http://{host}:{port}"
        _wait_healthy(f"{url}/healthz", running)
        click.echo(obj.msg("up.running", url=url))
        _print_first_steps(obj, rt, url)
        exited = running.wait()
        raise stack.StackError(f"{exited.name} exited unexpectedly (code {exited.process.returncode})")
    except stack.Interrupted:
        click.echo(obj.msg("up.stopping"))
    except stack.StackError as exc:
        click.echo(f"fullrecord: {exc}", err=True)
        code = EXIT_FAILURE
    finally:
        running.stop()
    sys.exit(code)


def _wait_healthy(url: str, running) -> None:
    from server.stack import READY_TIMEOUT, StackError
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        for child in running.children:
            if not child.running():
                raise StackError(f"{child.name} exited at start (code {child.process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise StackError(f"the API did not become healthy at {url} within {READY_TIMEOUT:.0f} s ({last})")


def _print_first_steps(obj: CliContext, rt, url: str) -> None:
    from sqlalchemy import func, select
    from storage.models import User
    with rt.session() as session:
        users = session.scalar(select(func.count()).select_from(User))
    prefix = "fullrecord " if obj.data is None else f"fullrecord --data {rt.settings.data_dir} "
    if not users:
        click.echo(obj.msg("up.first_user", cmd=f"{prefix}admin add-user admin --role admin --password-stdin"))
    click.echo(obj.msg("up.pages", url=url))
    click.echo(obj.msg("up.login", url=url))
    click.echo(obj.msg("up.add_station", cmd=f"{prefix}admin add-station NAME"))


# -- database ------------------------------------------------------------------

@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(obj: CliContext):
    """Create or migrate the database schema to the newest revision."""
    from server.checks import check_database_part
    from storage.migrate import upgrade
    rt = obj.runtime()
    database = check_database_part(rt)
    if not database.ok:
        fail(database.line())
    before, after = upgrade(rt.engine)
    click.echo(f"database {database.address}: {before or 'empty'} -> {after}")


# -- linking -------------------------------------------------------------------

@main.group()
def link():
    """Links between clips and enforcement steps."""


@link.command("rebuild")
@pass_ctx
def link_rebuild(obj: CliContext):
    """Recompute every clip's corrected times and automatic links (after an upgrade, or after
    changing link_buffer_minutes); manual decisions stay. Safe to interrupt and run again."""
    from sqlalchemy import func, select, tuple_

    from workers.transaction import run
    from storage.models import Clip
    from storage.owners import host_name
    from workers import linking
    rt = obj.runtime()
    _require_schema(rt)
    with rt.session() as session:
        count = session.scalar(select(func.count()).select_from(Clip))
    actor, total, after = linking.Actor("worker", f"cli@{host_name()}"), linking.LinkStats(), None
    with click.progressbar(length=count, label="linking", file=sys.stderr) as bar:
        while True:  # pages in recording order, so each meets the steps of a short period only
            page = select(Clip.recorded_at, Clip.id).order_by(Clip.recorded_at, Clip.id).limit(linking.engine.CHUNK)
            if after is not None:
                page = page.where(tuple_(Clip.recorded_at, Clip.id) > tuple_(*after))
            with rt.session() as session:
                rows = session.execute(page).all()
            if not rows:
                break
            after = tuple(rows[-1])
            total += run(rt, lambda session: linking.relink_clips(session, rt.settings, [r.id for r in rows], actor))
            bar.update(len(rows))
    click.echo(f"clips {total.clips}: links added {total.added}, removed {total.removed}, "
               f"updated {total.updated}; corrected times changed {total.retimed}")


# -- accounts ------------------------------------------------------------------

@main.group()
def admin():
    """Stations, users and tokens. Every change is recorded in the custody log as done by the
    operator (os-user@host)."""


def _operator():
    """The person at this terminal, as the actor of an administrative change."""
    import getpass

    from storage.custody_admin import AdminActor
    from storage.owners import host_name
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (a bare container)
        user = f"uid{os.getuid()}"
    name = f"{user}@{host_name()}"
    return AdminActor("cli", name, name, "cli")


def _in_transaction(obj: CliContext, work):
    """Run work(session) after checking the schema, in a transaction that may append custody
    events; an account error ends the command with its message."""
    from server.accounts import AccountError
    from storage.custody import in_custody_transaction
    rt = obj.runtime()
    _require_schema(rt)
    try:
        return in_custody_transaction(rt.session, work)
    except (AccountError, ValueError) as exc:
        fail(_account_message(obj, exc))


@admin.command("add-station")
@click.argument("name")
@click.option("--location", help="Where the station stands.")
@pass_ctx
def add_station(obj: CliContext, name, location):
    """Register a collection station; its token is printed as the last line, once."""
    from server.accounts import create_station
    station, row, token = _in_transaction(obj, lambda session: create_station(session, name, location,
                                                                              actor=_operator()))
    click.echo(obj.msg("cli.station_added", name=station.name, id=station.id, token_id=row.id))
    click.echo(token)


@admin.command("add-user")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "legal", "inspector", "officer"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", help="Name shown on pages.")
@pass_ctx
def add_user(obj: CliContext, name, role, password_stdin, display_name):
    """Create a user account with a role."""
    from server.accounts import create_user
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    hasher = obj.runtime().password_hasher()
    user = _in_transaction(obj, lambda session: create_user(session, hasher, name, role, password, display_name,
                                                            actor=_operator()))
    click.echo(obj.msg("cli.user_added", name=user.username, role=user.role, id=user.id))


@admin.command("revoke-token")
@click.argument("token_id")
@pass_ctx
def revoke_token(obj: CliContext, token_id):
    """Revoke a station's or user's token by its id (refused at once)."""
    from server.accounts import revoke_token as revoke
    _in_transaction(obj, lambda session: revoke(session, token_id, actor=_operator()))
    click.echo(obj.msg("cli.token_revoked", id=token_id))


def _station_named(session, name: str):
    from sqlalchemy import select

    from server.accounts import AccountError
    from storage.models import Station
    station = session.scalar(select(Station).where(Station.name == name))
    if station is None:
        raise AccountError("accounts.station_not_named", 404, name=name)
    return station


def _user_named(session, name: str):
    from sqlalchemy import select

    from server.accounts import AccountError
    from storage.models import User
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        raise AccountError("accounts.user_not_named", 404, name=name)
    return user


@admin.command("rotate-token")
@click.argument("token_id", required=False)
@click.option("--station", "station_name", help="Replace every token of this station instead.")
@click.option("--grace-minutes", type=click.IntRange(0), help="How long the old token keeps working "
              "(default: auth.rotation_grace_minutes).")
@pass_ctx
def rotate_token(obj: CliContext, token_id, station_name, grace_minutes):
    """Issue a replacement for a token (or for a station's tokens): the new token is printed as
    the last line, once; the old one keeps working for the grace period, then expires."""
    from datetime import timedelta

    from server import accounts
    if (token_id is None) == (station_name is None):
        fail("give a TOKEN_ID or --station NAME (one of them)", EXIT_CONFIG)
    auth = obj.settings.auth
    grace = timedelta(minutes=auth.rotation_grace_minutes if grace_minutes is None else grace_minutes)

    def rotate(session):
        if station_name is not None:
            station = _station_named(session, station_name)
            row, token, replaced = accounts.rotate_station_tokens(session, station.id, grace=grace,
                                                                  actor=_operator())
        else:
            row, token, old = accounts.rotate_token(session, token_id, grace=grace,
                                                    user_token_hours=auth.user_token_hours, actor=_operator())
            replaced = [old]
        return row, token, accounts.token_owner(row), [(old.id, old.expires_at) for old in replaced]
    row, token, owner, replaced = _in_transaction(obj, rotate)
    click.echo(obj.msg("cli.token_rotated", owner=_owner_text(obj, owner), id=row.id,
                       old=", ".join(old_id for old_id, _ in replaced) or "-",
                       until=", ".join(_when(obj, until) for _, until in replaced) or "-"))
    click.echo(token)


@admin.command("tokens")
@click.option("--station", "station_name", help="The tokens of this station.")
@click.option("--user", "user_name", help="The tokens of this user.")
@click.option("--json", "as_json", is_flag=True, help="As JSON (ids, owner, state and times; never a token).")
@pass_ctx
def list_tokens(obj: CliContext, station_name, user_name, as_json):
    """A station's or a user's tokens, newest first, with their state (never the tokens)."""
    import json

    from server import accounts
    if (station_name is None) == (user_name is None):
        fail("give --station NAME or --user NAME (one of them)", EXIT_CONFIG)

    def read(session):
        if station_name is not None:
            rows = accounts.list_tokens(session, station_id=_station_named(session, station_name).id)
            owner = {"kind": "station", "name": station_name}
        else:
            rows = accounts.list_tokens(session, user_id=_user_named(session, user_name).id)
            owner = {"kind": "user", "name": user_name}
        return owner, [{"id": row.id, "state": accounts.token_state(row), "created_at": row.created_at,
                        "last_used_at": row.last_used_at, "expires_at": row.expires_at,
                        "revoked_at": row.revoked_at} for row in rows]
    owner, tokens = _in_transaction(obj, read)
    if as_json:
        click.echo(json.dumps([{key: value.isoformat() if hasattr(value, "isoformat") else value
                                for key, value in token.items()} for token in tokens], ensure_ascii=False))
        return
    if not tokens:
        click.echo(obj.msg("cli.tokens_none", owner=_owner_text(obj, owner)))
    for token in tokens:
        click.echo(obj.msg("cli.token_line", id=token["id"], state=obj.msg(f"tokens.state.{token['state']}"),
                           created=_when(obj, token["created_at"]),
                           last_used=_when(obj, token["last_used_at"], "cli.never"),
                           expires=_when(obj, token["expires_at"], "cli.no_expiry")))


def _owner_text(obj: CliContext, owner: dict) -> str:
    return obj.msg(f"cli.owner_{owner['kind']}", name=owner["name"])


def _when(obj: CliContext, moment, none_key: str = "cli.never") -> str:
    if moment is None:
        return obj.msg(none_key)
    return moment.astimezone(obj.settings.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _account_message(obj: CliContext, exc: Exception) -> str:
    from server.accounts import AccountError
    if isinstance(exc, AccountError):
        return obj.msg(exc.key, **exc.values)
    return str(exc)


# -- subsystems with command modules of their own (they import this module) ----

from server.cli_audit import audit  # noqa: E402
from server.cli_custody import custody, ensure_signing_key_or_exit, require_signing_key  # noqa: E402
from server.cli_export import export  # noqa: E402
from server.cli_retention import retention  # noqa: E402
from server.cli_station import station  # noqa: E402

for _command in (audit, custody, export, retention, station):
    main.add_command(_command)
