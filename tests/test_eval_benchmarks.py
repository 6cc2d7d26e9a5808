"""Benchmark loaders (canonical records) and the canonical solutions passing through the sandbox."""

from __future__ import annotations

import ast
import json

import pytest

from codecurate.evaluation.benchmarks import (
    BenchmarkError,
    load_benchmark,
    mbpp_plus_fix_inputs,
)
from codecurate.records import validate_record

DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_humaneval_records():
    recs = load_benchmark("humaneval")
    assert len(recs) == 164 and len({r["id"] for r in recs}) == 164
    r = recs[0]
    validate_record(r)
    assert r["id"] == "HumanEval/0"
    assert r["tests"] == {"kind": "assert", "setup": r["meta"]["test"], "cases": ["check(has_close_elements)"],
                          "fn_name": "has_close_elements"}
    assert r["code"].startswith(r["meta"]["prompt"]) and r["meta"]["program_prefix"] == r["meta"]["prompt"]
    assert "\ndef " in r["meta"]["stop"]


def test_mbpp_test_split_and_prompt_with_tests():
    recs = load_benchmark("mbpp")
    ids = [int(r["id"].split("/")[1]) for r in recs]
    assert ids == list(range(11, 511))
    r = recs[0]
    validate_record(r)
    assert r["tests"]["kind"] == "assert" and len(r["tests"]["cases"]) == 3
    for case in r["tests"]["cases"]:
        assert case in r["instruction"]  # the official function name reaches the model
    assert r["instruction"].startswith("Write a python function to remove first and last occurrence")
    # the one test-split task with setup code keeps it
    assert sum(1 for x in recs if x["tests"]["setup"]) == 1


def test_evalplus_records():
    he = load_benchmark("humaneval+")
    assert len(he) == 164
    r = he[0]
    validate_record(r)
    assert r["tests"]["kind"] == "call" and r["tests"]["fn_name"] == "has_close_elements"
    n_base, n_plus = r["meta"]["n_base_inputs"], r["meta"]["n_plus_inputs"]
    assert len(r["tests"]["cases"]) == n_base + n_plus and n_plus > 0
    assert all(c["output"] is None for c in r["tests"]["cases"])
    assert r["meta"]["reference_code"] == r["meta"]["prompt"] + r["meta"]["canonical_solution"]
    base = load_benchmark("humaneval+base")
    assert len(base[0]["tests"]["cases"]) == n_base
    atols = {x["id"]: x["tests"]["atol"] for x in he}
    assert atols["HumanEval/2"] == pytest.approx(1e-6) and atols["HumanEval/0"] == 0.0
    mbpp_plus = load_benchmark("mbpp+")
    assert len(mbpp_plus) == 378


def test_mbpp_plus_inputs_get_their_python_types_back():
    recs = {r["id"]: r for r in load_benchmark("mbpp+base")}
    first = recs["Mbpp/2"]["tests"]["cases"][0]["input"]
    assert first == [(3, 4, 5, 6), (5, 7, 4, 10)] and all(isinstance(a, tuple) for a in first)
    assert mbpp_plus_fix_inputs("Mbpp/124", [[1, "(1+2j)"]]) == [[1.0, 1 + 2j]]
    assert mbpp_plus_fix_inputs("Mbpp/3", [[[1, 2]]]) == [[[1, 2]]]  # untouched tasks stay as JSON gave them


