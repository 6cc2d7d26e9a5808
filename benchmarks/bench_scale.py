"""Scale: the quickstart chain plus ``minhash_dedup`` on 100k, 1M (and 3M) records, local and Ray.

Issue 19's benchmark: wall time, records/s and peak RSS of the whole process tree (the ``codecurate run``
process, its worker pool, and on Ray the raylet, GCS and Ray workers it starts), at 1 and 2 workers.
Goal: peak RSS grows sub-linearly with the number of records (<= 2 GiB at 1M for this model-free chain) and
throughput stays flat or better with size.

Data (real records, never tuned on): the Python solutions of MBPP, LeetCode (rllm), Code Alpaca and
Evol-Instruct-Code from ../shared/data (5.4k programs with their instructions). Each benchmark record joins
six of them, drawn at random (instruction: the six instructions; code: the six programs), none over 25% of the
record's code, so two records sharing a program stay far apart (code Jaccard <= ~0.15): distinct records of
realistic size with unique ids; 3% are exact repeats of an earlier record and 3% near copies (re-indented, a
comment added) so both dedup stages have work. At 1M each program is reused ~1,100 times, so records sharing two
or three programs are common: 9.3M candidate pairs for the minhash stage, a hard case for its verification.
(Joining three programs with no size rule made a long program dominate its records: hundreds of records sharing
it at Jaccard ~0.7, a candidate-pair explosion no real pool has.) The chain is ``recipes/quickstart.yaml`` with
the length cap raised from 1,500 to 8,000 characters and ``minhash_dedup`` with its defaults
(``recipes/dedup.yaml``) on ``code`` at the end.

    python benchmarks/bench_scale.py [--sizes 100000 1000000] [--configs local:1 local:2 ray:2]
Writes benchmarks/results/scale.json (merging with what is there: one entry per size and config).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SOURCES = ["mbpp/mbpp.jsonl", "leetcode_problems_rllm/leetcode_train.json", "code_alpaca/code_alpaca_2k.json",
           "evol_instruct_code/evol-codealpaca-2k-1.json", "evol_instruct_code/evol-codealpaca-2k-2.json"]
OUT = ROOT / "benchmarks" / "results" / "scale.json"
PER_RECORD = 6  # real programs joined per benchmark record
LENGTH_CAP = 8000  # the quickstart's length stage cap (1,500 chars) raised for records of 6 programs


def pool() -> list[tuple[str, str]]:
    from codecurate.io import read_records

    out = []
    for s in SOURCES:
        for r in read_records(SHARED / s):
            code = (r.get("code") or "").strip()
            if code and (r.get("language") or "python") == "python" and r.get("instruction"):
                out.append((r["instruction"].strip(), code))
    return out


def make_input(path: Path, n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    progs = pool()
    written = []  # (instruction, code) of the records so far, for planted copies (bounded sample)
    kinds = {"joined": 0, "exact_copy": 0, "near_copy": 0}
    with open(path, "w") as fh:
        for i in range(n):
            u = rng.random()
            if written and u < 0.03:
                instr, code = rng.choice(written)
                kinds["exact_copy"] += 1
            elif written and u < 0.06:
                instr, code = rng.choice(written)
                code = "# reviewed\n" + code.replace("    ", "  ")
                kinds["near_copy"] += 1
            else:
                while True:  # no program over 25% of the record: records sharing one stay far apart (J <= 0.15)
                    parts = rng.sample(progs, PER_RECORD)
                    sizes = [len(p[1]) for p in parts]
                    if max(sizes) <= 0.25 * sum(sizes):
                        break
                instr = "\n\n".join(p[0] for p in parts)
                code = "\n\n\n".join(p[1] for p in parts)
                kinds["joined"] += 1
                if len(written) < 20000:
                    written.append((instr, code))
                else:
                    written[rng.randrange(20000)] = (instr, code)
            fh.write(json.dumps({"id": f"s{i}", "instruction": instr, "response": "", "code": code,
                                 "language": "python", "tests": None, "source": "bench_scale", "meta": {},
                                 "stats": {}}) + "\n")
    return {"programs_in_pool": len(progs), **kinds}


def recipe(input_path: Path) -> dict:
    r = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text())
    dedup = yaml.safe_load((ROOT / "recipes" / "dedup.yaml").read_text())["stages"][0]
    for st in r["stages"]:
        if st["op"] == "length":
            st["max"] = LENGTH_CAP
    r["stages"].append(dedup)
    r["input"] = {"path": str(input_path), "format": "codecurate"}
    r["output"] = {"format": "same"}
    r["name"] = "bench_scale"
    return r


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(RSS of the process, RSS of the process and all its descendants), bytes."""
    try:
        own = proc.memory_info().rss
        kids = proc.children(recursive=True)
    except psutil.Error:
        return 0, 0
    total = own
    for k in kids:
        try:
            total += k.memory_info().rss
        except psutil.Error:
            pass
    return own, total


