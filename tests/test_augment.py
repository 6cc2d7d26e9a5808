"""spat_augment and its 12 SPAT transforms: what each must produce, adversarial programs whose behaviour
must not change (run in the sandbox, original vs variant), every variant kept on real MBPP/LeetCode records
passes their tests, and the run's accounting (in + created = out + ledger)."""

import ast
import json
import random
import re
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError

import codecurate as cc
from codecurate.ops.augment import TRANSFORMS, apply_transform, transform_name
from codecurate.ops.augment._cst import Program
from codecurate.ops.augment.spat_augment import (
    SpatAugment,
    keywords_of_tests,
    text_of_tests,
)
from codecurate.records import make_record
from codecurate.sandbox import SandboxConfig, protections, run_program, run_tests_many

DATA = Path(__file__).parent / "data"
BENCH = Path(__file__).parents[1] / "src" / "codecurate" / "data" / "benchmarks"


def _unisolated() -> bool:
    try:
        return not all(protections().values())
    except Exception:  # noqa: BLE001
        return True


UNISOLATED = _unisolated()
SANDBOX = SandboxConfig(allow_unisolated=UNISOLATED)


def op(**cfg):
    cfg.setdefault("allow_unisolated", UNISOLATED)
    return SpatAugment(cfg, seed=42)


def T(name, code, keywords=frozenset(), tests=""):
    return apply_transform(name, code, tests_text=tests, test_keywords=None if keywords is None else set(keywords))


