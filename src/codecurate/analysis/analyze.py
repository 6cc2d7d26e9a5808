"""``codecurate analyze``: what is in one or more datasets, as JSON (stable schema) and a self-contained HTML
report with the datasets side by side.

Per dataset: size; whitespace-token lengths of instruction and response, code lines; languages (the record's
``language`` field and the tag of the response's first fenced block); domain composition, semantic diversity
and task-type coverage as the InstructionData study defines them (``instruction_data.py``); problem
complexity (instruction length on every record; radon cyclomatic complexity and maintainability index on a
seeded sample of the code; the complexity scorer on a sample when a model is given; ``stats.complexity`` when an
op wrote it); benchmark contamination (``decontam_report``: XCoder TLI and verbatim substrings, removes
nothing); near-duplicate rate (``minhash_dedup`` with its defaults, map and reduce run read-only); static
findings (ruff's error rules, as ``static_clean``, on the code sample); tests: coverage, kinds, pass rate
where ``stats.exec`` holds one; IFD and every other numeric ``stats`` key where scored.

Sampling is explicit: ``code_sample`` records (seeded) for radon and ruff, ``complexity_sample`` for the
scorer, ``map_points`` per dataset for the 2-D embedding map. Every other number covers every record. The
JSON's ``settings.sampling`` and the report's captions state the sample sizes.

JSON schema ``codecurate.analysis/1``: ``{schema, codecurate, settings, datasets: [per dataset], distributions:
{metric: {label, edges, counts: {dataset: [..]}, clipped_above}}, map: {method, points: {dataset: [[x, y]]}}}``.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from codecurate.analysis import instruction_data as idata
from codecurate.analysis import stats as st
from codecurate.analysis.load import Dataset, load_dataset, unique_names

log = logging.getLogger(__name__)
SCHEMA = "codecurate.analysis/1"


@dataclass
class AnalyzeOptions:
    embeddings: bool = True          # diversity, task types, math/general domains and the map need them
    embed_model: str = "all-MiniLM-L6-v2"
    embed_cache_dir: str | None = None
    embed_max_chars: int = 2000      # instruction text embedded (MiniLM reads 256 word pieces anyway)
    near_dup: bool = True
    contamination: bool = True
    benchmarks: list[str] | None = None  # None: every shipped benchmark
    static: bool = True
    code_sample: int = 5000          # records (seeded) for radon and ruff
    complexity_model: str | None = None
    complexity_sample: int = 500
    map_points: int = 1500           # per dataset, for the 2-D map
    seed: int = 42
    bins: int = 40
    chunk: int = 5000                # records decoded at once for contamination and near-dup

    def settings(self) -> dict:
        d = asdict(self)
        d["sampling"] = {"code_sample": self.code_sample, "complexity_sample": self.complexity_sample,
                         "map_points_per_dataset": self.map_points, "seed": self.seed}
        d["tokens"] = "whitespace tokens (str.split semantics, Arrow utf8_split_whitespace)"
        return d


@dataclass
class _Raw:
    """Per-dataset arrays kept for shared-bin histograms and the map (not in the JSON as such)."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    map_emb: np.ndarray | None = None
    map_ids: list[str] = field(default_factory=list)


# Metrics drawn as histograms: key -> (label, integer bins, start at 0)
HIST_METRICS = {
    "instruction_tokens": ("instruction length (whitespace tokens)", True, True),
    "response_tokens": ("response length (whitespace tokens)", True, True),
    "code_lines": ("code lines", True, True),
    "diversity": ("diversity = 1 - mean cosine similarity to the other samples", False, False),
    "category_similarity": ("cosine similarity to the assigned category", False, False),
    "cyclomatic": ("cyclomatic complexity (radon, max over blocks)", True, True),
    "maintainability": ("maintainability index (radon, 0-100)", False, False),
    "complexity_scorer": ("complexity scorer (expected score)", False, False),
}


def _embedder(opts: AnalyzeOptions):
    from codecurate.models.embed import Embedder

    return Embedder(opts.embed_model, cache_dir=opts.embed_cache_dir)


def _sample_idx(n: int, k: int, seed: int) -> np.ndarray:
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _records_chunks(ds: Dataset, chunk: int):
    from codecurate.pipeline.shards import table_to_records

    for s in range(0, ds.table.num_rows, chunk):
        yield from table_to_records(ds.table.slice(s, chunk))


