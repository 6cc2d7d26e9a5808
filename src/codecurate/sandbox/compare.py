"""Output comparison, done on the host (expected outputs never enter the sandbox).

- ``stdio_equal``: APPS's cascade (hendrycks/apps eval/testing_util.py, standard-input branch of run_test),
  re-implemented: stripped text, line lists with per-line strip and empty lines dropped, float lines with
  ``np.allclose``, then per-line whitespace token *sets* (order-insensitive within and across lines) and
  the same sets with numbers rounded to 3 decimals. The last two steps are APPS's known leniency; pass
  ``mode="strict"`` for token-by-token equality per line (whitespace-normalized, trailing blanks ignored).
- ``call_equal_apps``: APPS call-based rule (tuples become lists; ``output == expected`` or
  ``output == expected[0]``).
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
    if not isinstance(expected, str):
        expected = "\n".join(map(str, expected)) if isinstance(expected, list) else str(expected)
    lines = output.splitlines()
    if mode == "strict":
        def norm(s: str) -> list[list[str]]:
            rows = [ln.split() for ln in s.splitlines()]
            while rows and not rows[-1]:
                rows.pop()
            return rows
        return norm(output) == norm(expected)
    if mode != "apps":
        raise ValueError(f"unknown stdio comparison mode {mode!r}; valid: 'apps', 'strict'")
    # 1. custom_compare_: joined lines, then per-line stripped, against the stripped expected text
    if _strip_eq("\n".join(lines), expected) or _strip_eq("\n".join(x.strip() for x in lines), expected):
        return True
    # 2. list equalities
    if lines == [expected]:
        return True
    exp_lines = [x.strip() for x in expected.split("\n") if x]
    if lines == exp_lines or [x.strip() for x in lines] == exp_lines:
        return True
    out_lines = [x for x in lines if x]
    if out_lines == exp_lines:
        return True
    # 3. numbers, one per line
    fo, fe = _floats(out_lines), _floats(exp_lines)
    if fo is not None and fe is not None and _allclose(fo, fe):
        return True
    # 4. per-line token sets, compared as a set of sets
    exp_set = set(expected.split())
    out_tok = [set(x.split()) for x in out_lines]
    out_tok = [s for s in out_tok if s]
    if out_tok == exp_set:  # APPS compares a list with a set here: never true, kept for fidelity
        return True
    exp_sets = {frozenset(x.split()) for x in exp_lines if x.split()}
    try:
        if {frozenset(s) for s in out_tok} == exp_sets:
            return True
    except TypeError:
        pass
    # 5. the same with every token rounded to 3 decimals
    try:
        r_out = {frozenset(round(float(t), 3) for t in s) for s in out_tok}
        r_exp = {frozenset(round(float(t), 3) for t in s) for s in exp_sets}
        return r_out == r_exp
    except (TypeError, ValueError, OverflowError):
        return False


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


def call_equal_apps(output: Any, expected: Any, atol: float = 0.0) -> bool:
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
    try:
        if oracle == "poly_root":  # expected is not looked at: any root passes
            return abs(_poly(args[0], output)) <= atol
        exact = _safe_eq(output, expected)
        if oracle == "set_eq":
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
