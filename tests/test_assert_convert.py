"""Assert tests turned into host-judged call cases (sandbox/assert_convert.py), HumanEval/MBPP graded from
returned values, and execution_filter's ``convert_asserts``: the parser on each form and on forms it must
refuse, ``check_value`` on tricky values, right and wrong solutions through the sandbox, and hostile
programs that forge the in-process verdict but not the converted one."""

from __future__ import annotations

import ast
import collections
import copy
import hashlib
import json
import math
from pathlib import Path

import pytest

from codecurate.evaluation.benchmarks import (
    _data_file,
    load_benchmark,
    load_mbpp,
    mbpp_record,
)
from codecurate.sandbox import protections, runner
from codecurate.sandbox._driver import Digest, Opaque
from codecurate.sandbox.assert_convert import (
    check_value,
    convert_assert,
    convert_tests,
    convert_tests_with_origin,
    explain_assert,
    validate_check,
)

DATA = Path(__file__).parent / "data"
needs_sandbox = pytest.mark.skipif(not all(protections().get(k) for k in runner.REQUIRED),
                                   reason="sandbox isolation needs root on Linux")


def _args(case: dict, env: dict | None = None) -> tuple:
    """What the sandbox would call the function with (the test evaluates the trusted test text itself)."""
    return eval(case["input_expr"], dict(env or {}))


# ---------------------------------------------------------------- the parser
@pytest.mark.parametrize(("stmt", "out", "check"), [
    ("assert f([1, 2], 'a') == (1, 2)", "(1, 2)", {"op": "eq"}),
    ("assert (1, 2) == f([1, 2], 'a')", "(1, 2)", {"op": "eq"}),
    ("assert f([1, 2], 'a')==-1", "-1", {"op": "eq"}),
    ("assert f([1, 2], 'a') == {1, 2}, 'message is ignored'", "{1, 2}", {"op": "eq"}),
    ("assert f([1, 2], 'a') == (1+2j)", "1 + 2j", {"op": "eq"}),
    ("assert f([1, 2], 'a') is True", "True", {"op": "is"}),
    ("assert f([1, 2], 'a') is None", "None", {"op": "is"}),
    ("assert f([1, 2], 'a') is not None", "None", {"op": "is_not"}),
    ("assert f([1, 2], 'a')", "True", {"op": "truthy"}),
    ("assert not f([1, 2], 'a')", "False", {"op": "falsy"}),
    ("assert f([1, 2], 'a') != 3", "3", {"op": "ne"}),
    ("assert 3 < f([1, 2], 'a')", "3", {"op": "gt"}),
    ("assert f([1, 2], 'a') in ([1, 2], [2, 1])", "([1, 2], [2, 1])", {"op": "in"}),
    ("assert 'x' in f([1, 2], 'a')", "'x'", {"op": "contains"}),
    ("assert math.isclose(f([1, 2], 'a'), 3.14, rel_tol=1e-3)", "3.14", {"op": "isclose", "rel_tol": 1e-3}),
    ("assert math.isclose(3.14, f([1, 2], 'a'), abs_tol=0.01)", "3.14", {"op": "isclose", "abs_tol": 0.01}),
    ("assert abs(f([1, 2], 'a') - 3.14) < 0.001", "3.14", {"op": "abs_diff", "tol": 0.001, "cmp": "lt"}),
    ("assert 1e-3 >= abs(3.14 - f([1, 2], 'a'))", "3.14", {"op": "abs_diff", "tol": 0.001, "cmp": "le"}),
    ("assert set(f([1, 2], 'a')) == set([2, 1])", "[2, 1]", {"op": "eq", "got": [["set"]], "expected": [["set"]]}),
    ("assert sorted(f([1, 2], 'a')) == [1, 2]", "[1, 2]", {"op": "eq", "got": [["sorted"]]}),
    ("assert round(f([1, 2], 'a'), 2) == 3.14", "3.14", {"op": "eq", "got": [["round", 2]]}),
    ("assert int(f([1, 2], 'a')) == 35", "35", {"op": "eq", "got": [["int"]]}),
    ("assert len(set(f([1, 2], 'a'))) == 2", "2", {"op": "eq", "got": [["set"], ["len"]]}),
])
def test_forms(stmt, out, check):
    case = convert_assert(stmt, "f")
    assert case is not None, explain_assert(stmt, "f")
    assert case["check"] == check
    assert ast.literal_eval(case["output_expr"]) == ast.literal_eval(out)
    assert _args(case) == (([1, 2], "a"), {})
    assert json.loads(json.dumps(case)) == case  # survives JSON storage (tuples/sets as source text)
    validate_check(case["check"])
    # fn_name None: the entry function is inferred from the form
    assert convert_assert(stmt, None) == case