def _near_dups(ds: Dataset, opts: AnalyzeOptions) -> dict:
    """``minhash_dedup`` with its defaults (code view, instruction check), read-only: how many records its
    reduce phase would drop. Records without a ``code`` field use the primary fenced block of the response,
    else the response text."""
    from codecurate.ops.dedup.minhash_dedup import MinHashDedup

    op = MinHashDedup({}, seed=opts.seed)
    op.ensure_setup()
    t = ds.table
    payloads = []
    for s in range(0, t.num_rows, opts.chunk):
        part = t.slice(s, opts.chunk).select(["id", "instruction", "response", "code", "language"]).to_pylist()
        recs = [{"id": r["id"], "instruction": r["instruction"] or "", "language": r["language"] or "python",
                 "code": idata.code_view(r["code"] or "", r["response"] or "") or (r["response"] or "")}
                for r in part]
        payloads += op.map_batch(recs)
    decisions = op.reduce(payloads)
    removed = sum(1 for d in decisions if not d.keep)
    n = len(decisions)
    return {"method": "minhash_dedup defaults (read-only)", "threshold": op.config.threshold,
            "fields": list(op.config.fields), "removed": removed, "rate": removed / n if n else None,
            "counters": {k: int(v) for k, v in op.take_counters().items()}}


def _contamination(ds: Dataset, opts: AnalyzeOptions) -> dict:
    from codecurate.ops.decontam.decontaminate import decontam_report

    kw: dict[str, Any] = {"benchmarks": opts.benchmarks, "fields": ["instruction"]}
    if "detectors" in inspect.signature(decontam_report).parameters:
        kw["detectors"] = ["substring", "tli"]  # model-free detectors; the semantic one would embed again
    rep = decontam_report(_records_chunks(ds, opts.chunk), **kw)
    out: dict[str, Any] = {"fields": rep.get("fields"), "threshold": rep.get("threshold"), "benchmarks": {}}
    for b, r in rep.get("benchmarks", {}).items():
        out["benchmarks"][b] = {k: r.get(k) for k in ("test_items", "tli_mean_x100", "tli_max",
                                                       "records_over_threshold", "records_with_substring")}
        out["benchmarks"][b]["most_leaked"] = (r.get("most_leaked") or [])[:3]
    return out


def _static(codes: list[str]) -> dict:
    from codecurate.ops.clean._analyzers import RUFF_ERROR_SELECT, run_backend
    from collections import Counter

    res = run_backend("ruff", codes, ruff_select=RUFF_ERROR_SELECT)
    rules: Counter = Counter()
    with_f = errors = 0
    for findings, err in res:
        if err:
            errors += 1
        if findings:
            with_f += 1
            rules.update({f.rule for f in findings})
    n = len(codes)
    return {"backend": "ruff", "rules_selected": RUFF_ERROR_SELECT, "sample": n, "records_with_findings": with_f,
            "rate": with_f / n if n else None, "analyzer_errors": errors, "top_rules": st.top_counter(rules, 10)}