def _codeforces_as_apps(tmp_path, n=6):
    """The codeforces fixture rewritten in APPS' format (question / solutions / input_output strings)."""
    rows = json.loads((DATA / "codeforces_50.json").read_text())[:n]
    path = tmp_path / "apps_test.jsonl"
    with open(path, "w") as f:
        for i, row in enumerate(rows):
            tests = ast.literal_eval(row["tests"]) if isinstance(row["tests"], str) else row["tests"]
            io = {"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests]}
            f.write(json.dumps({"problem_id": 4000 + i, "question": row["problem"], "solutions": "[]",
                                "input_output": json.dumps(io), "starter_code": "",
                                "difficulty": "introductory" if i % 2 else "interview", "url": ""}) + "\n")
    return path, rows


def test_apps_from_local_file_by_difficulty(tmp_path):
    path, rows = _codeforces_as_apps(tmp_path)
    recs = load_benchmark("apps", path=str(path))
    assert [r["id"] for r in recs] == [f"apps/{4000 + i}" for i in range(len(rows))]
    r = recs[0]
    validate_record(r)
    assert r["tests"]["kind"] == "stdio" and r["tests"]["cases"][0]["input"].startswith("10\n1 9")
    assert r["meta"]["completion_prompt"].endswith("\nUse Standard Input format\n\nANSWER:\n")
    intro = load_benchmark("apps", path=str(path), difficulty="introductory")
    assert len(intro) == 3 and all(x["meta"]["difficulty"] == "introductory" for x in intro)
    with pytest.raises(BenchmarkError, match="unknown APPS difficulty"):
        load_benchmark("apps", path=str(path), difficulty="easy")


def test_apps_call_based_row():
    from codecurate.evaluation.benchmarks import apps_record

    row = {"problem_id": 1, "question": "Add.", "solutions": json.dumps(["def add(a, b):\n    return a + b\n"]),
           "input_output": json.dumps({"fn_name": "add", "inputs": [[1, 2], [3, 4]], "outputs": [[3], [7]]}),
           "starter_code": "def add(a, b):", "difficulty": "introductory"}
    r = apps_record(row)
    assert r["tests"] == {"kind": "call", "setup": "", "fn_name": "add",
                          "cases": [{"input": [1, 2], "output": [3]}, {"input": [3, 4], "output": [7]}]}
    assert r["code"].startswith("def add") and "def add(a, b):" in r["instruction"]


def test_codecontests_fixture_and_missing_file():
    recs = load_benchmark("codecontests", path=str(DATA / "code_contests_20.jsonl"))
    assert len(recs) == 20
    assert recs[0]["tests"]["kind"] == "stdio" and recs[0]["tests"]["cases"][0]["output"] == "5 2 1 3 4 \n"
    with pytest.raises(BenchmarkError, match="not found"):
        load_benchmark("apps", path="/nonexistent/apps.jsonl")
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        load_benchmark("humaneval-xl")


def test_limit_keeps_order():
    assert [r["id"] for r in load_benchmark("humaneval", limit=3)] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


# ---------------------------------------------------------------- execution of canonical solutions
def test_canonical_solutions_pass_humaneval_and_mbpp():
    """All 164 HumanEval and 500 MBPP test-split reference solutions pass in the sandbox (2 workers)."""
    from codecurate.sandbox import SandboxConfig, run_tests_many

    recs = load_benchmark("humaneval") + load_benchmark("mbpp")
    # Mbpp/123's reference (amicable numbers below 9999, quadratic) needs ~5 s of CPU on a busy 2-core machine,
    # over APPS' 4 s per-test default; evalplus likewise scales limits with the ground truth's run time.
    config = SandboxConfig(timeout_per_test=30.0, timeout_total=60.0)
    outs = run_tests_many([(r["code"], r["tests"]) for r in recs], config=config, workers=2)
    failed = [(r["id"], o.status) for r, o in zip(recs, outs) if o.status != "passed"]
    assert failed == []
    assert all(o.passed == o.total == len(r["tests"]["cases"]) for r, o in zip(recs, outs))


def test_wrong_solutions_fail():
    from codecurate.sandbox import run_tests_many

    he = load_benchmark("humaneval", limit=3)
    mb = load_benchmark("mbpp", limit=2)
    wrong_he = he[0]["meta"]["prompt"] + "    return not " + "True\n"  # has_close_elements always False
    jobs = [(wrong_he, he[0]["tests"]),
            (he[1]["meta"]["prompt"] + "    return [\n", he[1]["tests"]),  # syntax error
            (mb[0]["code"].replace("remove_Occ", "remove_occ"), mb[0]["tests"]),  # wrong name -> NameError
            (mb[1]["code"] + "\nimport builtins\n", mb[1]["tests"])]  # still correct: control case
    outs = run_tests_many(jobs, workers=2)
    assert outs[0].status == "failed" and outs[0].passed == 0
    assert outs[1].status == "compile_error" and outs[1].results == [-2]
    assert outs[2].status in ("failed", "error") and outs[2].passed == 0
    assert outs[3].status == "passed"


def test_evalplus_reference_comparison_base_inputs():
    """HumanEval+ base inputs: the canonical solution matches itself; an off-by-one candidate does not."""
    from codecurate.sandbox import run_tests_many

    recs = load_benchmark("humaneval+base", limit=4)
    jobs = [(r["code"], r["tests"], r["meta"]["reference_code"]) for r in recs]
    r2 = recs[2]  # truncate_number: return number % 1.0
    jobs.append((r2["meta"]["prompt"] + "    return number % 1.0 + 1e-3\n", r2["tests"], r2["meta"]["reference_code"]))
    outs = run_tests_many(jobs, workers=2)
    assert [o.status for o in outs[:4]] == ["passed"] * 4
    assert outs[4].status == "failed" and outs[4].total == len(r2["tests"]["cases"])


def test_any_records_file_as_benchmark(tmp_path):
    """Canonical records written by codecurate.io come back as a benchmark; records without tests are refused."""
    from codecurate.io import write_records

    recs = load_benchmark("mbpp", limit=5)
    path = tmp_path / "mine.jsonl"
    write_records(recs, path)
    back = load_benchmark(str(path))
    assert [r["id"] for r in back] == [r["id"] for r in recs]
    assert [r["tests"]["cases"] for r in back] == [r["tests"]["cases"] for r in recs]
    no_tests = tmp_path / "plain.jsonl"
    write_records([{**recs[0], "tests": None}], no_tests)
    with pytest.raises(BenchmarkError, match="has no tests"):
        load_benchmark(str(no_tests))
