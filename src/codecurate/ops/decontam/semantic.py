"""The ``semantic`` decontamination detector: embedding retrieval of the nearest benchmark items.

Method: the first stage of the "LLM decontaminator" (Yang et al. 2023, "Rethinking Benchmark and Contamination
for Language Models with Rephrased Samples", arXiv 2311.04850): embed every training text and every benchmark
item, retrieve the top-k most similar benchmark items per training record (cosine similarity of L2-normalized
sentence embeddings), then decide, either by a similarity threshold or by asking an LLM whether the pair is the
same problem (``judge.py``).

- Benchmark side: each ``TestItem`` has one or more *views* (``TestItem.views()``: the problem description without
  examples, and for HumanEval the whole docstring); an item's similarity is its best view's.
- Training side (``record_texts``): every user turn of a multi-turn record separately (a leak in turn 3 is not
  diluted by turns 1-2), plus any other field named in ``fields``. A text longer than ``chunk_words`` words is
  also embedded paragraph by paragraph (blank-line separated), and a paragraph longer than that in overlapping
  windows of ``chunk_words`` words (stride half that), because the default model (all-MiniLM-L6-v2) reads only
  the first 256 word pieces: a problem pasted after a long preamble is still seen on its own. A record's
  similarity to an item is its best text's.
- Search is exact: one matrix product per batch (records x views), reduced to items with ``np.maximum.reduceat``
  and to the top-k with ``argpartition``. With 1-2k benchmark items (HumanEval(+), MBPP(+), the LCB/BCB samples)
  this costs far less than embedding the records; an ANN index would only pay off at 10^5+ benchmark items.

Embeddings go through ``codecurate.models.embed.Embedder`` (packaged all-MiniLM-L6-v2 by default, disk cache keyed
by text), so a rerun or a second stage embeds nothing twice.
"""

from __future__ import annotations

import re

import numpy as np

from codecurate.ops.decontam.benchmarks_index import TestItem
from codecurate.ops.turns import user_turns
from codecurate.records import field_text

_PARA = re.compile(r"\n\s*\n")