def analyze_dataset(ds: Dataset, opts: AnalyzeOptions, embedder=None) -> tuple[dict, _Raw]:
    t = ds.table
    n = t.num_rows
    raw = _Raw()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        t0 = now

    instr, resp, code = (pc.fill_null(t.column(c), "") for c in ("instruction", "response", "code"))
    it, rt, cl = st.token_lengths(instr), st.token_lengths(resp), st.line_counts(code)
    raw.arrays.update(instruction_tokens=it, response_tokens=rt, code_lines=cl)
    out: dict = {"name": ds.name, "source": ds.source, "records": n}
    out["lengths"] = {"instruction_tokens": st.summary(it), "response_tokens": st.summary(rt),
                      "code_lines": st.summary(cl), "instruction_chars": st.summary(st.char_lengths(instr)),
                      "response_chars": st.summary(st.char_lengths(resp))}
    out["languages"] = {"language_field": st.value_counts(t.column("language")),
                        "response_fence": st.fence_languages(resp)}
    lap("lengths_languages")

    # -- embeddings: diversity, task types, domains ----------------------------------------------------------
    emb = None
    if opts.embeddings and embedder is not None and n:
        texts = [s[: opts.embed_max_chars] for s in instr.to_pylist()]
        emb = embedder.encode(texts)
        lap("embeddings")
    rule = idata.contains_code_mask(instr) | idata.contains_code_mask(resp)
    evidence = idata.code_evidence_mask(t)
    dom = idata.classify_domain(evidence, emb, embedder if emb is not None else None)
    labels = list(idata.DOMAINS) if emb is not None else ["code", "non-code"]
    counts = {d: int((dom == d).sum()) for d in labels}
    out["domain"] = {"method": "code evidence (code field, tests, fenced block, code lines), else nearest domain "
                               "prototype of the instruction embedding" if emb is not None else
                     "code evidence (code field, tests, fenced block, code lines); the rest non-code",
                     "counts": counts, "fractions": {d: (c / n if n else None) for d, c in counts.items()},
                     "code_evidence_rate": float(evidence.mean()) if n else None,
                     # share of records the study's non-code filter (contains_code) would reject
                     "code_rule_rate": float(rule.mean()) if n else None}
    if emb is not None and n >= 2:
        div, avg = idata.diversity_scores(emb)
        raw.arrays["diversity"] = div
        out["diversity"] = {"model": opts.embed_model, "field": "instruction", "formula":
                            "diversity(i) = 1 - mean_{j != i} cos(e_i, e_j)", "mean": float(div.mean()),
                            "mean_avg_sim": float(avg.mean()), "summary": st.summary(div),
                            "tertiles": idata.tertiles(div)}
        best, sim = idata.assign_categories(emb, embedder)
        names = list(idata.CATEGORIES)
        cc = np.bincount(best, minlength=len(names))
        alg = sum(int(cc[names.index(a)]) for a in idata.ALGORITHMIC)
        raw.arrays["category_similarity"] = sim
        out["task_types"] = {"counts": {c: int(k) for c, k in zip(names, cc)},
                             "fractions": {c: float(k) / n for c, k in zip(names, cc)},
                             "algorithmic_share": alg / n, "practical_share": (n - alg) / n,
                             "mean_similarity": float(sim.mean())}
        k = _sample_idx(n, opts.map_points, opts.seed)
        raw.map_emb = idata._unit(emb[k])
        lap("diversity_categories")
    else:
        out["diversity"] = None
        out["task_types"] = None

    # -- complexity proxies and static findings on the code sample -----------------------------------------
    idx = _sample_idx(n, opts.code_sample, opts.seed)
    sub = t.take(idx).select(["code", "response", "language"]).to_pylist() if len(idx) else []
    codes = [idata.code_view(r["code"] or "", r["response"] or "") for r in sub]
    py = [c for c, r in zip(codes, sub) if c.strip() and (r["language"] or "python") == "python"]
    ccx, mi = idata.radon_metrics(py)
    raw.arrays["cyclomatic"], raw.arrays["maintainability"] = ccx, mi
    cplx = {"instruction_tokens": out["lengths"]["instruction_tokens"], "code_sample": int(len(idx)),
            "python_code_in_sample": len(py), "cyclomatic": st.summary(ccx), "maintainability": st.summary(mi),
            "radon_unparsable": int(np.isnan(ccx).sum()), "scorer": None}
    lap("radon")
    if opts.complexity_model and n:
        from codecurate.models.complexity import ComplexityScorer

        k = _sample_idx(n, opts.complexity_sample, opts.seed)
        scores = ComplexityScorer(opts.complexity_model).score([instr[int(i)].as_py() for i in k])
        arr = np.array([np.nan if s is None else s for s in scores], dtype=np.float64)
        raw.arrays["complexity_scorer"] = arr
        cplx["scorer"] = {"model": opts.complexity_model, "sample": int(len(k)), "summary": st.summary(arr)}
        lap("complexity_scorer")
    out["complexity"] = cplx
    out["static"] = _static(py) if opts.static and py else None
    if opts.static and py:
        lap("static")

    # -- contamination, near-duplicates ----------------------------------------------------------------------
    out["contamination"] = _contamination(ds, opts) if opts.contamination and n else None
    if out["contamination"] is not None:
        lap("contamination")
    out["near_duplicates"] = _near_dups(ds, opts) if opts.near_dup and n else None
    if out["near_duplicates"] is not None:
        lap("near_dup")

    # -- tests and scored stats ------------------------------------------------------------------------------
    num = st.numeric_stats(t)
    tests = st.tests_info(t)
    pr = num.get("exec.pass_ratio")
    if pr is not None and np.isfinite(pr).any():
        v = pr[np.isfinite(pr)]
        tests["executed"] = int(v.size)
        tests["pass_ratio"] = st.summary(v)
        tests["all_tests_pass"] = float((v >= 1.0).mean())
    else:
        tests["executed"] = 0
        tests["pass_ratio"] = None
        tests["all_tests_pass"] = None
    out["tests"] = tests
    ifd = num.get("ifd")
    out["ifd"] = st.summary(ifd) if ifd is not None else None
    if "complexity" in num:
        cplx["stats_complexity"] = st.summary(num["complexity"])
    out["stats"] = {k: st.summary(v) for k, v in sorted(num.items())}
    for key, v in num.items():
        raw.arrays[f"stats.{key}"] = v
    lap("stats")
    out["timings"] = timings
    return out, raw


