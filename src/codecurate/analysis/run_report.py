"""``codecurate report RUN_DIR``: what each stage of a run did, as ``report.json`` and a self-contained
``report.html`` in the run directory.

Panels: the funnel (records after each stage, dropped and created); drop reasons per stage with example records
from the ledger; costs (seconds per stage, LLM tokens and calls, sandbox programs, from the stage counters);
augmentation/synthesis yield by method (expander stages: records created per method, kept by the stage, left in
the final output; the method is the tag after ``#`` in a created record's id, e.g. ``#aug:For2While``,
``#evol2`` -> ``evol``); before/after distributions of every numeric stat an op wrote (before = every record
that entered the stage that first wrote it, kept or dropped; after = the curated output); the dataset analysis
of the input (``00_read``) next to the output (last stage); with ``level="full"`` also embeddings (diversity,
task types, domains), contamination, near-duplicates, and the selection map: input records on the 2-D PCA plane
of their instruction embeddings, coloured by kept or by the stage that dropped them, plus kept/dropped per
cluster when a stage wrote ``stats.cluster``.

``level="basic"`` (what ``codecurate run`` writes, ``report: true``) is model-free and cheap: the dataset panels
without embeddings, contamination, near-duplicates or static analysis, and radon on a 1,000-record sample.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from codecurate.analysis import svg
from codecurate.analysis.analyze import AnalyzeOptions, analyze, _json_default
from codecurate.analysis.load import AnalysisError, Dataset, stage_dirs
from codecurate.analysis.report_html import dataset_panels, page, panel, pct, table
from codecurate.analysis.stats import hist_counts, shared_edges, summary
from codecurate.io import loads
from codecurate.pipeline.shards import RECORD_SCHEMA, read_table

COST_KEYS = ("llm_calls", "llm_prompt_tokens", "llm_completion_tokens", "llm_cache_hits", "llm_errors", "llm_ms",
             "sandbox_programs")
_TAIL_DIGITS = re.compile(r"\d+$")


def _reason_key(reason: str) -> str:
    from codecurate.pipeline.runner import _reason_key as rk

    return rk(reason or "")


def method_of(record_id: str) -> str:
    """The creating method of an expander's record, from its id: ``p#aug:For2While`` -> ``aug:For2While``,
    ``p#evol2`` -> ``evol``, ``p#wc-codegen`` -> ``wc-codegen``."""
    tail = str(record_id).rsplit("#", 1)[-1]
    return _TAIL_DIGITS.sub("", tail) or tail


def _ids(paths: list[Path]) -> list[str]:
    return [x for p in paths for x in read_table(p, columns=["id"]).column("id").to_pylist()]


def _ledger(d: Path, columns=("id", "reason", "detail", "record")) -> Iterator:
    """A stage's ledger shards, one table at a time (a stage may set aside most of a million records, each
    with its whole record: never all at once)."""
    for p in sorted(d.glob("ledger-*.parquet")):
        yield read_table(p, columns=list(columns))


def read_sample(paths: list[Path], columns: list[str] | None, cap: int | None, seed: int = 42):
    """The rows of the Parquet shards ``paths`` (only ``columns``), or, past ``cap`` rows in all, a seeded
    uniform sample of ``cap`` of them in dataset order, read one shard at a time (peak memory: one shard plus
    the sample). Returns (table, rows in all)."""
    import pyarrow as pa

    sizes = [pq.ParquetFile(p).metadata.num_rows for p in paths]
    total = int(sum(sizes))
    pick = None
    if cap is not None and total > cap:
        pick = np.sort(np.random.default_rng(seed).choice(total, size=cap, replace=False))
    tables, start = [], 0
    for p, n in zip(paths, sizes):
        if pick is None:
            tables.append(read_table(p, columns=columns))
        else:
            lo, hi = np.searchsorted(pick, [start, start + n])
            if hi > lo:
                tables.append(read_table(p, columns=columns).take(pick[lo:hi] - start))
        start += n
    if tables:
        t = pa.concat_tables(tables)
        if columns is None:
            t = t.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
        return t, total
    if columns is None:
        return RECORD_SCHEMA.empty_table(), 0
    # no shard (e.g. a stage that set nothing aside has no ledger): the asked columns, empty; ledger columns
    # (record, reason, detail) are not in the record schema and are strings
    return pa.table({c: pa.array([], RECORD_SCHEMA.field(c).type if c in RECORD_SCHEMA.names else pa.string())
                     for c in columns}), 0