def test_arguments_keywords_starred_and_names():
    case = convert_assert("assert f(1, *xs, k=(2,), **kw) == 0", "f")
    assert _args(case, {"xs": [5, 6], "kw": {"z": 1}}) == ((1, 5, 6), {"k": (2,), "z": 1})
    # names the program or the setup defines (MBPP's Pair(...), root) are evaluated in the sandbox
    case = convert_assert("assert max_chain_length([Pair(5, 24), Pair(15, 25)], 2) == 3", None)
    assert case["input_expr"] == "(([Pair(5, 24), Pair(15, 25)], 2), {})" and case["output_expr"] == "3"
    assert convert_assert("assert (max_height(root)) == 3", None)["input_expr"] == "((root,), {})"
    # a method entry point
    case = convert_assert("assert Solution().twoSum(nums=[2, 7], target=9) == [0, 1]", "Solution().twoSum")
    assert _args(case) == ((), {"nums": [2, 7], "target": 9})


def test_non_literal_expected_needs_a_reference():
    stmt = 'assert tuple_size(("A", 1)) == sys.getsizeof(("A", 1))'  # Mbpp/596
    case = convert_assert(stmt, None)
    assert case == {"input_expr": "((('A', 1),), {})", "output": None, "check": {"op": "eq"}}
    assert convert_assert(stmt, None, allow_reference=False) is None
    assert "no reference" in explain_assert(stmt, None, allow_reference=False)
    # only the plain == form may take its expected value from the reference
    assert convert_assert("assert f(1) != sys.maxsize", "f") is None
    assert convert_assert("assert sorted(f(1)) == sorted(g(2))", "f") is None
    assert convert_assert("assert f(1) == helper(2)", "f") is None  # a program function, not the reference's f


@pytest.mark.parametrize("stmt", [
    "assert f(1) == f(2)",  # two calls
    "assert f(f(1)) == 2",
    "assert f(1) == 2 and f(2) == 3",
    "assert list(map(f, [1])) == [2]",  # the entry function used as a value
    "assert f(xs.pop()) == 1",  # side effects in the arguments
    "assert f(y := 3) == 3",
    "assert f(print(1)) == 3",
    "assert f(1) == 2 == 3",  # chained
    "assert f(1) is 5",  # identity with a non-singleton
    "assert g(1) == 2",  # another function
    "x = 1\nassert f(x) == 1",  # more than one statement
    "check(f)",  # HumanEval's check(candidate)
    "assert f(1) ==",  # does not parse
    "assert round(f(1), k) == 2",  # non-literal digits
    "assert math.isclose(f(1), 2, rel_tol=tol)",
    "assert abs(f(1) - 2) < eps",
    "assert abs(f(1) - 2) > 0.1",
    "assert isinstance(f(1), int)",
])
def test_refused_forms(stmt):
    assert convert_assert(stmt, "f") is None
    assert explain_assert(stmt, "f")
    if stmt not in ("assert g(1) == 2", "assert f(1) ==") and not stmt.startswith(("x = 1", "check")):
        assert convert_assert(stmt, None) is None, stmt  # nor with the entry function inferred


def test_inferred_entry_function():
    assert convert_assert("assert sum(10, 15) == 6", None)["input_expr"] == "((10, 15), {})"  # Mbpp/126's own sum
    assert convert_assert("assert isinstance(f(1), int)", None) is None  # not isinstance as the entry function
    assert convert_assert("assert print(f(1)) is None", None) is None
    assert convert_assert("assert sorted([2, 1]) == f(1)", None) is None
    assert convert_assert("assert sorted([2, 1]) == f(1)", "f")["output_expr"] == "[2, 1]"


