"""Decontamination speed: ``decontaminate`` (inverted-index TLI + anchored substring) vs a straightforward
XCoder TLI loop (compute_TLI.py: set intersection for every test x train pair) on the same records.

Records: real instructions from ../shared/data (Code Alpaca, Evol-Instruct, LeetCode), repeated with unique
ids and a numbered suffix until N records. Benchmarks: HumanEval+, MBPP (test 11-510), MBPP+ (TLI against all
of them, ``tli_benchmarks: null``, so both sides compute the same thing). The loop is timed on a subset
and extrapolated linearly (its cost is exactly linear in the number of training records).

    .venv/bin/python benchmarks/bench_decontam.py [--n 100000] [--loop-subset 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from codecurate.code.tokens import whitespace_ngrams
from codecurate.ops.decontam.benchmarks_index import load_benchmarks
from codecurate.ops.decontam.decontaminate import Decontaminate
from codecurate.records import make_record

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCHES = ["humaneval_plus", "mbpp", "mbpp_plus"]


def real_instructions() -> list[str]:
    out = []
    for p in [SHARED / "code_alpaca/code_alpaca_2k.json", SHARED / "evol_instruct_code/evol-codealpaca-2k-1.json",
              SHARED / "evol_instruct_code/evol-codealpaca-2k-2.json"]:
        for r in json.loads(p.read_text()):
            out.append((r.get("instruction", "") + "\n\n" + r.get("input", "")).strip())
    return [t for t in out if t]


def reference_loop(texts, test_texts, threshold=0.05):
    train = [whitespace_ngrams(t) for t in texts]
    test = [whitespace_ngrams(t) for t in test_texts]
    max_sim = [0.0] * len(train)
    for g_t in test:
        size = len(g_t)
        for i, g_r in enumerate(train):
            s = len(g_r & g_t) / size
            if s > max_sim[i]:
                max_sim[i] = s
    return [m >= threshold for m in max_sim], max_sim


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--loop-subset", type=int, default=2_000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "decontam.json"))
    args = ap.parse_args()
    base = real_instructions()
    texts = [base[i % len(base)] + ("" if i < len(base) else f" (variant {i // len(base)})") for i in range(args.n)]
    records = [make_record(f"r{i}", instruction=t) for i, t in enumerate(texts)]

    op = Decontaminate({"benchmarks": BENCHES, "tli_benchmarks": None, "detectors": ["tli"]})
    t0 = time.perf_counter()
    op.ensure_setup()
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = op.process(records)
    t_fast = time.perf_counter() - t0
    dropped = {d.record["id"] for d in res.dropped}

    full = Decontaminate({"benchmarks": BENCHES, "tli_benchmarks": None})
    full.ensure_setup()
    t0 = time.perf_counter()
    full.process([make_record(f"r{i}", instruction=t) for i, t in enumerate(texts)])
    t_full = time.perf_counter() - t0

    items = load_benchmarks(BENCHES)
    sub = args.loop_subset
    t0 = time.perf_counter()
    ref_drop, _ = reference_loop(texts[:sub], [it.tli_text for it in items])
    t_loop_sub = time.perf_counter() - t0
    identical = ref_drop == [f"r{i}" in dropped for i in range(sub)]
    t_loop = t_loop_sub * args.n / sub
    result = {
        "records": args.n, "test_items": len(items), "benchmarks": BENCHES,
        "codecurate_tli_seconds": round(t_fast, 2), "codecurate_index_build_seconds": round(t_index, 2),
        "codecurate_tli_plus_substring_seconds": round(t_full, 2),
        "reference_loop_subset_records": sub, "reference_loop_subset_seconds": round(t_loop_sub, 2),
        "reference_loop_seconds_extrapolated": round(t_loop, 1),
        "speedup_tli": round(t_loop / t_fast, 1),
        "identical_decisions_on_subset": identical,
        "dropped_fraction": round(len(dropped) / args.n, 4),
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core machine (other agents running)",
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
