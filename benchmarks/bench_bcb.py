"""BigCodeBench-Hard sample (30 tasks bundled): the canonical solutions through codecurate's sandbox (``unittest``
test kind, every protection on) vs the same ``TestCases`` run with plain ``python -m unittest`` per task (a temp
dir per task holding the program + tests as one module, no isolation), with the same parallelism, side by side
in one run. Reports tasks/s and the ground-truth pass rate of each side, and which tasks fail on each and why.

    python benchmarks/bench_bcb.py [--workers 2] [--repeat 2] [--out benchmarks/results/bcb.json]

Missing third-party libraries fail a task on both sides alike (``pip install -e ".[bcb]"`` to install them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_ours(records: list[dict], workers: int) -> tuple[float, dict[str, str]]:
    from codecurate.sandbox import SandboxConfig, run_tests_many

    # BigCodeBench's limits (240 s per test method); 8 GiB instead of its 30 GiB on this 24 GiB machine
    cfg = SandboxConfig(timeout_per_test=240, timeout_total=241, memory_mb=8192)
    t0 = time.perf_counter()
    outs = run_tests_many([(r["code"], r["tests"]) for r in records], config=cfg, workers=workers)
    secs = time.perf_counter() - t0
    return secs, {r["id"]: ("pass" if o.status == "passed" else _why(o)) for r, o in zip(records, outs)}


def _why(outcome) -> str:
    errs = [c.get("error") for c in outcome.per_case if c.get("status") != "passed" and c.get("error")]
    return f"{outcome.status}: {(errs or [outcome.error or ''])[0]}"[:200]


def _plain_one(rec: dict) -> str:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "bcb_task.py").write_text(rec["code"] + "\n" + rec["tests"]["test_code"], encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": d, "TZ": "UTC", "OMP_NUM_THREADS": "1",
               "MPLBACKEND": "Agg"}
        try:
            p = subprocess.run([sys.executable, "-m", "unittest", "-q", "bcb_task"], cwd=d, env=env,
                               capture_output=True, text=True, timeout=241)
        except subprocess.TimeoutExpired:
            return "timeout"
        if p.returncode == 0:
            return "pass"
        tail = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        return f"fail: {tail[-1] if tail else p.returncode}"[:200]


def run_plain(records: list[dict], workers: int) -> tuple[float, dict[str, str]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        res = list(ex.map(_plain_one, records))
    return time.perf_counter() - t0, {r["id"]: v for r, v in zip(records, res)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bcb.json"))
    args = ap.parse_args()

    from codecurate.evaluation.benchmarks import load_benchmark
    from codecurate.sandbox import protections

    records = load_benchmark("bigcodebench")
    prot = protections()
    load_start = [round(x, 2) for x in os.getloadavg()]
    rounds: dict[str, list[float]] = {"codecurate": [], "plain_unittest": []}
    verdicts: dict[str, dict[str, str]] = {}
    for _ in range(args.repeat):  # interleaved
        for name, fn in (("codecurate", run_ours), ("plain_unittest", run_plain)):
            secs, v = fn(records, args.workers)
            rounds[name].append(secs)
            verdicts[name] = v
            passed = sum(x == "pass" for x in v.values())
            print(f"{name:15s} {secs:7.1f} s  {len(records) / secs:5.2f} tasks/s  passed {passed}/{len(records)}",
                  flush=True)
    rows = {}
    for name, secs in rounds.items():
        med = statistics.median(secs)
        passed = sum(x == "pass" for x in verdicts[name].values())
        rows[name] = {"median_seconds": round(med, 2), "tasks_per_s": round(len(records) / med, 3),
                      "rounds_seconds": [round(x, 2) for x in secs], "passed": passed,
                      "ground_truth_pass_rate": round(passed / len(records), 3),
                      "failures": {k: v for k, v in sorted(verdicts[name].items()) if v != "pass"}}
    disagree = sorted(k for k in verdicts["codecurate"]
                      if (verdicts["codecurate"][k] == "pass") != (verdicts["plain_unittest"][k] == "pass"))
    result = {
        "benchmark": f"BigCodeBench-Hard sample ({len(records)} tasks), canonical solutions",
        "peer": "python -m unittest per task in a temp dir (no isolation)",
        "ours": "codecurate.sandbox.run_tests_many, tests kind unittest, every protection on",
        "workers": args.workers, "results": rows,
        "ratio_tasks_per_s": round(rows["codecurate"]["tasks_per_s"] / rows["plain_unittest"]["tasks_per_s"], 2),
        "verdicts_disagree_on": disagree,
        "codecurate_protections": prot,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                    "loadavg_at_start": load_start, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("ratio_tasks_per_s", "verdicts_disagree_on")}, indent=2))


if __name__ == "__main__":
    main()
