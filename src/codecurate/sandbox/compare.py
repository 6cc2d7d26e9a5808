"""Output comparison, done on the host (expected outputs never enter the sandbox).

- ``apps_stdio_equal`` (``stdio_equal`` mode ``"apps"``): APPS's cascade (hendrycks/apps eval/testing_util.py,
  standard-input branch of run_test), in its order with its quirks: stripped text, line lists with per-line
  strip and empty lines dropped, float lines with ``np.allclose``, then per-line whitespace token *sets*
  (order-insensitive within and across lines) and the same sets with numbers rounded to 3 decimals. The last
  two steps are APPS's known leniency; ``mode="strict"`` compares token by token per line.
- ``call_equal_apps``: APPS's call-based rule (dict keys back to ints; tuples become lists; ``output ==
  expected`` or ``output == expected[0]``); ``call_equal_lenient`` for call cases outside the APPS harness.
- ``evalplus_equal``: EvalPlus rule (evalplus/eval/__init__.py ``unsafe_execute``/``is_floats``): exact
  ``==``; else, when the task has an ``atol`` or the expected value is a float / list of floats (atol then
  forced to 1e-6), same type, same length and ``np.allclose(out, exp, rtol=1e-7, atol)``. Plus its special
  oracles (evalplus/eval/_special_oracle.py), named in ``tests["oracle"]``:
  ``output_not_none`` (regex-match tasks: only "returned something" is compared), ``set_eq`` (list order is
  arbitrary: ``set(out) == set(exp)``), ``poly_root`` (HumanEval/32 ``find_zero``: any x with
  ``|poly(xs, x)| <= atol``), ``surface_area`` (Mbpp/581) and ``digit_distance`` (Mbpp/558): a second
  accepted reading of the task. One deviation: evalplus lets a forced atol of 1e-6 stick to the remaining
  inputs of the task (its loop reassigns ``atol``); we apply it per input.
"""

from __future__ import annotations

import math
from typing import Any

from codecurate.sandbox._driver import no_hash_flood