def test_convert_tests_partial_and_fn_name():
    tests = {"kind": "assert", "setup": "import math", "fn_name": None,
             "cases": ["assert add(1, 2) == 3", "assert add(1, 2) == add(2, 1)", "assert add(0, 0) == 0",
                       "assert other(1) == 1"]}
    call, failed = convert_tests(tests)
    assert failed == [1, 3]
    assert call["kind"] == "call" and call["fn_name"] == "add" and call["setup"] == "import math"
    assert [c["output_expr"] for c in call["cases"]] == ["3", "0"]
    with pytest.raises(ValueError):
        convert_tests({"kind": "stdio", "cases": []})


LEETCODE_SCRIPT = """from typing import List

def check(candidate):
    assert candidate(nums = [2,7,11,15], target = 9) == [0,1]
    assert candidate(nums = [3,3], target = 6) == [0,1]


check(Solution().twoSum)"""


def test_check_candidate_harnesses_expand():
    call, origin, failed = convert_tests_with_origin(
        {"kind": "assert", "setup": "", "fn_name": None, "cases": [LEETCODE_SCRIPT, "assert 1 == 1"],
         "prelude": "import collections"})
    assert failed == [1] and origin == [0, 0] and call["fn_name"] == "Solution().twoSum"
    assert call["setup"] == "from typing import List" and call["prelude"] == "import collections"
    assert _args(call["cases"][1]) == ((), {"nums": [3, 3], "target": 6})
    # HumanEval as formats.humaneval writes it: check() lives in the setup, which the call tests drop
    setup = "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n    assert not candidate(0)\n"
    call, origin, failed = convert_tests_with_origin(
        {"kind": "assert", "setup": setup, "fn_name": "inc", "cases": ["check(inc)"]})
    assert not failed and origin == [0, 0] and call["setup"] == "METADATA = {}"
    assert [c["check"]["op"] for c in call["cases"]] == ["eq", "falsy"]
    loop = "def check(candidate):\n    for x in range(3):\n        assert candidate(x) == x + 1\n"
    assert convert_tests({"kind": "assert", "setup": loop, "fn_name": "inc", "cases": ["check(inc)"]})[1] == [0]
    helper = "def helper():\n    return 1\n\n" + LEETCODE_SCRIPT  # other code around the harness: refused
    assert convert_tests({"kind": "assert", "setup": "", "cases": [helper]})[1] == [0]


def test_all_mbpp_tasks_convert():
    """Every one of MBPP's 974 tasks converts (2,916 plain == literal asserts, 3 with int(...) around the call,
    3 whose expected side is sys.getsizeof(...) and comes from the reference)."""
    recs = load_mbpp(range(1, 975))
    assert len(recs) == 974 and all(r["tests"]["kind"] == "call" for r in recs)
    ops = collections.Counter((json.dumps(c["check"]), "output" in c) for r in recs for c in r["tests"]["cases"])
    assert ops == {('{"op": "eq"}', False): 2916, ('{"op": "eq", "got": [["int"]]}', False): 3,
                   ('{"op": "eq"}', True): 3}
    assert sum(len(r["meta"]["test_list"]) for r in recs) == 2922


# ---------------------------------------------------------------- check_value
def test_check_value_python_equality():
    eq = {"op": "eq"}
    assert check_value(1, 1.0, eq) and check_value(True, 1, eq) and check_value(1.0, True, eq)
    assert not check_value((1, 2), [1, 2], eq) and not check_value([1, 2], (1, 2), eq)
    assert not check_value(float("nan"), float("nan"), eq)
    assert check_value({2, 1}, {1, 2}, eq) and not check_value({1, 2}, [1, 2], eq)
    assert check_value(collections.Counter(a=1), {"a": 1}, eq)
    assert not check_value("1", 1, eq)
    assert check_value(0.1 + 0.2, 0.30000000000000004, eq) and not check_value(0.1 + 0.2, 0.3, eq)


