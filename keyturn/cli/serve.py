"""``keyturn serve``: the HTTP token service under uvicorn."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import typer

from keyturn.cli.common import app, fail, run_or_fail, settings_or_exit, warn
from keyturn.config import Settings, issuer_warnings, lifetime_warnings
from keyturn.errors import KeyturnError


async def _preflight(settings: Settings) -> None:
    from keyturn.service.wiring import build_runtime

    rt = build_runtime(settings)
    try:
        await rt.start()
    finally:
        await rt.close()


# prometheus-client's multiprocess mode: read when it is first imported, so it
# is set before uvicorn starts the workers (keyturn.http.metrics reads it too).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def shared_across_workers(workers: int) -> Iterator[None]:
    """Around ``uvicorn.run``: with more than one worker, give the server a
    private directory for its workers' counts, removed when it stops, so
    /metrics reports the whole server. An operator's own
    ``PROMETHEUS_MULTIPROC_DIR`` is used as it is (and left in place)."""
    if workers <= 1 or os.environ.get(METRICS_DIR_ENV):
        yield
        return
    path = tempfile.mkdtemp(prefix="keyturn-metrics-")
    os.environ[METRICS_DIR_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def start_lines(settings: Settings, host: str, port: int, workers: int) -> list[str]:
    """What an operator needs to see on every start: where it listens, which
    stores it uses (passwords masked) and where the master key lives."""
    from keyturn.service.masterkey import key_file_for
    from keyturn.stores.explain import mask_url, where

    shown_host = f"[{host}]" if ":" in host else host
    lines = [f"listening on http://{shown_host}:{port} ({workers} worker{'s' if workers > 1 else ''})"]
    db = settings.database_url
    lines.append(f"database: {mask_url(db)} ({where(db)})")
    if settings.session_store_url in (None, db):
        lines.append("session store: the database")
    else:
        url = settings.sessions_url
        lines.append(f"session store: {mask_url(url)} ({where(url)})")
    path = key_file_for(settings)
    if settings.master_key:
        lines.append("master key: from KEYTURN_MASTER_KEY")
    elif path is not None:
        lines.append(f"master key: {Path(path).resolve()}")
    else:
        lines.append("master key: a throw-away key for this process (tokens die on restart)")
    return lines


def check_listen(host: str, port: int) -> None:
    """Bind once before saying ``listening on``: a port in use or an address
    this host does not have is one ``keyturn: error:`` line, not a start
    line followed by uvicorn's log."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}:{port}: {host!r} is not an address or host name here ({exc.strerror})", 1)
        return
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            hint = "; another process listens there: pick another --port" if exc.errno == 98 else ""
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}", 1)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="KEYTURN_HOST", show_envvar=False,
                             help="Address to listen on (or KEYTURN_HOST)."),
    port: int = typer.Option(8000, min=1, max=65535, envvar="KEYTURN_PORT", show_envvar=False,
                          help="TCP port (or KEYTURN_PORT)."),
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
    check_listen(host, port)  # before anything is created or said
    for line in lifetime_warnings(settings):
        warn(line)
    for line in issuer_warnings(settings):  # once, before the workers start
        warn(line)
    # JSON lines (readable text on a terminal); the same config reaches every
    # worker process through uvicorn's log_config.
    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    try:
        # Resolve (and on first start create) the master key once, before
        # the workers fork, so they all agree on it.
        from keyturn.service.masterkey import resolve_master_key

        resolve_master_key(settings)
    except KeyturnError as exc:
        fail(exc.description)
    # Migrate and load the signing keys once up front: a wrong master key
    # or an unreachable database is one clear line, not a worker traceback.
    run_or_fail(lambda: _preflight(settings), settings)
    for line in start_lines(settings, host, port, workers):
        typer.echo(f"keyturn: {line}", err=True)
    with shared_across_workers(workers):  # /metrics answers for every worker
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
            # A worker still starting on a busy host is not a dead one: give it
            # time before the supervisor kills and restarts it in a loop.
            timeout_worker_healthcheck=30,
        )