def _strip_eq(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _floats(xs) -> list[float] | None:
    try:
        return [float(x) for x in xs]
    except (TypeError, ValueError):
        return None


def _allclose(a: list[float], b: list[float], rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    # np.allclose semantics without importing numpy for every comparison
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y):
            return False
        if math.isinf(x) or math.isinf(y):
            if x != y:
                return False
            continue
        if abs(x - y) > atol + rtol * abs(y):
            return False
    return True


def stdio_equal(output: str, expected: Any, mode: str = "apps") -> bool:
    """Does a program's stdout ``output`` match ``expected`` (a string, or a list of lines)? ``mode``:
    ``"apps"`` (APPS's cascade, ``apps_stdio_equal``) or ``"strict"`` (token-by-token per line, trailing blank
    lines ignored)."""
    if mode == "apps":
        return apps_stdio_equal(output, expected)
    if mode != "strict":
        raise ValueError(f"unknown stdio comparison mode {mode!r}; valid: 'apps', 'strict', 'lcb'")
    if not isinstance(expected, str):
        expected = "\n".join(map(str, expected)) if isinstance(expected, list) else str(expected)

    def norm(s: str) -> list[list[str]]:
        rows = [ln.split() for ln in s.splitlines()]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    return norm(output) == norm(expected)


def apps_stdio_equal(output_text: str, expected: Any) -> bool:
    """APPS's comparison for a standard-input test that ran to its end (hendrycks/apps eval/testing_util.py,
    ``run_test`` and ``custom_compare_``), step by step in APPS's order: ``output`` is the captured stdout's
    ``splitlines()``; the expected output is joined with newlines when it is a list. Its quirks are kept: an
    expected line of only whitespace becomes an empty token set that no output line matches; ``output ==
    [expected]``-style comparisons that can never hold are skipped (they cannot change the verdict)."""
    output = output_text.splitlines()
    exp = "\n".join(map(str, expected)) if isinstance(expected, list) else str(expected)
    # custom_compare_: the joined lines (raw, then each stripped) against the expected text, both stripped
    if "\n".join(output).strip() == exp.strip() or "\n".join(o.strip() for o in output).strip() == exp.strip():
        return True
    if output == [exp]:
        return True
    # "try one more time without \n": expected lines, empty ones dropped, each stripped
    exp_lines = [x.strip() for x in exp.split("\n") if x]
    if output == exp_lines:
        return True
    output = [x for x in output if x]  # empty lines dropped (whitespace-only lines stay)
    if output == exp_lines:
        return True
    out_f, exp_f = _floats(output), _floats(exp_lines)
    if out_f is not None and exp_f is not None and len(out_f) == len(exp_f) and _allclose(out_f, exp_f):
        return True
    # token sets per line (expected: every line, even one left empty by the strip; output: non-empty lines)
    exp_sets = [set(x.split()) for x in exp_lines]
    out_sets = [set(t) for t in (x.split() for x in output) if t]
    same = {frozenset(s) for s in out_sets} == {frozenset(s) for s in exp_sets}
    try:
        out_r = [frozenset(round(float(t), 3) for t in s) for s in out_sets]
        exp_r = [frozenset(round(float(t), 3) for t in s) for s in exp_sets]
        no_hash_flood(out_r)  # float hashes are predictable: lines built to collide would make set() quadratic
        same = same or set(out_r) == set(exp_r)
    except (TypeError, ValueError, OverflowError):
        pass
    return same


def _tuples_to_lists(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_tuples_to_lists(x) for x in v]
    if isinstance(v, list):
        return [_tuples_to_lists(x) for x in v]
    return v


def _safe_eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. comparing incomparable decoded values
        return False


def call_equal_apps(output: Any, expected: Any) -> bool:
    """APPS's call-based rule (``run_test``): an expected dict (or a list whose first item is a dict) gets its
    keys turned back into ints and is wrapped in a list; a tuple output becomes a list; then ``output ==
    expected``, or ``output == expected[0]`` (APPS wraps outputs in a list), or, when the output's first
    item is a tuple, ``[list(x) for x in output] == expected[0]``."""
    exp = expected
    try:
        if isinstance(exp, dict):
            exp = [{int(k): v for k, v in exp.items()}]
    except (TypeError, ValueError):
        pass
    try:
        if isinstance(exp[0], dict):
            exp = [{int(k): v for k, v in exp[0].items()}]
    except (TypeError, ValueError, IndexError, KeyError):
        pass
    out = list(output) if isinstance(output, tuple) else output
    ok = _safe_eq(out, exp)
    if isinstance(exp, list) and exp:
        ok = ok or _safe_eq(out, exp[0])
    try:
        if isinstance(out[0], tuple):
            ok = ok or _safe_eq([list(x) for x in out], exp[0])
    except Exception:  # noqa: BLE001 - APPS: any failure here leaves the verdict as it is
        pass
    return bool(ok)


def call_equal_lenient(output: Any, expected: Any, atol: float = 0.0) -> bool:
    """Call cases outside the APPS harness (LeetCode-style records, generated tests): ``output == expected``
    or ``== expected[0]``, tuples turned into lists at every depth, and with ``atol`` EvalPlus's float rule."""
    out = list(output) if isinstance(output, tuple) else output
    if _safe_eq(out, expected):
        return True
    if isinstance(expected, list) and expected and _safe_eq(out, expected[0]):
        return True
    if _safe_eq(_tuples_to_lists(out), expected):
        return True
    if atol:
        return call_equal_evalplus(output, expected, atol)
    return False


def _is_floats(x: Any) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def _flat_floats(x: Any) -> list[float] | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return [float(x)]
    if isinstance(x, (list, tuple)):
        out: list[float] = []
        for i in x:
            f = _flat_floats(i)
            if f is None:
                return None
            out += f
        return out
    return None


EVALPLUS_ORACLES = ("output_not_none", "set_eq", "poly_root", "surface_area", "digit_distance")


def _poly(xs: list, x: float) -> float:
    """evalplus' HumanEval/32 oracle: xs[0] + xs[1] * x + ... + xs[n] * x^n, with ``math.pow``."""
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def _surface_area(base_edge: float, height: float) -> int:
    """Mbpp/581's second reading (evalplus): ``height`` is the pyramid's perpendicular height."""
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant) / 2)


def _digit_distance(a: int, b: int) -> int:
    """Mbpp/558's second reading (evalplus): pad the shorter number with leading zeros."""
    x, y = str(a), str(b)
    w = max(len(x), len(y))
    return sum(abs(int(p) - int(q)) for p, q in zip(x.zfill(w), y.zfill(w)))