def distributions(names: list[str], raws: list[_Raw], bins: int = 40) -> dict:
    """Histograms of every metric on bin edges shared by all datasets (comparable side by side)."""
    keys = list(HIST_METRICS) + sorted({k for r in raws for k in r.arrays if k.startswith("stats.")})
    out = {}
    for key in keys:
        arrays = [r.arrays.get(key) for r in raws]
        if all(a is None or not np.isfinite(np.asarray(a, dtype=float)).any() for a in arrays):
            continue
        label, integer, lo0 = HIST_METRICS.get(key, (key, False, False))
        edges, clipped = st.shared_edges([np.asarray(a, dtype=float) for a in arrays if a is not None], bins,
                                         integer=integer, lo_zero=lo0)
        if not edges:
            continue
        out[key] = {"label": label, "edges": edges, "clipped_above": clipped,
                    "counts": {n: (st.hist_counts(a, edges) if a is not None else [0] * (len(edges) - 1))
                               for n, a in zip(names, arrays)}}
    return out


def embedding_map(names: list[str], raws: list[_Raw]) -> dict | None:
    """A 2-D PCA projection fitted on the pooled map samples of every dataset (one shared plane)."""
    mats = [r.map_emb for r in raws]
    if all(m is None or not len(m) for m in mats):
        return None
    pooled = np.concatenate([m for m in mats if m is not None and len(m)])
    mu = pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(pooled - mu, full_matrices=False)
    comp = vt[:2]
    pts = {}
    for n, m in zip(names, mats):
        if m is not None and len(m):
            p = (m - mu) @ comp.T
            pts[n] = [[round(float(a), 4), round(float(b), 4)] for a, b in p]
    return {"method": "PCA (2 components) of the instruction embeddings, fitted on all datasets' samples",
            "points": pts}


def analyze(sources: list, names: list[str] | None = None, options: AnalyzeOptions | None = None,
            format: str | None = None, datasets: list[Dataset] | None = None) -> dict:
    """Analyse every source (paths, run or stage directories; or ready ``datasets``); returns the JSON dict."""
    import codecurate

    opts = options or AnalyzeOptions()
    dss = list(datasets or [])
    for i, s in enumerate(sources or []):
        dss.append(load_dataset(s, name=(names[i] if names and i < len(names) else None), format=format))
    labels = unique_names([d.name for d in dss])
    for d, lab in zip(dss, labels):
        d.name = lab
    embedder = _embedder(opts) if opts.embeddings else None
    results, raws = [], []
    for d in dss:
        r, raw = analyze_dataset(d, opts, embedder)
        results.append(r)
        raws.append(raw)
    return {"schema": SCHEMA, "codecurate": codecurate.__version__, "settings": opts.settings(),
            "datasets": results, "distributions": distributions(labels, raws, opts.bins),
            "map": embedding_map(labels, raws) if opts.embeddings else None}


def write_analysis(result: dict, output_dir: str | Path, title: str | None = None) -> tuple[Path, Path]:
    """``analysis.json`` and ``report.html`` in ``output_dir``."""
    import json

    from codecurate.analysis.report_html import analysis_html
    from codecurate.io import atomic_write_bytes

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    jp, hp = out / "analysis.json", out / "report.html"
    atomic_write_bytes(jp, (json.dumps(result, indent=1, default=_json_default) + "\n").encode())
    atomic_write_bytes(hp, analysis_html(result, title=title).encode())
    return jp, hp


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