def test_check_value_identity_truth_and_tolerances():
    assert check_value(True, True, {"op": "is"}) and not check_value(1, True, {"op": "is"})
    assert check_value(None, None, {"op": "is"}) and not check_value(0, None, {"op": "is"})
    assert not check_value(5, 5, {"op": "is"})  # only singletons
    assert check_value([0], True, {"op": "truthy"}) and not check_value([], True, {"op": "truthy"})
    assert check_value(0.0, False, {"op": "falsy"})
    assert check_value(3.1405, 3.14, {"op": "abs_diff", "tol": 0.001, "cmp": "lt"})
    assert not check_value(3.2, 3.14, {"op": "abs_diff", "tol": 0.001, "cmp": "lt"})
    assert not check_value("3.14", 3.14, {"op": "abs_diff", "tol": 0.001, "cmp": "lt"})
    assert check_value(100.0001, 100, {"op": "isclose", "rel_tol": 1e-5})
    assert not check_value(float("nan"), float("nan"), {"op": "isclose"})
    assert not check_value([1.0], [1.0], {"op": "isclose"})
    assert check_value([3, 1, 2], [2, 1, 3], {"op": "eq", "got": [["sorted"]], "expected": [["sorted"]]})
    assert not check_value([3, "a"], [3, "a"], {"op": "eq", "got": [["sorted"]]})  # TypeError -> False
    assert check_value(3.14159, 3.14, {"op": "eq", "got": [["round", 2]]})
    assert check_value("35", 35, {"op": "eq", "got": [["int"]]})  # int("35") == 35, as in Python
    assert check_value([1, 2], [[1, 2], [2, 1]], {"op": "in"}) and not check_value((1, 2), [[1, 2]], {"op": "in"})


def test_check_value_untransportable_values_and_bad_specs():
    op = Opaque("<object at 0x1>", "AlwaysEqual")
    for check in ({"op": "eq"}, {"op": "ne"}, {"op": "truthy"}, {"op": "falsy"}, {"op": "lt"}, {"op": "in"},
                  {"op": "contains"}, {"op": "isclose"}, {"op": "abs_diff", "tol": 1, "cmp": "lt"},
                  {"op": "eq", "got": [["set"]]}, {"op": "eq", "got": [["len"]]}):
        assert not check_value(op, 1, check), check
        if check["op"] != "truthy" and check.get("got") != [["len"]]:  # a list holding one object is truthy, len 1
            assert not check_value([op], [1], check), check
    assert not check_value(op, op, {"op": "eq"})
    assert check_value(op, None, {"op": "is_not"})  # the program did return something
    d = Digest("ab" * 32, "list")
    assert check_value(d, Digest("ab" * 32, "list"), {"op": "eq"}) and not check_value(d, [1], {"op": "eq"})
    assert check_value(d, True, {"op": "truthy"}) and not check_value(d, 1, {"op": "ne"})
    assert not check_value(1, 1, None) and not check_value(1, 1, {"op": "exec"})
    assert not check_value(1, 1, {"op": "eq", "got": [["eval"]]})
    assert not check_value(1.5, 1.5, {"op": "eq", "got": [["round", "x"]]})
    np = pytest.importorskip("numpy")
    assert not check_value(np.array([1, 2]), [1, 2], {"op": "eq"})  # ambiguous truth value -> False, no raise
    with pytest.raises(ValueError):
        validate_check({"op": "exec"})
    with pytest.raises(ValueError):
        validate_check({"op": "eq", "got": [["__import__"]]})


