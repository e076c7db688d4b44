"""``keyturn clients``, ``keyturn keys new-master-key|rotate|list`` and
``keyturn events tail``: the security commands (registered by
``keyturn.cli.commands``)."""

from __future__ import annotations

from typing import Any

import orjson
import typer

from keyturn.cli import ops
from keyturn.cli.common import fail, with_runtime

clients_app = typer.Typer(help="Resource-server clients (introspection, revocation feed).", no_args_is_help=True)
events_app = typer.Typer(help="Security events.", no_args_is_help=True)


@clients_app.command("add")
def clients_add(
    name: str,
    scope: str = typer.Option(
        None, "--scope",
        help="Permissions: 'sessions:issue' lets a backend open and end sessions for its users (/backend/sessions).",
    ),
) -> None:
    """Register a client; prints its id and secret (shown once).

    Examples:

      keyturn clients add billing-api                         # a resource server

      keyturn clients add web-backend --scope sessions:issue  # may call /backend/sessions
    """
    from keyturn.service.resource_clients import new_client

    async def run(rt: Any) -> tuple[str, str]:
        try:
            client, secret = new_client(name, rt.clock.now(), scope=scope)
        except ValueError as exc:
            fail(str(exc))
        await rt.stores.clients.add_client(client)
        return client.id, secret

    client_id, secret = with_runtime(run, create=True)
    typer.echo(f"client_id: {client_id}")
    typer.echo(f"client_secret: {secret}")


@clients_app.command("list")
def clients_list(json_out: bool = typer.Option(False, "--json", help=ops.JSON_HELP)) -> None:
    """List resource-server clients (never their secrets).

    Examples:

      keyturn clients list

      keyturn clients list --json | jq -r '.[].id'
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> list[Any]:
        return list(await rt.stores.clients.list_clients())

    rows = [
        {"id": c.id, "name": c.name, "created": iso(c.created_at), "status": "disabled" if c.disabled else "active",
         "scope": c.scope}
        for c in with_runtime(run)
    ]
    ops.print_output(rows, ["id", "name", "created", "status", "scope"], json_out=json_out, empty="no clients")


def keys_new_master_key() -> None:
    """Print a fresh random master key for KEYTURN_MASTER_KEY.

    Example: export KEYTURN_MASTER_KEY=$(keyturn keys new-master-key)
    """
    from keyturn.service.masterkey import new_master_key

    typer.echo(new_master_key())


def keys_rotate() -> None:
    """Publish a new signing key now; every replica signs with it from
    KEYTURN_KEY_PUBLISH_AHEAD seconds on (so resource servers have it first).
    The previous key stays in the JWKS until every token it signed has expired.

    Example: keyturn keys rotate
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> tuple[str, float]:
        stored = await rt.keys.rotate(rt.clock.now())
        return str(stored.kid), float(stored.activates_at)

    kid, at = with_runtime(run, create=True)
    typer.echo(f"signs from {iso(at)}: {kid}")


def keys_revoke(kid: str = typer.Argument(..., help="The kid of the compromised key (see `keyturn keys list`).")) -> None:
    """Revoke a compromised signing key: it leaves the JWKS at once, replicas
    and Verifiers on the revocation feed refuse its tokens within about a
    second (code signing_key_revoked: clients refresh, nobody logs in again),
    and if it was signing, a new key signs from now on.

    Example: keyturn keys revoke 4-6UONrD4gtjOGJt
    """

    async def run(rt: Any) -> str | None:
        try:
            replacement = await rt.keys.revoke(kid, rt.clock.now(), feed=rt.revocations)
        except KeyError:
            fail(f"no such signing key, or already revoked: {kid}", 1)
        return None if replacement is None else str(replacement.kid)

    new = with_runtime(run)
    typer.echo(f"revoked: {kid}" + (f"; signing now with: {new}" if new else ""))


def keys_list(json_out: bool = typer.Option(False, "--json", help=ops.JSON_HELP)) -> None:
    """List signing keys: kid, algorithm, created, state.

    Examples:

      keyturn keys list

      keyturn keys list --json | jq -r '.[] | select(.state == "active") | .kid'
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> tuple[list[Any], str, float]:
        now = rt.clock.now()
        return rt.keys.describe(), rt.keys.signer(now).kid, now

    keys, active, rt_now = with_runtime(run)
    rows = [
        {
            "kid": k.kid, "alg": k.alg, "created": iso(k.created_at),
            "state": (
                "active" if k.kid == active
                else f"signs from {iso(k.activates_at)}" if k.activates_at and k.activates_at > rt_now
                else "retired" if k.retired_at else "verify-only"
            ),
            "retired": iso(k.retired_at) if k.retired_at else None,
        }
        for k in keys
    ]
    ops.print_output(rows, ["kid", "alg", "created", "state", "retired"], json_out=json_out, empty="no signing keys")


@events_app.command("tail")
def events_tail(
    user: str = typer.Option(None, "--user", help="Only this user's events (username)."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many of the latest events."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object a line, for scripts."),
) -> None:
    """Print the latest security events, oldest first, with ISO-8601 UTC times.

    Examples:

      keyturn events tail --user alice --limit 20

      keyturn events tail --json | jq -r 'select(.type == "refresh_token_reused") | .user_id'
    """
    from keyturn.clock import iso
    from keyturn.core.users import normalize_username
    from keyturn.service.events import event_dict

    async def run(rt: Any) -> tuple[list[Any], dict[str, str]]:
        user_id = None
        if user is not None:
            found = await rt.stores.users.user_by_name(normalize_username(user))
            if found is None:
                fail("no such user", 1)
            user_id = found.id
        events = list(await rt.stores.events.list_events(user_id=user_id, limit=limit))
        return events, await ops.usernames(rt, (e.user_id for e in events))

    rows = []
    events, names = with_runtime(run)
    for event in events:
        row = event_dict(event)
        row["at"] = iso(event.at)
        row["username"] = names.get(event.user_id or "")
        rows.append(row)
    if json_out:
        for row in rows:
            typer.echo(orjson.dumps(row).decode())
        return
    for row in rows:
        detail = row.pop("detail")
        row["detail"] = " ".join(f"{k}={v}" for k, v in detail.items()) if detail else None
    ops.print_table(rows, ["at", "type", "username", "session_id", "ip", "detail"], empty="no events")


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    app.add_typer(clients_app, name="clients")
    app.add_typer(events_app, name="events")
    keys_app.command("new-master-key")(keys_new_master_key)
    keys_app.command("rotate")(keys_rotate)
    keys_app.command("revoke")(keys_revoke)
    keys_app.command("list")(keys_list)
