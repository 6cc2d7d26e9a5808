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
    # graded from returned values (HumanEval+ base inputs); the in-process check() harness is humaneval-assert
    assert r["tests"]["kind"] == "call" and r["tests"]["fn_name"] == "has_close_elements"
    ra = load_benchmark("humaneval-assert")[0]
    assert ra["tests"] == {"kind": "assert", "setup": r["meta"]["test"], "cases": ["check(has_close_elements)"],
                           "fn_name": "has_close_elements"}
    assert r["code"].startswith(r["meta"]["prompt"]) and r["meta"]["program_prefix"] == r["meta"]["prompt"]
    assert "\ndef " in r["meta"]["stop"]


def test_mbpp_test_split_and_prompt_with_tests():
    recs = load_benchmark("mbpp")
    ids = [int(r["id"].split("/")[1]) for r in recs]
    assert ids == list(range(11, 511))
    r = recs[0]
    validate_record(r)
    assert r["tests"]["kind"] == "call" and len(r["tests"]["cases"]) == 3  # converted asserts (assert_convert)
    for case in r["meta"]["test_list"]:
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
    assert r["tests"] == {"kind": "call", "setup": "", "fn_name": "add", "harness": "apps",
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
    outs = run_tests_many([(r["code"], r["tests"], r["meta"].get("reference_code")) for r in recs], config=config,
                          workers=2)
    failed = [(r["id"], o.status) for r, o in zip(recs, outs) if o.status != "passed"]
    assert failed == []
    assert all(o.passed == o.total == len(r["tests"]["cases"]) for r, o in zip(recs, outs))


def test_wrong_solutions_fail():
    from codecurate.sandbox import run_tests_many

    he = load_benchmark("humaneval", limit=3)
    mb = load_benchmark("mbpp", limit=2)
    wrong_he = he[0]["meta"]["prompt"] + "    return not " + "True\n"  # has_close_elements always False
    ref = [r["meta"].get("reference_code") for r in he]
    jobs = [(wrong_he, he[0]["tests"], ref[0]),
            (he[1]["meta"]["prompt"] + "    return [\n", he[1]["tests"], ref[1]),  # syntax error
            (mb[0]["code"].replace("remove_Occ", "remove_occ"), mb[0]["tests"], mb[0]["code"]),  # NameError
            (mb[1]["code"] + "\nimport builtins\n", mb[1]["tests"], mb[1]["code"])]  # still correct: control case
    outs = run_tests_many(jobs, workers=2)
    # always False: the inputs that expect False pass one by one (EvalPlus base inputs), the task fails
    assert outs[0].status == "failed" and 0 < outs[0].passed < outs[0].total
    assert outs[1].status == "compile_error" and set(outs[1].results) == {-2}
    assert outs[2].status in ("failed", "error", "compile_error") and outs[2].passed == 0  # call cases: no entry point = -2
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


NEWTON_FROM_ELSEWHERE = """    dxs = [xs[i] * i for i in range(1, len(xs))]
    for x in (3.0, -3.0, 0.0):
        for _ in range(1000):
            fx = poly(xs, x)
            if abs(fx) < 1e-9:
                return x
            d = poly(dxs, x)
            if d == 0:
                break
            x = x - fx / d
    return x
"""


def test_evalplus_tasks_that_need_faithful_values_oracles_and_time_limits():
    """The HumanEval+/MBPP+ canonical solutions that used to fail in the sandbox pass, and a wrong answer
    still fails for each kind of check: big ints (HumanEval/83, /139), a Counter output (Mbpp/88), regex
    match objects (output_not_none: Mbpp/737, 787, 794), arbitrary list order (set_eq: Mbpp/7), any root of
    a polynomial (poly_root: HumanEval/32), and a reference slow enough to need evalplus' per-input limits
    (Mbpp/255: 1.7M combinations on one input)."""
    from codecurate.sandbox import run_tests_many

    he = {r["id"]: r for r in load_benchmark("humaneval+")}
    mb = {r["id"]: r for r in load_benchmark("mbpp+")}
    recs = [he["HumanEval/32"], he["HumanEval/83"], he["HumanEval/139"], mb["Mbpp/88"], mb["Mbpp/255"],
            mb["Mbpp/737"], mb["Mbpp/787"], mb["Mbpp/794"], mb["Mbpp/7"]]
    assert [r["tests"].get("oracle") for r in recs] == ["poly_root", None, None, None, None, "output_not_none",
                                                        "output_not_none", "output_not_none", "set_eq"]

    def job(rec, code):
        return code, rec["tests"], rec["meta"]["reference_code"]

    def prompt(rec):
        return rec["meta"]["prompt"]

    candidates = [
        # correct in another way: evalplus accepts these too
        ("HumanEval/32", prompt(he["HumanEval/32"]) + NEWTON_FROM_ELSEWHERE, "passed"),  # other roots than the reference's
        ("Mbpp/88", "def freq_count(xs):\n    d = {}\n    for x in xs:\n        d[x] = d.get(x, 0) + 1\n    return d\n",
         "passed"),  # a plain dict equals the reference's Counter
        ("Mbpp/737", "import re\ndef check_str(s):\n    return re.match('[aeiouAEIOU]', s) is not None\n", "passed"),
        ("Mbpp/7", "import re\ndef find_char_long(text):\n    return sorted(re.findall(r'\\b\\w{4,}\\b', text))[::-1]\n",
         "passed"),
        # wrong
        ("HumanEval/32", prompt(he["HumanEval/32"]) + "    return 0.0\n", "failed"),
        ("HumanEval/139", prompt(he["HumanEval/139"]) + "    import math\n    return math.factorial(n) ** 2\n",
         "failed"),
        ("Mbpp/88", "import collections\ndef freq_count(xs):\n    return collections.Counter(xs[1:])\n", "failed"),
        ("Mbpp/787", "def text_match_three(text):\n    return None\n", "failed"),
        ("Mbpp/7", "import re\ndef find_char_long(text):\n    return re.findall(r'\\b\\w{5,}\\b', text)\n", "failed"),
    ]
    by_id = {**he, **mb}
    jobs = [job(r, r["code"]) for r in recs] + [job(by_id[i], code) for i, code, _ in candidates]
    # the same other-root candidate judged by plain comparison with the reference's root fails
    no_oracle = dict(he["HumanEval/32"]["tests"], oracle=None)
    jobs.append((prompt(he["HumanEval/32"]) + NEWTON_FROM_ELSEWHERE, no_oracle, he["HumanEval/32"]["meta"]["reference_code"]))
    outs = run_tests_many(jobs, workers=2)
    assert outs.pop().status == "failed"
    canon = outs[:len(recs)]
    assert [(r["id"], o.status) for r, o in zip(recs, canon)] == [(r["id"], "passed") for r in recs], \
        [(r["id"], o.error, [p for p in o.per_case if p["status"] != "passed"][:1]) for r, o in zip(recs, canon)]
    assert all(o.passed == o.total == len(r["tests"]["cases"]) for r, o in zip(recs, canon))
    got = [(i, o.status) for (i, _, _), o in zip(candidates, outs[len(recs):])]
    assert got == [(i, want) for i, _, want in candidates]
    assert all(0 < o.passed < o.total or i == "Mbpp/787" for (i, _, want), o in zip(candidates, outs[len(recs):])
               if want == "failed")


def test_evalplus_time_limits_come_from_the_reference():
    """A candidate that is much slower than the reference on one input times out on that input only
    (limit = max(min_time_limit, gt_time_limit_factor x reference time)), the others still pass."""
    from codecurate.sandbox import SandboxConfig, run_tests

    rec = load_benchmark("humaneval+base", limit=1)[0]  # has_close_elements: microseconds per input
    slow = rec["meta"]["prompt"] + (
        "    import time\n"
        "    if len(numbers) == 6 and threshold == 0.3:\n"
        "        time.sleep(30)\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
    slow_case = next(i for i, c in enumerate(rec["tests"]["cases"])
                     if len(c["input"][0]) == 6 and c["input"][1] == 0.3)
    config = SandboxConfig(min_time_limit=0.5)
    out = run_tests(slow, rec["tests"], config, rec["meta"]["reference_code"])
    assert out.status == "timeout" and out.results[slow_case] == -1
    assert out.results.count(True) == out.total - 1
    assert out.seconds < 10


def test_study_schema_files_load_for_apps_codecontests_and_mbpp(tmp_path):
    """The study's own test files (Datasets/<ds>/test.jsonl: question, solutions as ONE code string,
    input_output or test_list, no ids) load as --benchmark apps|codecontests|mbpp --benchmark-path, graded
    with APPS's harness (APPS/CodeContests) or converted asserts (MBPP); ids are row positions, as the study's
    all_code.json ids are."""
    from codecurate.models.generate import build_prompt
    from codecurate.sandbox import run_tests

    io_rows = [{"question": "  Read n, print 2n.\n", "solutions": "n = int(input())\nprint(2 * n)",
                "input_output": json.dumps({"inputs": ["3\n", "5\n"], "outputs": ["6\n", "10\n"]})},
               {"question": "Add.", "solutions": "def add(a, b):\n    return a + b",
                "input_output": {"fn_name": "add", "inputs": [[1, 2]], "outputs": [[3]]}}]
    apps_path = tmp_path / "test.jsonl"
    apps_path.write_text("".join(json.dumps(r) + "\n" for r in io_rows))
    mbpp_rows = [{"question": "Write a function to add two numbers.\nassert add(1, 2) == 3",
                  "solutions": "def add(a, b):\n    return a + b",
                  "test_list": ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]}]
    mbpp_path = tmp_path / "mbpp_test.jsonl"
    mbpp_path.write_text(json.dumps(mbpp_rows[0]) + "\n")
    for name, path, ids in (("apps", apps_path, ["apps/0", "apps/1"]),
                            ("codecontests", apps_path, ["codecontests/0", "codecontests/1"]),
                            ("mbpp", mbpp_path, ["Mbpp/0"])):
        recs = load_benchmark(name, path=str(path))
        assert [r["id"] for r in recs] == ids
        for r in recs:
            out = run_tests(r["code"], r["tests"], reference_code=r["meta"].get("reference_code"))
            assert out.status == "passed", (name, r["id"], out.to_dict())
            wrong = run_tests(r["code"].replace("2 *", "3 *").replace("a + b", "a - b"), r["tests"],
                              reference_code=r["meta"].get("reference_code"))
            assert wrong.passed < wrong.total, (name, r["id"])
        if name != "mbpp":
            assert all(r["tests"]["harness"] == "apps" for r in recs)
    # the study's prompt strips the question (SFT/evaluation.py build_instruction_prompt)
    prompt, _ = build_prompt(load_benchmark("apps", path=str(apps_path))[0], "study")
    assert "### Instruction:\nRead n, print 2n.\n### Response:\n" in prompt


def test_apps_harness_is_the_default_and_the_fix_is_one_flag_away(tmp_path):
    """Under APPS's harness a `__main__` guard never runs (APPS wraps the program into code()); with
    apps_harness=False (`--no-apps-harness`) the program runs as a real script and passes."""
    from codecurate.evaluation import evaluate

    bench = tmp_path / "test.jsonl"
    bench.write_text(json.dumps({"question": "Double n.", "solutions": "print(2 * int(input()))",
                                 "input_output": {"inputs": ["3\n"], "outputs": ["6\n"]}}) + "\n")
    gens = tmp_path / "all_code.json"
    gens.write_text(json.dumps({"id": "0_0", "code": "def main():\n    print(2 * int(input()))\n"
                                                    "if __name__ == '__main__':\n    main()\n"}) + "\n")
    scores = {}
    for harness in (True, False):
        out = evaluate("apps", benchmark_path=str(bench), from_generations=str(gens), output_dir=str(tmp_path / "R"),
                       tag=f"h{harness}", apps_harness=harness, static=False)
        scores[harness] = out.results["metrics"]["pass@1"]
    assert scores == {True: 0.0, False: 1.0}