def run_one(recipe_path: Path, out: Path, executor: str, workers: int, extra: tuple[str, ...] = ()) -> dict:
    cmd = [sys.executable, "-m", "codecurate.cli", "run", str(recipe_path), "-o", str(out), "-w", str(workers),
           "-q", "-e", executor, *extra]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(p.pid)
    peak = {"driver": 0, "tree": 0}
    cpu = {"s": 0.0}
    done = threading.Event()

    by_phase: dict[str, float] = {}

    def phase() -> str:
        """What the run is doing: the newest stage directory, then writing the output, then the report."""
        if (out / "summary.json").exists():
            return "report"
        if (out / "output").exists():
            return "output"
        try:
            return max((out / "stages").iterdir(), key=lambda p: p.stat().st_mtime).name
        except (OSError, ValueError):
            return "start"

    def sample():
        while not done.is_set():
            own, total = tree_rss(proc)
            peak["driver"] = max(peak["driver"], own)
            peak["tree"] = max(peak["tree"], total)
            ph = phase()
            by_phase[ph] = max(by_phase.get(ph, 0), round(total / 2**20, 1))
            done.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = p.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    stages = summary.get("stages", summary)
    ru = os.times()
    cpu["s"] = ru.children_user + ru.children_system
    return {"wall_seconds": round(wall, 1), "peak_rss_tree_mib": round(peak["tree"] / 2**20, 1),
            "peak_rss_driver_mib": round(peak["driver"] / 2**20, 1), "peak_rss_tree_mib_by_phase": by_phase,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "stages": [{k: s.get(k) for k in ("stage", "in", "out", "dropped", "seconds")}
                       for s in (stages if isinstance(stages, list) else [])]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--configs", nargs="+", default=["local:1", "local:2", "ray:2"])
    ap.add_argument("--workdir", default=None, help="where inputs and runs go (needs ~4 GB per 1M records)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results.update({"benchmark": f"bench_scale.py: quickstart chain (length cap {LENGTH_CAP}) + minhash_dedup defaults",
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
                    "goal": "peak RSS sub-linear in records (<= 2 GiB at 1M), records/s flat or better with size"})
    runs = results.setdefault("runs", {})
    with tempfile.TemporaryDirectory(dir=args.workdir) as td:
        td = Path(td)
        for n in args.sizes:
            inp = td / f"in-{n}.jsonl"
            t0 = time.perf_counter()
            kinds = make_input(inp, n)
            gen_s = time.perf_counter() - t0
            rp = td / f"recipe-{n}.yaml"
            rp.write_text(yaml.safe_dump(recipe(inp)))
            for conf in args.configs:
                executor, workers = conf.split(":")
                out = td / f"run-{n}-{executor}-{workers}"
                print(f"{n} records, {executor}, {workers} workers ...", flush=True)
                res = run_one(rp, out, executor, int(workers))
                before = [st["seconds"] or 0 for st in res["stages"]][:-1]  # every stage but minhash_dedup
                res.update({"records": n, "executor": executor, "workers": int(workers),
                            "records_per_second": round(n / res["wall_seconds"], 1),
                            "records_per_second_stages_before_minhash": round(n / sum(before), 1) if before else None,
                            "minhash_records_per_second": round(res["stages"][-1]["in"] / res["stages"][-1]["seconds"], 1)
                            if res["stages"] and res["stages"][-1]["seconds"] else None,
                            "input_mib": round(inp.stat().st_size / 2**20, 1), "input": kinds,
                            "input_build_seconds": round(gen_s, 1)})
                runs[f"{n}/{executor}:{workers}"] = res
                print(json.dumps({k: res[k] for k in ("wall_seconds", "records_per_second", "peak_rss_tree_mib",
                                                      "peak_rss_driver_mib")}), flush=True)
                out_path.write_text(json.dumps(results, indent=1) + "\n")
                import shutil

                shutil.rmtree(out, ignore_errors=True)
            inp.unlink()
    out_path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
