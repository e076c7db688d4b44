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
        await rt.clients.add_client(client)
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
        return list(await rt.clients.list_clients())

    for c in with_runtime(run):
        typer.echo(f"{c.id}\t{c.name}\t{iso(c.created_at)}\t{'disabled' if c.disabled else 'active'}")


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

    kid, at = with_runtime(run)
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


def keys_list() -> None:
    """List signing keys: kid, algorithm, created, state.

    Example: keyturn keys list
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> tuple[list[Any], str, float]:
        now = rt.clock.now()
        return rt.keys.describe(), rt.keys.signer(now).kid, now

    keys, active, rt_now = with_runtime(run)
    for k in keys:
        state = (
            "active" if k.kid == active
            else f"signs from {iso(k.activates_at)}" if k.activates_at and k.activates_at > rt_now
            else f"retired {iso(k.retired_at)}" if k.retired_at else "verify-only"
        )
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
            found = await rt.database.user_by_name(normalize_username(user))
            if found is None:
                fail("no such user", 1)
            user_id = found.id
        return list(await rt.database.list_events(user_id=user_id, limit=limit))

    for event in with_runtime(run):
        typer.echo(orjson.dumps(event_dict(event)).decode())


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    app.add_typer(clients_app, name="clients")
    app.add_typer(events_app, name="events")
    keys_app.command("new-master-key")(keys_new_master_key)
    keys_app.command("rotate")(keys_rotate)
    keys_app.command("revoke")(keys_revoke)
    keys_app.command("list")(keys_list)
