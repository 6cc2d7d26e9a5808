"""``kmeans_diverse``: K-Means clustering, then a uniformly random m% of each cluster.

The "K-Means" diversity baseline of CodeACT (Lv et al., arXiv 2408.02193, Table III and Fig. 4): the same
clustering as CDAS (instruction embeddings, scikit-learn ``KMeans(k=10, random_state=42)``) but no complexity
signal, so each cluster contributes ``floor(m% x |cluster|)`` records drawn at random (seeded by the recipe
seed). The paper does not publish this baseline's code; the per-cluster floor and k follow CDAS's
``select_data.py``.
"""

from __future__ import annotations

import math

import numpy as np

from codecurate.ops.select._diversity import (
    EmbedConfig,
    EmbeddingSelector,
    kmeans_labels,
    stack,
)
from codecurate.pipeline.op import Decision
from codecurate.pipeline.registry import register


class KmeansDiverseConfig(EmbedConfig):
    k: int = 10
    m: float = 40.0  # percent of each cluster
    random_state: int = 42  # K-Means seed (CodeACT); the per-cluster draw uses the recipe seed


@register
class KmeansDiverse(EmbeddingSelector[KmeansDiverseConfig]):
    """K-Means on instruction embeddings, random m% of each cluster (CodeACT's diversity baseline)."""

    name = "kmeans_diverse"
    Config = KmeansDiverseConfig
    paper = "CodeACT (Lv et al., arXiv 2408.02193) Table III / Fig. 4 K-Means baseline"

    def reduce(self, payloads: list[dict]) -> list[Decision]:
        cfg = self.config
        if not 0 <= cfg.m <= 100:
            raise ValueError(f"kmeans_diverse: `m` is a percentage in [0, 100], got {cfg.m}")
        labels = kmeans_labels(stack(payloads), cfg.k, cfg.random_state)
        rng = np.random.default_rng(self.seed)
        keep = np.zeros(len(payloads), dtype=bool)
        for c in range(int(labels.max()) + 1 if len(labels) else 0):
            members = np.flatnonzero(labels == c)
            quota = int(math.floor(len(members) * cfg.m / 100.0 + 1e-9))
            keep[rng.choice(members, size=quota, replace=False)] = True
        out = []
        for i, c in enumerate(labels.tolist()):
            if keep[i]:
                self.count("kept")
                out.append(Decision(True, "", {"cluster": c}))
            else:
                self.count("dropped")
                out.append(Decision(False, f"kmeans_diverse: not in the random {cfg.m:g}% of cluster {c}",
                                    {"cluster": c}))
        return out