def _stats_column(d: Path, with_id: bool = False, cap: int | None = None):
    """Only the ``stats`` (and ``id``) column of a stage's data shards: the text columns stay on disk."""
    cols = ["id", "stats"] if with_id else ["stats"]
    return read_sample(sorted(d.glob("data-*.parquet")), cols, cap)[0]


def _stage_info(run_dir: Path) -> list[dict]:
    summary_ = json.loads((run_dir / "summary.json").read_text())
    dirs = {d.name.split("_", 1)[-1]: d for d in stage_dirs(run_dir)}
    out = []
    for i, s in enumerate(summary_["stages"]):
        d = dirs.get(s["stage"])
        stats = json.loads((d / "stats.json").read_text()) if d and (d / "stats.json").exists() else {}
        out.append({**s, "dir": d, "index": i, "stats": stats})
    return out


def _drop_examples(stage: dict, per_reason: int = 2, top: int = 8) -> list[dict]:
    """Top drop-reason groups of a stage with up to ``per_reason`` example records each (from the ledger)."""
    reasons = (stage["stats"].get("reasons") or {})
    keys = sorted(reasons, key=lambda k: -reasons[k])[:top]
    ex: dict[str, list] = defaultdict(list)
    if stage["dir"] is not None and keys:
        want = set(keys)
        for t in _ledger(stage["dir"]):
            ids, rs, recs = (t.column(c).to_pylist() for c in ("id", "reason", "record"))
            for rid, r, rec in zip(ids, rs, recs):
                k = _reason_key(r)
                if k in want and len(ex[k]) < per_reason:
                    d = loads(rec) if rec else {}
                    text = (d.get("instruction") or d.get("raw") or "") if isinstance(d, dict) else ""
                    ex[k].append({"id": rid, "reason": r, "text": text[:300]})
            if all(len(ex[k]) >= per_reason for k in keys):
                break
    return [{"reason": k, "records": reasons[k], "examples": ex.get(k, [])} for k in keys]


def _yield(stages: list[dict], final_ids: set[str]) -> list[dict]:
    """Per expander stage and method: records created, kept by the stage, still in the final output."""
    out = []
    prev_ids: set[str] | None = None
    for i, s in enumerate(stages):
        d = s["dir"]
        if d is None:
            prev_ids = None
            continue
        if not (s.get("created", 0) > 0 or (i + 1 < len(stages) and stages[i + 1].get("created", 0) > 0)):
            prev_ids = None  # ids are read only next to an expander stage (a run without one reads none)
            continue
        data_ids = _ids(sorted(d.glob("data-*.parquet")))
        if s.get("created", 0) > 0 and prev_ids is not None:
            led_ids = [x for t in _ledger(d, ("id",)) for x in t.column("id").to_pylist()]
            created, kept, final = Counter[str](), Counter[str](), Counter[str]()
            for rid in data_ids:
                if rid not in prev_ids:
                    m = method_of(rid)
                    created[m] += 1
                    kept[m] += 1
                    final[m] += rid in final_ids
            for rid in led_ids:
                if rid not in prev_ids:
                    created[method_of(rid)] += 1
            out.append({"stage": s["stage"], "op": s["op"], "created": s["created"],
                        "methods": {m: {"created": created[m], "kept": kept[m], "in_output": final[m],
                                        "yield": kept[m] / created[m] if created[m] else None}
                                    for m in sorted(created, key=lambda m: -created[m])}})
        prev_ids = set(data_ids)
    return out


def _stats_before_after(stages: list[dict], out_table, cap: int | None = None) -> dict:
    """For each numeric stat: values over every record entering the stage that first wrote it (its data plus
    its ledger) and over the final output; past ``cap`` records, over seeded samples of ``cap`` data rows and
    ``cap`` ledger rows per stage."""
    from codecurate.analysis.stats import numeric_stats

    after = numeric_stats(out_table)
    first: dict[str, np.ndarray] = {}
    where: dict[str, str] = {}
    for s in stages[1:]:
        d = s["dir"]
        if d is None:
            continue
        keys = set((s["stats"].get("numeric") or {}))
        new = [k for k in keys if k not in first]
        if not new and not (s["stats"].get("counts", {}).get("dropped")):
            continue
        data = numeric_stats(_stats_column(d, cap=cap))
        led_vals: dict[str, list] = defaultdict(list)
        for t in [read_sample(sorted(d.glob("ledger-*.parquet")), ["record"], cap)[0]]:
            for rec in t.column("record").to_pylist():
                r = loads(rec) if rec else {}
                for k, v in ((r.get("stats") or {}) if isinstance(r, dict) else {}).items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        led_vals[k].append(float(v))
                    elif isinstance(v, dict):
                        for k2, v2 in v.items():
                            if isinstance(v2, (int, float)) and not isinstance(v2, bool):
                                led_vals[f"{k}.{k2}"].append(float(v2))
        for k in set(data) | set(led_vals):
            if k in first:
                continue
            a = data.get(k, np.zeros(0))
            first[k] = np.concatenate([a[np.isfinite(a)], np.asarray(led_vals.get(k, []), dtype=float)])
            where[k] = s["stage"]
    res = {}
    for k in sorted(first):
        b = first[k]
        a = after.get(k, np.zeros(0))
        a = a[np.isfinite(a)]
        edges, clipped = shared_edges([b, a], 30)
        if not edges:
            continue
        res[k] = {"stage": where[k], "before": summary(b), "after": summary(a), "edges": edges,
                  "clipped_above": clipped, "counts": {f"entering {where[k]}": hist_counts(b, edges),
                                                       "output": hist_counts(a, edges)}}
    return res


