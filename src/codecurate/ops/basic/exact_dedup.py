"""``exact_dedup``: drop records whose normalized chosen fields hash the same as an earlier record's; keep first.

Normalization (each switchable): strip, collapse whitespace runs, lowercase. The hash is xxh3-128 of the fields
joined with a separator, so instruction+code pairs are compared as a pair.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from codecurate.pipeline.op import top_fields, Decision, FieldsConfig, GlobalOp, ids_at
from codecurate.pipeline.registry import register
from codecurate.records import field_text

_WS = re.compile(r"\s+")
_DIGEST = np.dtype((np.void, 16))  # one xxh3-128 digest; np.unique compares them bytewise


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

    def _hashes(self, records: list[dict]) -> np.ndarray:
        """xxh3-128 digests of the normalized fields, one 16-byte row per record."""
        cfg = self.config
        out = bytearray()
        for r in records:
            parts = []
            for f in cfg.fields:
                t = field_text(r, f).strip()
                if cfg.collapse_whitespace:
                    t = _WS.sub(" ", t)
                if cfg.lowercase:
                    t = t.lower()
                parts.append(t)
            out += xxhash.xxh3_128_digest("\x1f".join(parts).encode())
        return np.frombuffer(bytes(out), dtype=_DIGEST)

    def map_batch(self, records):
        return list(zip([r["id"] for r in records], self._hashes(records).tolist()))

    def reduce(self, payloads):
        digests = np.array([h for _, h in payloads], dtype=_DIGEST)
        ids = [rid for rid, _ in payloads]
        return self._decide(digests, lambda wanted: {i: ids[i] for i in wanted.tolist()}, [len(payloads)])[0]

    def map_shard(self, records, path: Path) -> None:
        """Out of core: 16 bytes per record and the shard's ids."""
        self._hashes(records).tofile(path / "digests.bin")
        (path / "ids.json").write_text(json.dumps([r["id"] for r in records]))

    def reduce_shards(self, paths, sizes):
        digests = np.concatenate([np.fromfile(p / "digests.bin", dtype=_DIGEST) for p in paths] or
                                 [np.empty(0, dtype=_DIGEST)])
        starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)

        def ids(wanted: np.ndarray) -> dict[int, Any]:  # read only the shards that hold a kept original
            return ids_at(starts, wanted, lambda k: json.loads((paths[k] / "ids.json").read_text()))

        yield from self._decide(digests, ids, sizes)

    def _decide(self, digests: np.ndarray, ids, sizes) -> list[list[Decision]]:
        """Keep the first record of each digest; ``ids(indices)`` maps the kept originals' indices to ids."""
        n = len(digests)
        _, first_idx, inv = np.unique(digests, return_index=True, return_inverse=True)
        first = first_idx[inv.ravel()]
        dup = first != np.arange(n)
        names = ids(np.unique(first[dup]))
        out, pos = [], 0
        for size in sizes:
            decisions = []
            for i in range(pos, pos + size):
                if dup[i]:
                    kept = names[int(first[i])]
                    decisions.append(Decision(False, f"exact_dedup: duplicate (of {kept})", detail={"kept": kept}))
                else:
                    decisions.append(Decision(True))
            out.append(decisions)
            pos += size
        return out
