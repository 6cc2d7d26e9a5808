"""``codecurate analyze`` on N records (default 100,000) with embeddings cached: seconds, peak memory, report size.

Input: real records (Code Alpaca 2k, Evol-Instruct-Code 2k, MBPP 974 from ``/work/shared/data``, or the
300 + 200 + 60 + 100 test fixtures when shared/ is absent) repeated with unique ids
to N, written as Parquet shards of canonical records (a run stage's layout, 1,000 per shard). Texts repeat, so
the embedding cache (``--cache``, default codecurate's cache folder, so a rerun pays nothing) is warmed once on
the unique instructions (timed as ``embed_warmup_seconds``) and the timed run reads every embedding from it, as the issue asks; the near-duplicate rate is then high by
construction (every copy after the first is a duplicate).

The timed analysis runs in a fresh subprocess (``codecurate analyze`` defaults: embeddings, contamination
against every shipped benchmark, near-dups, ruff + radon on a 5,000-record sample, map of 1,500 points);
peak RSS is that process's maximum resident set (ruff runs in its own process and is not included).

    python benchmarks/bench_analyze.py [--n 100000]
Writes benchmarks/results/analyze.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SOURCES = [SHARED / "code_alpaca" / "code_alpaca_2k.json", SHARED / "evol_instruct_code" / "evol-codealpaca-2k-1.json",
           SHARED / "mbpp" / "mbpp.jsonl"]
FIXTURES = [ROOT / "tests" / "data" / f for f in ("code_alpaca_300.json", "evol_instruct_200.json",
                                                  "sanitized_mbpp_60.json", "leetcode_100.json")]

CHILD = r"""
import json, sys, time, resource
t0 = time.perf_counter()
from codecurate.analysis import analyze, write_analysis, AnalyzeOptions
res = analyze([sys.argv[1]], options=AnalyzeOptions(embed_cache_dir=sys.argv[3]))
t1 = time.perf_counter()
jp, hp = write_analysis(res, sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"analyze_seconds": t1 - t0, "write_seconds": t2 - t1,
                  "timings": res["datasets"][0]["timings"], "records": res["datasets"][0]["records"],
                  "near_dup_rate": res["datasets"][0]["near_duplicates"]["rate"],
                  "diversity_mean": res["datasets"][0]["diversity"]["mean"]}))
"""


def make_input(stage: Path, n: int) -> list[str]:
    import codecurate as cc
    from codecurate.pipeline.shards import write_records_shard

    srcs = [p for p in SOURCES if p.exists()] or FIXTURES
    base = [r for p in srcs for r in cc.read_records(str(p))]
    stage.mkdir(parents=True)
    batch, k = [], 0
    for i in range(n):
        r = dict(base[i % len(base)])
        r["id"] = f"{r['id']}#{i}"
        batch.append(r)
        if len(batch) == 1000:
            write_records_shard(batch, stage / f"data-{k:05d}.parquet")
            batch, k = [], k + 1
    if batch:
        write_records_shard(batch, stage / f"data-{k:05d}.parquet")
    return [str(p.relative_to(ROOT.parent)) if p.is_relative_to(ROOT.parent) else str(p) for p in srcs], \
        len({r["instruction"] for r in base})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "analyze.json"))
    ap.add_argument("--cache", default=None, help="embedding cache folder (default: codecurate's cache)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        srcs, unique = make_input(td / "stage", args.n)
        from codecurate.models.embed import cache_root

        cache = Path(args.cache) if args.cache else cache_root() / "embeddings"
        t0 = time.perf_counter()
        from codecurate.analysis.load import load_dataset
        from codecurate.models.embed import Embedder

        instr = load_dataset(td / "stage").table.column("instruction").to_pylist()
        Embedder(cache_dir=cache).encode(sorted({s[:2000] for s in instr}))
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", CHILD, str(td / "stage"), str(td / "out"), str(cache)],
                           capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        child = json.loads(p.stdout.strip().splitlines()[-1])
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        html_mb = (td / "out" / "report.html").stat().st_size / 1e6
        json_mb = (td / "out" / "analysis.json").stat().st_size / 1e6
    out = {"benchmark": "codecurate analyze, one dataset, default options, embeddings cached",
           "records": args.n, "unique_instructions": unique, "sources": srcs,
           "wall_seconds_subprocess": round(wall, 2), "analyze_seconds": round(child["analyze_seconds"], 2),
           "write_seconds": round(child["write_seconds"], 3), "step_seconds": child["timings"],
           "records_per_second": round(args.n / child["analyze_seconds"], 1),
           "peak_rss_mb": round(peak_mb, 1), "report_html_mb": round(html_mb, 3), "analysis_json_mb": round(json_mb, 3),
           "embed_warmup_seconds": round(warm, 2), "near_dup_rate": child["near_dup_rate"],
           "diversity_mean": child["diversity_mean"],
           "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()],
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
