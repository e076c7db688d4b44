"""``keyturn clients``, ``keyturn keys new-master-key|rotate|list`` and
``keyturn events tail``: the security commands (registered by
``keyturn.cli.commands``)."""

from __future__ import annotations

from typing import Any

import orjson
import typer

from keyturn.cli.common import fail, with_runtime

clients_app = typer.Typer(help="Resource-server clients (introspection, revocation feed).", no_args_is_help=True)
events_app = typer.Typer(help="Security events.", no_args_is_help=True)


@clients_app.command("add")
def clients_add(name: str) -> None:
    """Register a resource server; prints its id and secret (shown once).

    Example: keyturn clients add billing-api
    """
    from keyturn.service.resource_clients import new_client

    async def run(rt: Any) -> tuple[str, str]:
        try:
            client, secret = new_client(name, rt.clock.now())
        except ValueError as exc:
            fail(str(exc))
        await rt.stores.clients.add_client(client)
        return client.id, secret

    client_id, secret = with_runtime(run)
    typer.echo(f"client_id: {client_id}")
    typer.echo(f"client_secret: {secret}")


@clients_app.command("list")
def clients_list() -> None:
    """List resource-server clients (never their secrets).

    Example: keyturn clients list
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> list[Any]:
        return list(await rt.stores.clients.list_clients())

    for c in with_runtime(run):
        typer.echo(f"{c.id}\t{c.name}\t{iso(c.created_at)}\t{'disabled' if c.disabled else 'active'}")


def keys_new_master_key() -> None:
    """Print a fresh random master key for KEYTURN_MASTER_KEY.

    Example: export KEYTURN_MASTER_KEY=$(keyturn keys new-master-key)
    """
    from keyturn.service.masterkey import new_master_key

    typer.echo(new_master_key())


def keys_rotate() -> None:
    """Make a new active signing key. The previous public key stays in the
    JWKS until every token it signed has expired, then leaves.

    Example: keyturn keys rotate
    """

    async def run(rt: Any) -> str:
        stored = await rt.keys.rotate(rt.clock.now())
        return str(stored.kid)

    typer.echo(f"active key: {with_runtime(run)}")


def keys_list() -> None:
    """List signing keys: kid, algorithm, created, state.

    Example: keyturn keys list
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> tuple[list[Any], str]:
        return rt.keys.describe(), rt.keys.active.kid

    keys, active = with_runtime(run)
    for k in keys:
        state = "active" if k.kid == active else f"retired {iso(k.retired_at)}" if k.retired_at else "verify-only"
        typer.echo(f"{k.kid}\t{k.alg}\t{iso(k.created_at)}\t{state}")


@events_app.command("tail")
def events_tail(
    user: str = typer.Option(None, "--user", help="Only this user's events (username)."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many of the latest events."),
) -> None:
    """Print the latest security events, oldest first, one JSON object a line.

    Example: keyturn events tail --user alice --limit 20
    """
    from keyturn.core.users import normalize_username
    from keyturn.service.events import event_dict

    async def run(rt: Any) -> list[Any]:
        user_id = None
        if user is not None:
            found = await rt.stores.users.user_by_name(normalize_username(user))
            if found is None:
                fail("no such user", 1)
            user_id = found.id
        return list(await rt.stores.events.list_events(user_id=user_id, limit=limit))

    for event in with_runtime(run):
        typer.echo(orjson.dumps(event_dict(event)).decode())


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    app.add_typer(clients_app, name="clients")
    app.add_typer(events_app, name="events")
    keys_app.command("new-master-key")(keys_new_master_key)
    keys_app.command("rotate")(keys_rotate)
    keys_app.command("list")(keys_list)