# -- per transform: must apply, and what it must produce ------------------------------------------------
# Programs are MBPP/APPS-style (several are real MBPP solutions, task ids noted).
PRODUCE = [
    ("For2While",  # range form, continue gets the increment, negative step flips the test
     ("def odd_sum(n):\n    s = 0\n    for i in range(n):\n        if i % 2 == 0:\n            continue\n        s += i\n"
     "    return s\n"),
     ("def odd_sum(n):\n    s = 0\n    i = 0\n    while i < n:\n        if i % 2 == 0:\n            i += 1\n"
     "            continue\n        s += i\n        i += 1\n    return s\n")),
    ("For2While",
     "def down(n):\n    out = []\n    for k in range(n, 0, -2):  # evens\n        out.append(k)\n    return out\n",
     ("def down(n):\n    out = []\n    k = n\n    while k > 0:  # evens\n        out.append(k)\n        k -= 2\n"
     "    return out\n")),
    ("For2While",  # the body calls something: len(xs) is evaluated once, as range does
     "def show(xs):\n    for i in range(len(xs)):\n        print(xs[i])\n",
     "def show(xs):\n    i = 0\n    end = len(xs)\n    while i < end:\n        print(xs[i])\n        i += 1\n"),
    ("For2While",  # general iterable: StopIteration ends the loop
     "def total(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n",
     ("def total(xs):\n    t = 0\n    x_iter = iter(xs)\n    while True:\n        try:\n            x = next(x_iter)\n"
     "        except StopIteration:\n            break\n        t += x\n    return t\n")),
    ("While2For",  # <= honoured, the init folded, exactly the increment removed
     "def evens(n):\n    i = 0\n    out = []\n    while i <= n:\n        out.append(i)\n        i += 2\n    return out\n",
     "def evens(n):\n    out = []\n    for i in range(0, n + 1, 2):\n        out.append(i)\n    return out\n"),
    ("While2For",
     "def count(n):\n    j = n\n    c = 0\n    while j >= 1:\n        c = c + j\n        j = j - 1\n    return c\n",
     "def count(n):\n    c = 0\n    for j in range(n, 0, -1):\n        c = c + j\n    return c\n"),
    ("ReverseIfElse",  # MBPP 816-style
     "def sign(x):\n    if x >= 0:\n        return 'pos'\n    else:\n        return 'neg'\n",
     "def sign(x):\n    if not x >= 0:\n        return 'neg'\n    else:\n        return 'pos'\n"),
    ("ReverseIfElse",
     "def f(a, b):\n    if not (a and b):\n        r = 1\n    elif a:\n        r = 2\n    else:\n        r = 3\n    return r\n",
     ("def f(a, b):\n    if (a and b):\n        if not a:\n            r = 3\n        else:\n            r = 2\n    else:\n        r = 1\n"
     "    return r\n")),
    ("SingleIF2ConditionalExp",  # MBPP 404 (minimum)
     "def minimum(a,b):   \n  if a <= b: \n    return a \n  else: \n    return b \n", None),
    ("SingleIF2ConditionalExp",  # MBPP 672: the last elif/else pair must stay an elif
     ("def max_of_three(num1,num2,num3): \n    if (num1 >= num2) and (num1 >= num3):\n       lnum = num1\n"
     "    elif (num2 >= num1) and (num2 >= num3):\n       lnum = num2\n    else:\n       lnum = num3\n    return lnum"),
     None),
    ("SingleIF2ConditionalExp",
     "def smaller(a, b):\n    if a < b:\n        m = a\n    else:\n        m = b\n    return m\n",
     "def smaller(a, b):\n    m = a if a < b else b\n    return m\n"),
    ("ConditionalExp2SingleIF",
     "def f(x):\n    y = z = x if x > 0 else -x\n    return y + z\n",
     "def f(x):\n    if x > 0:\n        y = z = x\n    else:\n        y = z = -x\n    return y + z\n"),
    ("ConditionalExp2SingleIF",
     "def is_even(n):\n    return True if n % 2 == 0 else False\n",
     "def is_even(n):\n    if n % 2 == 0:\n        return True\n    else:\n        return False\n"),
    ("AddAssignment2EqualAssignment",
     "def f(xs):\n    t = 0\n    for x in xs:\n        t += x * 2\n    t -= 1 - 2\n    return t\n",
     "def f(xs):\n    t = 0\n    for x in xs:\n        t = t + x * 2\n    t = t - (1 - 2)\n    return t\n"),
    ("InfixExpressionDividing",
     "def area(a, b, h):\n    return (a + b) * h / 2\n",
     "def area(a, b, h):\n    temp = a + b\n    return temp * h / 2\n"),
    ("InfixExpressionDividing",
     "x = 7\nif x % 2 == 1:\n    print('odd')\n",
     "x = 7\ntemp = x % 2\nif temp == 1:\n    print('odd')\n"),
    ("IfDividing",  # the else is copied to both levels (SPAT)
     "def f(a, b):\n    if a > 0 and b > 0:\n        return 1\n    else:\n        return 2\n",
     ("def f(a, b):\n    if a > 0:\n        if b > 0:\n            return 1\n        else:\n            return 2\n    else:\n"
     "        return 2\n")),
    ("IfDividing",
     "def f(a, b):\n    if a or b:\n        return 1\n    return 0\n",
     "def f(a, b):\n    if a:\n        return 1\n    elif b:\n        return 1\n    return 0\n"),
    ("StatementsOrderRearrangement",
     "def f(xs):\n    n = xs[0]\n    res = []\n    return n, res\n",
     "def f(xs):\n    res = []\n    n = xs[0]\n    return n, res\n"),
    ("VarDeclarationMerging",
     "def f(xs):\n    lo = 0\n    hi = len(xs) - 1\n    return lo, hi\n",
     "def f(xs):\n    lo, hi = 0, len(xs) - 1\n    return lo, hi\n"),
    ("VarDeclarationDividing",
     "def f():\n    a, b = 0, 1  # fib\n    return a, b\n",
     "def f():\n    a = 0\n    b = 1  # fib\n    return a, b\n"),
]


@pytest.mark.parametrize("name,code,expected", PRODUCE, ids=[f"{p[0]}-{i}" for i, p in enumerate(PRODUCE)])
def test_transform_produces(name, code, expected):
    out, sites = T(name, code)
    if expected is None:  # must not apply
        assert sites == 0 and out == code
        return
    assert out == expected
    assert sites >= 1
    compile(out, "<t>", "exec")


def test_rename_locals_only():
    code = ("import math\n"
            "LIMIT = 10\n"
            "def hyp(a, b, *, scale=1):\n"
            "    # keep this comment\n"
            "    s = a * a + b * b\n"
            "    r = math.sqrt(s)\n"
            "    out = [r * k for k in range(LIMIT) if k < a]\n"
            "    print(len(out), sum(out), max(out, key=abs))\n"
            "    return r * scale\n")
    out, sites = T("LocalVarRenaming", code, keywords={"b"})
    new = ast.parse(out)
    f = new.body[2]
    params = [x.arg for x in f.args.args + f.args.kwonlyargs]
    assert params[1] == "b" and params[2] == "scale"  # passed by keyword: kept (scale is keyword-only)
    assert params[0] != "a" and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{7}", params[0])  # SPAT's 8-char names
    names = {n.id for n in ast.walk(f) if isinstance(n, ast.Name)}
    assert {"math", "LIMIT", "print", "len", "sum", "max", "abs", "range"} <= names  # builtins and globals kept
    assert not {"s", "r", "out"} & names and "k" in names  # locals renamed; comprehension variable is its own
    assert "# keep this comment" in out and sites == 4  # a, s, r, out
    assert out.count("def hyp(") == 1 and "key=abs" in out  # keyword argument names untouched


