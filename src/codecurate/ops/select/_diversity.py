"""Shared pieces of the embedding-based selectors: embedding config, K-Means, budgets, the score-first
similarity filter (DEITA Repr Filter / XCoder Algorithm 1) and K-Center Greedy.

Everything heavy (numpy is light; torch, sklearn, sentence-transformers) is imported inside functions so that
``import codecurate`` works without the ``models`` extra.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, TypeVar

import numpy as np

from codecurate.pipeline.op import GlobalOp, OpConfig
from codecurate.records import field_text


class EmbedConfig(OpConfig):
    """Embedding parameters shared by selectors. ``embed_fields`` are joined with a newline."""

    embed_model: str = "all-MiniLM-L6-v2"
    # transformers: mean pooling, as CodeACT
    embed_backend: Literal["auto", "sentence_transformers", "transformers"] = "auto"
    embed_fields: list[str] = ["instruction"]
    embed_batch_size: int = 64
    embed_max_length: int | None = None
    embed_cache_dir: str | None = None
    device: str | None = None


class BudgetConfig(OpConfig):
    """How many records a selector keeps: ``n`` (absolute) or ``ratio`` (of the input); at most one."""

    n: int | None = None
    ratio: float | None = None


def make_embedder(cfg: EmbedConfig):
    from codecurate.models.embed import Embedder

    return Embedder(cfg.embed_model, backend=cfg.embed_backend, normalize=True, batch_size=cfg.embed_batch_size,
                    max_length=cfg.embed_max_length, device=cfg.device, cache_dir=cfg.embed_cache_dir)


def embed_records(embedder, records: list[dict], fields: list[str]) -> np.ndarray:
    texts = ["\n".join(field_text(r, f) for f in fields) for r in records]
    return embedder.encode(texts)


_E = TypeVar("_E", bound=EmbedConfig)


class EmbeddingSelector(GlobalOp[_E]):
    """A selector whose map phase embeds ``embed_fields`` (payload ``{"emb": vector}``); subclasses that need
    more per record override ``map_batch`` and call ``self.embed(records)``."""

    needs: ClassVar[tuple[str, ...]] = ("cpu", "model")

    def setup(self) -> None:
        self._embedder = make_embedder(self.config)

    def embed(self, records: list[dict]) -> np.ndarray:
        self.ensure_setup()
        return embed_records(self._embedder, records, self.config.embed_fields)

    def map_batch(self, records: list[dict]) -> list[dict]:
        return [{"emb": e} for e in self.embed(records)]


def stack(payloads: list[dict], key: str = "emb") -> np.ndarray:
    if not payloads:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([p[key] for p in payloads]).astype(np.float32, copy=False)


def resolve_budget(op_name: str, n: int | None, ratio: float | None, total: int,
                   default_ratio: float | None = None) -> int | None:
    """Number of records to keep, or None for "no cap". ``ratio`` uses floor, as CodeACT/SCAR do; when neither
    is set, ``default_ratio`` applies."""
    if n is not None and ratio is not None:
        raise ValueError(f"{op_name}: set at most one of `n` and `ratio` (got n={n}, ratio={ratio})")
    if n is None and ratio is None:
        ratio = default_ratio
    if n is not None:
        if n < 0:
            raise ValueError(f"{op_name}: `n` must be >= 0, got {n}")
        return min(n, total)
    if ratio is not None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"{op_name}: `ratio` must be in [0, 1], got {ratio}")
        return int(math.floor(total * ratio + 1e-9))
    return None


def kmeans_labels(emb: np.ndarray, k: int, random_state: int) -> np.ndarray:
    """scikit-learn K-Means with library defaults (k-means++, n_init="auto", Lloyd), as CodeACT calls it."""
    from sklearn.cluster import KMeans

    n = len(emb)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k_eff = max(1, min(k, n))
    km = KMeans(n_clusters=k_eff, random_state=random_state, n_init="auto")
    return km.fit_predict(emb).astype(np.int64)


def stat_number(rec_stats: dict | None, key: str) -> float | None:
    v = (rec_stats or {}).get(key)
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def score_first_filter(
    emb: np.ndarray,
    order: np.ndarray,
    tau: float,
    budget: int | None,
    strict: bool = False,
    block: int = 256,
) -> tuple[list[int], dict[int, tuple[int, float]]]:
    """Greedy diversity filter over candidates in ``order`` (best first).

    A candidate is kept iff its cosine similarity to **every** already-kept item is <= ``tau`` (``strict``:
    < ``tau``); the first candidate is always kept. Stops when ``budget`` items are kept. This is DEITA's Repr
    Filter with batch size 1 (exact sequential greedy) and XCoder's Algorithm 1. ``emb`` must be L2-normalised.

    Vectorised by blocks: a block of candidates is first checked against everything kept so far in one matrix
    product, then the survivors are resolved sequentially against each other with the block's own similarity
    matrix, which gives exactly the sequential result.

    Returns (kept indices in selection order, {rejected index: (most similar kept index, similarity)}).
    Candidates never examined because the budget filled up are in neither.
    """
    kept: list[int] = []
    rejected: dict[int, tuple[int, float]] = {}
    if len(order) == 0 or budget == 0:
        return kept, rejected
    dim = emb.shape[1]
    kept_mat = np.zeros((0, dim), dtype=np.float32)

    def too_close(s: float) -> bool:
        return s >= tau if strict else s > tau

    for start in range(0, len(order), block):
        cand = order[start:start + block]
        c_emb = emb[cand]
        if len(kept_mat):
            sims = c_emb @ kept_mat.T
            best_j = sims.argmax(1)
            best_s = sims[np.arange(len(cand)), best_j]
        else:
            best_j = np.full(len(cand), -1)
            best_s = np.full(len(cand), -np.inf, dtype=np.float32)
        inner = c_emb @ c_emb.T
        accepted_local: list[int] = []
        for a, idx in enumerate(cand):
            s_prev, j_prev = float(best_s[a]), int(best_j[a])
            near_idx = kept[j_prev] if j_prev >= 0 else -1
            if accepted_local:
                loc = inner[a, accepted_local]
                b = int(loc.argmax())
                if float(loc[b]) > s_prev:
                    s_prev, near_idx = float(loc[b]), int(cand[accepted_local[b]])
            if near_idx >= 0 and too_close(s_prev):
                rejected[int(idx)] = (near_idx, s_prev)
                continue
            accepted_local.append(a)
            kept.append(int(idx))
            if budget is not None and len(kept) >= budget:
                break
        if accepted_local:
            kept_mat = np.concatenate([kept_mat, c_emb[accepted_local]])
        if budget is not None and len(kept) >= budget:
            break
    return kept, rejected


def kcenter_greedy(emb: np.ndarray, budget: int, seed: int, first: int | None = None,
                   time_limit_s: float | None = None, prune: bool = False) -> tuple[list[int], np.ndarray]:
    """K-Center Greedy (farthest-first traversal, Sener & Savarese 2018), Euclidean distance.

    Start from a random point (seeded, as in efficode's baseline), then repeatedly add the point farthest from
    its nearest chosen center. Returns (chosen indices in pick order, the distance of each pick to its nearest
    earlier center at pick time; inf for the first). ``time_limit_s`` stops early (for benchmarks only).

    The plain update (``prune=False``) recomputes the distance of every point to the new center with one
    matrix-vector product (||x||^2 + ||c||^2 - 2 x.c): O(n d) per step (default). ``prune=True`` gives the same
    picks, skipping work by the triangle inequality: every point remembers its nearest center j, and each
    center keeps an upper bound R_j of its points' distances; if ||c - j|| >= 2 R_j, no point of j can be
    closer to the new center c than to j, so those points are skipped. A step then costs O(t d) for the
    center-to-center distances plus O(m d) for the m points of the clusters near c (plus O(n) cheap index work).
    It only pays off late in a long run, once cluster radii are small; early on (and in high dimension) nearly
    every cluster is near c and the gathers make it slower, so it is off by default.

    BLAS runs single-threaded here: a matrix-vector product is memory-bound, and thread hand-off on every one of
    tens of thousands of steps costs more than it gains (measured 24x slower at n=5k on a busy 2-core machine).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return _kcenter_greedy(emb, budget, seed, first, time_limit_s, prune)
    with threadpool_limits(limits=1, user_api="blas"):
        return _kcenter_greedy(emb, budget, seed, first, time_limit_s, prune)


def _kcenter_greedy(emb: np.ndarray, budget: int, seed: int, first: int | None, time_limit_s: float | None,
                    prune: bool) -> tuple[list[int], np.ndarray]:
    import time

    n = len(emb)
    budget = min(budget, n)
    if budget <= 0:
        return [], np.zeros(0)
    x = np.ascontiguousarray(emb, dtype=np.float32)
    sq = np.einsum("ij,ij->i", x, x)
    rng = np.random.default_rng(seed)
    cur = int(rng.integers(n)) if first is None else int(first)
    chosen = [cur]
    pick_dist = [np.inf]
    t0 = time.perf_counter()
    # squared distances; a chosen point gets -1 so it is never picked again
    min_d = np.maximum(sq + sq[cur] - 2.0 * (x @ x[cur]), 0.0).astype(np.float32)
    if prune:
        centers = np.empty((budget, x.shape[1]), dtype=np.float32)
        centers_sq = np.empty(budget, dtype=np.float32)
        radius2 = np.zeros(budget, dtype=np.float32)  # upper bound of min_d over each center's points
        assign = np.zeros(n, dtype=np.int64)
        centers[0], centers_sq[0] = x[cur], sq[cur]
        radius2[0] = min_d.max()
    min_d[cur] = -1.0
    for t in range(1, budget):
        if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
            break
        cur = int(min_d.argmax())
        chosen.append(cur)
        pick_dist.append(float(np.sqrt(max(float(min_d[cur]), 0.0))))
        xc = x[cur]
        if not prune:
            d = sq + sq[cur] - 2.0 * (x @ xc)
            np.minimum(min_d, d, out=min_d)
            min_d[cur] = -1.0
            continue
        cc = centers_sq[:t] + sq[cur] - 2.0 * (centers[:t] @ xc)
        # ||c - j|| < 2 R_j  <=>  cc < 4 R_j^2; a small margin keeps float rounding on the safe side
        near = cc < 4.0 * radius2[:t] * (1 + 1e-5) + 1e-6
        idx = np.flatnonzero(near[assign])
        d = sq[idx] + sq[cur] - 2.0 * (x[idx] @ xc)
        better = d < min_d[idx]
        moved = idx[better]
        min_d[moved] = d[better]
        assign[moved] = t
        centers[t], centers_sq[t] = xc, sq[cur]
        radius2[t] = float(min_d[moved].max()) if moved.size else 0.0
        min_d[cur] = -1.0
        assign[cur] = t
    return chosen, np.asarray(pick_dist)


def nearest_center_distance(emb: np.ndarray, centers: list[int], block: int = 4096) -> np.ndarray:
    """Euclidean distance of every point to its nearest center (blocked, no n x n matrix)."""
    x = np.asarray(emb, dtype=np.float32)
    c = x[centers]
    csq = np.einsum("ij,ij->i", c, c)
    out = np.empty(len(x), dtype=np.float32)
    for s in range(0, len(x), block):
        xb = x[s:s + block]
        d = np.einsum("ij,ij->i", xb, xb)[:, None] + csq[None, :] - 2.0 * (xb @ c.T)
        out[s:s + block] = np.sqrt(np.maximum(d.min(1), 0.0))
    return out
