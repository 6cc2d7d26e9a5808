"""Kill a real `codecurate run` subprocess with SIGKILL at several points; `--resume` must give the same bytes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"
CLI = [sys.executable, "-m", "codecurate.cli"]


def _data_bytes(run_dir: Path) -> dict:
    files = sorted(run_dir.glob("stages/*/data-*.parquet")) + sorted(run_dir.glob("stages/*/ledger-*.parquet"))
    files += sorted((run_dir / "output").iterdir())
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """MBPP repeated 6x with unique ids (5,844 records), small shards so kills land mid-stage."""
    d = tmp_path_factory.mktemp("w")
    rows = [json.loads(line) for line in (PKG / "mbpp.jsonl").read_text().splitlines()]
    with open(d / "big.jsonl", "w") as fh:
        for rep in range(6):
            for r in rows:
                fh.write(json.dumps({**r, "task_id": r["task_id"] + 1000 * rep}) + "\n")
    recipe = {
        "name": "kill", "input": {"path": str(d / "big.jsonl")}, "batch_size": 150, "seed": 3,
        "stages": [{"op": "extract_code", "overwrite": False}, {"op": "python_syntax"},
                   {"op": "length", "field": "code", "min": 40, "max": 1500},
                   {"op": "exact_dedup", "fields": ["code"]}, {"op": "random_select", "fraction": 0.7}],
    }
    import yaml

    (d / "r.yaml").write_text(yaml.safe_dump(recipe))
    ref = d / "ref"
    subprocess.run(CLI + ["run", str(d / "r.yaml"), "-o", str(ref), "-w", "1", "-q"], check=True,
                   capture_output=True)
    return d, _data_bytes(ref)


# Kill points by progress, not by time, so each kill lands mid-run on any machine speed.
KILL_AT = [
    ("stages/00_read/data-00010.parquet", 1),           # while reading the input
    ("stages/02_python_syntax/data-00012.parquet", 1),  # inside a filter stage, some shards done
    ("stages/04_exact_dedup/attempt.json", 1),          # inside a global (map/reduce) stage
    ("stages/03_length/data-00020.parquet", 2),         # with a worker pool
]


@pytest.mark.parametrize("marker,workers", KILL_AT, ids=[m.split("/")[1] for m, _ in KILL_AT])
def test_sigkill_then_resume_is_byte_identical(workload, tmp_path, marker, workers):
    d, ref = workload
    out = tmp_path / "run"
    proc = subprocess.Popen(CLI + ["run", str(d / "r.yaml"), "-o", str(out), "-w", str(workers), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / marker).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: workers die too
    proc.wait()
    assert not (out / "summary.json").exists(), "the kill must land before the run finished"
    subprocess.run(CLI + ["run", str(d / "r.yaml"), "-o", str(out), "-w", str(workers), "-q", "--resume"],
                   check=True, capture_output=True)
    assert _data_bytes(out) == ref
