"""Output comparison, done on the host (expected outputs never enter the sandbox).

- ``stdio_equal``: APPS's cascade (hendrycks/apps eval/testing_util.py, standard-input branch of run_test),
  re-implemented: stripped text, line lists with per-line strip and empty lines dropped, float lines with
  ``np.allclose``, then per-line whitespace token *sets* (order-insensitive within and across lines) and
  the same sets with numbers rounded to 3 decimals. The last two steps are APPS's known leniency; pass
  ``mode="strict"`` for token-by-token equality per line (whitespace-normalized, trailing blanks ignored).
- ``call_equal_apps``: APPS call-based rule (tuples become lists; ``output == expected`` or
  ``output == expected[0]``).
- ``call_equal_evalplus``: EvalPlus rule (exact ``==``; for float outputs ``np.allclose(rtol=1e-7, atol)``
  with atol forced to 1e-6 when 0; evalplus/eval/__init__.py ``unsafe_execute``/``is_floats``).
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


def call_equal_evalplus(output: Any, expected: Any, atol: float = 0.0) -> bool:
    if _safe_eq(output, expected):
        return True
    if atol == 0 and _is_floats(expected):
        atol = 1e-6
    if atol:
        a, b = _flat_floats(output), _flat_floats(expected)
        if a is not None and b is not None:
            return _allclose(a, b, rtol=1e-7, atol=atol)
    return False