# ---------------------------------------------------------------- benchmarks
def test_benchmark_records_grading_modes():
    he = load_benchmark("humaneval")
    r = he[0]
    assert r["tests"]["kind"] == "call" and r["tests"]["fn_name"] == "has_close_elements"
    assert all(c["output"] is None for c in r["tests"]["cases"]) and len(r["tests"]["cases"]) == r["meta"]["n_base_inputs"]
    assert "def has_close_elements" in r["meta"]["reference_code"] and r["meta"]["test"].startswith("\n\nMETADATA")
    assert {x["id"]: x["tests"].get("oracle") for x in he}["HumanEval/32"] == "poly_root"
    assert load_benchmark("humaneval-assert")[0]["tests"]["cases"] == ["check(has_close_elements)"]
    mb = load_benchmark("mbpp")
    assert len(mb) == 500 and all(x["tests"]["kind"] == "call" for x in mb)
    r = mb[0]
    assert r["meta"]["test_list"][0] in r["instruction"] and r["meta"]["grading"] == "call"
    assert r["meta"]["reference_code"] == r["code"] and r["tests"]["fn_name"] == "remove_Occ"
    assert load_benchmark("mbpp-assert")[0]["tests"]["cases"] == r["meta"]["test_list"]


def test_mbpp_fallbacks_when_an_assert_does_not_convert():
    with open(_data_file("mbpp.jsonl")) as f:
        row = next(r for r in map(json.loads, f) if r["task_id"] == 12)
    odd = dict(row, test_list=row["test_list"][:2] + ["assert sort_matrix([[1]]) == sort_matrix([[1]])"])
    r = mbpp_record(odd)  # Mbpp/12 is in MBPP+: its base inputs, its canonical solution as reference
    assert r["meta"]["grading"] == "call (mbpp+ base inputs)" and r["meta"]["unconverted_tests"] == [2]
    assert r["tests"]["kind"] == "call" and all(c["output"] is None for c in r["tests"]["cases"])
    r = mbpp_record(dict(odd, task_id=9999))
    assert r["meta"]["grading"] == "assert (not convertible)" and r["tests"]["kind"] == "assert"


# ---------------------------------------------------------------- through the sandbox
def _job(rec, code):
    return code, rec["tests"], rec["meta"].get("reference_code")


ALWAYS_EQUAL = """
class _Any:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    __hash__ = object.__hash__
"""

# finds the expected value of the running assert in its callers' frames or in gc-tracked objects, by hash
# (so the program itself holds no copy of it), and returns it
SCANNER = """
import gc, hashlib, sys
WANT = {WANT!r}
def _seen():
    f = sys._getframe(2)
    while f is not None:
        yield from f.f_code.co_consts
        yield from f.f_locals.values()
        f = f.f_back
    for o in gc.get_objects():
        yield o
        if isinstance(o, dict):
            yield from o.values()
        elif isinstance(o, (list, tuple)):
            yield from o
def _steal():
    for o in _seen():
        try:
            if hashlib.sha256(repr(o).encode()).hexdigest() in WANT:
                return o
        except Exception:
            pass
    return None
"""


