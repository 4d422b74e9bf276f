"""The HTML report: one self-contained file (no network, no CDN; works opened from a CI
artifact). A heat map — rows distro/arch/Python, columns the checks grouped by scenario —
coloured by status, filters by status, distro and arch, the problems grouped by root cause,
and a click on a cell opens its detail: diagnosis, evidence (output tail, faulthandler stack,
native frame, bindings), installed versions and the `wheelmatrix repro` command for it."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from wheelmatrix import __version__
from wheelmatrix.findings.causes import LEGEND, layout, mark, root_causes, warned
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext, TextReporter, picked_wheel_lines

COLOUR = {
    "passed": "#2e9d4b",
    "warning": "#b7c63b",
    "failed": "#d2453b",
    "crashed": "#8e1a12",
    "timed-out": "#b05bc4",
    "not-installable": "#9a9a9a",
    "error": "#e39a1f",
    "known": "#3f8fd0",
    "skipped": "#8a8f98",
}


def _status_key(r: CheckResult) -> str:
    return "warning" if warned(r) else r.status.value


def _detail(r: CheckResult) -> dict[str, Any]:
    ev = r.evidence
    native = ev.get("native") or {}
    fault = native.get("fault") or {}
    return {
        "id": r.check_id,
        "cell": r.row,
        "check": r.check,
        "status": _status_key(r),
        "detail": r.detail,
        "diagnosis": r.diagnosis,
        "output": str(ev.get("output_tail") or ev.get("installer_output") or ""),
        "native": json.dumps(fault, indent=1) if fault else "",
        "gdb": str(native.get("gdb") or ""),
        "bindings": [
            f"{b.get('symbol')}: wanted by {b.get('wanted_by')}, bound to {b.get('bound_to')}"
            for b in (native.get("bindings") or [])
        ],
        "warnings": list(ev.get("warnings") or []),
        "installed": list(r.installed),
        "wheels": picked_wheel_lines(r),
        "repro": f"wheelmatrix repro --from REPORT.json --check '{r.check_id}'",
        "image": r.image,
        "engine": r.engine,
        "duration": round(r.duration_s, 2),
    }


def render_html(
    results: Sequence[CheckResult],
    run: Mapping[str, Any],
    static: Sequence[Any] = (),
    *,
    version: str = __version__,
) -> str:
    grid = layout(results)
    groups: dict[str, list[int]] = {}
    for i, col in enumerate(grid.columns):
        scenario = col.split(": ", 1)[0] if ": " in col else "import"
        groups.setdefault(scenario, []).append(i)
    order = [i for idxs in groups.values() for i in idxs]
    details: dict[str, dict[str, Any]] = {}
    head_groups = "".join(
        f'<th colspan="{len(idxs)}" class="group">{html.escape(g)}</th>' for g, idxs in groups.items()
    )
    head_cols = "".join(
        f'<th class="col" title="{html.escape(grid.columns[i])}"><span>{html.escape(grid.columns[i].split(": ", 1)[-1])}</span></th>'
        for i in order
    )
    body = []
    for row, cells in grid.rows.items():
        distro, arch = row.split("/")[0], row.split("/")[1]
        tds = []
        for i in order:
            r = cells.get(grid.columns[i])
            if r is None:
                tds.append('<td class="empty"></td>')
                continue
            key = f"c{len(details)}"
            details[key] = _detail(r)
            status = _status_key(r)
            tds.append(
                f'<td class="cell s-{status}" data-status="{status}" data-key="{key}" '
                f'title="{html.escape(r.check)}: {html.escape(status)}">{html.escape(mark(r))}</td>'
            )
        body.append(
            f'<tr data-distro="{html.escape(distro)}" data-arch="{html.escape(arch)}">'
            f'<th class="row">{html.escape(row)}</th>{"".join(tds)}</tr>'
        )
    causes = "".join(
        f"<li><b>{html.escape(c.summary())}</b> <small>({html.escape(c.kind)}: {html.escape(c.subject)})</small>"
        + (f"<br>fix: {html.escape(c.fix)}" if c.fix else "")
        + f"<br><small>cells: {html.escape(', '.join(c.cells[:6]))}"
        f"{' …' if len(c.cells) > 6 else ''}</small></li>"
        for c in root_causes(results)
    )
    counts = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    distros = sorted({row.split("/")[0] for row in grid.rows})
    arches = sorted({row.split("/")[1] for row in grid.rows})
    statuses = [s for s in COLOUR if any(_status_key(r) == s for r in results)]
    css_status = "".join(f".s-{k}{{background:{v};}}" for k, v in COLOUR.items())
    data = json.dumps(details).replace("</", "<\\/")
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    scans = "".join(
        f"<li><code>{html.escape(str(s.get('wheel')))}</code>: "
        + html.escape("; ".join(str(f.get("message")) for f in s.get("findings", [])) or "no findings")
        + "".join(f"<br><small>reach: {html.escape(str(line))}</small>" for line in s.get("reach", []))
        + "</li>"
        for s in static
        if isinstance(s, Mapping)
    )
    return _PAGE.format(
        title=f"wheelmatrix report ({len(results)} checks)",
        version=html.escape(version),
        run=html.escape(str(run.get("id", ""))),
        summary=html.escape(summary),
        css_status=css_status,
        status_boxes="".join(
            f'<label><input type="checkbox" class="f-status" value="{s}" checked> '
            f'<span class="swatch s-{s}"></span>{s}</label>'
            for s in statuses
        ),
        distro_options="".join(
            f'<option value="{html.escape(d)}">{html.escape(d)}</option>' for d in distros
        ),
        arch_options="".join(f'<option value="{html.escape(a)}">{html.escape(a)}</option>' for a in arches),
        head_groups=head_groups,
        head_cols=head_cols,
        body="".join(body),
        causes=causes or "<li>no problems</li>",
        scans=scans or "<li>no wheel files scanned</li>",
        legend=html.escape(LEGEND),
        data=data,
    )


def _render(results: Sequence[CheckResult], context: ReportContext) -> str:
    return render_html(results, context.run, context.static, version=context.tool_version)


HTML = TextReporter("html", "the HTML report (one self-contained file)", _render)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#222}}
h1{{font-size:1.3rem;margin:0 0 .3rem}} .meta{{color:#666;margin-bottom:.8rem}}
.filters{{display:flex;gap:1rem;flex-wrap:wrap;align-items:center;margin:.5rem 0}}
.filters label{{white-space:nowrap}}
.swatch{{display:inline-block;width:.9em;height:.9em;margin:0 .2em;vertical-align:middle;border-radius:2px}}
.wrap{{overflow:auto;max-width:100%;border:1px solid #ddd}}
table.map{{border-collapse:collapse}}
table.map th.row{{text-align:left;white-space:nowrap;padding:2px 8px;position:sticky;left:0;background:#fff}}
table.map th.group{{background:#eee;border:1px solid #ccc;padding:2px 4px}}
table.map th.col{{height:9em;vertical-align:bottom;padding:0;font-weight:normal}}
table.map th.col span{{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;
  max-height:9em;overflow:hidden;text-overflow:ellipsis;display:inline-block;padding:2px}}
td.cell{{width:1.6em;height:1.6em;text-align:center;color:#fff;cursor:pointer;border:1px solid #fff;font-weight:bold}}
td.cell.dim{{opacity:.15}} td.cell.selected{{outline:3px solid #000}}
{css_status}
#detail{{margin-top:1rem;padding:.8rem;border:1px solid #ccc;border-radius:4px;background:#fafafa}}
#detail pre{{background:#fff;border:1px solid #ddd;padding:.5rem;overflow:auto;max-height:20em;white-space:pre-wrap}}
#detail code{{background:#fff;padding:0 .3em}}
.hidden{{display:none}}
</style></head><body>
<h1>wheelmatrix report</h1>
<div class="meta">wheelmatrix {version} · run {run} · {summary}</div>
<div class="filters">
<span>status:</span>{status_boxes}
<label>distro <select id="f-distro"><option value="">all</option>{distro_options}</select></label>
<label>arch <select id="f-arch"><option value="">all</option>{arch_options}</select></label>
</div>
<div class="wrap"><table class="map" id="map">
<thead><tr><th></th>{head_groups}</tr><tr><th class="row">distro/arch/python</th>{head_cols}</tr></thead>
<tbody>{body}</tbody></table></div>
<p class="meta">{legend}. Click a cell for its detail.</p>
<div id="detail" class="hidden"></div>
<h2>Why (grouped by root cause)</h2><ul id="causes">{causes}</ul>
<h2>Static scan</h2><ul>{scans}</ul>
<script type="application/json" id="wm-data">{data}</script>
<script>
(function () {{
  var data = JSON.parse(document.getElementById("wm-data").textContent);
  var detail = document.getElementById("detail");
  function esc(s) {{ var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }}
  function section(title, body) {{ return body ? "<h3>" + esc(title) + "</h3>" + body : ""; }}
  function pre(text) {{ return text ? "<pre>" + esc(text) + "</pre>" : ""; }}
  function show(cell) {{
    var d = data[cell.getAttribute("data-key")];
    document.querySelectorAll("td.selected").forEach(function (c) {{ c.classList.remove("selected"); }});
    cell.classList.add("selected");
    var h = "<h2 id=\\"detail-title\\">" + esc(d.cell) + " · " + esc(d.check) + "</h2>";
    h += "<p><span class=\\"swatch s-" + esc(d.status) + "\\"></span><b id=\\"detail-status\\">" + esc(d.status) + "</b>";
    h += d.detail ? ": <span id=\\"detail-text\\">" + esc(d.detail) + "</span>" : "";
    h += " <small>(" + esc(d.duration) + " s)</small></p>";
    h += section("Diagnosis", d.diagnosis ? "<p id=\\"detail-diagnosis\\">" + esc(d.diagnosis) + "</p>" : "");
    h += section("Warnings", d.warnings.length ? pre(d.warnings.join("\\n")) : "");
    h += section("Output (end, with the faulthandler stack)", pre(d.output));
    h += section("Native frame", pre(d.native));
    h += section("gdb", pre(d.gdb));
    h += section("Dynamic-linker bindings", d.bindings.length ? pre(d.bindings.join("\\n")) : "");
    h += section("Installed", d.installed.length ? "<p>" + esc(d.installed.join(", ")) + "</p>" : "");
    h += section("Wheel files installed", d.wheels.length ? "<pre id=\\"detail-wheels\\">" + esc(d.wheels.join("\\n")) + "</pre>" : "");
    h += section("Reproduce", "<p><code id=\\"detail-repro\\">" + esc(d.repro) + "</code></p>");
    h += "<p><small>image " + esc(d.image) + " · " + esc(d.engine) + "</small></p>";
    detail.innerHTML = h;
    detail.classList.remove("hidden");
  }}
  document.getElementById("map").addEventListener("click", function (e) {{
    var cell = e.target.closest("td.cell");
    if (cell) show(cell);
  }});
  function filter() {{
    var on = {{}};
    document.querySelectorAll(".f-status").forEach(function (b) {{ on[b.value] = b.checked; }});
    var distro = document.getElementById("f-distro").value, arch = document.getElementById("f-arch").value;
    document.querySelectorAll("#map tbody tr").forEach(function (tr) {{
      var keep = (!distro || tr.getAttribute("data-distro") === distro) && (!arch || tr.getAttribute("data-arch") === arch);
      tr.classList.toggle("hidden", !keep);
    }});
    document.querySelectorAll("td.cell").forEach(function (c) {{
      c.classList.toggle("dim", !on[c.getAttribute("data-status")]);
    }});
  }}
  document.querySelectorAll(".f-status, #f-distro, #f-arch").forEach(function (el) {{ el.addEventListener("change", filter); }});
}})();
</script>
</body></html>
"""