def _windows(words: list[str], chunk_words: int) -> list[str]:
    step = max(1, chunk_words // 2)
    return [" ".join(words[i:i + chunk_words]) for i in range(0, len(words) - step, step)]


def _chunks(text: str, chunk_words: int) -> list[str]:
    """Paragraphs of a text longer than ``chunk_words`` words, and windows of the long paragraphs."""
    if chunk_words <= 0 or len(text.split()) <= chunk_words:
        return []
    out: list[str] = []
    paras = [p for p in _PARA.split(text) if len(p.split()) >= 5]
    for p in paras if len(paras) > 1 else [text]:
        words = p.split()
        if len(words) > chunk_words:
            out += _windows(words, chunk_words)
        elif len(paras) > 1:
            out.append(p.strip())
    return out


def record_texts(rec: dict, fields: list[str], turns: str = "all", chunk_words: int = 0) -> list[str]:
    """The texts of ``rec`` the semantic detector embeds (never empty: at least one string)."""
    out: list[str] = []
    for f in fields:
        if f == "instruction" and turns == "all":
            out += [t for t in user_turns(rec) if t and t.strip()]
        else:
            t = field_text(rec, f)
            if t and t.strip():
                out.append(t)
    extra = [c for t in out for c in _chunks(t, chunk_words)]
    out = list(dict.fromkeys(out + extra))
    return out or [""]


class SemanticIndex:
    """Benchmark item views embedded once; ``search`` returns each record's top-k items by cosine similarity."""

    def __init__(self, items: list[TestItem], embedder, batch_rows: int = 4096):
        self.items = items
        self.embedder = embedder
        self.batch_rows = batch_rows
        views: list[str] = []
        starts: list[int] = []
        for it in items:
            starts.append(len(views))
            views += it.views()
        self.n_views = len(views)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.V = np.ascontiguousarray(embedder.encode(views), dtype=np.float32)

    def item_similarities(self, Q: np.ndarray) -> np.ndarray:
        """[len(Q), n_items] best-view cosine similarity (rows of Q are unit vectors)."""
        S = Q @ self.V.T
        return np.maximum.reduceat(S, self.starts, axis=1)

    def search(self, texts_per_record: list[list[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices [n, k], similarities [n, k]) per record, best first; a record's similarity to an item
        is the best over its texts."""
        n = len(texts_per_record)
        k = max(1, min(k, len(self.items)))
        flat = [t for ts in texts_per_record for t in ts]
        owner_starts = np.cumsum([0] + [len(ts) for ts in texts_per_record[:-1]]).astype(np.int64)
        E = self.embedder.encode(flat) if flat else np.zeros((0, self.V.shape[1]), np.float32)
        idx = np.zeros((n, k), dtype=np.int64)
        sims = np.zeros((n, k), dtype=np.float32)
        # process whole records in row blocks so the [texts x views] product stays bounded
        r0 = 0
        while r0 < n:
            r1 = r0
            rows = 0
            while r1 < n and (rows == 0 or rows + len(texts_per_record[r1]) <= self.batch_rows):
                rows += len(texts_per_record[r1])
                r1 += 1
            t0 = int(owner_starts[r0])
            t1 = t0 + rows
            item_s = self.item_similarities(E[t0:t1])
            per_rec = np.maximum.reduceat(item_s, owner_starts[r0:r1] - t0, axis=0)
            part = np.argpartition(-per_rec, k - 1, axis=1)[:, :k]
            ps = np.take_along_axis(per_rec, part, axis=1)
            order = np.argsort(-ps, axis=1, kind="stable")
            idx[r0:r1] = np.take_along_axis(part, order, axis=1)
            sims[r0:r1] = np.take_along_axis(ps, order, axis=1)
            r0 = r1
        return idx, sims


# ---------------------------------------------------------------- the calibrated decision
# Features of a (record, benchmark item) pair for the calibrated decision, in this order:
#   cos    - the record's cosine similarity to the item (best text x best view);
#   margin - cos minus the record's best similarity to any *other* problem (items with the same case-folded
#            task id, e.g. HumanEval/3 in HumanEval and HumanEval+, are one problem);
#   csls   - cos minus the item's hubness: the mean similarity of the item to its ``hub_k`` nearest documents of
#            a reference corpus of ordinary instructions (CSLS, Conneau et al. 2018, "Word translation without
#            parallel data"): generic items ("is this string a palindrome?") are near many ordinary instructions
#            and need more than specific ones.
FEATURES = ("cos", "margin", "csls")
CALIBRATION_FILE = "semantic_calibration.json"


def problem_key(task_id: str) -> str:
    """Items of one problem share this key (HumanEval/3 in HumanEval and HumanEval+, mbpp/12 and Mbpp/12)."""
    return task_id.lower()


def load_hubness(path: str | None = None) -> dict:
    """The hubness table: ``{"meta": {...}, "hub": {problem key: value}}``. Default: the table shipped as package
    data (``codecurate/data/decontam/semantic_calibration.json``, built by ``benchmarks/bench_decontam.py
    --build-calibration`` for all-MiniLM-L6-v2 and the shipped benchmarks)."""
    import json
    from importlib import resources
    from pathlib import Path

    p = Path(path) if path else Path(str(resources.files("codecurate") / "data" / "decontam" / CALIBRATION_FILE))
    if not p.exists():
        raise ValueError(f"semantic calibration table not found: {p}")
    data = json.loads(p.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("hub"), dict) or "meta" not in data:
        raise ValueError(f"{p}: not a semantic calibration table (expected an object with 'meta' and 'hub')")
    return data


def item_hubness(items: list[TestItem], table: dict) -> tuple[np.ndarray, int]:
    """Per item hubness from ``table``; items it lacks (a user's own benchmark) get the table's median.
    Returns (values, number of items that got the median)."""
    hub = table["hub"]
    med = float(np.median(list(hub.values()))) if hub else 0.0
    vals = [hub.get(problem_key(it.task_id)) for it in items]
    missing = sum(v is None for v in vals)
    return np.array([med if v is None else v for v in vals], dtype=np.float32), missing


def hubness_from_reference(index: SemanticIndex, reference: np.ndarray, k: int) -> np.ndarray:
    """Each item's mean similarity to its ``k`` nearest rows of ``reference`` (unit vectors)."""
    S = index.item_similarities(reference)
    k = max(1, min(k, len(reference)))
    return np.sort(S, axis=0)[-k:].mean(0)


def pair_features(idx: np.ndarray, sims: np.ndarray, keys: list[str], hub: np.ndarray,
                  n_candidates: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each record, its first ``n_candidates`` distinct problems among its top-k items (``idx``/``sims``
    from ``SemanticIndex.search``, best first): (item index [n, c] (-1 = none), features [n, c, 3]).
    ``keys``: problem key per item. The margin's runner-up is the best *other* problem in the top-k (0 when
    there is none), so k should exceed ``n_candidates`` by the number of duplicated problems (search k=10)."""
    n = idx.shape[0]
    cand = np.full((n, n_candidates), -1, dtype=np.int64)
    feats = np.zeros((n, n_candidates, len(FEATURES)), dtype=np.float32)
    for i in range(n):
        seen: dict[str, float] = {}
        first: list[tuple[int, str, float]] = []
        for t, s in zip(idx[i].tolist(), sims[i].tolist()):
            key = keys[t]
            if key in seen:
                continue
            seen[key] = s
            first.append((t, key, s))
        for c, (t, key, s) in enumerate(first[:n_candidates]):
            other = max((s2 for t2, k2, s2 in first if k2 != key), default=0.0)
            cand[i, c] = t
            feats[i, c] = (s, s - other, s - hub[t])
    return cand, feats


def calibrated_scores(feats: np.ndarray, weights: list[float], cand: np.ndarray) -> np.ndarray:
    """Logistic-regression decision values ``w0 + w . features`` per candidate ([n, c]; -inf where none)."""
    w = np.asarray(weights, dtype=np.float32)
    out = w[0] + feats @ w[1:]
    out[cand < 0] = -np.inf
    return out