def _evalplus_close(out: Any, exp: Any, atol: float) -> bool:
    """evalplus: ``type(out) == type(exp)``, equal lengths for sequences, ``np.allclose(rtol=1e-7, atol)``."""
    if type(out) is not type(exp):
        return False
    if isinstance(exp, (list, tuple)) and len(out) != len(exp):
        return False
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        a, b = _flat_floats(out), _flat_floats(exp)
        return a is not None and b is not None and _allclose(a, b, rtol=1e-7, atol=atol)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(np.allclose(out, exp, rtol=1e-07, atol=atol))


def evalplus_equal(output: Any, expected: Any, atol: float = 0.0, oracle: str | None = None,
                   args: list | None = None) -> bool:
    """One EvalPlus input: does ``output`` pass against ``expected`` (the reference's output; for
    ``output_not_none`` the reference's ``output is not None``)? ``args``: the input, for oracles that
    need it. Any exception while comparing is a failure, as in evalplus. Unknown oracles are refused
    earlier, by ``runner._validate_tests``."""
    args = args or []  # without the input, an oracle that needs it fails below (IndexError/TypeError)
    try:
        if oracle == "poly_root":  # expected is not looked at: any root passes
            return abs(_poly(args[0], output)) <= atol
        exact = _safe_eq(output, expected)
        if oracle == "set_eq":
            no_hash_flood(output)  # a list of colliding ints would make set() quadratic on the host
            exact = set(output) == set(expected)
        elif oracle == "output_not_none":
            exact = output == expected if isinstance(output, bool) else expected == (output is not None)
        elif oracle == "surface_area":
            exact = exact or abs(output - _surface_area(*args)) <= atol
        elif oracle == "digit_distance":
            exact = exact or output == _digit_distance(*args)
        if atol == 0 and _is_floats(expected):
            atol = 1e-6  # evalplus: "enforce atol for float comparison"
        if not exact and atol != 0:
            return _evalplus_close(output, expected, atol)
        return bool(exact)
    except Exception:  # noqa: BLE001 - evalplus counts any exception in the check as a failed input
        return False


def call_equal_evalplus(output: Any, expected: Any, atol: float = 0.0) -> bool:
    """``evalplus_equal`` without a special oracle."""
    return evalplus_equal(output, expected, atol)


# -- LiveCodeBench (LiveCodeBench/LiveCodeBench@28fef95 lcb_runner/evaluation/testing_util.py) ------------
def _lcb_lines(text: str) -> list[str]:
    """LCB's ``get_stripped_lines``: the whole text stripped, split on "\\n", each line stripped (so empty
    lines inside the output count, trailing/leading blank lines do not)."""
    return [line.strip() for line in text.strip().split("\n")]


def _lcb_decimals(line: str) -> list | None:
    from decimal import Decimal

    try:
        return [Decimal(tok) for tok in line.split()]
    except Exception:  # noqa: BLE001 - LCB: any conversion failure means "not numbers"
        return None


def lcb_stdio_equal(got_stdout: str, expected: str) -> bool:
    """LiveCodeBench's stdin/stdout verdict for one test (``grade_stdio``), re-implemented:

    1. both texts are stripped and split into lines on "\\n", each line stripped;
    2. the line counts must be equal;
    3. line by line: equal strings pass; otherwise both lines are split on whitespace and every token is
       converted with ``decimal.Decimal`` (any token that does not convert fails the test), and the two lists
       of Decimals must be equal: numerically equal values ("1.0" == "1", "1e3" == "1000"), exact, no
       tolerance (LCB's comment: np.isclose would accept 50000000000000000 vs 50000000000000001); NaN never
       equals anything; the number of tokens must match.
    """
    if not isinstance(expected, str):
        expected = "\n".join(map(str, expected)) if isinstance(expected, list) else str(expected)
    got, exp = _lcb_lines(got_stdout), _lcb_lines(expected)
    if len(got) != len(exp):
        return False
    for g, e in zip(got, exp):
        if g == e:
            continue
        dg, de = _lcb_decimals(g), _lcb_decimals(e)
        if dg is None or de is None:
            return False
        try:
            if dg != de:
                return False
        except Exception:  # noqa: BLE001 - e.g. a signaling NaN: LCB's comparison raises, the test fails
            return False
    return True


def lcb_call_equal(got: Any, expected: Any) -> bool:
    """LiveCodeBench's functional-test verdict (``grade_call_based``): a returned tuple becomes a list (top
    level only: "ground truth sequences are not tuples"), then Python ``==`` against the JSON-decoded expected
    output (so 1 == 1.0 == True, no float tolerance, a nested tuple never equals a JSON list)."""
    if isinstance(got, tuple):
        got = list(got)
    return _safe_eq(got, expected)
