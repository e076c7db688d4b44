"""``keyturn sessions list|revoke``."""

from __future__ import annotations

from typing import Any

import typer

from keyturn.cli import ops
from keyturn.cli.common import fail, sessions_app, with_runtime
from keyturn.errors import UnknownUser


@sessions_app.command("list")
def sessions_list(
    user: str = typer.Option(None, "--user", help="Only this user's sessions."),
    json_out: bool = typer.Option(False, "--json", help=ops.JSON_HELP),
) -> None:
    """List live sessions: who is logged in, from where, since when.

    Examples:

      keyturn sessions list

      keyturn sessions list --user alice --json
    """
    from keyturn.core.users import normalize_username

    async def run(rt: Any) -> tuple[list[Any], dict[str, str]]:
        now = rt.clock.now()
        if user is None:
            found_sessions = list(await rt.stores.sessions.list_all_sessions(now=now))
        else:
            found = await rt.stores.users.user_by_name(normalize_username(user))
            if found is None:
                raise UnknownUser()
            found_sessions = list(await rt.stores.sessions.list_sessions(found.id, now=now))
        return found_sessions, await ops.usernames(rt, (s.user_id for s in found_sessions))

    from keyturn.clock import iso

    live, names = with_runtime(run)
    rows = [
        {
            "id": s.id, "username": names.get(s.user_id), "user_id": s.user_id, "created": iso(s.created_at),
            "last_used": iso(s.last_used_at), "ip": s.last_ip or s.login_ip,
            "user_agent": s.last_user_agent or s.user_agent, "generation": s.generation,
        }
        for s in live
    ]
    ops.print_output(rows, ["id", "username", "created", "last_used", "ip", "user_agent"], json_out=json_out,
                     empty="no live sessions")


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
