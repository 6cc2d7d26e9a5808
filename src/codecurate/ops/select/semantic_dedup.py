"""``semantic_dedup``: drop records whose embedding is too close to an earlier record (SemDeDup-style).

SemDeDup (Abbas et al., "SemDeDup: Data-efficient learning at web-scale through semantic deduplication",
arXiv 2303.09540): embed every document, cluster with K-Means so that pairwise comparisons stay inside a
cluster (O(sum of cluster sizes squared) instead of O(n^2)), and inside each cluster remove documents whose
cosine similarity to another exceeds 1 - eps.

Here, inside each cluster records are visited in dataset order and:
- ``compare_to: kept`` (default): a record is dropped iff its cosine similarity to an earlier **kept** record
  of its cluster is > ``threshold`` (greedy; a chain a~b~c with a !~ c keeps a and c);
- ``compare_to: all``: dropped iff its similarity to **any** earlier record of the cluster is > ``threshold``
  (SemDeDup's upper-triangle rule, which removes more).
The ledger reason names the most similar earlier record and the similarity. Pairs split across clusters are
not compared (SemDeDup's trade-off); ``k: 1`` compares everything. Deviation: SemDeDup orders each cluster by
distance to its centroid and keeps the farthest ("hardest") copy; dataset order keeps the first occurrence,
which is what users of dedup tools expect.

Defaults (not from SemDeDup's image/web settings): threshold 0.95 (eps = 0.05), ``k`` = n // 1000 clusters
(at least 1), all-MiniLM-L6-v2 on instruction + response.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from codecurate.ops.select._diversity import (
    EmbedConfig,
    EmbeddingSelector,
    kmeans_labels,
    score_first_filter,
    stack,
)
from codecurate.pipeline.op import Decision
from codecurate.pipeline.registry import register


class SemanticDedupConfig(EmbedConfig):
    embed_fields: list[str] = ["instruction", "response"]
    threshold: float = 0.95
    k: int | None = None  # clusters; None = max(1, n // 1000)
    random_state: int = 42
    compare_to: Literal["kept", "all"] = "kept"


def earliest_similar(emb: np.ndarray, threshold: float, block: int = 1024) -> dict[int, tuple[int, float]]:
    """For each row i, the most similar earlier row j < i if that similarity is > threshold (blocked)."""
    out: dict[int, tuple[int, float]] = {}
    for s in range(1, len(emb), block):
        e = min(s + block, len(emb))
        sims = emb[s:e] @ emb[:e].T
        rows = np.arange(s, e)
        sims[(np.arange(e)[None, :] >= rows[:, None])] = -np.inf  # only earlier rows count
        j = sims.argmax(1)
        best = sims[np.arange(e - s), j]
        for a in np.flatnonzero(best > threshold):
            out[int(rows[a])] = (int(j[a]), float(best[a]))
    return out


@register
class SemanticDedup(EmbeddingSelector[SemanticDedupConfig]):
    """Embedding near-duplicate removal inside K-Means clusters."""

    name = "semantic_dedup"
    Config = SemanticDedupConfig
    paper = "SemDeDup (Abbas et al., arXiv 2303.09540)"

    def map_batch(self, records: list[dict]) -> list[dict]:
        return [{"emb": e, "id": r.get("id")} for e, r in zip(self.embed(records), records)]

    def reduce(self, payloads: list[dict]) -> list[Decision]:
        cfg = self.config
        n = len(payloads)
        if n == 0:
            return []
        emb = stack(payloads)
        k = cfg.k if cfg.k is not None else max(1, n // 1000)
        labels = kmeans_labels(emb, k, cfg.random_state) if k > 1 else np.zeros(n, dtype=np.int64)
        dup: dict[int, tuple[int, float]] = {}
        for c in range(int(labels.max()) + 1):
            members = np.flatnonzero(labels == c)  # ascending = dataset order
            if cfg.compare_to == "kept":
                _, rejected = score_first_filter(emb, members, cfg.threshold, None)
                dup.update(rejected)
            else:
                local = earliest_similar(emb[members], cfg.threshold)
                dup.update({int(members[a]): (int(members[b]), s) for a, (b, s) in local.items()})
        out = []
        for i, c in enumerate(labels.tolist()):
            if i in dup:
                j, s = dup[i]
                self.count("dropped_duplicate")
                out.append(Decision(False, f"semantic_dedup: cosine similarity {s:.4f} > {cfg.threshold:g} to "
                                           f"{'kept' if cfg.compare_to == 'kept' else 'earlier'} record "
                                           f"{payloads[j]['id']!r} (cluster {c})",
                                    {"cluster": c, "semdedup_similarity": s,
                                     "semdedup_duplicate_of": payloads[j]["id"]}))
            else:
                self.count("kept")
                out.append(Decision(True, "", {"cluster": c}))
        return out