def _selection_map(stages: list[dict], in_table, final_ids: set[str], opts: AnalyzeOptions) -> dict | None:
    from codecurate.analysis.instruction_data import _unit
    from codecurate.models.embed import Embedder

    n = in_table.num_rows
    if n < 3:
        return None
    k = np.sort(np.random.default_rng(opts.seed).choice(n, size=min(n, opts.map_points), replace=False))
    sub = in_table.take(k).select(["id", "instruction"]).to_pylist()
    dropped_at: dict[str, str] = {}
    for s in stages[1:]:
        if s["dir"] is not None and s.get("dropped"):
            for t in _ledger(s["dir"], ("id",)):
                for rid in t.column("id").to_pylist():
                    dropped_at.setdefault(rid, s["stage"])
    emb = _unit(Embedder(opts.embed_model, cache_dir=opts.embed_cache_dir).encode(
        [(r["instruction"] or "")[: opts.embed_max_chars] for r in sub]))
    mu = emb.mean(axis=0)
    _, _, vt = np.linalg.svd(emb - mu, full_matrices=False)
    p = (emb - mu) @ vt[:2].T
    groups: dict[str, list] = defaultdict(list)
    for r, xy in zip(sub, p):
        g = "kept" if r["id"] in final_ids else f"dropped at {dropped_at.get(r['id'], '?')}"
        groups[g].append([round(float(xy[0]), 4), round(float(xy[1]), 4)])
    order = ["kept"] + sorted(g for g in groups if g != "kept")
    return {"method": "PCA (2 components) of the input's instruction embeddings", "sample": int(len(k)),
            "points": {g: groups[g] for g in order if g in groups}}


def _clusters(stages: list[dict], final_ids: set[str]) -> dict | None:
    """Kept vs dropped per ``stats.cluster`` value, from the stage that first wrote it (data + ledger)."""
    for s in stages[1:]:
        if s["dir"] is None or "cluster" not in (s["stats"].get("numeric") or {}):
            continue
        kept, dropped = Counter[int](), Counter[int]()
        t = _stats_column(s["dir"], with_id=True)
        for rid, st in zip(t.column("id").to_pylist(), t.column("stats").to_pylist()):
            c = (loads(st) or {}).get("cluster") if st else None
            if c is not None:
                (kept if rid in final_ids else dropped)[int(c)] += 1
        for lt in _ledger(s["dir"], ("record",)):
            for rec in lt.column("record").to_pylist():
                c = ((loads(rec) or {}).get("stats") or {}).get("cluster") if rec else None
                if c is not None:
                    dropped[int(c)] += 1
        cl = sorted(set(kept) | set(dropped))
        return {"stage": s["stage"], "clusters": {str(c): {"kept": kept[c], "dropped": dropped[c]} for c in cl}}
    return None


REPORT_SAMPLE = 20_000  # records per side the basic report analyses (the funnel and reasons stay exact)


