"""The report three ways: a text table for people at a terminal, JSON for
machines, and one self-contained HTML page (no external assets) with the
summary at the top."""

from __future__ import annotations

import html
import json
import textwrap

from keyturn.audit.result import Result, Status
from keyturn.audit.runner import Report

COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "WARN": "#9a6700", "SKIP": "#6e7781"}


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)


def to_text(report: Report, width: int = 100) -> str:
    lines = [f"keyturn audit of {report.target} (profile {report.profile})", ""]
    id_width = max((len(r.id) for r in report.results), default=10)
    for r in report.results:
        lines.append(f"{r.status.value:<4}  {r.severity.value:<6}  {r.id:<{id_width}}  {r.title}")
        indent = " " * 16
        for part in textwrap.wrap(r.evidence, width=width - len(indent), break_on_hyphens=False) or [""]:
            lines.append(indent + part)
        lines.append(indent + "ref: " + r.reference)
    lines += ["", report.summary(),
              f"sessions: {report.sessions_opened} opened by the audit, {report.sessions_ended} ended",
              "result: " + ("FAIL" if report.failed else "nothing failed")]
    return "\n".join(lines) + "\n"


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
.meta{color:#57606a;margin:0 0 18px}
.summary{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:14px}
.tile{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;min-width:110px}
.tile b{display:block;font-size:30px;line-height:1.1}
.verdict{font-size:18px;font-weight:600;padding:10px 14px;border-radius:8px;margin-bottom:18px;color:#fff}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid #d8dee4}
th{background:#eaeef2;font-size:13px}
td.status{font-weight:700}
td.evidence{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-word}
td.ref{font-size:12.5px;color:#57606a}
code{font-size:13px;overflow-wrap:anywhere}
@media (max-width:640px){
main{padding:12px}
.tile{min-width:0;flex:1 1 70px;padding:8px 10px}
thead{display:none}
table,tbody,tr,td{display:block;width:auto}
tr{border-bottom:2px solid #d0d7de}
td{border:0;padding:4px 10px}
td.ref{overflow-wrap:anywhere}
}
"""


def to_html(report: Report) -> str:
    counts = report.counts()
    tiles = "".join(
        f'<div class="tile" data-status="{s}"><b style="color:{COLOURS[s]}">{counts[s]}</b>{s}</div>' for s in COLOURS
    )
    verdict = (f"{counts['FAIL']} check(s) failed" if report.failed else "Nothing failed") + \
        (f", {counts['WARN']} warning(s)" if counts["WARN"] else "")
    colour = COLOURS["FAIL"] if report.failed else COLOURS["PASS"]
    rows = "".join(
        f'<tr class="{r.status.value.lower()}"><td class="status" style="color:{COLOURS[r.status.value]}">{r.status.value}</td>'
        f"<td>{r.severity.value}</td><td title='{html.escape(r.attack)}'><code>{html.escape(r.id)}</code><br>{html.escape(r.title)}</td>"
        f'<td class="evidence">{html.escape(r.evidence)}</td><td class="ref">{html.escape(r.reference)}</td></tr>'
        for r in _ordered(report)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>keyturn audit — {html.escape(report.target)}</title><style>{_CSS}</style></head>
<body><main>
<h1>keyturn audit of {html.escape(report.target)}</h1>
<p class="meta">profile <b>{html.escape(report.profile)}</b> · {len(report.results)} checks · {report.requests} requests
in {report.seconds:.1f} s · sessions: {report.sessions_opened} opened, {report.sessions_ended} ended</p>
<section id="summary" aria-label="summary">
<div class="verdict" id="verdict" style="background:{colour}">{html.escape(verdict)}</div>
<div class="summary">{tiles}</div>
</section>
<table id="results"><thead><tr><th>Status</th><th>Severity</th><th>Check</th><th>Evidence</th><th>Reference</th></tr></thead>
<tbody>{rows}</tbody></table>
</main></body></html>
"""


def _ordered(report: Report) -> list[Result]:
    """Failures first, then warnings, passes, skips; catalogue order within each."""
    rank = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2, Status.SKIP: 3}
    return sorted(report.results, key=lambda r: rank[r.status])
