"""``minhash_dedup``: MinHash LSH near-duplicate removal with code-aware shingles and exact verification.

Method: Broder (1997) MinHash + LSH banding, as in BigCode's near-dedup of The Stack (Kocetkov et al. 2022,
``bigcode-project/bigcode-dataset/near_deduplication``) and text-dedup (``src/text_dedup/minhash.py``).
Defaults from BigCode near-dedup: ``ngram_size=5``, ``num_perm=256``, ``threshold=0.7``; bands/rows chosen
by text-dedup's false-positive/false-negative optimum for that threshold (b=25, r=10 for 0.7/256) unless
given. Verification of candidate pairs by exact Jaccard (text-dedup's ``check_false_positive``, BigCode's
optional verification) is ON by default here (both peers default to off) so pairs that merely collide in one
band are not removed.

Deviations, all stated:
- Shingles are n-grams of code lexer tokens (``codecurate.code.tokens``), not whitespace/non-alnum words:
  whitespace-insensitive, comments dropped, identifiers normalized to a placeholder by default
  (``identifiers: placeholder``) so renaming variables and reformatting do not hide a copy. Attribute
  names, keywords, builtins, literals and operators are kept. ``identifiers: keep`` is the closest to
  BigCode's token shingles. Non-code fields (``instruction``, ``response``) are lexed the same way but
  their words are never normalized.
- Hashing: xxh3 per token, n-gram combine + multiply-shift permutations in numpy (see ``lsh.py``).
- Texts shorter than ``ngram_size`` tokens become one shingle (BigCode drops them, text-dedup collapses
  them); empty texts are never duplicates.
- Clusters are connected components of verified candidate edges (union-find), so with verification a
  chain A~B~C can hold A and C with J(A, C) < threshold, as in every peer.

Phases (``GlobalOp``): ``map_batch`` computes per record its band keys and, when verifying, its sorted
shingle hashes; ``reduce`` groups band keys with numpy sorts, verifies and unions, then keeps one record
per cluster by ``keep``: ``first`` (dataset order), ``longest`` (most characters in ``fields``) or
``score`` (highest ``score_field``, e.g. ``stats.ifd``; missing scores rank last). Each removed record's
ledger entry names the cluster (index of its first record), the kept representative's id, the record it
was matched to and their Jaccard.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import model_validator

from codecurate.code.tokens import code_tokens, ngram_hashes, token_hashes
from codecurate.ops.dedup.lsh import (UnionFind, band_hashes, bucket_groups, jaccard_sorted,
                                      optimal_bands_rows, permutations, signatures)
from codecurate.pipeline.op import Decision, FieldsConfig, GlobalOp
from codecurate.pipeline.registry import register
from codecurate.records import field_text, get_field

CODE_FIELDS = ("code",)


class MinHashDedupConfig(FieldsConfig):
    fields: list[str] = ["code"]
    ngram_size: int = 5
    num_perm: int = 256
    threshold: float = 0.7
    bands: int | None = None
    rows: int | None = None
    identifiers: Literal["keep", "placeholder", "index"] = "placeholder"
    keep_builtins: bool = False
    drop_comments: bool = True
    lexer: Literal["regex", "python"] = "regex"
    verify: bool = True
    keep: Literal["first", "longest", "score"] = "first"
    score_field: str | None = None
    # bound on pairwise checks inside one LSH bucket (a bucket of unrelated records colliding by chance)
    max_bucket_leaders: int = 64

    @model_validator(mode="after")
    def _check(self) -> "MinHashDedupConfig":
        if not self.fields:
            raise ValueError("fields: give at least one field (e.g. [code] or [instruction, code])")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows: give both or neither (neither = optimal for threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 1 <= self.ngram_size <= 12:
            raise ValueError(f"ngram_size must be 1..12, got {self.ngram_size}")
        if self.keep == "score" and not self.score_field:
            raise ValueError("keep: score needs score_field (e.g. stats.ifd)")
        return self


@register
class MinHashDedup(GlobalOp):
    __doc__ = __doc__
    name: ClassVar[str] = "minhash_dedup"
    Config = MinHashDedupConfig
    paper: ClassVar[str] = ("Broder 1997 MinHash; BigCode near-dedup (Kocetkov et al. 2022, The Stack) "
                            "defaults; text-dedup optimal b/r and false-positive check")

    def setup(self) -> None:
        c = self.config
        if c.bands is None:
            self.bands, self.rows = optimal_bands_rows(c.threshold, c.num_perm)
        else:
            self.bands, self.rows = c.bands, c.rows
        self._a, self._b = permutations(c.num_perm, self.seed)

    # -- map ----------------------------------------------------------------------------------------------
    def record_shingles(self, rec: dict) -> np.ndarray:
        """Sorted unique 64-bit shingle hashes of the record's ``fields``."""
        c = self.config
        parts = []
        for f in c.fields:
            text = field_text(rec, f)
            if not text:
                continue
            is_code = f in CODE_FIELDS
            toks = code_tokens(text, language=rec.get("language") or "python",
                               identifiers=c.identifiers if is_code else "keep",
                               drop_comments=c.drop_comments if is_code else False, lexer=c.lexer,
                               keep_builtins=c.keep_builtins)
            parts.append(ngram_hashes(token_hashes(toks), c.ngram_size))
        if not parts:
            return np.empty(0, dtype=np.uint64)
        return np.unique(np.concatenate(parts) if len(parts) > 1 else parts[0])

    def map_batch(self, records: list[dict]) -> list[Any]:
        self.ensure_setup()
        c = self.config
        sets = [self.record_shingles(r) for r in records]
        offsets = np.zeros(len(sets) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sets], out=offsets[1:])
        flat = np.concatenate(sets) if sets else np.empty(0, dtype=np.uint64)
        sig = signatures(flat, offsets, self._a, self._b)
        keys = band_hashes(sig, self.bands, self.rows)
        out = []
        for i, rec in enumerate(records):
            score = None
            if c.keep == "score":
                v = get_field(rec, c.score_field)
                score = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            length = sum(len(field_text(rec, f)) for f in c.fields)
            out.append((rec.get("id"), keys[i], sets[i] if c.verify else None, len(sets[i]), length, score))
        return out

    # -- reduce -------------------------------------------------------------------------------------------
    def reduce(self, payloads: list[Any]) -> list[Decision]:
        self.ensure_setup()
        c = self.config
        n = len(payloads)
        if n == 0:
            return []
        keys = np.stack([p[1] for p in payloads])
        valid = np.array([p[3] > 0 for p in payloads], dtype=bool)
        self.count("empty", int((~valid).sum()))
        uf = UnionFind(n)
        link = np.full(n, -1, dtype=np.int64)  # the record each record was first merged with
        link_j = np.full(n, np.nan)
        checked: set[tuple[int, int]] = set()
        for group in bucket_groups(keys, valid):
            leaders: list[int] = []
            for i in group.tolist():
                placed = False
                for lead in leaders:
                    if uf.find(i) == uf.find(lead):
                        placed = True
                        break
                    pair = (lead, i) if lead < i else (i, lead)
                    if pair in checked:
                        continue
                    checked.add(pair)
                    self.count("candidate_pairs")
                    if c.verify:
                        j = jaccard_sorted(payloads[lead][2], payloads[i][2])
                        if j < c.threshold:
                            self.count("rejected_pairs")
                            continue
                    else:
                        j = float("nan")
                    uf.union(i, lead)
                    for x, y in ((i, lead), (lead, i)):
                        if link[x] < 0:
                            link[x], link_j[x] = y, j
                    placed = True
                    break
                if not placed and len(leaders) < c.max_bucket_leaders:
                    leaders.append(i)
        roots = uf.roots()
        return self._decide(payloads, roots, link, link_j)

    def _representatives(self, payloads: list[Any], roots: np.ndarray) -> dict[int, int]:
        c = self.config
        reps: dict[int, int] = {}
        sizes = np.bincount(roots, minlength=len(roots))
        for i in np.flatnonzero(sizes[roots] > 1).tolist():
            r = int(roots[i])
            cur = reps.get(r)
            if cur is None:
                reps[r] = i
                continue
            if c.keep == "longest":
                better = payloads[i][4] > payloads[cur][4]
            elif c.keep == "score":
                si, sc = payloads[i][5], payloads[cur][5]
                better = si is not None and (sc is None or si > sc)
            else:
                better = False  # first in dataset order (indices come in increasing order)
            if better:
                reps[r] = i
        return reps

    def _decide(self, payloads, roots, link, link_j) -> list[Decision]:
        reps = self._representatives(payloads, roots)
        sizes = np.bincount(roots, minlength=len(roots))
        decisions = []
        for i, p in enumerate(payloads):
            r = int(roots[i])
            if sizes[r] < 2:
                decisions.append(Decision())
                continue
            rep = reps[r]
            stats = {"dup_cluster": r, "dup_cluster_size": int(sizes[r])}
            if i == rep:
                decisions.append(Decision(stats=stats))
                continue
            self.count("duplicates_removed")
            rep_id = payloads[rep][0]
            j = float(link_j[i])
            decisions.append(Decision(
                keep=False,
                reason=f"near-duplicate of {rep_id} (cluster {r})",
                stats=stats,
                detail={"cluster": r, "kept": rep_id, "cluster_size": int(sizes[r]),
                        "matched": payloads[int(link[i])][0] if link[i] >= 0 else None,
                        "jaccard": None if np.isnan(j) else round(j, 4), "keep_rule": self.config.keep},
            ))
        self.count("clusters", len(reps))
        return decisions
