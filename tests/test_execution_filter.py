"""execution_filter on real MBPP records (their own code and test_list) and on records without tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import codecurate
from codecurate.pipeline.registry import get_op
from codecurate.records import make_record
from codecurate.sandbox import protections, runner

pytestmark = pytest.mark.skipif(not all(protections().get(k) for k in runner.REQUIRED),
                                reason="sandbox isolation needs root on Linux")
MBPP = Path(codecurate.__file__).parent / "data" / "benchmarks" / "mbpp.jsonl"


def mbpp_records(n=8):
    recs = []
    for line in MBPP.read_text().splitlines()[10:10 + n]:  # test split starts at task 11
        r = json.loads(line)
        recs.append(make_record(id=f"mbpp/{r['task_id']}", instruction=r["text"], response=r["code"], code=r["code"],
                                tests={"kind": "assert", "setup": r["test_setup_code"], "cases": r["test_list"],
                                       "fn_name": None}, source="mbpp", meta=r))
    return recs


def test_registered_and_keeps_passing_records():
    op = get_op("execution_filter")({"workers": 2})
    recs = mbpp_records()
    res = op.process(recs)
    assert [r["id"] for r in res.kept] == [r["id"] for r in recs]
    ex = res.kept[0]["stats"]["exec"]
    assert ex["status"] == "passed" and ex["pass_ratio"] == 1.0 and ex["results"] == [True, True, True]
    assert res.counters["exec_passed"] == len(recs)


def test_drops_wrong_code_with_reason_and_threshold():
    recs = mbpp_records(3)
    # task 11 (remove_Occ): wrong on the second assert's input only
    broken = recs[0]
    assert broken["tests"]["cases"][1].startswith('assert remove_Occ("abcda"')
    broken["code"] += ("\n_orig = remove_Occ\n"
                       "def remove_Occ(s, ch):\n    return '' if s == 'abcda' else _orig(s, ch)\n")
    res = get_op("execution_filter")({"workers": 2}).process(recs)
    dropped = {d.record["id"]: d.reason for d in res.dropped}
    assert list(dropped) == [broken["id"]]
    assert dropped[broken["id"]] == "execution: 2/3 tests passed (case 2: wrong answer)"
    assert broken["stats"]["exec"]["results"] == [True, False, True]
    # with a 0.6 threshold the same record is kept
    res = get_op("execution_filter")({"min_pass_ratio": 0.6, "workers": 1}).process(recs)
    assert len(res.kept) == 3


def test_records_without_tests_keep_or_drop():
    recs = [make_record(id="a", code="print(1)"), make_record(id="b", code="x", tests={"kind": "assert", "cases": []})]
    assert len(get_op("execution_filter")({}).process(recs).kept) == 2
    res = get_op("execution_filter")({"no_tests": "drop"}).process(recs)
    assert not res.kept and all("no tests" in d.reason for d in res.dropped)


def test_syntax_error_and_timeout_reasons():
    recs = [make_record(id="syn", code="def f(:\n  pass", tests={"kind": "assert", "cases": ["assert f() is None"]}),
            make_record(id="slow", code="def f():\n    while True: pass",
                        tests={"kind": "assert", "cases": ["assert f() is None"]})]
    res = get_op("execution_filter")({"timeout_per_test": 0.5, "timeout_total": 2}).process(recs)
    reasons = {d.record["id"]: d.reason for d in res.dropped}
    assert reasons == {"syn": "execution: 0/1 tests passed (case 1: compile error)",
                       "slow": "execution: 0/1 tests passed (case 1: timeout)"}


def test_bad_config_rejected():
    with pytest.raises(Exception, match="no_tests"):
        get_op("execution_filter")({"no_tests": "maybe"})
