"""Static quality metrics of generated code: the study's "code smell" score (Pylint rating) and maintainability
index (radon).

Study (`Kuangshiqi/Data-optimization-techniques@f34e24d818:SFT/evaluation.py`, see
reference/seed0_techniques.md §6.1):
- code smell score: ``pylint <file>`` with the default configuration, the "rated at X/10" value; no rating
  (syntax error, empty file, no statements) or an exception -> 0.0. Averaged over problems; higher = fewer smells.
- MI: ``radon.metrics.mi_visit(code, multi=True)``; an exception (e.g. SyntaxError) -> 0.0.

Differences from the study, all in favour of reproducibility, safety and speed:
- pylint and radon never run in the caller: each program is analysed in a forked child of a warm worker
  process (``_pylint_worker.py``) under limits (``Limits``: address space 1 GiB, 30 CPU s, 60 wall s by
  default). A program that exceeds them gets ``error`` = ``limit exceeded: memory|time`` and scores
  ``unrated_score`` (the study: a pylint exception or its 30 s timeout -> 0.0); the other programs of the call
  are not affected. ``summarize_pylint`` counts them.
- each program is linted on its own, from the same warm process state, so a score is the one ``pylint <file>``
  prints for that file, whatever else is scored in the same call: no cross-file ``duplicate-code`` (R0801),
  no shared inference cache. The per-file rating is recomputed from pylint's own per-module counts
  (``linter.stats.by_module``) with pylint's default evaluation expression ``max(0, 0 if fatal else 10 -
  (5*error + warning + refactor + convention) / statement * 10)`` -- the number the study parses from "rated
  at". The study's "no rating -> 0.0" rule is kept (``unrated_score``).
- the configuration is pinned: an empty rcfile (pylint defaults) so no ``pylintrc``/``pyproject.toml`` of the
  working directory leaks in; the pylint version is returned with the scores and written into the results.
- smell counts by category (convention/refactor/warning/error/fatal) and by message symbol are reported too.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from codecurate.evaluation._pylint_worker import (
    LIMIT_MEMORY,
    LIMIT_TIME,
    Limits,
    analyse,
)

CATEGORIES = ("convention", "refactor", "warning", "error", "fatal")
# pylint's defaults, pinned: an empty rcfile (no pylintrc / pyproject.toml of the working directory leaks in)
PYLINT_ARGS = ("--rcfile=" + os.devnull, "--persistent=n")
__all__ = ["CATEGORIES", "LIMIT_MEMORY", "LIMIT_TIME", "Limits", "MIResult", "PylintResult", "maintainability_index",
           "maintainability_indices", "pylint_rating", "pylint_scores", "pylint_version", "radon_version",
           "summarize_pylint"]


@dataclass
class PylintResult:
    """Pylint outcome for one program."""

    score: float  # the rating (0-10); ``unrated_score`` when pylint gives none
    rated: bool  # False when pylint printed no rating (syntax error, no statements, crash)
    counts: dict[str, int] = field(default_factory=dict)  # by category
    statements: int = 0
    symbols: dict[str, int] = field(default_factory=dict)  # by message symbol, e.g. "line-too-long"
    error: str | None = None  # why there is no rating beyond pylint's own: "limit exceeded: memory|time", ...


def pylint_version() -> str:
    import pylint

    return pylint.__version__


def radon_version() -> str:
    import radon

    return radon.__version__


def pylint_rating(counts: dict[str, int], statements: int) -> float | None:
    """Pylint's default evaluation expression; None when there are no statements (pylint prints no rating)."""
    if statements <= 0:
        return None
    if counts.get("fatal", 0):
        return 0.0
    bad = 5 * counts.get("error", 0) + counts.get("warning", 0) + counts.get("refactor", 0) + counts.get("convention", 0)
    return max(0.0, 10.0 - (bad / statements) * 10.0)


