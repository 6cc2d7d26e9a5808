"""``cdas``: CodeACT's Complexity and Diversity Aware Sampling.

Paper: Lv, Xia, Huang, "CodeACT: Code Adaptive Compute-efficient Tuning Framework for Code LLMs",
arXiv 2408.02193; code ``Kyle-Lyu/CodeACT@4900323482d5:CDAS/{calculate_ifd,get_embedding,select_data}.py``
(selection_algorithms.md §1).

Algorithm (defaults from ``select_data.py``):
0. Records with an empty instruction or response are dropped first, before scoring, embedding and clustering
   (``calculate_ifd.py`` keeps an item only ``if question and answer``, and ``get_embedding.py`` /
   ``select_data.py`` read that file), so they take no part in K-Means and no ``failed_ifd`` setting selects
   them. "Empty" is Python's falsy, as there: ``""`` (a whitespace-only text is not empty).
1. Embed the **instruction** of every remaining record; cluster with scikit-learn ``KMeans(n_clusters=k,
   random_state=42)`` and library defaults (k = 10).
2. Per cluster, in label order: drop records with ``IFD >= 1``; sort by IFD descending (stable: ties keep
   dataset order); keep the first ``int(len(filtered cluster) * ratio)`` records, ratio = m / 100 (m = 40), the
   expression ``select_data.py`` uses: a float product truncated, so e.g. 180 records at m = 35 keep
   ``int(180 * 0.35) = int(62.99999999999999) = 62``, not 63. ``m`` is turned into the ratio through its
   decimal text (35 -> 0.35, 33.3 -> 0.333), so the ratio is the float CodeACT's ``--ratio 0.35`` parses to.
   m% applies to the cluster size **after** the IFD filter, as in the code, so fewer than m% of the input
   survive.

IFD comes from ``stats.ifd`` when an earlier stage computed it (``ifd_select``/``score_ifd``); otherwise, when
``model`` is set, this op scores the records itself with ``codecurate.models.ifd.IFDScorer`` (formula,
template and max length configurable; CodeACT's ``ppl_ratio`` and ``Question:/Answer:`` template by default).

Deviations (documented; the faithful behaviour is an option):
- A record whose IFD failed (``None``/NaN, with the scorer's error) is dropped with that error as the reason.
  CodeACT turns failures into IFD = 0, which then survives the ``< 1`` filter; ``failed_ifd: as_zero`` does that.
- Embedding model: CodeACT used ``sentence-transformers/all-mpnet-base-v2`` (plain transformers, mean pooling,
  max length 512). The default here is the packaged all-MiniLM-L6-v2 (no download); for exact replication set
  ``embed_model: sentence-transformers/all-mpnet-base-v2``, ``embed_backend: transformers``,
  ``embed_max_length: 512``.
- Every field of every record is kept (CodeACT writes only question/answer/IFD).

IFD precision: the scorer runs the model in fp16 on a GPU, as ``calculate_ifd.py`` loads it
(``torch_dtype=torch.float16``), and in fp32 on CPU (``dtype`` sets either). CDAS is single-turn, as CodeACT
(question/answer columns): a multi-turn record is scored and embedded on its first turn.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

import numpy as np

from codecurate.ops.select._diversity import (
    EmbedConfig,
    EmbeddingSelector,
    kmeans_labels,
    stack,
)
from codecurate.pipeline.op import Decision
from codecurate.pipeline.registry import register


class CdasConfig(EmbedConfig):
    k: int = 10
    m: float = 40.0  # percent of each (IFD-filtered) cluster to keep
    random_state: int = 42
    ifd_threshold: float = 1.0  # drop IFD >= this
    failed_ifd: Literal["drop", "as_zero"] = "drop"
    ifd_field: str = "ifd"  # key in record["stats"]
    # IFD scorer, used only for records without stats[ifd_field]
    model: str | None = None
    formula: Literal["ppl_ratio", "loss_ratio"] = "ppl_ratio"
    template: str | None = None
    max_length: int | None = None
    batch_size: int = 8
    dtype: Literal["fp32", "bf16", "fp16"] | None = None  # None: fp16 on GPU (CodeACT), fp32 on CPU


def codeact_quota(n: int, m: float) -> int:
    """``int(len(cluster) * ratio)`` as CodeACT's select_data.py, with ratio = m / 100 as the float that
    ``--ratio`` parses to (via the decimal text of m: 35 -> 0.35)."""
    ratio = float(Decimal(repr(float(m))) / Decimal(100))
    return int(n * ratio)


@register
class Cdas(EmbeddingSelector[CdasConfig]):
    """CodeACT CDAS: K-Means on instruction embeddings, top m% by IFD per cluster after dropping IFD >= 1."""

    name = "cdas"
    Config = CdasConfig
    paper = "CodeACT (Lv et al., arXiv 2408.02193), Kyle-Lyu/CodeACT CDAS/select_data.py"

    def setup(self) -> None:
        super().setup()
        self._scorer = None

    def _ifd_scorer(self):
        if self._scorer is None:
            from codecurate.models.ifd import IFDScorer

            kw = {"formula": self.config.formula, "batch_size": self.config.batch_size,
                  "device": self.config.device, "dtype": self.config.dtype}
            if self.config.template is not None:
                kw["template"] = self.config.template
            if self.config.max_length is not None:
                kw["max_length"] = self.config.max_length
            self._scorer = IFDScorer(self.config.model, **kw)
        return self._scorer

    def _ifd_for(self, records: list[dict]) -> list[tuple[float | None, str | None, dict | None]]:
        """(ifd, error, stats computed here or None) per record."""
        key = self.config.ifd_field
        out: list[tuple[float | None, str | None, dict | None] | None] = [None] * len(records)
        todo = []
        for i, r in enumerate(records):
            stats = r.get("stats") or {}
            if key in stats:
                v = stats[key]
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    out[i] = (None, stats.get(f"{key}_error") or "no IFD score", None)
                else:
                    out[i] = (float(v), None, None)
            else:
                todo.append(i)
        if todo:
            if self.config.model is None:
                rid = records[todo[0]].get("id")
                raise ValueError(f"cdas: record {rid!r} has no stats.{key} and no `model` is configured to "
                                 "compute IFD; run an IFD scoring stage first or set `model:` (an HF causal LM "
                                 "path or hub id)")
            res = self._ifd_scorer().score([(records[i]["instruction"], records[i]["response"]) for i in todo])
            for i, r in zip(todo, res):
                ifd = r.ifd
                if ifd is not None and math.isnan(ifd):
                    ifd = None
                out[i] = (ifd, (r.error or "no IFD score") if ifd is None else None, r.as_stats(prefix=key))
                self.count("ifd_computed")
        return out  # type: ignore[return-value]  # every slot is filled: from stats or by the scorer

    def map_batch(self, records: list[dict]) -> list[dict]:
        payloads: list[dict] = [{"emb": None, "ifd": None, "err": None, "computed": None, "empty": None}
                                for _ in records]
        live = []
        for i, r in enumerate(records):
            if not r.get("instruction"):
                payloads[i]["empty"] = "instruction"
            elif not r.get("response"):
                payloads[i]["empty"] = "response"
            else:
                live.append(i)
        if live:
            sub = [records[i] for i in live]
            for i, e, (f, err, c) in zip(live, self.embed(sub), self._ifd_for(sub)):
                payloads[i].update({"emb": e, "ifd": f, "err": err, "computed": c})
        return payloads

    def reduce(self, payloads: list[dict]) -> list[Decision]:
        cfg = self.config
        if not 0 <= cfg.m <= 100:
            raise ValueError(f"cdas: `m` is a percentage in [0, 100], got {cfg.m}")
        decisions: list[Decision | None] = [None] * len(payloads)
        live = []
        for i, p in enumerate(payloads):
            if p.get("empty"):  # CodeACT drops these before scoring and clustering
                decisions[i] = Decision(False, f"cdas: empty {p['empty']} (CodeACT drops records with an empty "
                                               "question or answer before scoring and clustering)")
                self.count(f"dropped_empty_{p['empty']}")
            else:
                live.append(i)
        live_labels = kmeans_labels(stack([payloads[i] for i in live]), cfg.k, cfg.random_state)
        labels = np.full(len(payloads), -1, dtype=np.int64)
        labels[live] = live_labels

        def stats_for(i: int, extra: dict | None = None) -> dict:
            s = {"cluster": int(labels[i])}
            if payloads[i]["computed"]:
                s.update(payloads[i]["computed"])
            if extra:
                s.update(extra)
            return s

        for c in range(int(labels.max()) + 1 if len(labels) else 0):
            members = np.flatnonzero(labels == c).tolist()
            eligible: list[tuple[int, float]] = []
            for i in members:
                ifd, err = payloads[i]["ifd"], payloads[i]["err"]
                if ifd is None:
                    if cfg.failed_ifd == "as_zero":
                        eligible.append((i, 0.0))
                        continue
                    decisions[i] = Decision(False, f"cdas: IFD failed ({err})", stats_for(i))
                    self.count("dropped_ifd_failed")
                elif ifd >= cfg.ifd_threshold:
                    decisions[i] = Decision(False, f"cdas: IFD >= {cfg.ifd_threshold:g} (ifd={ifd:.4g})",
                                            stats_for(i))
                    self.count("dropped_ifd_ge_threshold")
                else:
                    eligible.append((i, ifd))
            eligible.sort(key=lambda t: -t[1])  # stable: ties keep dataset order, as Python's sort in CodeACT
            quota = codeact_quota(len(eligible), cfg.m)
            for rank, (i, ifd) in enumerate(eligible):
                extra = {"cdas_rank": rank + 1}
                if rank < quota:
                    decisions[i] = Decision(True, "", stats_for(i, extra))
                    self.count("kept")
                else:
                    decisions[i] = Decision(
                        False,
                        f"cdas: not in top {cfg.m:g}% of cluster {c} by IFD (ifd={ifd:.4g}, rank {rank + 1} of "
                        f"{len(eligible)}, kept {quota})",
                        stats_for(i, extra))
                    self.count("dropped_not_top")
        return [d if d is not None else Decision() for d in decisions]
