"""``random_select``: keep a seeded random fraction or count of the records (the selection baseline)."""

from __future__ import annotations

from typing import cast

import numpy as np
from pydantic import model_validator

from codecurate.pipeline.op import Decision, GlobalOp, OpConfig
from codecurate.pipeline.registry import register


class RandomSelectConfig(OpConfig):
    fraction: float | None = None
    count: int | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.fraction is None) == (self.count is None):
            raise ValueError("give exactly one of fraction (0-1] or count (>= 0)")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        return self


@register
class RandomSelect(GlobalOp[RandomSelectConfig]):
    """Uniform sample without replacement (numpy PCG64 seeded by the recipe seed); order is preserved."""

    name = "random_select"
    Config = RandomSelectConfig
    writes = frozenset()

    def reads(self):
        return set()

    def reduce(self, payloads):
        return self._decide([len(payloads)])[0]

    def map_shard(self, records, path) -> None:
        """Nothing to spill: the sample needs only the shard sizes."""

    def reduce_shards(self, paths, sizes):
        yield from self._decide(sizes)

    def _decide(self, sizes: list[int]) -> list[list[Decision]]:
        n = sum(sizes)
        c = self.config
        k = c.count if c.count is not None else int(round(cast(float, c.fraction) * n))  # the config sets one
        k = min(k, n)
        chosen = np.zeros(n, dtype=bool)
        chosen[np.random.default_rng(self.seed).choice(n, size=k, replace=False)] = True
        keep, drop = Decision(True), Decision(False, f"random_select: not among the {k} sampled of {n}")
        out, pos = [], 0
        for size in sizes:
            out.append([keep if c else drop for c in chosen[pos:pos + size].tolist()])
            pos += size
        return out
