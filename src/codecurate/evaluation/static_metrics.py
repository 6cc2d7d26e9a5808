"""Static quality metrics of generated code: the study's "code smell" score (Pylint rating) and maintainability
index (radon).

Study (`Kuangshiqi/Data-optimization-techniques@f34e24d818:SFT/evaluation.py`, see
reference/seed0_techniques.md §6.1):
- code smell score: ``pylint <file>`` with the default configuration, the "rated at X/10" value; no rating
  (syntax error, empty file, no statements) or an exception -> 0.0. Averaged over problems; higher = fewer smells.
- MI: ``radon.metrics.mi_visit(code, multi=True)``; an exception (e.g. SyntaxError) -> 0.0.

Differences from the study, all in favour of reproducibility and speed:
- pylint runs once per *batch* of files in a worker process (not one ``pylint`` process per sample) and the
  per-file rating is recomputed from pylint's own per-module counts (``linter.stats.by_module``) with pylint's
  default evaluation expression ``max(0, 0 if fatal else 10 - (5*error + warning + refactor + convention) /
  statement * 10)`` -- the number the study parses from "rated at". The study's "no rating -> 0.0" rule is kept
  (``unrated_score``).
- the configuration is pinned: an empty rcfile (pylint defaults) so no ``pylintrc``/``pyproject.toml`` of the
  working directory leaks in; the pylint version is returned with the scores and written into the results.
- smell counts by category (convention/refactor/warning/error/fatal) and by message symbol are reported too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

CATEGORIES = ("convention", "refactor", "warning", "error", "fatal")
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pylint_worker.py")


@dataclass
class PylintResult:
    """Pylint outcome for one program."""

    score: float  # the rating (0-10); ``unrated_score`` when pylint gives none
    rated: bool  # False when pylint printed no rating (syntax error, no statements, crash)
    counts: dict[str, int] = field(default_factory=dict)  # by category
    statements: int = 0
    symbols: dict[str, int] = field(default_factory=dict)  # by message symbol, e.g. "line-too-long"


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


def _lint_batch(codes: Sequence[str], timeout: float) -> list[dict | None]:
    with tempfile.TemporaryDirectory(prefix="cc_pylint_") as tmp:
        rcfile = os.path.join(tmp, "empty.pylintrc")
        with open(rcfile, "w", encoding="utf-8") as f:
            f.write("")
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        for i, code in enumerate(codes):
            with open(os.path.join(src, f"sample_{i:06d}.py"), "w", encoding="utf-8") as f:
                f.write(code)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYLINT")}
        env["PYLINTHOME"] = os.path.join(tmp, "home")
        try:
            proc = subprocess.run(
                [sys.executable, _WORKER, src, rcfile], cwd=src, env=env, capture_output=True, text=True, timeout=timeout,
                check=False,
            )
            data = json.loads(proc.stdout) if proc.stdout.strip() else {}
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            data = {}
    return [data.get(f"sample_{i:06d}") for i in range(len(codes))]


def pylint_scores(
    codes: Sequence[str], *, batch_size: int = 100, workers: int = 1, unrated_score: float = 0.0,
    timeout_per_file: float = 30.0,
) -> list[PylintResult]:
    """Pylint rating and smell counts for each program, linting ``batch_size`` files per pylint run.

    ``unrated_score`` is what a program without a rating scores (the study: 0.0). A batch that crashes or
    exceeds ``timeout_per_file * len(batch)`` seconds leaves its programs unrated.
    """
    batches = [list(codes[i:i + batch_size]) for i in range(0, len(codes), batch_size)]

    def run(batch: list[str]) -> list[dict | None]:
        return _lint_batch(batch, timeout=30.0 + timeout_per_file * len(batch))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        raw = [r for rs in pool.map(run, batches) for r in rs]
    out = []
    for stats in raw:
        if stats is None:
            out.append(PylintResult(score=unrated_score, rated=False))
            continue
        counts = {c: int(stats.get(c, 0)) for c in CATEGORIES}
        statements = int(stats.get("statement", 0))
        rating = pylint_rating(counts, statements)
        out.append(PylintResult(
            score=unrated_score if rating is None else rating, rated=rating is not None, counts=counts,
            statements=statements, symbols=dict(stats.get("symbols", {})),
        ))
    return out


def maintainability_index(code: str, multi: bool = True) -> float:
    """radon ``mi_visit(code, multi)``; 0.0 when radon cannot analyse the code (syntax error), as in the study.

    Empty or trivial code scores 100.0 by radon's definition (V <= 0 or LLOC <= 0).
    """
    from radon.metrics import mi_visit

    try:
        value = float(mi_visit(code, multi))
    except Exception:  # radon raises SyntaxError and friends on unparsable code; the study maps any error to 0
        return 0.0
    return 0.0 if math.isnan(value) else value


def summarize_pylint(results: Sequence[PylintResult]) -> dict:
    """Mean score, totals and per-sample means by category, most common symbols."""
    n = len(results)
    totals = Counter()
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
    }