def test_rename_without_tests_keeps_parameters():
    code = "def f(a, b):\n    s = a + b\n    return s\n"
    out, sites = T("LocalVarRenaming", code, keywords=None)
    assert out.startswith("def f(a, b):") and "s =" not in out and sites == 1


# -- adversarial: the variant must behave exactly like the original -------------------------------------
ADVERSARIAL = {
    "aliasing_iadd": """
def f(xs):
    ys = xs
    ys += [4]
    acc = []
    acc += 'ab'
    t = 0
    for v in xs:
        t += v
    return xs, ys, acc, t
print(f([1, 2, 3]))
""",
    "swaps": """
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
def rot(x, y, z):
    x, y, z = y, z, x
    return x, y, z
def pair():
    p = 1
    q = p + 1
    p, q = q, p
    return p, q
print(fib(10), rot(1, 2, 3), pair())
""",
    "closures": """
def make():
    count = 0
    fns = []
    for i in range(3):
        fns.append(lambda: i * 10)
    def inc():
        nonlocal count
        count += 1
        return count
    inc()
    inc()
    k = 2
    gen = (x * k for x in range(3))
    k = 3
    return [g() for g in fns], count, list(gen)
print(make())
""",
    "global": """
counter = 0
def bump(k):
    global counter
    counter += k
    step = 2
    counter = counter * step
    return counter
def peek():
    return counter
for i in range(3):
    bump(i)
print(counter, peek(), i)
""",
    "generators": """
def squares(n):
    i = 0
    while i < n:
        yield i * i
        i += 1
def chain(*its):
    for it in its:
        for x in it:
            yield x
def first_neg(xs):
    for x in xs:
        if x < 0:
            return x
    else:
        return None
print(list(squares(5)), list(chain([1, 2], squares(3))), first_neg([3, -1, -2]), first_neg([]))
""",
    "continue": """
def odd_sum(n):
    s = 0
    for i in range(n):
        if i % 2 == 0:
            continue
        s += i
    return s
def down(n):
    out = []
    for i in range(n, 0, -2):
        if i == 6: continue
        out.append(i)
    return out
def w(n):
    i = 0
    res = []
    while i < n:
        if i == 2:
            i += 1
            continue
        res.append(i)
        i += 1
    return res
def last(n):
    for j in range(n):
        pass
    return j
print(odd_sum(10), down(10), w(5), last(4))
""",
    "shadowed_builtins": """
_r = range
def range(*args):
    return list(_r(*args))[::-1]
def f(n):
    out = []
    for i in range(n):
        out.append(i)
    i = 0
    while i < 3:
        out.append(i)
        i += 1
    return out
def g(list):
    total = 0
    for x in list:
        total += x
    return total
print(f(4), g([1, 2]))
""",
    "walrus": """
def f(data):
    out = []
    i = 0
    while (n := len(data)) > i:
        out.append(n)
        i += 1
    if (m := max(data)) > 2 and m < 10:
        out.append(m)
    else:
        out.append(-m)
    x = (y := 5) + 1
    z = y
    return out, x, z
print(f([1, 5, 3]))
""",
    "exceptions_and_order": """
def g(d):
    a = 0
    try:
        a = 1
        b = d['k']
    except KeyError:
        return a
    return b
def h(xs):
    try:
        p, q = 0, xs[5]
    except IndexError:
        return 'caught', p if 'p' in dir() else None
    return p, q
def fstr(v):
    w = v * 2
    return f"{w=}"
print(g({}), g({'k': 9}), h([1]), fstr(3))
""",
    "conditionals": """
def pick(a, b):
    if a > b:
        m = a
    elif a == b:
        m = 0
    else:
        m = b
    if a:
        r = s = a
    else:
        r = s = b
    lo = a if a < b else b
    x = y = 1 if a else 2
    return m, r, s, lo, x, y
print(pick(1, 2), pick(3, 3), pick(0, 5), pick(5, 1))
""",
    "mutation_visible": """
class Box:
    def __init__(self):
        self.v = 0
def f():
    b = Box()
    c = b
    b.v = 5
    w = c.v
    d = {}
    d['x'] = 1
    n = len(d)
    return w, n
def loop_len(xs):
    out = []
    for i in range(len(xs)):
        if len(xs) < 6:
            xs.append(i)
        out.append(i)
    return out
print(f(), loop_len([1, 2, 3]))
""",
}


