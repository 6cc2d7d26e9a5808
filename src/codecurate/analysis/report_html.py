"""The self-contained HTML report: one file, inline CSS and SVG, no external resource, no CDN.

Every panel is ``<section class="panel" id=...>`` with a title, a one-line ``<p class="caption">`` saying what it
shows, and its plot (inline SVG) and/or table. Everything that comes from data (dataset names, categories,
drop reasons, record text) is HTML-escaped, so a record holding ``<script>`` shows as text. A 12-line inline
script (no network, no console output) marks on ``<body data-rendered=N>`` how many panels laid out a visible
plot; the browser test reads it.
"""

from __future__ import annotations

import math
from typing import Iterable

from codecurate.analysis import svg
from codecurate.analysis.svg import esc, fmt

CSS = """
:root{--fg:#222;--muted:#666;--line:#e3e3e3;--bg:#fff;--panel:#fcfcfd}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);
background:var(--bg)}
header{padding:14px 22px;border-bottom:1px solid var(--line);background:#f7f8fa}
header h1{margin:0 0 4px;font-size:20px}
header p{margin:2px 0;color:var(--muted)}
nav{padding:6px 22px;border-bottom:1px solid var(--line);font-size:12px;position:sticky;top:0;background:#fff;z-index:2}
nav a{margin-right:10px;color:#3b6ea5;text-decoration:none;white-space:nowrap}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px;padding:14px 22px;
max-width:1500px}
.panel{border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:var(--panel);min-width:0}
.panel.wide{grid-column:1/-1}
.panel.wide svg.plot{max-width:860px}
.panel h2{font-size:15px;margin:0 0 2px}
.caption{margin:0 0 8px;color:var(--muted);font-size:12.5px}
svg.plot{display:block;max-width:100%;height:auto;font-family:inherit}
table{border-collapse:collapse;font-size:12.5px;margin-top:6px;width:100%}
th,td{border-bottom:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.tablewrap{overflow-x:auto;max-height:460px;overflow-y:auto}
.ex{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11.5px;white-space:pre-wrap;
word-break:break-word;color:#444}
.note{color:var(--muted);font-size:12px}
@media (max-width:600px){main{grid-template-columns:1fr;padding:8px}}
"""

# marks how many panels rendered a plot with a non-zero box and at least one mark (read by the browser test)
SCRIPT = """
(function(){var ok=0,ps=document.querySelectorAll('section.panel');
ps.forEach(function(p){var s=p.querySelectorAll('svg.plot'),good=s.length>0;
s.forEach(function(e){var r=e.getBoundingClientRect();
if(!(r.width>0&&r.height>0&&e.querySelectorAll('.mark').length>0))good=false;});
var t=p.querySelector('table');if(!s.length&&t&&t.getBoundingClientRect().height>0)good=true;
if(good){ok++;p.setAttribute('data-rendered','1');}});
document.body.setAttribute('data-panels',String(ps.length));
document.body.setAttribute('data-rendered',String(ok));})();
"""


def panel(pid: str, title: str, caption: str, body: str, wide: bool = False) -> str:
    return (f'<section class="panel{" wide" if wide else ""}" id="{esc(pid)}"><h2>{esc(title)}</h2>'
            f'<p class="caption">{esc(caption)}</p>{body}</section>')


def table(headers: list[str], rows: Iterable[list], num_cols: Iterable[int] = (), raw_cols: Iterable[int] = ()) -> str:
    """A table; cells are escaped unless their column is in ``raw_cols`` (already-escaped HTML we built)."""
    nums, raws = set(num_cols), set(raw_cols)
    h = "".join(f'<th class="{"num" if i in nums else ""}">{esc(c)}</th>' for i, c in enumerate(headers))
    body = []
    for r in rows:
        tds = []
        for i, c in enumerate(r):
            cell = c if i in raws else esc(_cell(c))
            tds.append(f'<td class="{"num" if i in nums else ""}">{cell}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f'<div class="tablewrap"><table><thead><tr>{h}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return fmt(v) if math.isfinite(v) else "-"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def page(title: str, subtitle_lines: list[str], panels: list[str]) -> str:
    import re

    ids = re.findall(r'<section class="panel[^"]*" id="([^"]+)"><h2>([^<]*)</h2>', "".join(panels))
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in ids)  # both already escaped
    sub = "".join(f"<p>{esc(s)}</p>" for s in subtitle_lines)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1>{sub}</header><nav>{nav}</nav><main>{''.join(panels)}</main>"
            f"<script>{SCRIPT}</script></body></html>\n")