@needs_sandbox
def test_right_wrong_and_hostile_solutions():
    from codecurate.sandbox import run_tests_many

    he = {r["id"]: r for r in load_benchmark("humaneval")}
    he_assert = {r["id"]: r for r in load_benchmark("humaneval-assert", limit=1)}
    mb = {r["id"]: r for r in load_mbpp([2, 11, 126, 246, 367, 596, 601, 912])}
    mb_assert = {r["id"]: r for r in load_mbpp([11], mode="assert")}
    assert mb["Mbpp/596"]["tests"]["cases"][0]["output"] is None  # expected from the reference
    want = {hashlib.sha256(repr(v).encode()).hexdigest() for v in ("heo", "bcd", "H")}
    scanner = SCANNER.format(WANT=sorted(want)) + "def remove_Occ(s, ch):\n    return _steal()\n"
    str_sub = "class S(str):\n    def __eq__(self, o): return True\n    __hash__ = str.__hash__\n" \
              "def remove_Occ(s, ch):\n    return S('')\n"
    prompt0 = he["HumanEval/0"]["meta"]["prompt"]
    cases = [  # (record, code, expected status)
        *[(r, r["code"], "passed") for r in mb.values()],
        (he["HumanEval/0"], he["HumanEval/0"]["code"], "passed"),
        (he["HumanEval/32"], he["HumanEval/32"]["code"], "passed"),
        (mb["Mbpp/11"], "def remove_Occ(s, ch):\n    return s.strip(ch)\n", "failed"),
        (mb["Mbpp/2"], "def similar_elements(a, b):\n    return sorted(set(a) & set(b))\n", "failed"),  # list, not tuple
        (mb["Mbpp/596"], "def tuple_size(t):\n    return len(t)\n", "failed"),
        (mb["Mbpp/912"], "def lobb_num(n, m):\n    return 34\n", "failed"),
        (he["HumanEval/0"], prompt0 + "    return False\n", "failed"),
        # hostile: forge the in-process verdict...
        (he_assert["HumanEval/0"], ALWAYS_EQUAL + prompt0 + "    return _Any()\n", "passed"),
        (mb_assert["Mbpp/11"], scanner, "passed"),
        (mb_assert["Mbpp/11"], str_sub, "passed"),
        # ...but not the converted one
        (he["HumanEval/0"], ALWAYS_EQUAL + prompt0 + "    return _Any()\n", "failed"),
        (mb["Mbpp/11"], scanner, "failed"),
        (mb["Mbpp/11"], str_sub, "failed"),
    ]
    outs = run_tests_many([_job(r, code) for r, code, _ in cases], workers=2)
    got = [(r["id"], o.status) for (r, _, _), o in zip(cases, outs)]
    assert got == [(r["id"], want) for r, _, want in cases], [
        (r["id"], o.status, o.error, [p for p in o.per_case if p["status"] != "passed"][:1])
        for (r, _, w), o in zip(cases, outs) if o.status != w]
    assert outs[len(mb) + 2].results == [False, True, True]  # strip(): only "hello" -> "heo" is wrong
    assert all(r is False for r in outs[-1].results + outs[-2].results)


# reads the candidate process's own memory for the JSON the sandbox driver handled before forking it
MEMORY_SCANNER = r'''
import ctypes, re
def _values():
    out = []
    try:
        maps = open("/proc/self/maps").read().splitlines()
    except OSError:
        return out  # cannot look: nothing found
    for line in maps:
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if "rw" in parts[1] and hi - lo <= 64 << 20:
            try:
                buf = ctypes.string_at(lo, hi - lo)
            except Exception:
                continue
            # the reference's report for strlen('', 'x', 'asdasnakj'): values 0, 1, 9 in that order
            out += re.findall(rb'"v' + rb'alue": 0[,}].{0,400}?"v' + rb'alue": 1[,}].{0,400}?"v' + rb'alue": 9[,}]',
                              buf, re.S)
    return out
FOUND = _values()
def strlen(string):
    return -1 if FOUND else len(string)
'''


@needs_sandbox
def test_reference_outputs_do_not_reach_the_candidate_process():
    """HumanEval/23 (strlen) base outputs are 0, 1 and 9, computed by the reference in the sandbox; a
    candidate that finds "value": 9 in its own memory answers -1 everywhere and fails."""
    from codecurate.sandbox import run_tests

    runner.shutdown()  # no idle driver that ran another candidate for HumanEval/23 earlier in this process
    rec = {r["id"]: r for r in load_benchmark("humaneval")}["HumanEval/23"]
    out = run_tests(MEMORY_SCANNER, rec["tests"], reference_code=rec["meta"]["reference_code"])
    assert out.status == "passed", out.results


@needs_sandbox
def test_canonical_solutions_pass_and_conversion_adds_no_failure():
    """HumanEval 164/164 through call grading (HumanEval+ base inputs, HumanEval+ reference); the MBPP test
    split converted gives the same per-assert results as the in-process harness on every task. Mbpp/123's
    own solution needs ~4 s for amicable_numbers_sum(9999): it may time out under either harness on a loaded
    machine (the only canonical MBPP failure measured)."""
    from codecurate.sandbox import run_tests_many

    he = load_benchmark("humaneval")
    outs = run_tests_many([_job(r, r["code"]) for r in he], workers=2)
    assert [(r["id"], o.status) for r, o in zip(he, outs) if o.status != "passed"] == []
    mb, mb_assert = load_benchmark("mbpp"), load_benchmark("mbpp-assert")
    conv = run_tests_many([_job(r, r["code"]) for r in mb], workers=2)
    orig = run_tests_many([(r["code"], r["tests"]) for r in mb_assert], workers=2)
    slow = {"Mbpp/123"}
    diff = [(r["id"], a.results, b.results) for r, a, b in zip(mb, conv, orig)
            if a.results != b.results and not (r["id"] in slow and "timeout" in (a.status, b.status))]
    assert diff == []
    assert {r["id"] for r, o in zip(mb, conv) if o.status != "passed"} <= slow