def test_adversarial_programs_keep_their_behaviour():
    originals = {k: run_program(v, config=SANDBOX) for k, v in ADVERSARIAL.items()}
    for k, r in originals.items():
        assert r.returncode == 0, (k, r.stderr)
    variants, applied = [], {t: 0 for t in TRANSFORMS}
    for k, code in ADVERSARIAL.items():
        for t in TRANSFORMS:
            out, sites = T(t, code, keywords=set())
            compile(out, f"<{k}:{t}>", "exec")
            if sites:
                applied[t] += 1
                variants.append((k, t, out))
    tests = [{"kind": "stdio", "setup": "", "cases": [{"input": "", "output": originals[k].stdout}]}
             for k, _, _ in variants]
    outs = run_tests_many([(code, tst) for (_, _, code), tst in zip(variants, tests)], SANDBOX,
                          workers=2, stdio_compare="strict")
    broken = [(k, t) for (k, t, _), o in zip(variants, outs) if o.status != "passed"]
    assert not broken, broken
    assert all(n >= 1 for n in applied.values()), applied  # every transform was exercised
    assert len(variants) >= 35


def test_adversarial_sites_left_alone():
    c = ADVERSARIAL
    out, _ = T("AddAssignment2EqualAssignment", c["aliasing_iadd"])
    assert "ys += [4]" in out and "acc += 'ab'" in out and "t = t + v" in out
    out, _ = T("VarDeclarationDividing", c["swaps"])
    assert "a, b = b, a + b" in out and "x, y, z = y, z, x" in out and "p, q = q, p" in out
    assert "    a = 0\n    b = 1\n" in out
    out, _ = T("LocalVarRenaming", c["closures"])
    assert "nonlocal count" in out and "count = 0" in out and "lambda: i * 10" in out and "x * k" in out
    out, _ = T("For2While", c["closures"])
    assert "i_iter = iter(range(3))" in out  # i is read by the lambdas: the range form would change it
    out, _ = T("LocalVarRenaming", c["global"])
    assert "global counter" in out and "\ncounter = 0\n" in out and "    counter += " in out and "step" not in out
    out, _ = T("AddAssignment2EqualAssignment", c["global"])
    assert "counter += k" in out
    out, _ = T("While2For", c["continue"])
    assert "while i < n:" in out  # a continue skips the increment
    out, _ = T("For2While", c["continue"])
    assert "for j in range(n)" not in out and "j = next(" in out  # j is read after the loop
    out, _ = T("For2While", c["shadowed_builtins"])
    assert "i = next(i_iter)" in out and "while i < n" not in out
    out, sites = T("While2For", c["shadowed_builtins"])
    assert sites == 0
    out, _ = T("StatementsOrderRearrangement", c["exceptions_and_order"])
    assert "        a = 1\n        b = d['k']\n" in out
    out, _ = T("LocalVarRenaming", c["exceptions_and_order"])
    assert 'f"{w=}"' in out
    out, _ = T("StatementsOrderRearrangement", c["mutation_visible"])
    assert out.index("b.v = 5") < out.index("w = c.v") and out.index("d['x'] = 1") < out.index("n = len(d)")
    assert out.index("b = Box()") < out.index("c = b") < out.index("b.v = 5")
    out, _ = T("For2While", c["mutation_visible"])
    assert "end = len(xs)" in out  # the loop grows xs: range's bound is evaluated once


# -- real records: every output parses; every kept variant passes ---------------------------------------
def _records():
    mbpp = list(cc.read_records(DATA / "sanitized_mbpp_60.json"))
    leet = list(cc.read_records(DATA / "leetcode_100.json"))
    return mbpp, leet