def run_report(run_dir: str | Path, level: str = "basic", options: AnalyzeOptions | None = None,
               sample: int | None = None) -> dict:
    """The report of a finished run as a dict (see the module docstring). ``sample``: past this many records,
    the dataset panels (embeddings too, at ``full``) and the before/after distributions use a seeded sample of
    this many records of the input, of the output and of each stage (default ``REPORT_SAMPLE``), so the
    report's memory does not grow with the run; counts, the funnel and the drop reasons are exact."""
    import codecurate

    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").exists():
        raise AnalysisError(f"{run_dir}: not a finished run directory (no summary.json)")
    if level not in ("basic", "full"):
        raise AnalysisError(f"report level {level!r}: valid: basic, full")
    summary_ = json.loads((run_dir / "summary.json").read_text())
    stages = _stage_info(run_dir)
    if not stages or stages[0]["dir"] is None:
        raise AnalysisError(f"{run_dir}: run directory has no read stage")
    if options is None:
        full = level == "full"
        options = AnalyzeOptions(embeddings=full, contamination=full, near_dup=full, static=full,
                                 code_sample=5000 if full else 0, map_points=1500 if full else 0)
    cap = sample if sample is not None else REPORT_SAMPLE
    in_table, n_in = read_sample(sorted(stages[0]["dir"].glob("data-*.parquet")), None, cap, options.seed)
    last = stages[-1]["dir"]
    out_table, n_out = read_sample(sorted(last.glob("data-*.parquet")), None, cap, options.seed)
    needs_ids = level == "full" or any(s.get("created", 0) > 0 or "cluster" in (s["stats"].get("numeric") or {})
                                       for s in stages)
    # membership in the output, for expander yield, clusters and the map: only when one of them is shown
    final_ids = set(_ids(sorted(last.glob("data-*.parquet")))) if needs_ids else set()
    name = summary_.get("recipe", run_dir.name)
    analysis = analyze([], options=options, datasets=[Dataset("input", str(stages[0]["dir"]), in_table),
                                                     Dataset("output", str(last), out_table)])
    rep = {"schema": "codecurate.run_report/1", "codecurate": codecurate.__version__, "run_dir": str(run_dir),
           "recipe": name, "level": level, "summary": summary_,
           "funnel": [{"stage": s["stage"], "op": s["op"], "in": s["in"], "out": s["out"], "dropped": s["dropped"],
                       "created": s["created"]} for s in stages],
           "drops": [{"stage": s["stage"], "op": s["op"], "dropped": s["dropped"], "reasons": _drop_examples(s)}
                     for s in stages if s.get("dropped")],
           "costs": [{"stage": s["stage"], "op": s["op"], "seconds": s["seconds"], "resumed": s.get("resumed", False),
                      **{k: (s["stats"].get("counters") or {}).get(k) for k in COST_KEYS}} for s in stages],
           "counters": {s["stage"]: s["stats"].get("counters") or {} for s in stages if s["stats"].get("counters")},
           "yield": _yield(stages, final_ids),
           "sampled": {"input": [in_table.num_rows, n_in], "output": [out_table.num_rows, n_out]},
           "stats_before_after": _stats_before_after(stages, out_table, cap),
           "clusters": _clusters(stages, final_ids),
           "selection_map": _selection_map(stages, in_table, final_ids, options) if level == "full" else None,
           "analysis": analysis}
    return rep