# ---------------------------------------------------------------- execution_filter
@needs_sandbox
def test_execution_filter_convert_asserts():
    from codecurate.pipeline.registry import get_op
    from codecurate.records import make_record

    def rec(id_, code, cases):
        return make_record(id=id_, code=code, tests={"kind": "assert", "setup": "import sys", "fn_name": None,
                                                     "cases": cases})

    good = "def tsize(t):\n    return sys.getsizeof(t)\n"
    cases = ["assert tsize((1, 2)) == sys.getsizeof((1, 2))",  # not literal: stays in-process
             "assert tsize(()) is not None", "assert tsize((1,)) > 0", "assert tsize((1,))"]
    forged = ALWAYS_EQUAL + "def tsize(t):\n    return _Any()\n"
    literal = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]
    recs = [rec("mixed", good, cases), rec("forged", forged, ["assert tsize(()) == 8", "assert tsize((1,)) == 9"]),
            rec("literal", "def add(a, b):\n    return a + b\n", literal),
            make_record(id="stdio", code="print(int(input()) + 1)",
                        tests={"kind": "stdio", "cases": [{"input": "1", "output": "2"}]})]
    plain = get_op("execution_filter")({"workers": 2}).process(copy.deepcopy(recs))
    assert sorted(r["id"] for r in plain.kept) == ["forged", "literal", "mixed", "stdio"]  # forged passes in-process
    res = get_op("execution_filter")({"workers": 2, "convert_asserts": True}).process(recs)
    assert sorted(r["id"] for r in res.kept) == ["literal", "mixed", "stdio"]
    ex = {r["id"]: r["stats"]["exec"] for r in recs}
    assert ex["mixed"]["results"] == [True] * 4 and ex["mixed"]["unforgeable"] == 3
    assert ex["forged"]["results"] == [False, False] and ex["forged"]["unforgeable"] == 2
    assert ex["literal"]["unforgeable"] == 2 and ex["stdio"]["unforgeable"] == 1
    assert res.counters["exec_cases_unforgeable"] == 8 and res.counters["exec_cases_in_process"] == 1
    assert math.isclose(ex["mixed"]["pass_ratio"], 1.0)


@needs_sandbox
def test_execution_filter_converts_leetcode_harnesses():
    """LeetCode records (formats.leetcode: one check(candidate) script per record, prelude of judge helpers):
    the same verdicts with and without conversion on real records, but a Solution returning an object that
    equals everything passes only the in-process harness."""
    from codecurate.formats import get_format
    from codecurate.pipeline.registry import get_op

    lc = get_format("leetcode")
    with open(DATA / "leetcode_100.json") as f:
        recs = [lc.to_record(r, i) for i, r in enumerate(json.load(f)[:6])]
    forged = copy.deepcopy(recs[0])
    forged["id"] = "forged"
    forged["code"] = ALWAYS_EQUAL + "class Solution:\n    def twoSum(self, nums, target):\n        return _Any()\n"
    recs.append(forged)
    plain = get_op("execution_filter")({"workers": 2}).process(copy.deepcopy(recs))
    conv = get_op("execution_filter")({"workers": 2, "convert_asserts": True}).process(recs)
    assert {r["id"] for r in plain.kept} - {r["id"] for r in conv.kept} == {"forged"}
    assert conv.counters["exec_cases_unforgeable"] >= 5  # harnesses with is_same_list(...) stay in-process
    assert forged["stats"]["exec"]["results"] == [False] and forged["stats"]["exec"]["unforgeable"] == 1