def test_every_transform_output_parses_on_real_records():
    mbpp, leet = _records()
    n = 0
    for r in mbpp + leet:
        prog = Program(r["code"], text_of_tests(r["tests"]), keywords_of_tests(r["tests"]))
        for t, mod in TRANSFORMS.items():
            prog.reset_names()
            out, sites = mod.apply(prog, random.Random(t))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the data's own invalid escapes
                compile(out, f"<{r['id']}:{t}>", "exec")
            assert bool(sites) == (out != r["code"]), (r["id"], t)
            n += bool(sites)
    assert n > 500


def test_kept_variants_pass_and_transforms_are_valid_on_real_records():
    mbpp, leet = _records()
    rng = random.Random(0)
    sample = mbpp + rng.sample(leet, 35)
    base = run_tests_many([(r["code"], r["tests"]) for r in sample], SANDBOX, workers=2)
    passing = [r for r, o in zip(sample, base) if o.status == "passed"]
    assert len(passing) >= 80
    res = op(workers=2, timeout_per_test=10, timeout_total=30).process([dict(r) for r in passing])  # busy machines
    variants = [r for r in res.kept if r["stats"]["augment"]["transform"]]
    failed = [d for d in res.dropped if d.detail["kind"] == "failed_tests"]
    applied = len(variants) + len(failed)
    # validity: variants of passing programs that still pass / variants made
    assert applied >= 200 and len(variants) / applied >= 0.98, [d.reason for d in failed]
    by_construction = [d.reason for d in failed if TRANSFORMS[d.detail["transform"]].BY_CONSTRUCTION]
    assert not by_construction
    assert {v["stats"]["augment"]["transform"] for v in variants} >= set(TRANSFORMS) - {"While2For"}
    # independent re-run of a sample of the kept variants
    check = rng.sample(variants, 60)
    outs = run_tests_many([(v["code"], v["tests"]) for v in check], SANDBOX, workers=2)
    assert all(o.status == "passed" for o in outs), [(v["id"], o.status) for v, o in zip(check, outs)]
    for v in variants:
        assert v["stats"]["augment"]["tests"]["passed"] == v["stats"]["augment"]["tests"]["total"] > 0
        assert v["response"] == v["code"] or v["code"] in v["response"]


# -- the op: procedure, ledger, accounting ----------------------------------------------------------------
def _mbpp_rows(ids):
    rows = [json.loads(x) for x in (BENCH / "mbpp.jsonl").read_text().splitlines()]
    return [r for r in rows if r["task_id"] in ids]


def test_recipe_accounting_and_ledger(tmp_path):
    rows = _mbpp_rows({601, 602, 603, 604, 605, 606, 607, 608})
    rows[1] = dict(rows[1], code=rows[1]["code"].replace("return c ", "return c + c ", 1))  # fails 2 of 3 tests
    rows[2] = dict(rows[2], test_list=[])  # no tests: no variants (require_tests)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = cc.Recipe.from_dict({"name": "aug", "input": {"path": str(src)}, "seed": 42,
                                  "stages": [{"op": "spat_augment", "allow_unisolated": UNISOLATED}]})
    run = cc.run_recipe(recipe, output=tmp_path / "run", workers=1)
    st = run.summary["stages"][1]
    assert st["in"] == 8 and st["in"] + st["created"] == st["out"] + st["dropped"]
    out = list(run.records())
    ledger = [e for e in run.ledger() if e["stage"] == "spat_augment"]
    assert len(out) == st["out"] and len(ledger) == st["dropped"] > 0
    ids = [r["id"] for r in out]
    assert len(set(ids)) == len(ids)
    originals = {r["id"] for r in out if r["stats"]["augment"]["transform"] is None}
    assert originals == {str(r["task_id"]) for r in rows}
    for r in out:
        a = r["stats"]["augment"]
        if a["transform"]:
            assert a["parent_id"] in originals and r["id"] == f"{a['parent_id']}#aug:{a['transform']}"
            assert a["sites_changed"] >= 1
    assert not any(r["stats"]["augment"]["parent_id"] == "603" for r in out)
    broken = [e for e in ledger if e["record"]["stats"]["augment"]["parent_id"] == "602"]
    assert broken and all(re.search(r": failed \d+/3 tests \(case \d: ", e["reason"]) for e in broken)
    # written back in MBPP's own format, variants with their new code
    lines = [json.loads(x) for x in (run.output_path).read_text().splitlines()]
    assert len(lines) == len(out) and {"task_id", "code", "test_list"} <= set(lines[0])
    assert len({x["code"] for x in lines}) == len(lines)
    # shuffled, deterministic
    run2 = cc.run_recipe(recipe, output=tmp_path / "run2", workers=1)
    assert [r["id"] for r in run2.records()] == ids
    assert ids != sorted(ids, key=lambda s: (s.split("#")[0], "#" in s))