def run_report_html(rep: dict) -> str:
    P: list[str] = []
    funnel = rep["funnel"]
    labels = [f"{i:02d} {f['stage']}" for i, f in enumerate(funnel)]
    P.append(panel("funnel", "Funnel", "Records left after each stage (the read stage counts the parsed input); "
                   "table: records in, out, dropped to the ledger and created per stage.",
                   svg.bar_chart(labels, {"records out": [f["out"] for f in funnel]}, title="funnel") +
                   table(["stage", "op", "in", "out", "dropped", "created"],
                         [[lab, f["op"], f["in"], f["out"], f["dropped"], f["created"]] for lab, f in zip(labels, funnel)],
                         num_cols=(2, 3, 4, 5)), wide=True))
    if rep["drops"]:
        bars = [(f"{d['stage']}: {r['reason']}", r["records"]) for d in rep["drops"] for r in d["reasons"]]
        bars = sorted(bars, key=lambda kv: -kv[1])[:15]
        rows = []
        for d in rep["drops"]:
            for r in d["reasons"]:
                exs = "".join(f'<div class="ex"><b>{svg.esc(e["id"])}</b>: {svg.esc(e["reason"])}\n'
                              f'{svg.esc(e["text"][:240])}</div>' for e in r["examples"])
                rows.append([d["stage"], r["reason"], r["records"], exs or "-"])
        P.append(panel("drops", "Drop reasons", "Records set aside per stage and reason (top 15 bars); the table "
                       "shows every stage's top reasons with example records from the ledger.",
                       svg.bar_chart([b[0] for b in bars], {"records": [b[1] for b in bars]}, title="drop reasons",
                                     label_width=260) +
                       table(["stage", "reason", "records", "examples (ledger)"], rows, num_cols=(2,), raw_cols=(3,)),
                       wide=True))
    costs = rep["costs"]
    P.append(panel("costs", "Costs", "Wall seconds per stage (resumed stages show their original time); LLM calls "
                   "and tokens, sandbox programs from the stage counters.",
                   svg.bar_chart([f"{c['stage']}" for c in costs], {"seconds": [c["seconds"] for c in costs]},
                                 title="seconds per stage") +
                   table(["stage", "seconds", "resumed", *COST_KEYS],
                         [[c["stage"], c["seconds"], "yes" if c["resumed"] else "", *[c.get(k) for k in COST_KEYS]]
                          for c in costs], num_cols=range(1, 3 + len(COST_KEYS)))))
    if rep["yield"]:
        for y in rep["yield"]:
            ms = list(y["methods"])
            P.append(panel(f"yield-{y['stage']}", f"Yield: {y['stage']}", f"Records the {y['op']} stage created per "
                           "method (from the id tag), kept by the stage, and still in the final output.",
                           svg.bar_chart(ms, {"created": [y["methods"][m]["created"] for m in ms],
                                              "kept": [y["methods"][m]["kept"] for m in ms],
                                              "in output": [y["methods"][m]["in_output"] for m in ms]},
                                         title="yield by method") +
                           table(["method", "created", "kept", "in output", "yield"],
                                 [[m, v["created"], v["kept"], v["in_output"], pct(v["yield"])]
                                  for m, v in y["methods"].items()], num_cols=(1, 2, 3, 4))))
    smp = rep.get("sampled") or {}
    if any(v[0] < v[1] for v in smp.values()):
        P.append(panel("sampling", "Sampling", "The dataset panels and the before/after distributions below come "
                       "from seeded uniform samples: " + ", ".join(f"{k} {v[0]:,} of {v[1]:,} records"
                                                                  for k, v in smp.items()) +
                       " (and as many per stage); the funnel, the drop reasons and the costs above are exact.", ""))
    for k, v in rep["stats_before_after"].items():
        P.append(panel(f"ba-{k.replace('.', '-')}", f"stats.{k}: before / after",
                       f"stats.{k} over the {v['before']['count']:,} records entering {v['stage']} (kept or dropped) "
                       f"vs the {v['after']['count']:,} output records.",
                       svg.histogram(v["edges"], v["counts"], title=f"stats.{k}", xlabel=f"stats.{k}")))
    if rep.get("clusters"):
        c = rep["clusters"]
        cl = list(c["clusters"])
        P.append(panel("clusters", "Kept vs dropped per cluster", f"Records per stats.cluster value written by "
                       f"{c['stage']}: still in the output vs dropped by any later stage.",
                       svg.bar_chart([f"cluster {x}" for x in cl], {"kept": [c["clusters"][x]["kept"] for x in cl],
                                                                   "dropped": [c["clusters"][x]["dropped"] for x in cl]},
                                     title="clusters")))
    m = rep.get("selection_map")
    if m and m.get("points"):
        P.append(panel("selection-map", "Selection map", f"{m['method']}, a seeded sample of {m['sample']:,} input "
                       "records: kept (in the output) vs the stage that dropped each.",
                       svg.scatter(m["points"], title="selection map"), wide=True))
    P += [p.replace('<section class="panel', '<section class="panel ds', 1) for p in dataset_panels(rep["analysis"])]
    s = rep["summary"]
    sub = [f"run {rep['run_dir']}: {s['records_in']:,} records in, {s['records_out']:,} out, "
           f"{len(rep['funnel']) - 1} stage(s); input {s.get('input')}; output {s.get('output')}",
           f"report level {rep['level']}; 'input' = the read stage, 'output' = the last stage; "
           + ("embeddings, contamination and near-duplicates on (" if rep["level"] == "full" else
              "model-free (`codecurate report RUN --full` adds embeddings, contamination, near-duplicates and the "
              "selection map; ") + f"codecurate {rep['codecurate']})."]
    return page(f"codecurate run report: {rep['recipe']}", sub, P)


def write_run_report(run_dir: str | Path, level: str = "basic", output: str | Path | None = None,
                     options: AnalyzeOptions | None = None) -> Path:
    """Write ``report.json`` and ``report.html`` (into ``output`` or the run directory); returns the HTML path."""
    from codecurate.io import atomic_write_bytes

    rep = run_report(run_dir, level, options)
    out = Path(output) if output else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "report.json", (json.dumps(rep, indent=1, default=_json_default) + "\n").encode())
    hp = out / "report.html"
    atomic_write_bytes(hp, run_report_html(rep).encode())
    return hp
