"""``python -m bench [--quick] [--only a,b] [--section refresh,verify,...]``

Starts every server itself on 127.0.0.1, drives it in interleaved passes,
stops it, writes bench/results/<timestamp>.json, regenerates
docs/benchmarks.md + chart and prints every target with its verdict."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from typing import Any

from bench import report, stats, systems, targets, util
from bench.refresh import TARGET_SYSTEMS

SECTIONS = ["refresh", "verify", "login", "scale", "profile"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="short runs, target systems only, smaller stores (about 6-8 minutes in total)")
    ap.add_argument("--passes", type=int, default=0, help=f"interleaved passes per comparison "
                    f"(at least {stats.MIN_PASSES}; default 3 quick, 5 full)")
    ap.add_argument("--only", default="", help="comma-separated systems for the refresh section (default: "
                    "the target systems with --quick, all otherwise): " + ",".join(s.name for s in systems.SYSTEMS))
    ap.add_argument("--section", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--from-json", help="only regenerate the docs from a saved results file")
    args = ap.parse_args(argv)

    if args.from_json:
        with open(args.from_json) as fh:
            report.write(json.load(fh))
        return 0
    sections = [s for s in args.section.split(",") if s]
    bad = [s for s in sections if s not in SECTIONS]
    names = [n for n in args.only.split(",") if n]
    bad += [n for n in names if n not in systems.BY_NAME]
    if bad:
        ap.error(f"unknown: {', '.join(bad)}")
    if not names and args.quick:
        names = list(TARGET_SYSTEMS)
    chosen = [systems.BY_NAME[n] for n in names] if names else systems.SYSTEMS
    passes = args.passes or (3 if args.quick else 5)
    if passes < stats.MIN_PASSES:
        ap.error(f"--passes: at least {stats.MIN_PASSES}")

    t0 = time.monotonic()
    res: dict[str, Any] = {
        "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick, "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": util.machine(), "sections": sections, "passes": passes,
        "load_before": os.getloadavg(),
    }
    why = systems.keyturn_available()
    res["keyturn_available"] = why or "yes"
    if why:
        print(f"note: keyturn not available — {why}; its variants are recorded as not available", flush=True)
    with util.tempdir("kt-bench-") as tmp, systems.own_redis(tmp) as (_, rport):
        env = systems.Env(tmp, rport)
        try:
            if "refresh" in sections:
                from bench import refresh
                res["refresh"] = refresh.run(chosen, env, args.quick, passes)
            if "verify" in sections:
                print("[verify]", flush=True)
                from bench import verify
                res["verify"] = verify.run(args.quick, passes)
            if "login" in sections:
                print("[login]", flush=True)
                from bench import login
                res["login"] = login.run(env, args.quick, passes)
            if "scale" in sections:
                print("[scale]", flush=True)
                from bench import scale
                res["scale"] = scale.run(env, args.quick, passes)
            if "profile" in sections:
                print("[profile]", flush=True)
                from bench import profile
                res["profile"] = profile.run(env, args.quick)
        finally:
            systems.pg_drop_all(env)
    res["elapsed_s"] = time.monotonic() - t0
    res["load_after"] = os.getloadavg()
    util.RESULTS.mkdir(parents=True, exist_ok=True)
    out = util.RESULTS / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(res, indent=1))
    print(f"results: {out.relative_to(util.ROOT)}")
    if not args.no_docs:
        report.write(res)
        print("docs: docs/benchmarks.md, docs/bench-refresh.png")
    print(f"targets (median of {passes} interleaved passes, min–max in brackets):")
    for row in targets.targets(res):
        print(f"  {row.verdict:6s}  {row.what}: {row.value_text()} (target {row.target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