def test_duplicate_no_change_and_unparsable_variants_are_ledgered(monkeypatch):
    import codecurate.ops.augment.spat_augment as sa

    rec = make_record("r1", "", "def f(x):\n    return x + 1\n", "def f(x):\n    return x + 1\n",
                      tests={"kind": "assert", "setup": "", "cases": ["assert f(1) == 2"]})

    class Fake:
        def __init__(self, out):
            self.out, self.BY_CONSTRUCTION = out, True

        def apply(self, prog, rng):
            return self.out, 1

    fakes = {"A": Fake("def f(x):\n    return (x + 1)  # same program\n"),
             "B": Fake("def f(y):\n    return y + 1\n"), "C": Fake("def f(y):\n    return y + 1\n"),
             "D": Fake("def f(x):\n    return x +\n")}
    monkeypatch.setattr(sa, "TRANSFORMS", fakes)
    o = op()
    o.config.transforms = list(fakes)
    res = o.process([rec])
    kinds = {d.detail["transform"]: d.detail["kind"] for d in res.dropped}
    assert kinds == {"A": "no_change", "C": "duplicate", "D": "did_not_parse"}
    assert "duplicate (of r1#aug:B)" in next(d.reason for d in res.dropped if d.detail["transform"] == "C")
    assert [r["id"] for r in sorted(res.kept, key=lambda r: r["id"])] == ["r1", "r1#aug:B"]
    assert res.created == 4 and len(res.kept) + len(res.dropped) == 1 + res.created


def test_options():
    rows = _mbpp_rows({601, 611, 620})
    recs = [make_record(r["task_id"], r["text"], r["code"], r["code"],
                        tests={"kind": "assert", "setup": "", "cases": r["test_list"]}) for r in rows]
    res = op(transforms=["for_to_while", "ReverseIfElse"], max_variants=1, shuffle=False).process(
        [dict(r) for r in recs])
    got = [r for r in res.kept if r["stats"]["augment"]["transform"]]
    assert all(r["stats"]["augment"]["transform"] in ("For2While", "ReverseIfElse") for r in got)
    per = {}
    for r in got:
        per[r["stats"]["augment"]["parent_id"]] = per.get(r["stats"]["augment"]["parent_id"], 0) + 1
    assert per and max(per.values()) == 1
    assert res.kept[0]["id"] == recs[0]["id"]  # no shuffle: original first, then its variants
    # chain: one more variant from several transforms in sequence
    res = op(chain=3, transforms=["For2While", "ReverseIfElse", "LocalVarRenaming", "InfixExpressionDividing"]).process(
        [dict(r) for r in recs])
    chained = [r for r in res.kept if "+" in (r["stats"]["augment"]["transform"] or "")]
    assert chained and all(len(r["stats"]["augment"]["transform"].split("+")) >= 2 for r in chained)
    # no tests + require_tests: false: only transforms equivalent by construction, nothing run
    bare = make_record("b1", "", "def f(n):\n    i = 0\n    t = 0\n    while i < n:\n        t += i\n        i += 1\n"
                       "    return t\n", "")
    bare["code"] = bare["response"]
    res = op(require_tests=False).process([bare])
    made = {r["stats"]["augment"]["transform"] for r in res.kept} - {None}
    assert made and not made & {"While2For", "AddAssignment2EqualAssignment"}
    assert all(TRANSFORMS[t].BY_CONSTRUCTION for t in made)
    res = op().process([dict(bare)])
    assert [r["id"] for r in res.kept] == ["b1"] and res.counters["skipped.no_tests"] == 1


def test_config_errors_name_the_transform():
    with pytest.raises(ValidationError, match="unknown transform 'For2Whlie'.*For2While"):
        SpatAugment({"transforms": ["For2Whlie"]})
    with pytest.raises(ValidationError):
        SpatAugment({"min_pass_ratio": 1.5})
    assert transform_name("rename_local_variables") == "LocalVarRenaming"
    assert keywords_of_tests({"kind": "assert", "cases": ["assert f(a=1, b=2) == 3"]}) == {"a", "b"}
    assert keywords_of_tests({"kind": "assert", "cases": ["assert f(**d) == 3"]}) is None
    assert keywords_of_tests(None) is None
