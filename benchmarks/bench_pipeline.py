"""Records per second of the quickstart chain at 1 and 2 workers on 50,000 records.

The records are real MBPP problems (package data) repeated with ids made unique. Each configuration runs in a
fresh `codecurate run` subprocess (so worker start-up is counted, as a user pays it); the best of --repeats
wall times is reported, with per-stage seconds from the run's summary.json.

    python benchmarks/bench_pipeline.py [--records 50000] [--repeats 2]
Writes benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MBPP = ROOT / "src" / "codecurate" / "data" / "benchmarks" / "mbpp.jsonl"


def make_input(path: Path, n: int) -> None:
    rows = [json.loads(line) for line in MBPP.read_text().splitlines()]
    with open(path, "w") as fh:
        for i in range(n):
            r = rows[i % len(rows)]
            fh.write(json.dumps({**r, "task_id": i + 1}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline.json"))
    args = ap.parse_args()
    quick = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text())
    results = {}
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        make_input(td / "in.jsonl", args.records)
        quick["input"] = {"path": str(td / "in.jsonl")}
        (td / "r.yaml").write_text(yaml.safe_dump(quick))
        for workers in (1, 2):
            best = None
            for rep in range(args.repeats):
                out = td / f"run{workers}_{rep}"
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "codecurate.cli", "run", str(td / "r.yaml"), "-o", str(out),
                                "-w", str(workers), "-q"], check=True, capture_output=True)
                wall = time.perf_counter() - t0
                summary = json.loads((out / "summary.json").read_text())
                if best is None or wall < best["wall_seconds"]:
                    best = {"wall_seconds": round(wall, 3), "records_per_second": round(args.records / wall, 1),
                            "records_out": summary["records_out"],
                            "stage_seconds": {s["stage"]: s["seconds"] for s in summary["stages"]}}
            results[f"workers_{workers}"] = best
            print(f"workers={workers}: {best['records_per_second']:.0f} records/s ({best['wall_seconds']:.2f} s)")
    res = {
        "benchmark": "quickstart chain (extract_code, python_syntax, length, exact_dedup, random_select)",
        "records": args.records, "data": "MBPP (974 real problems) repeated with unique ids",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1m_at_end": os.getloadavg()[0]},
        "results": results,
        "scaling_2_over_1": round(results["workers_2"]["records_per_second"] / results["workers_1"]["records_per_second"], 3),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"scaling 2/1 workers: {res['scaling_2_over_1']}x -> {args.out}")


if __name__ == "__main__":
    main()