def _result_from(raw: dict, unrated_score: float) -> PylintResult:
    if "error" in raw:
        return PylintResult(score=unrated_score, rated=False, error=raw["error"])
    value = raw["value"]
    stats = value.get("stats")
    if stats is None:
        return PylintResult(score=unrated_score, rated=False)
    counts = {c: int(stats.get(c, 0)) for c in CATEGORIES}
    statements = int(stats.get("statement", 0))
    rating = pylint_rating(counts, statements)
    symbols: Counter = Counter(m[1] for m in value.get("messages", []))
    return PylintResult(score=unrated_score if rating is None else rating, rated=rating is not None, counts=counts,
                        statements=statements, symbols=dict(symbols))


def pylint_scores(
    codes: Sequence[str], *, batch_size: int = 4, workers: int = 1, unrated_score: float = 0.0,
    timeout_per_file: float | None = None, limits: Limits | None = None,
) -> list[PylintResult]:
    """Pylint rating and smell counts for each program, each linted on its own in a limited worker.

    ``unrated_score`` is what a program without a rating scores (the study: 0.0), including a program whose
    analysis exceeded ``limits`` (``error`` = ``limit exceeded: memory|time``) or crashed. ``batch_size`` is the
    number of programs per request to a worker (it does not change any score); ``timeout_per_file``, when given,
    sets ``limits.wall_s``.
    """
    limits = limits or Limits()
    if timeout_per_file is not None:
        limits = replace(limits, wall_s=float(timeout_per_file))
    raw = analyse("pylint", list(codes), options={"args": list(PYLINT_ARGS)}, limits=limits,
                  workers=max(1, workers), chunk=batch_size)
    return [_result_from(r, unrated_score) for r in raw]


@dataclass
class MIResult:
    """radon MI of one program; ``error`` says why it is 0.0 (radon's exception, or the analysis limits)."""

    value: float
    error: str | None = None


def maintainability_indices(codes: Sequence[str], multi: bool = True, *, workers: int = 1,
                            limits: Limits | None = None) -> list[MIResult]:
    """radon ``mi_visit(code, multi)`` of each program, in a limited worker; any error -> 0.0 (the study)."""
    raw = analyse("radon", list(codes), options={"multi": bool(multi)}, limits=limits, workers=max(1, workers))
    out = []
    for r in raw:
        if "error" in r:
            out.append(MIResult(0.0, r["error"]))
        else:
            out.append(MIResult(float(r["value"]["mi"]), r["value"].get("exception")))
    return out


def maintainability_index(code: str, multi: bool = True, *, limits: Limits | None = None) -> float:
    """radon ``mi_visit(code, multi)``; 0.0 when radon cannot analyse the code (syntax error), as in the study,
    or when the analysis exceeds ``limits``. Runs in a limited worker; prefer ``maintainability_indices`` for
    many programs (one request instead of one per program).

    Empty or trivial code scores 100.0 by radon's definition (V <= 0 or LLOC <= 0).
    """
    return maintainability_indices([code], multi, limits=limits)[0].value


def summarize_pylint(results: Sequence[PylintResult]) -> dict:
    """Mean score, totals and per-sample means by category, most common symbols."""
    n = len(results)
    totals: Counter = Counter()
    symbols: Counter = Counter()
    for r in results:
        totals.update(r.counts)
        symbols.update(r.symbols)
    return {
        "code_smell_score": (sum(r.score for r in results) / n) if n else None,
        "unrated": sum(1 for r in results if not r.rated),
        "smell_counts": {c: int(totals.get(c, 0)) for c in CATEGORIES},
        "smells_per_sample": {c: (totals.get(c, 0) / n if n else None) for c in CATEGORIES},
        "top_symbols": dict(symbols.most_common(20)),
        # programs whose analysis was stopped by the worker limits (scored ``unrated_score``), or crashed
        "limit_exceeded": {"memory": sum(1 for r in results if r.error == LIMIT_MEMORY),
                           "time": sum(1 for r in results if r.error and r.error.startswith(LIMIT_TIME))},
        "analyzer_errors": sum(1 for r in results if r.error and not r.error.startswith("limit exceeded")),
    }
