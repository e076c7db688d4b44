"""CPU per refresh on the SQL hot path: ``get_session`` + ``rotate``, N
sessions at concurrency C, one process, per engine. Compares source trees
(A/B) in interleaved passes, each pass its own process, and prints the
median CPU seconds (``time.process_time``) per 1000 calls of each tree.

    python bench/sql_hot_path.py --tree A=/path/to/old --tree B=. \
        [--calls 2000] [--concurrency 16] [--passes 3] [--engines sqlite,postgresql,mariadb]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

POSTGRES_URL = os.environ.get("KEYTURN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("KEYTURN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


async def _one_pass(url: str, calls: int, concurrency: int) -> float:
    """Run in the tree under test: the CPU seconds of ``calls`` refreshes."""
    from keyturn.core.sessions import Session
    from keyturn.stores.sql.store import SqlStore

    store = SqlStore.from_url(url, pool_size=concurrency)
    await store.migrate()
    now = time.time()
    ids = [secrets.token_hex(16) for _ in range(concurrency)]
    for sid in ids:
        await store.create_session(
            Session(sid, "u" + sid[:8], secrets.token_bytes(32), now, now + 86400, now + 86400), max_sessions=0, now=now
        )
    generation = dict.fromkeys(ids, 0)

    async def worker(sid: str, n: int) -> None:
        for _ in range(n):
            found = await store.get_session(sid)
            assert found is not None and found.generation == generation[sid]
            assert await store.rotate(
                sid, generation[sid], now=time.time(), idle_expires_at=now + 86400, ip=None, user_agent=None
            )
            generation[sid] += 1

    await asyncio.gather(*(worker(sid, 5) for sid in ids))  # warm: every connection opened, statements prepared
    start = time.process_time()
    await asyncio.gather(*(worker(sid, calls // concurrency) for sid in ids))
    spent = time.process_time() - start
    await store.close()
    return spent


def _fresh_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from keyturn.stores.sql.engine import async_url

    name = f"kt_bench_{secrets.token_hex(4)}"

    async def create() -> None:
        engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(sa.text(f"CREATE DATABASE {name}"))
        await engine.dispose()

    asyncio.run(create())
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def _drop(admin_url: str, name: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from keyturn.stores.sql.engine import async_url

    async def drop() -> None:
        engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        await engine.dispose()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", action="append", default=[], help="LABEL=PATH of a source tree")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--engines", default="sqlite,postgresql,mariadb")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: one pass on URL
    args = parser.parse_args()
    if args.run:
        print(json.dumps(asyncio.run(_one_pass(args.run, args.calls, args.concurrency))))
        return
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": "."}
    tmp = tempfile.mkdtemp(prefix="kt-bench-")
    for engine in args.engines.split(","):
        made: tuple[str, str] | None = None
        if engine == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            admin = POSTGRES_URL if engine == "postgresql" else MYSQL_URL
            url, name = _fresh_database(admin)
            made = (admin, name)
        spent: dict[str, list[float]] = {label: [] for label in trees}
        try:
            for _ in range(args.passes):
                for label, path in trees.items():
                    env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
                    out = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--run", url, "--calls", str(args.calls),
                         "--concurrency", str(args.concurrency)],
                        env=env, check=True, capture_output=True, text=True, cwd=os.path.abspath(path),
                    ).stdout
                    spent[label].append(float(out.strip().splitlines()[-1]))
        finally:
            if made:
                _drop(*made)
        medians = {label: statistics.median(v) / args.calls * 1e6 for label, v in spent.items()}
        line = ", ".join(f"{label} {m:.1f} µs CPU/refresh" for label, m in medians.items())
        labels = list(medians)
        if len(labels) == 2:
            line += f", {labels[1]}/{labels[0]} = {medians[labels[1]] / medians[labels[0]]:.3f}"
        print(f"{engine}: {line}  (passes: {json.dumps(spent)})", flush=True)


if __name__ == "__main__":
    main()
