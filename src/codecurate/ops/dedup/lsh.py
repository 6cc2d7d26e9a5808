"""MinHash / LSH building blocks shared by ``minhash_dedup``: permutations, signatures, optimal bands/rows,
banding and union-find, all in numpy.

Signatures: every shingle is hashed once to 64 bits (``codecurate.code.tokens``); permutation ``j`` is the
multiply-shift universal hash ``h_j(x) = ((a_j * x + b_j) mod 2**64) >> 32`` with random odd ``a_j``
(Dietzfelbinger et al. 1997), evaluated for all shingles of a batch and all permutations as one uint64 matrix
op, then ``np.minimum.reduceat`` per record. datasketch / text-dedup use ``(a*x + b) mod (2**61 - 1)`` on
uint64 (which silently wraps anyway); multiply-shift is the same family of estimators and needs no modulo.

Bands/rows for recall (``recall_bands_rows``, ``minhash_dedup``'s default): the (b, r) whose S-curve
catches a pair at the threshold with probability >= 0.95, with the fewest candidates below it; verification
removes those candidates, so missing pairs is the only error banding can add.

Optimal bands/rows: the (b, r) with b*r <= num_perm minimizing the weighted false-positive plus
false-negative probability mass around the threshold, as in text-dedup's ``optimal_param`` (weights 0.5/0.5).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

_INTEGRATION_STEPS = 200


def _trapezoid(y: np.ndarray, x: np.ndarray):
    """Trapezoid integral of ``y`` over ``x`` along the last axis (a float for 1-d ``y``)."""
    fn = getattr(np, "trapezoid", None) or getattr(np, "trapz")  # numpy < 2 has only trapz
    out = fn(y, x, axis=-1)
    return float(out) if np.ndim(out) == 0 else out


@lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                       fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimizing fp_weight * P(false positive) + fn_weight * P(false negative) for Jaccard
    ``threshold`` (text-dedup / datasketch ``_optimal_param``; integrals by the trapezoid rule). All (b, r)
    with b*r <= num_perm are evaluated at once in numpy (a Python double loop cost ~0.3-0.9 s of start-up in
    every process); ties go to the smallest b, then the smallest r, as in the reference's loop order."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    lo = np.linspace(0.0, threshold, _INTEGRATION_STEPS)
    hi = np.linspace(threshold, 1.0, _INTEGRATION_STEPS)
    b = np.concatenate([np.full(num_perm // k, k) for k in range(1, num_perm + 1)]).astype(float)
    r = np.concatenate([np.arange(1, num_perm // k + 1) for k in range(1, num_perm + 1)]).astype(float)
    fp = _trapezoid(1 - (1 - lo[None, :] ** r[:, None]) ** b[:, None], lo)
    fn = _trapezoid(1 - (1 - (1 - hi[None, :] ** r[:, None]) ** b[:, None]), hi)
    k = int(np.argmin(fp * fp_weight + fn * fn_weight))  # first minimum = loop order (b outer, r inner)
    return int(b[k]), int(r[k])


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """P(two records with Jaccard ``similarity`` share at least one band): the LSH S-curve 1-(1-s^r)^b."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


@lru_cache(maxsize=64)
def recall_bands_rows(threshold: float, num_perm: int, recall: float = 0.95) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm whose S-curve makes a pair at Jaccard ``threshold`` a
    candidate with probability >= ``recall``, and among those the one with the least false-positive mass
    (integral of the S-curve below the threshold: the fewest pairs to verify). Falls back to rows=1 (every
    shared min-hash a candidate) when no setting reaches ``recall``."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if not 0.0 < recall < 1.0:
        raise ValueError(f"recall must be in (0, 1), got {recall}")
    lo = np.linspace(0.0, threshold, _INTEGRATION_STEPS)
    best, best_fp = (num_perm, 1), float("inf")
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if candidate_probability(threshold, b, r) < recall:
            continue
        fp = _trapezoid(1 - (1 - lo ** r) ** b, lo)
        if fp < best_fp:
            best_fp, best = fp, (b, r)
    return best


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b




