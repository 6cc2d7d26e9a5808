"""``minhash_dedup``: MinHash LSH near-duplicate removal with code-aware shingles and exact verification.

Method: Broder (1997) MinHash + LSH banding, as in BigCode's near-dedup of The Stack (Kocetkov et al. 2022,
``bigcode-project/bigcode-dataset/near_deduplication``) and text-dedup (``src/text_dedup/minhash.py``).
Defaults from BigCode near-dedup: ``ngram_size=5``, ``num_perm=256``; bands/rows chosen by text-dedup's
false-positive/false-negative optimum for the threshold (b=13, r=19 for 0.85/256; b=25, r=10 for 0.7) unless
given. Verification of candidate pairs by exact Jaccard (text-dedup's ``check_false_positive``, BigCode's
optional verification) is ON by default here (both peers default to off).

Deviations, all stated:
- Shingles are n-grams of code lexer tokens (``codecurate.code.tokens``), not whitespace/non-alnum words:
  whitespace-insensitive, comments dropped, and by default (``identifiers: local``) every name the code
  chose is replaced, inside each n-gram window, by the index of its first occurrence in that window, so
  renaming variables and reformatting do not hide a copy, while ``a = b + a`` still differs from
  ``a = b + c``. Keywords (per language), builtins (unless the record binds them: ``list = []``), API
  attributes (``.append``), literals and operators keep their spelling. ``identifiers: placeholder`` (all
  names -> ``ID``) and ``index`` (first occurrence in the whole text) are available; ``identifiers: keep``
  is the closest to BigCode's token shingles. Non-code fields (``instruction``, ``response``) are lexed the
  same way but their words are never normalized.
- ``threshold`` defaults to 0.85, not BigCode's 0.7: renaming-invariant shingles raise the Jaccard of
  unrelated but same-shaped code, and 0.85 is where they flag as many pairs of real code (MBPP, HumanEval,
  LeetCode, Code Alpaca, Evol-Instruct: 7,223 snippets) as raw-token Jaccard >= 0.7 plus exact
  alpha-equivalence do (265 vs 274 pairs; benchmarks/bench_dedup.py). Set ``threshold: 0.7`` for BigCode's.
- Clustering (``clustering: star``, default): records are walked best-first (``keep`` rule); a record not
  yet removed is kept and removes each candidate neighbour whose verified Jaccard with it is >= threshold.
  So every removed record is a verified near-duplicate of a kept one. Peers (BigCode, text-dedup,
  datatrove) take connected components (union-find) instead, where a chain A~B~C removes C for A even when
  J(A, C) is low; that is ``clustering: components``.
- Hashing: xxh3 per distinct token, n-gram combine + multiply-shift permutations in numpy (see ``lsh.py``);
  a whole batch is shingled and signed with array operations (no Python loop per token or shingle).
- Texts shorter than ``ngram_size`` tokens become one shingle (BigCode drops them, text-dedup collapses
  them); empty texts are never duplicates.

Phases (``GlobalOp``): ``map_batch`` computes per record its band keys and, when verifying, its shingle
hashes; ``reduce`` finds candidate pairs with one numpy sort per band, verifies lazily (only pairs a kept
record needs) and clusters, keeping one record per cluster by ``keep``: ``first`` (dataset order),
``longest`` (most characters in ``fields``) or ``score`` (highest ``score_field``, e.g. ``stats.ifd``;
missing scores rank last). Each removed record's ledger entry names the cluster (index of the kept record
for ``star``, of the component root for ``components``), the kept representative's id, the record it was
matched to and their Jaccard.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import model_validator

from codecurate.code.tokens import batch_shingle_pairs, group_unique
from codecurate.ops.dedup.lsh import (
    UnionFind,
    band_hashes,
    candidate_pairs,
    jaccard_sorted,
    optimal_bands_rows,
    permutations,
    signatures,
)
from codecurate.pipeline.op import Decision, FieldsConfig, GlobalOp
from codecurate.pipeline.registry import register
from codecurate.records import field_text, get_field

CODE_FIELDS = ("code",)


class MinHashDedupConfig(FieldsConfig):
    fields: list[str] = ["code"]
    ngram_size: int = 5
    num_perm: int = 256
    threshold: float = 0.85
    bands: int | None = None
    rows: int | None = None
    identifiers: Literal["keep", "placeholder", "index", "local"] = "local"
    keep_builtins: bool = True
    drop_comments: bool = True
    lexer: Literal["regex", "python"] = "regex"
    verify: bool = True
    keep: Literal["first", "longest", "score"] = "first"
    score_field: str | None = None
    clustering: Literal["star", "components"] = "star"
    # inside one LSH bucket each record is compared with the next this-many bucket members (bounds the
    # work of a huge bucket, e.g. thousands of copies of one boilerplate file)
    max_bucket_leaders: int = 64

    @model_validator(mode="after")
    def _check(self) -> MinHashDedupConfig:
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
    def shingle_sets(self, records: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique 64-bit shingle hashes of each record's ``fields``, flat: record ``i``'s set is
        ``flat[offsets[i]:offsets[i + 1]]``. One vectorized pass per field over the whole batch."""
        c = self.config
        langs = [r.get("language") or "python" for r in records]
        recs, hashes = [], []
        for f in c.fields:
            texts = [field_text(r, f) or "" for r in records]
            is_code = f in CODE_FIELDS
            r_idx, h = batch_shingle_pairs(
                texts, c.ngram_size, languages=langs, identifiers=c.identifiers if is_code else "keep",
                drop_comments=c.drop_comments if is_code else False, lexer=c.lexer, keep_builtins=c.keep_builtins)
            recs.append(r_idx)
            hashes.append(h)
        return group_unique(np.concatenate(recs), np.concatenate(hashes), len(records))

    def record_shingles(self, rec: dict) -> np.ndarray:
        """Sorted unique 64-bit shingle hashes of one record's ``fields``."""
        return self.shingle_sets([rec])[0]

    def map_batch(self, records: list[dict]) -> list[Any]:
        self.ensure_setup()
        c = self.config
        flat, offsets = self.shingle_sets(records)
        used = self.bands * self.rows  # permutations past bands*rows would never be read
        sig = signatures(flat, offsets, self._a[:used], self._b[:used])
        keys = band_hashes(sig, self.bands, self.rows)
        out = []
        for i, rec in enumerate(records):
            score = None
            if c.keep == "score":
                v = get_field(rec, c.score_field)
                score = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            length = sum(len(field_text(rec, f) or "") for f in c.fields)
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            # raw bytes, not arrays: payloads cross process boundaries, and bytes pickle ~10x faster
            out.append((rec.get("id"), keys[i].tobytes(), flat[lo:hi].tobytes() if c.verify else None, hi - lo,
                        length, score))
        return out

    # -- reduce -------------------------------------------------------------------------------------------
    def reduce(self, payloads: list[Any]) -> list[Decision]:
        self.ensure_setup()
        c = self.config
        n = len(payloads)
        if n == 0:
            return []
        keys = np.frombuffer(b"".join(p[1] for p in payloads), dtype=np.uint64).reshape(n, -1)
        valid = np.array([p[3] > 0 for p in payloads], dtype=bool)
        self.count("empty", int((~valid).sum()))
        pairs = candidate_pairs(keys, valid, window=c.max_bucket_leaders)
        self.count("candidate_pairs", len(pairs))
        order = self._priority(payloads)
        if c.clustering == "star":
            return self._star(payloads, pairs, order)
        return self._components(payloads, pairs, order)

    def _similar(self, payloads: list[Any], i: int, j: int) -> tuple[bool, float]:
        if not self.config.verify:
            return True, float("nan")
        jac = jaccard_sorted(np.frombuffer(payloads[i][2], dtype=np.uint64),
                             np.frombuffer(payloads[j][2], dtype=np.uint64))
        self.count("verified_pairs")
        if jac < self.config.threshold:
            self.count("rejected_pairs")
            return False, jac
        return True, jac

    def _priority(self, payloads: list[Any]) -> list[int]:
        """Record indices, best to keep first: dataset order, or longest, or highest score (missing last)."""
        c = self.config
        n = len(payloads)
        if c.keep == "longest":
            return sorted(range(n), key=lambda i: (-payloads[i][4], i))
        if c.keep == "score":
            return sorted(range(n), key=lambda i: (payloads[i][5] is None, -(payloads[i][5] or 0.0), i))
        return list(range(n))

    def _star(self, payloads: list[Any], pairs: np.ndarray, order: list[int]) -> list[Decision]:
        """Greedy star clustering: walk records best-first; a record not yet removed is kept and removes
        every candidate neighbour not yet decided whose verified Jaccard with it is >= threshold. Every
        removed record is thus a verified near-duplicate of a kept one (no chains)."""
        n = len(payloads)
        both = np.concatenate([pairs, pairs[:, ::-1]])
        both = both[np.lexsort((both[:, 1], both[:, 0]))]
        starts = np.searchsorted(both[:, 0], np.arange(n + 1))
        nbr = both[:, 1]
        rep = np.full(n, -1, dtype=np.int64)  # kept record that removed this one
        rep_j = np.full(n, np.nan)
        kept = np.zeros(n, dtype=bool)
        rank = np.empty(n, dtype=np.int64)
        rank[np.array(order, dtype=np.int64)] = np.arange(n)
        for i in order:
            if rep[i] >= 0:
                continue
            kept[i] = True
            for j in nbr[starts[i]:starts[i + 1]].tolist():
                if rep[j] >= 0 or kept[j] or rank[j] < rank[i]:
                    continue
                ok, jac = self._similar(payloads, i, j)
                if ok:
                    rep[j], rep_j[j] = i, jac
        size = np.bincount(rep[rep >= 0], minlength=n) + 1
        decisions = []
        for i, p in enumerate(payloads):
            if rep[i] < 0:
                decisions.append(Decision(stats={"dup_cluster": i, "dup_cluster_size": int(size[i])})
                                 if size[i] > 1 else Decision())
                continue
            r = int(rep[i])
            decisions.append(self._removed(payloads, r, r, int(size[r]), r, float(rep_j[i])))
        self.count("clusters", int((size > 1).sum()))
        return decisions

    def _components(self, payloads: list[Any], pairs: np.ndarray, order: list[int]) -> list[Decision]:
        """Peers' clustering: connected components of verified candidate edges (union-find); one record per
        component is kept, even where it is not itself similar to every removed member."""
        n = len(payloads)
        uf = UnionFind(n)
        link = np.full(n, -1, dtype=np.int64)
        link_j = np.full(n, np.nan)
        for i, j in pairs.tolist():
            if uf.find(i) == uf.find(j):
                continue
            ok, jac = self._similar(payloads, i, j)
            if not ok:
                continue
            uf.union(i, j)
            for x, y in ((i, j), (j, i)):
                if link[x] < 0:
                    link[x], link_j[x] = y, jac
        roots = uf.roots()
        sizes = np.bincount(roots, minlength=n)
        reps: dict[int, int] = {}
        for i in order:
            reps.setdefault(int(roots[i]), i)
        decisions = []
        for i in range(n):
            r = int(roots[i])
            if sizes[r] < 2:
                decisions.append(Decision())
            elif reps[r] == i:
                decisions.append(Decision(stats={"dup_cluster": r, "dup_cluster_size": int(sizes[r])}))
            else:
                decisions.append(self._removed(payloads, r, reps[r], int(sizes[r]), int(link[i]), float(link_j[i])))
        self.count("clusters", len({int(roots[i]) for i in range(n) if sizes[roots[i]] > 1}))
        return decisions

    def _removed(self, payloads, cluster: int, rep: int, size: int, matched: int, jac: float) -> Decision:
        self.count("duplicates_removed")
        rep_id = payloads[rep][0]
        return Decision(
            keep=False,
            reason=f"near-duplicate of {rep_id} (cluster {cluster})",
            stats={"dup_cluster": cluster, "dup_cluster_size": size},
            detail={"cluster": cluster, "kept": rep_id, "cluster_size": size,
                    "matched": payloads[matched][0] if matched >= 0 else None,
                    "jaccard": None if np.isnan(jac) else round(jac, 4), "keep_rule": self.config.keep},
        )
