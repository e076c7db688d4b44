"""The targets of the speed-and-scale work, judged on one run's results.

Every ratio is per interleaved pass (``bench.stats``) and judged on its
median; a value that could not be measured is ``n/a``, never a pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import floor, stats
from bench.stats import Spread

PEER = "seed-atomic"
CEILING = "ceiling"
C = 16
KEYTURN = {"redis": "keyturn-redis-eddsa", "sqlite": "keyturn-sqlite-eddsa", "postgres": "keyturn-pg-eddsa"}


@dataclass(frozen=True)
class Row:
    what: str
    value: Spread | None
    target: str
    verdict: str
    fmt: str = "{:.2f}"
    unit: str = ""

    def value_text(self) -> str:
        if self.value is None:
            return "–"
        if len(self.value.values) == 1:
            return self.fmt.format(self.value.median) + self.unit
        return self.value.text(self.fmt) + self.unit


def system(res: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in res.get("refresh", {}).get("systems", []) if s["system"] == name), None)


def passes(res: dict[str, Any], name: str, c: int, key: str) -> list[float] | None:
    """``key`` of every pass of ``name`` at ``c``; None if any pass is missing."""
    s = system(res, name)
    runs = (s or {}).get("passes", {}).get(str(c)) or []
    if not runs or any(r is None for r in runs):
        return None
    return [float(r[key]) for r in runs]


def ratio(num: list[float] | None, den: list[float] | None) -> Spread | None:
    if num is None or den is None or len(num) != len(den) or not all(den):
        return None
    return stats.ratio(num, den)


def floors(res: dict[str, Any], db: str, c: int = C) -> list[float] | None:
    """Per-pass floor incl. HTTP (seconds) for keyturn on ``db`` with EdDSA."""
    http = passes(res, CEILING, c, "server_cpu_per_req_us")
    ops = res.get("refresh", {}).get("floor", {}).get("passes") or []
    if http is None or len(ops) != len(http):
        return None
    out = [floor.floor_of(o, db, "EdDSA", h / 1e6) for o, h in zip(ops, http)]
    return None if any(v is None for v in out) else [float(v) for v in out if v is not None]


def floor_ratio(res: dict[str, Any], db: str, c: int = C) -> Spread | None:
    cpu = passes(res, KEYTURN[db], c, "server_cpu_per_req_us")
    fl = floors(res, db, c)
    return ratio([v / 1e6 for v in cpu] if cpu else None, fl)


def _sd(d: Any) -> Spread | None:
    return stats.from_dict(d) if isinstance(d, dict) else None


def targets(res: dict[str, Any]) -> list[Row]:
    """Every target with its value and MET / MISSED / n/a."""
    rows: list[Row] = []

    def add(what: str, value: Spread | None, target: float, text: str, at_most: bool = True, **kw: str) -> None:
        rows.append(Row(what, value, text, stats.verdict(value, target, at_most=at_most), **kw))

    peer_cpu = passes(res, PEER, C, "server_cpu_per_req_us")
    add(f"keyturn Redis EdDSA ÷ atomic seed peer, server CPU per refresh (c={C})",
        ratio(passes(res, KEYTURN["redis"], C, "server_cpu_per_req_us"), peer_cpu), 0.5, "≤ 0.5")
    add(f"keyturn Redis EdDSA ÷ floor incl. HTTP, server CPU per refresh (c={C})",
        floor_ratio(res, "redis"), 1.5, "≤ 1.5")
    for db, label in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        add(f"keyturn {label} EdDSA ÷ atomic seed peer, server CPU per refresh (c={C})",
            ratio(passes(res, KEYTURN[db], C, "server_cpu_per_req_us"), peer_cpu), 0.6, "≤ 0.6")
    peer_p99 = passes(res, PEER, C, "p99_us")
    for db, label in (("redis", "Redis"), ("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        add(f"keyturn {label} EdDSA ÷ atomic seed peer, refresh p99 (c={C})",
            ratio(passes(res, KEYTURN[db], C, "p99_us"), peer_p99), 1.0, "< 1")
    sc = res.get("scale", {})
    for db, label in (("redis", "Redis"), ("postgres", "PostgreSQL")):
        part = sc.get(db, {})
        add(f"{label}: refresh p99 at {part.get('large', 0):,} ÷ at {part.get('small', 0):,} live sessions (c={C})",
            _sd(part.get("p99_ratio")), 1.10, "≤ 1.10")
    mem = sc.get("redis", {}).get("memory", {})
    b = mem.get("bytes_per_session")
    add("Redis bytes per live session (Σ MEMORY USAGE, 8 sessions a user, 64-byte UAs)",
        None if b is None else stats.spread([b]), 400, "≤ 400", fmt="{:.0f}", unit=" B")
    ve = res.get("verify", {}).get("algs", {}).get("EdDSA", {})
    add("Verifier, repeated token ÷ bare PyJWT decode (EdDSA)", _sd(ve.get("repeated_ratio")), 0.1, "≤ 0.1")
    add("Verifier, first sight ÷ bare PyJWT decode (EdDSA)", _sd(ve.get("first_sight_ratio")), 1.2, "≤ 1.2")
    lo = res.get("login", {})
    add(f"refresh p99 with {lo.get('logins', 100)} concurrent logins ÷ without (c={C})",
        _sd(lo.get("p99_ratio")), 2.0, "≤ 2")
    per = _sd(lo.get("logins_per_cpu_s"))
    rows.append(Row("login throughput per core: logins per CPU-second of the worker (default argon2)", per,
                    "(reported)", "info" if per else "n/a", fmt="{:.1f}", unit=" /s"))
    return rows
