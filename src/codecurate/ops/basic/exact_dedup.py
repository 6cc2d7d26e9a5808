"""``exact_dedup``: drop records whose normalized chosen fields hash the same as an earlier record's; keep first.

Normalization (each switchable): strip, collapse whitespace runs, lowercase. The hash is xxh3-128 of the fields
joined with a separator, so instruction+code pairs are compared as a pair.
"""

from __future__ import annotations

import re
from typing import Any

import xxhash

from codecurate.pipeline.op import top_fields, Decision, FieldsConfig, GlobalOp
from codecurate.pipeline.registry import register
from codecurate.records import field_text

_WS = re.compile(r"\s+")


class ExactDedupConfig(FieldsConfig):
    fields: list[str] = ["instruction", "response"]
    lowercase: bool = False
    collapse_whitespace: bool = True


@register
class ExactDedup(GlobalOp[ExactDedupConfig]):
    """Keep the first record of each group of identical (normalized) fields."""

    name = "exact_dedup"
    Config = ExactDedupConfig
    writes = frozenset()

    def reads(self):
        return top_fields(self.config.fields)

    def map_batch(self, records):
        cfg = self.config
        out = []
        for r in records:
            parts = []
            for f in cfg.fields:
                t = field_text(r, f).strip()
                if cfg.collapse_whitespace:
                    t = _WS.sub(" ", t)
                if cfg.lowercase:
                    t = t.lower()
                parts.append(t)
            out.append((r["id"], xxhash.xxh3_128_hexdigest("\x1f".join(parts).encode())))
        return out

    def reduce(self, payloads: list[Any]) -> list[Decision]:
        first: dict[str, str] = {}
        decisions = []
        for rid, h in payloads:
            if h in first:
                decisions.append(Decision(False, f"exact_dedup: duplicate (of {first[h]})", detail={"kept": first[h]}))
            else:
                first[h] = rid
                decisions.append(Decision(True))
        return decisions
