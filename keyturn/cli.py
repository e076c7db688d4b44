"""``keyturn``: serve, manage users and sessions, migrate.

Every command reads the same settings as the service (``KEYTURN_*``); a bad
setting is one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from keyturn.config import Settings, load_settings
from keyturn.errors import KeyturnError

T = TypeVar("T")

app = typer.Typer(help="keyturn: rotating refresh tokens and short-lived JWT access tokens.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

from keyturn import cli_ops  # noqa: E402  (commands registered below the apps they join)

cli_ops.register(app)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"keyturn: error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except KeyturnError as exc:
        fail(exc.description)
        raise  # unreachable


def with_runtime(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(runtime)`` on a started runtime, mapping our errors to one line."""
    from keyturn.runtime import build_runtime

    settings = settings_or_exit()

    async def main() -> T:
        rt = build_runtime(settings)
        try:
            await rt.start()
            return await fn(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(main())
    except KeyturnError as exc:
        fail(exc.description, 1)
        raise  # unreachable


async def _preflight(settings: Settings) -> None:
    from keyturn.runtime import build_runtime

    rt = build_runtime(settings)
    try:
        await rt.start()
    finally:
        await rt.close()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Run the HTTP token service (uvicorn, uvloop, httptools).

    Logs are JSON lines (readable text on a terminal; KEYTURN_LOG_FORMAT);
    /metrics is Prometheus; /account is the people-facing page.

    Examples:

      keyturn serve

      KEYTURN_DATABASE_URL=postgresql://keyturn@db/keyturn KEYTURN_MASTER_KEY=... keyturn serve --host 0.0.0.0 --workers 4
    """
    import logging.config

    import uvicorn

    from keyturn.logs import logging_config

    settings = settings_or_exit()
    # JSON lines (readable text on a terminal); the same config reaches every
    # worker process through uvicorn's log_config.
    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    try:
        # Resolve (and on first start create) the master key once, before
        # the workers fork, so they all agree on it.
        from keyturn.masterkey import resolve_master_key

        resolve_master_key(settings)
        # Migrate and load the signing keys once up front: a wrong master key
        # or an unreachable database is one clear line, not a worker traceback.
        asyncio.run(_preflight(settings))
    except KeyturnError as exc:
        fail(exc.description)
    uvicorn.run(
        "keyturn.http.app:create_server_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        # The client address is the TCP peer; X-Forwarded-For counts only
        # from KEYTURN_TRUSTED_PROXIES, which keyturn itself applies.
        proxy_headers=False,
        forwarded_allow_ips="",
        server_header=False,
        access_log=False,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        timeout_keep_alive=5,
    )


@users_app.command("add")
def users_add(
    name: str,
    password: str = typer.Option(None, help="Password (prompted for when omitted)."),
) -> None:
    """Create a user; prints the new user id.

    Examples:

      keyturn users add alice            (prompts for the password)

      printf '%s\n' "$PW" | keyturn users add alice
    """
    if password is None:
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    async def run(rt: Any) -> str:
        user = await rt.service.create_user(name, password)
        return str(user.id)

    typer.echo(with_runtime(run))


@users_app.command("list")
def users_list(json_out: bool = typer.Option(False, "--json", help=cli_ops.JSON_HELP)) -> None:
    """List users.

    Examples:

      keyturn users list

      keyturn users list --json | jq -r '.[].username'
    """
    from keyturn.http.wire import iso

    async def run(rt: Any) -> list[Any]:
        return list(await rt.database.list_users())

    rows = [
        {"id": u.id, "username": u.username, "status": "disabled" if u.disabled else "active", "created": iso(u.created_at)}
        for u in with_runtime(run)
    ]
    if json_out:
        cli_ops.print_json(rows)
    else:
        cli_ops.print_table(rows, ["id", "username", "status", "created"], empty="no users")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user and end all of their sessions.

    Example: keyturn users disable alice
    """

    async def run(rt: Any) -> Any:
        return await rt.service.disable_user(name)

    user = with_runtime(run)
    typer.echo(f"disabled {user.username}")


@sessions_app.command("list")
def sessions_list(
    user: str = typer.Option(None, "--user", help="Only this user's sessions."),
    json_out: bool = typer.Option(False, "--json", help=cli_ops.JSON_HELP),
) -> None:
    """List live sessions: who is logged in, from where, since when.

    Examples:

      keyturn sessions list

      keyturn sessions list --user alice --json
    """
    from keyturn.core.users import normalize_username

    async def run(rt: Any) -> list[Any]:
        now = rt.clock.now()
        if user is None:
            return list(await rt.session_store.list_all_sessions(now=now))
        found = await rt.database.user_by_name(normalize_username(user))
        if found is None:
            raise KeyturnError("no such user")
        return list(await rt.session_store.list_sessions(found.id, now=now))

    from keyturn.http.wire import iso

    rows = [
        {
            "id": s.id, "user_id": s.user_id, "created": iso(s.created_at), "last_used": iso(s.last_used_at),
            "ip": s.last_ip or s.login_ip, "user_agent": s.last_user_agent or s.user_agent,
            "generation": s.generation,
        }
        for s in with_runtime(run)
    ]
    if json_out:
        cli_ops.print_json(rows)
    else:
        cli_ops.print_table(rows, ["id", "user_id", "created", "last_used", "ip", "user_agent"], empty="no live sessions")


@sessions_app.command("revoke")
def sessions_revoke(session_id: str) -> None:
    """Revoke one session (its refresh and access tokens die).

    Example: keyturn sessions revoke 3q2-7wEjR0m4yH2p_0cXdA
    """

    async def run(rt: Any) -> bool:
        return bool(await rt.service.admin_revoke_session(session_id))

    if not with_runtime(run):
        fail("no such live session", 1)
    typer.echo(f"revoked {session_id}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations (also done on every start).

    Example: KEYTURN_DATABASE_URL=postgresql://keyturn@db/keyturn keyturn db upgrade
    """

    async def run(rt: Any) -> None:
        return None

    with_runtime(run)
    typer.echo("database is up to date")


@keys_app.command("new-master-key")
def keys_new_master_key() -> None:
    """Print a fresh random master key for KEYTURN_MASTER_KEY.

    Example: export KEYTURN_MASTER_KEY=$(keyturn keys new-master-key)
    """
    from keyturn.masterkey import new_master_key

    typer.echo(new_master_key())


def main() -> None:
    app()


from keyturn.cli_security import register as _register_security  # noqa: E402 - after the apps exist

_register_security(app, keys_app)

from keyturn.audit.command import register as _register_audit  # noqa: E402 - after the apps exist

_register_audit(app)