# -- dataset analysis panels ---------------------------------------------------------------------------------
def _hist_panel(result: dict, key: str, pid: str, title: str, caption: str) -> str | None:
    d = (result.get("distributions") or {}).get(key)
    if not d:
        return None
    note = f" Values above {fmt(d['clipped_above'])} are counted in the last bin." if d.get("clipped_above") else ""
    return panel(pid, title, caption + note,
                 svg.histogram(d["edges"], d["counts"], title=title, xlabel=d["label"]))


def dataset_panels(result: dict) -> list[str]:
    """Panels answering the InstructionData questions for every dataset of ``result`` side by side."""
    dss = result["datasets"]
    names = [d["name"] for d in dss]
    samp = result["settings"]["sampling"]
    P: list[str] = []

    # overview
    rows = []
    for d in dss:
        cont = d.get("contamination") or {}
        worst = max(((b, v.get("tli_mean_x100") or 0) for b, v in (cont.get("benchmarks") or {}).items()),
                    key=lambda kv: kv[1], default=(None, None))
        rows.append([d["name"], d["records"], d["lengths"]["instruction_tokens"]["p50"],
                     d["lengths"]["response_tokens"]["p50"], pct((d["domain"]["fractions"] or {}).get("code")),
                     (d.get("diversity") or {}).get("mean"), pct((d.get("task_types") or {}).get("algorithmic_share")),
                     pct((d.get("near_duplicates") or {}).get("rate")),
                     f"{worst[0]} {worst[1]:.2f}" if worst[0] else "-", pct(d["tests"]["coverage"]),
                     pct(d["tests"].get("all_tests_pass"))])
    P.append(panel("overview", "Overview", "One row per dataset: size, median lengths, code share, mean diversity, "
                   "algorithmic share, near-duplicate rate, worst benchmark TLI-mean x100, tests.",
                   svg.bar_chart(names, {"records": [d["records"] for d in dss]}, title="records per dataset") +
                   table(["dataset", "records", "instr. tokens p50", "resp. tokens p50", "code", "diversity",
                          "algorithmic", "near-dups", "worst TLI x100", "with tests", "all tests pass"], rows,
                         num_cols=range(1, 11)), wide=True))

    for key, pid, title, cap in (
            ("instruction_tokens", "len-instruction", "Instruction length",
             "Share of records per instruction length (whitespace tokens), every record, bins shared by all datasets."),
            ("response_tokens", "len-response", "Response length",
             "Share of records per response length (whitespace tokens), every record, bins shared by all datasets."),
            ("code_lines", "len-code", "Code lines",
             "Share of records per number of lines in the code field (0 = no code field), every record.")):
        p = _hist_panel(result, key, pid, title, cap)
        if p:
            P.append(p)

    # languages
    tags: dict[str, float] = {}
    for d in dss:
        tot = d["records"] or 1
        for k, v in d["languages"]["response_fence"].items():
            tags[k] = max(tags.get(k, 0), v / tot)
    top = sorted(tags, key=lambda k: -tags[k])[:10]
    P.append(panel("languages", "Languages", "Share of records by the language tag of the response's first fenced "
                   "code block ((no fence) = none, (untagged) = bare ```), every record.",
                   svg.bar_chart(top, {d["name"]: [d["languages"]["response_fence"].get(k, 0) / (d["records"] or 1)
                                                   for k in top] for d in dss}, title="languages", percent=True) +
                   table(["dataset", "language field (record)"],
                         [[d["name"], ", ".join(f"{k} {v:,}" for k, v in d["languages"]["language_field"].items())]
                          for d in dss])))

    # domain composition
    parts = [p for p in ("code", "math", "general", "non-code") if any(p in d["domain"]["counts"] for d in dss)]
    P.append(panel("domain", "Domain composition", "Code / math / general share per dataset: code evidence in the record "
                   "(code, tests, code lines), else the nearest domain prototype of the instruction embedding.",
                   svg.stacked_bars(parts, {d["name"]: d["domain"]["counts"] for d in dss}, title="domains")))

    # diversity
    if any(d.get("diversity") for d in dss):
        p = _hist_panel(result, "diversity", "diversity", "Semantic diversity",
                        "Per-sample diversity = 1 - mean cosine similarity to every other instruction "
                        f"({dss[0]['diversity']['model'] if dss[0].get('diversity') else ''} embeddings), every record.")
        rows = [[d["name"], d["diversity"]["mean"], d["diversity"]["mean_avg_sim"],
                 *[(d["diversity"]["tertiles"].get(t) or {}).get("max") for t in ("T1_lower", "T2_middle")]]
                for d in dss if d.get("diversity")]
        if p:
            P.append(p.replace("</section>", table(["dataset", "mean diversity", "mean avg_sim", "T1 upper bound",
                                                    "T2 upper bound"], rows, num_cols=(1, 2, 3, 4)) + "</section>"))

    # task types
    if any(d.get("task_types") for d in dss):
        cats = list(next(d for d in dss if d.get("task_types"))["task_types"]["fractions"])
        P.append(panel("task-types", "Task-type coverage", "Share of records per InstructionData category (highest "
                       "cosine similarity of the instruction to each category), every record.",
                       svg.bar_chart(cats, {d["name"]: [d["task_types"]["fractions"][c] for c in cats]
                                            for d in dss if d.get("task_types")}, title="task types", percent=True)))
        P.append(panel("alg-practical", "Algorithmic vs practical", "Algorithmic = Algorithmic & Data Structure + "
                       "Mathematical & Computational; practical = the other eight categories.",
                       svg.stacked_bars(["algorithmic", "practical"],
                                        {d["name"]: {"algorithmic": d["task_types"]["algorithmic_share"],
                                                     "practical": d["task_types"]["practical_share"]}
                                         for d in dss if d.get("task_types")}, title="algorithmic vs practical")))

    # complexity
    cap = (f"radon on a seeded sample of up to {samp['code_sample']:,} records per dataset (Python code only); "
           "straight-line code counts 1.")
    p = _hist_panel(result, "cyclomatic", "complexity-cc", "Cyclomatic complexity", cap)
    if p:
        rows = [[d["name"], d["complexity"]["python_code_in_sample"], d["complexity"]["cyclomatic"]["mean"],
                 d["complexity"]["maintainability"]["mean"], d["complexity"]["radon_unparsable"]] for d in dss]
        P.append(p.replace("</section>", table(["dataset", "python code in sample", "mean CC", "mean MI",
                                                "unparsable"], rows, num_cols=(1, 2, 3, 4)) + "</section>"))
    p = _hist_panel(result, "maintainability", "complexity-mi", "Maintainability index",
                    "radon maintainability index (0-100, higher = easier to maintain), same sample as above.")
    if p:
        P.append(p)
    p = _hist_panel(result, "complexity_scorer", "complexity-scorer", "Complexity scorer",
                    f"Expected complexity score of the scorer model on a seeded sample of up to "
                    f"{samp['complexity_sample']:,} instructions per dataset.")
    if p:
        P.append(p)

    # contamination
    if any(d.get("contamination") for d in dss):
        benches = list(next(d for d in dss if d.get("contamination"))["contamination"]["benchmarks"])
        rows = []
        for d in dss:
            for b, v in ((d.get("contamination") or {}).get("benchmarks") or {}).items():
                leak = v.get("most_leaked") or []
                rows.append([d["name"], b, v.get("tli_mean_x100"), v.get("tli_max"), v.get("records_over_threshold"),
                             v.get("records_with_substring"),
                             ", ".join(f"{x.get('task_id')} ({x.get('tli')})" for x in leak[:2])])
        P.append(panel("contamination", "Benchmark contamination", "XCoder TLI-mean x100 per benchmark (instruction "
                       "vs test items, every record); table: records over the 0.05 threshold and verbatim hits.",
                       svg.bar_chart(benches, {d["name"]: [d["contamination"]["benchmarks"].get(b, {}).get(
                           "tli_mean_x100") or 0 for b in benches] for d in dss if d.get("contamination")},
                           title="TLI-mean x100") +
                       table(["dataset", "benchmark", "TLI-mean x100", "TLI-max", "records >= 0.05",
                              "verbatim", "most leaked items"], rows, num_cols=(2, 3, 4, 5)), wide=True))

    # quality rates
    metrics = [("near-duplicate rate", lambda d: (d.get("near_duplicates") or {}).get("rate")),
               ("static findings (ruff errors, sample)", lambda d: (d.get("static") or {}).get("rate")),
               ("records with tests", lambda d: d["tests"]["coverage"]),
               ("all tests pass (where executed)", lambda d: d["tests"].get("all_tests_pass"))]
    shown = [(m, f) for m, f in metrics if any(f(d) is not None for d in dss)]
    if shown:
        rows = []
        for d in dss:
            s = d.get("static") or {}
            rows.append([d["name"], (d.get("near_duplicates") or {}).get("removed"), s.get("sample"),
                         ", ".join(f"{k} {v}" for k, v in (s.get("top_rules") or {}).items()) or "-",
                         ", ".join(f"{k} {v:,}" for k, v in d["tests"]["kinds"].items()) or "-", d["tests"]["executed"]])
        P.append(panel("quality", "Near-duplicates, static findings, tests",
                       "Rates per dataset: minhash_dedup (defaults) would drop; ruff error rules on the code sample; "
                       "records with tests; stats.exec pass rate.",
                       svg.bar_chart([m for m, _ in shown], {d["name"]: [f(d) or 0 for _, f in shown] for d in dss},
                                     title="quality rates", percent=True) +
                       table(["dataset", "near-dups removed", "static sample", "top rules", "test kinds",
                              "tests executed"], rows, num_cols=(1, 2, 5))))

    # stats the ops wrote (ifd, tli, ...)
    for key in (result.get("distributions") or {}):
        if not key.startswith("stats."):
            continue
        n_with = {d["name"]: (d["stats"].get(key[6:]) or {}).get("count", 0) for d in dss}
        p = _hist_panel(result, key, "stat-" + key[6:].replace(".", "-"), f"{key}",
                        f"Distribution of {key} over the records that carry it "
                        f"({', '.join(f'{k}: {v:,}' for k, v in n_with.items())}).")
        if p:
            P.append(p)

    # map
    m = result.get("map")
    if m and m.get("points"):
        P.append(panel("map", "Embedding map", f"{m['method']}; a seeded sample of up to {samp['map_points_per_dataset']:,} "
                       "instructions per dataset.", svg.scatter(m["points"], title="embedding map")))
    return [p for p in P if p]


def analysis_html(result: dict, title: str | None = None) -> str:
    names = [d["name"] for d in result["datasets"]]
    title = title or ("codecurate analysis: " + " vs ".join(names[:4]) + (" ..." if len(names) > 4 else ""))
    s = result["settings"]
    sub = [f"{len(names)} dataset(s): " + ", ".join(f"{d['name']} ({d['records']:,} records, {d['source']})"
                                                   for d in result["datasets"]),
           f"codecurate {result['codecurate']}; embeddings: {s['embed_model'] if s['embeddings'] else 'off'}; "
           f"sampling: radon/ruff {s['code_sample']:,} records per dataset, map {s['map_points']:,} points per "
           f"dataset, seed {s['seed']}; everything else covers every record; lengths in {s['tokens']}."]
    return page(title, sub, dataset_panels(result))
