"""pass@k estimator and static metrics (pylint rating, smell counts, radon MI) on real benchmark code."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest

from codecurate.evaluation.benchmarks import load_humaneval
from codecurate.evaluation.passk import (
    aggregate_pass_at_k,
    estimate_pass_at_k,
    pass_at_k,
)
from codecurate.evaluation.static_metrics import (
    maintainability_index,
    pylint_rating,
    pylint_scores,
    summarize_pylint,
)


@pytest.mark.parametrize("n,c,k", [(1, 0, 1), (1, 1, 1), (10, 3, 1), (10, 3, 5), (10, 8, 3), (200, 13, 10),
                                   (200, 13, 100), (5, 5, 2), (20, 0, 7)])
def test_pass_at_k_matches_binomial_formula(n, c, k):
    expected = 1.0 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_pass_at_k_equals_probability_over_all_k_subsets():
    # definition: probability that a random k-subset of the n samples contains a correct one
    n, c, k = 7, 2, 3
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_1_is_fraction_correct_and_errors():
    assert pass_at_k(10, 4, 1) == pytest.approx(0.4)
    assert estimate_pass_at_k(10, [0, 5, 10], 1).tolist() == pytest.approx([0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError, match="c <= n"):
        pass_at_k(3, 4, 1)


def test_aggregate_reports_only_k_every_problem_supports():
    agg = aggregate_pass_at_k([5, 5, 3], [1, 0, 3], [1, 3, 5])
    assert set(agg) == {"pass@1", "pass@3"}
    assert agg["pass@1"] == pytest.approx((0.2 + 0.0 + 1.0) / 3)
    assert agg["pass@3"] == pytest.approx(((1 - math.comb(4, 3) / math.comb(5, 3)) + 0.0 + 1.0) / 3)


def test_pylint_rating_formula():
    assert pylint_rating({"convention": 1}, 2) == pytest.approx(5.0)  # the study's n=int(input()) example
    assert pylint_rating({"error": 1, "warning": 1}, 10) == pytest.approx(4.0)
    assert pylint_rating({"fatal": 1}, 10) == 0.0
    assert pylint_rating({"convention": 50}, 2) == 0.0  # floored at 0
    assert pylint_rating({}, 0) is None


def _pylint_own_score(code: str, tmp_path) -> float:
    """The rating pylint itself prints for one file, to check our batched per-file reconstruction."""
    path = tmp_path / "prog.py"
    path.write_text(code)
    rc = tmp_path / "empty.rc"
    rc.write_text("")
    out = subprocess.run([sys.executable, "-m", "pylint", f"--rcfile={rc}", "--persistent=n", "prog.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False).stdout
    line = next(x for x in out.splitlines() if "rated at" in x)
    return float(line.split("rated at ")[1].split("/")[0])


def test_batched_pylint_matches_pylint_per_file(tmp_path):
    recs = load_humaneval()[:12]
    codes = [r["code"] for r in recs] + ["def f(:\n    pass\n", ""]
    results = pylint_scores(codes, batch_size=5, workers=2)
    assert len(results) == len(codes)
    for i in (0, 3, 7, 11):  # spread over the three batches
        assert results[i].rated
        assert results[i].score == pytest.approx(_pylint_own_score(codes[i], tmp_path), abs=0.006)
    # syntax error and empty file: no rating -> 0.0 as in the study, the syntax error still counted
    assert not results[-2].rated and results[-2].score == 0.0 and results[-2].counts["error"] == 1
    assert "syntax-error" in results[-2].symbols
    assert not results[-1].rated and results[-1].score == 0.0
    summary = summarize_pylint(results)
    assert summary["unrated"] == 2
    assert summary["smell_counts"]["convention"] == sum(r.counts["convention"] for r in results) > 0
    assert 0.0 < summary["code_smell_score"] < 10.0


def test_pylint_ignores_rcfile_in_working_directory(tmp_path, monkeypatch):
    # a pylintrc that disables everything must not change the (pinned, default-config) scores
    (tmp_path / "pylintrc").write_text("[MESSAGES CONTROL]\ndisable=all\n")
    monkeypatch.chdir(tmp_path)
    res = pylint_scores(["import os\nx=1\n"])[0]
    assert res.counts["warning"] == 1 and res.symbols.get("unused-import") == 1


def test_maintainability_index_on_real_code():
    from radon.metrics import mi_visit

    recs = load_humaneval()[:20]
    values = [maintainability_index(r["code"]) for r in recs]
    assert values == pytest.approx([mi_visit(r["code"], True) for r in recs])
    assert all(0.0 < v <= 100.0 for v in values)
    assert maintainability_index("def broken(:\n    return 1\n") == 0.0  # syntax error -> 0, as in the study
    assert maintainability_index("") == 100.0  # radon: no volume -> 100
    # multi=True counts docstrings as comments, which raises MI for documented code
    doc = recs[0]["code"]
    assert maintainability_index(doc, multi=True) > maintainability_index(doc, multi=False)