def signatures(shingles: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
               chunk: int = 1024) -> np.ndarray:
    """MinHash signatures (n_records, num_perm) uint32 for records whose shingle hashes are
    ``shingles[offsets[i]:offsets[i+1]]``. Records without shingles get all-0xFFFFFFFF rows.

    Laid out (permutation, shingle) so the per-record minimum is a ``reduceat`` along contiguous memory,
    in chunks of about ``chunk`` shingles that stay in cache, computed in one buffer allocated once (a fresh
    multi-megabyte array per chunk costs page faults every time); the ``>> 32`` is applied to the minima only
    (a right shift is monotone, so min-then-shift equals shift-then-min)."""
    n = len(offsets) - 1
    out = np.full((len(a), n), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    sizes = np.diff(offsets)
    nonempty = np.flatnonzero(sizes)
    a_col, b_col = a[:, None], b[:, None]
    ends = offsets[nonempty + 1]
    buf = np.empty(len(a) * (chunk + int(sizes.max(initial=0))), dtype=np.uint64)
    i = 0
    while i < len(nonempty):
        # whole records, about `chunk` shingles (at least one record)
        j = int(np.searchsorted(ends, offsets[nonempty[i]] + chunk, side="right"))
        j = max(j, i + 1)
        recs = nonempty[i:j]
        lo, hi = offsets[recs[0]], offsets[recs[-1] + 1]
        h = buf[: len(a) * (hi - lo)].reshape(len(a), hi - lo)
        with np.errstate(over="ignore"):
            np.multiply(a_col, shingles[None, lo:hi], out=h)
            np.add(h, b_col, out=h)
        # records in `recs` are contiguous in `shingles` except for skipped empty ones (size 0, no columns)
        out[:, recs] = np.minimum.reduceat(h, offsets[recs] - lo, axis=1)
        i = j
    return (out.T >> np.uint64(32)).astype(np.uint32)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_records, bands) uint64: one 64-bit key per band (rows of the signature hashed together)."""
    n = sig.shape[0]
    s = sig[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    mult = np.array([(0x9E3779B97F4A7C15 ^ (k * 0x2545F4914F6CDD1D)) & 0xFFFFFFFFFFFFFFFF | 1 for k in range(rows)],
                    dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = (s * mult[None, None, :]).sum(axis=2, dtype=np.uint64)
        key ^= key >> np.uint64(29)
        key *= np.uint64(0xBF58476D1CE4E5B9)
        key ^= key >> np.uint64(32)
        # band index mixed in so equal keys in different bands never collide
        key += np.arange(bands, dtype=np.uint64)[None, :] * np.uint64(0xD6E8FEB86659FD93)
    return key


class KeyMatrix(Protocol):
    """An (n, bands) matrix of band keys read as ``keys[rows, j]``: a numpy array, or a view that reads one
    band at a time (``minhash_dedup``'s out-of-core reduce)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: tuple[np.ndarray, int], /) -> np.ndarray: ...


def candidate_pairs(keys: KeyMatrix, valid: np.ndarray | None = None, window: int = 64) -> np.ndarray:
    """Unique candidate pairs ``(i, j)``, ``i < j``, of records sharing a band key in any band, as an
    (m, 2) int64 array sorted by ``i`` then ``j``. Inside a bucket (records in dataset order) each record is
    paired with the bucket's first ``window`` records, its leaders, so a bucket of k <= window + 1 records gives
    all its k(k-1)/2 pairs and a huge bucket (many copies of one text) costs O(k * window), not O(k^2), while
    every member still meets the bucket's earliest records, the ones star clustering keeps first. (Pairing
    each record with its next ``window`` members instead leaves a copy more than ``window`` places from every
    kept record unmatched: of 600 near-copies of one function, star kept 5.)
    Vectorized: one sort per band, then one array comparison per leader. Pairs are kept as ``i * n + j``
    codes; a band's codes that an earlier band found are dropped (binary search in a few sorted chunks,
    merged every 8 bands), so memory follows the number of distinct candidate pairs, not pairs x bands (a
    pair of copies shares all bands), and the pairs are not re-sorted after every band."""
    n, bands = keys.shape
    idx_all = np.arange(n) if valid is None else np.flatnonzero(valid)
    chunks: list[np.ndarray] = []  # sorted, disjoint chunks of distinct pair codes
    for j in range(bands):
        col = keys[idx_all, j]
        order = np.argsort(col, kind="stable")
        sk, si = col[order], idx_all[order]
        if len(sk) < 2:
            continue
        new_bucket = np.ones(len(sk), dtype=bool)
        new_bucket[1:] = sk[1:] != sk[:-1]
        first = np.maximum.accumulate(np.where(new_bucket, np.arange(len(sk)), 0))  # bucket start per position
        offset = np.arange(len(sk)) - first  # place inside the bucket (0 = its first record)
        found = []
        for t in range(min(window, int(offset.max()))):
            later = offset > t  # members after leader t pair with it
            a, b = si[first[later] + t], si[later]
            found.append(np.minimum(a, b) * np.int64(n) + np.maximum(a, b))
        if found:
            fresh = np.unique(np.concatenate(found))
            for c in chunks:  # keep only codes no earlier band found (one binary search per chunk)
                pos = np.searchsorted(c, fresh).clip(0, len(c) - 1)
                fresh = fresh[c[pos] != fresh]
            if len(fresh):
                chunks.append(fresh)
            if len(chunks) > 8:  # a handful of sorts over all bands, not one per band
                chunks = [np.sort(np.concatenate(chunks))]
    codes = np.sort(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.int64)
    return np.stack([codes // n, codes % n], axis=1)


class UnionFind:
    """Union-find over 0..n-1 on a numpy parent array (path halving, union by smaller root index so a
    cluster's root is its first record in dataset order)."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return int(x)

    def union(self, x: int, y: int) -> bool:
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return False
        if rx < ry:
            self.parent[ry] = rx
        else:
            self.parent[rx] = ry
        return True

    def roots(self) -> np.ndarray:
        """Root of every element (vectorized pointer jumping)."""
        p = self.parent
        while True:
            q = p[p]
            if np.array_equal(q, p):
                return q
            p = q


def jaccard_sorted(x: np.ndarray, y: np.ndarray) -> float:
    """Exact Jaccard of two arrays of unique values (any order): both concatenated and sorted, a value of
    the intersection is the only kind that appears twice (``np.intersect1d`` does the same in more steps)."""
    if len(x) == 0 and len(y) == 0:
        return 1.0
    both = np.concatenate((x, y))
    both.sort()
    inter = int(np.count_nonzero(both[1:] == both[:-1]))
    return inter / (len(x) + len(y) - inter)
