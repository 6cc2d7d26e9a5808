"""`codecurate study`: a CPU study with a tiny model built here (MBPP train split, 3 chains, 1 model): the table
has every cell, shared chain prefixes run once, identical data trains once, a rerun reuses every finished cell,
and a study killed with SIGKILL between cells resumes without redoing a finished cell."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from codecurate.study import StudyError, load_study, run_study  # noqa: E402

SRC = str(Path(__file__).parent.parent / "src")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from codecurate.evaluation.benchmarks import load_benchmark
    from codecurate.training.tiny import build_tiny_model

    texts = [r["instruction"] + "\n" + r["code"] for r in load_benchmark("mbpp", split="train")]
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny"), texts, vocab_size=400))


def _study(tmp_path, model, chains, name="t"):
    spec = {
        "name": name,
        "datasets": {"mbpp": {"train": {"benchmark": "mbpp", "split": "train", "limit": 16},
                              "valid": {"benchmark": "mbpp", "split": "valid", "limit": 2},
                              "test": {"benchmark": "mbpp", "split": "test", "limit": 3}}},
        "techniques": {"lenf": {"stages": [{"op": "length", "field": "code", "min": 40, "max": 300}]},
                       "dedup": {"stages": [{"op": "exact_dedup", "fields": ["code"]}]}},
        "chains": chains,
        "models": {"tiny": {"model": model}},
        "train": {"epochs": 2, "batch_size": 4, "grad_acc": 1, "max_length": 256, "template": "plain",
                  "lr": 0.001, "warmup_steps": 0},
        "eval": {"prompt": "study", "max_new_tokens": 6, "static": False, "workers": 2},
    }
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_study_table_shared_prefix_and_rerun(tiny_model, tmp_path):
    path = _study(tmp_path, tiny_model, [["ori"], ["lenf"], ["lenf", "dedup"]])
    out = tmp_path / "out"
    res = run_study(path, output=out, log=lambda m: None)
    s = res["summary"]
    assert s["cells"] == 3 and s["cells_failed"] == 0 and s["cells_run"] == 3
    # `lenf` runs once for both chains that start with it; dedup after it removes nothing, so the third chain's
    # data equals the second's and is trained once
    assert s["steps_run"] == 2 and s["steps_reused"] == 1
    assert s["trainings_run"] == 2 and s["trainings_reused"] == 1
    rows = {r["chain"]: r for r in res["table"]}
    assert set(rows) == {"ori", "lenf", "lenf_dedup"} and all(r["status"] == "ok" for r in rows.values())
    ori_n = rows["ori"]["records"]
    assert ori_n == 16 and rows["lenf"]["records"] < ori_n  # the length filter dropped long solutions
    assert rows["lenf"]["records"] == rows["lenf_dedup"]["records"]
    for r in rows.values():
        assert 0.0 <= r["pass@1"] <= 1.0 and r["train_tokens"] > 0
        assert r["delta_pass@1"] == pytest.approx(r["pass@1"] - rows["ori"]["pass@1"])
    # checkpoint selection: each epoch's checkpoint scored on the validation split, the chosen one named
    cell = json.loads((out / "cells" / "mbpp__tiny__lenf.json").read_text())
    assert len(cell["checkpoint_scores"]) == 2 and cell["checkpoint"] in {c["checkpoint"]
                                                                          for c in cell["checkpoint_scores"]}
    # the study's layout and the tables
    for chain in rows:
        assert (out / "Results" / "mbpp" / "tiny" / chain / "results.json").exists()
        assert (out / "Results" / "mbpp" / "tiny" / chain / "all_code.json").exists()
    md = (out / "results.md").read_text()
    assert md.count("\n| mbpp | tiny |") == 3 and "delta_pass@1" in md
    assert (out / "results.csv").read_text().count("\n") == 4
    assert "<table>" in (out / "results.html").read_text()
    # a rerun reuses everything
    again = run_study(path, output=out, log=lambda m: None)["summary"]
    assert again["cells_reused"] == 3 and again["cells_run"] == 0 and again["trainings_run"] == 0


def test_study_sigkill_between_cells_resumes(tiny_model, tmp_path):
    path = _study(tmp_path, tiny_model, [["ori"], ["lenf"]], name="k")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "codecurate.cli", "study", str(path), "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "cells" / "mbpp__tiny__ori.json"
    deadline = time.monotonic() + 900
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the first cell never finished"
    before = first.read_text()
    res = run_study(path, output=out, log=lambda m: None)
    s = res["summary"]
    assert s["cells_reused"] >= 1 and s["cells_failed"] == 0
    assert s["cells_run"] + s["cells_reused"] == 2
    assert first.read_text() == before  # the finished cell was not redone
    assert {r["chain"] for r in res["table"]} == {"ori", "lenf"}


def test_study_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "datasets": {"d": {"train": {}, "test": {"benchmark": "mbpp"}}},
                                   "chains": [["ori"]], "models": {"m": {"model": "x"}}}))
    with pytest.raises(StudyError, match=r"datasets\.d\.train.*benchmark"):
        load_study(bad)
    bad.write_text(yaml.safe_dump({"name": "x", "datasets": {"d": {"train": {"benchmark": "mbpp"},
                                                                   "test": {"benchmark": "mbpp"}}},
                                   "chains": [["ori"], ["nope"]], "models": {"m": {"model": "x"}}}))
    with pytest.raises(StudyError, match="unknown technique 'nope'.*cle"):
        load_study(bad)
    with pytest.raises(StudyError, match="not found"):
        load_study(tmp_path / "missing.yaml")
