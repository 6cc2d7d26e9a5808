"""Model-free dataset statistics, vectorized over Arrow columns.

Lengths are whitespace tokens (``pyarrow.compute.utf8_split_whitespace``), characters and code lines, computed
on whole columns at once; the ``stats`` JSON column is decoded once per record (orjson) to collect every numeric
stat the ops wrote (``stats.ifd``, ``stats.tli``, ``stats.exec.pass_ratio``...). Summaries are count, mean,
std, min, p10, p50, p90, p99, max.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codecurate.io import loads

FENCE_TAG = r"```[ \t]*(?P<lang>[A-Za-z0-9_+#.-]*)"
TESTS_KIND = r'"kind":\s*"(?P<kind>[A-Za-z_]+)"'


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    col = table.column(name)
    return pc.fill_null(col, "")


def token_lengths(col: pa.ChunkedArray) -> np.ndarray:
    """Whitespace-token count of each string (None counts as 0)."""
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    s = pc.utf8_trim_whitespace(pc.fill_null(col, ""))  # str.split(): no empty tokens at the ends
    n = pc.list_value_length(pc.utf8_split_whitespace(s)).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.where(pc.equal(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False), 0, n)


def char_lengths(col: pa.ChunkedArray) -> np.ndarray:
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    return pc.utf8_length(pc.fill_null(col, "")).to_numpy(zero_copy_only=False).astype(np.int64)


def line_counts(col: pa.ChunkedArray) -> np.ndarray:
    """Lines of each string: newlines + 1 for non-empty text, 0 for empty (a trailing newline is not a line)."""
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    s = pc.utf8_rtrim(pc.fill_null(col, ""), characters="\n")
    nl = pc.count_substring(s, "\n").to_numpy(zero_copy_only=False).astype(np.int64)
    empty = pc.equal(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False)
    return np.where(empty, 0, nl + 1)


def summary(values) -> dict:
    """count, mean, std, min, p10, p50, p90, p99, max of the finite values (None-filled when there are none)."""
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    keys = ("mean", "std", "min", "p10", "p50", "p90", "p99", "max")
    if a.size == 0:
        return {"count": 0, **{k: None for k in keys}}
    q = np.percentile(a, [10, 50, 90, 99])
    return {"count": int(a.size), "mean": _r(a.mean()), "std": _r(a.std()), "min": _r(a.min()), "p10": _r(q[0]),
            "p50": _r(q[1]), "p90": _r(q[2]), "p99": _r(q[3]), "max": _r(a.max())}


def _r(v: float, nd: int = 6) -> float | None:
    v = float(v)
    return round(v, nd) if math.isfinite(v) else None


def value_counts(col: pa.ChunkedArray, top: int = 20, empty_label: str = "(none)") -> dict[str, int]:
    """Counts of each value, most frequent first; the rest summed under ``(other)``."""
    if len(col) == 0:
        return {}
    vc = pc.value_counts(pc.fill_null(col, "")).to_pylist()
    pairs = sorted(((d["values"] or empty_label, int(d["counts"])) for d in vc), key=lambda kv: (-kv[1], kv[0]))
    out = dict(pairs[:top])
    rest = sum(c for _, c in pairs[top:])
    if rest:
        out["(other)"] = out.get("(other)", 0) + rest
    return out


def fence_languages(col: pa.ChunkedArray, top: int = 20) -> dict[str, int]:
    """Language tag of the first fenced code block of each response: ``(untagged)`` for a bare ```` ``` ````
    and ``(no fence)`` for a response without a fenced block."""
    if len(col) == 0:
        return {}
    m = pc.extract_regex(pc.fill_null(col, ""), FENCE_TAG)
    tags = pc.utf8_lower(pc.struct_field(m, "lang"))
    tags = pc.if_else(pc.equal(tags, ""), "(untagged)", tags)
    tags = pc.fill_null(tags, "(no fence)")
    return value_counts(tags, top)


def tests_info(table: pa.Table) -> dict:
    """Records with tests (a non-empty ``tests`` object) and their kinds."""
    n = table.num_rows
    col = table.column("tests")
    s = pc.fill_null(col, "null")
    has = pc.and_(pc.not_equal(s, "null"), pc.match_substring(s, '"kind"'))
    n_with = int(pc.sum(pc.cast(has, pa.int64())).as_py() or 0) if n else 0
    kinds = {}
    if n_with:
        m = pc.extract_regex(pc.filter(s, has), TESTS_KIND)
        kinds = value_counts(pc.fill_null(pc.struct_field(m, "kind"), "(unknown)"))
    return {"records_with_tests": n_with, "coverage": _r(n_with / n) if n else None, "kinds": kinds}


def numeric_stats(table: pa.Table) -> dict[str, np.ndarray]:
    """Every numeric value in the ``stats`` column, by key: top-level numbers (``ifd``) and numbers one level
    down (``exec.pass_ratio``); booleans count as 0/1 (``judge_exec_agree``). Records without the key are NaN."""
    n = table.num_rows
    if n == 0 or "stats" not in table.column_names:
        return {}
    raw = table.column("stats").to_pylist()
    cols: dict[str, np.ndarray] = {}

    def put(key: str, i: int, v) -> None:
        a = cols.get(key)
        if a is None:
            a = cols[key] = np.full(n, np.nan)
        a[i] = float(v)

    for i, s in enumerate(raw):
        if not s or s == "{}" or s == "null":
            continue
        d = loads(s)
        if not isinstance(d, dict):
            continue
        for k, v in d.items():
            if isinstance(v, (bool, int, float)):
                if isinstance(v, float) and not math.isfinite(v):
                    continue
                put(k, i, v)
            elif isinstance(v, dict):
                for k2, v2 in v.items():
                    if isinstance(v2, (bool, int, float)) and not (isinstance(v2, float) and not math.isfinite(v2)):
                        put(f"{k}.{k2}", i, v2)
    return cols


def shared_edges(arrays: list[np.ndarray], bins: int = 40, integer: bool = False, lo_zero: bool = False,
                 clip_q: float = 99.0) -> tuple[list[float], float | None]:
    """Bin edges shared by several datasets: from the smallest value (or 0) to the largest ``clip_q``
    percentile among them. Values above the top edge are counted in the last bin (the caption says so).
    Returns the edges and the clip value (None when nothing was clipped)."""
    vals = [a[np.isfinite(a)] for a in arrays if a is not None and np.size(a)]
    vals = [v for v in vals if v.size]
    if not vals:
        return [], None
    lo = 0.0 if lo_zero else float(min(v.min() for v in vals))
    full_hi = float(max(v.max() for v in vals))
    hi = float(max(np.percentile(v, clip_q) for v in vals))
    if hi <= lo:
        hi = full_hi if full_hi > lo else lo + 1.0
    if integer:
        lo, hi = math.floor(lo), math.ceil(hi)
        width = max(1, math.ceil((hi - lo + 1) / bins))
        edges = [float(lo + i * width) for i in range(int((hi - lo) // width) + 2)]
    else:
        edges = list(np.linspace(lo, hi, bins + 1))
    clipped = hi if full_hi > edges[-1] else None
    return [round(float(e), 6) for e in edges], clipped  # _r without its NaN guard: the edges are finite


def hist_counts(a: np.ndarray, edges: list[float]) -> list[int]:
    """Counts per bin; values past the last edge go to the last bin, below the first to the first."""
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    if len(edges) < 2:
        return []
    c, _ = np.histogram(np.clip(a, edges[0], edges[-1]), bins=np.asarray(edges))
    return [int(x) for x in c]


def top_counter(c: Counter, n: int = 10) -> dict[str, int]:
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
