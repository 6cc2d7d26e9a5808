"""``deita``: DEITA's score-first, diversity-aware selection (Repr Filter).

Paper: Liu et al., "What Makes Good Data for Alignment? ... (DEITA)", ICLR 2024; code
``hkust-nlp/deita@b279f2c329b4:src/deita/selection/filter/{base,combined_filter}.py`` (selection_algorithms.md §4).

1. Score = product of the ``score_fields`` read from ``record["stats"]`` (DEITA: complexity x quality, the
   EVOL-complexity and EVOL-quality scorers' expected scores; any stats keys can be used, e.g. ``[ifd]``).
   Missing ``complexity`` / ``quality`` are computed when ``complexity_model`` / ``quality_model`` are set
   (``codecurate.models.complexity.ComplexityScorer``: DEITA's prompts, expected digit score over 1..6;
   ``hkust-nlp/deita-complexity-scorer`` / ``hkust-nlp/deita-quality-scorer``).
   Multi-turn records (``meta.messages``/``meta.conversations``; ``turns: all``, default): as DEITA's score
   pipeline, every (user turn, answer) pair is scored on its own, without history (an unanswered last user
   turn is scored with an empty response), the per-turn lists go to ``stats.complexity_scores`` /
   ``stats.quality_scores`` (their sums to ``stats.complexity`` / ``stats.quality``), and the score is
   DEITA's ``combined_filter.py`` final score: the per-turn product summed over turns,
   sum_t complexity_t x quality_t (for any ``score_fields`` that all have ``<field>_scores`` lists of one
   length; otherwise the product of the scalar fields). Single-turn records: complexity x quality, as before.
   ``turns: first`` scores and combines only the first turn (the earlier behaviour).
2. Sort by score, descending (stable).
3. Walk the sorted list: always keep the first; keep a candidate iff its cosine similarity to **every** kept
   record is <= ``tau`` (0.9); stop at the budget (``n`` or ``ratio``; none = filter the whole pool).

This is the exact sequential greedy (DEITA with ``batch_size=1``). ``backfill: true`` reproduces the
re-implementation in Lyu et al.'s efficode baselines, which tops up with rejected records in score order when
fewer than the budget survive. Deviation: DEITA embeds the whole conversation with the LLM's last-token hidden
state; here the default is all-MiniLM-L6-v2 on the instruction (as efficode's re-implementation uses mpnet
instruction embeddings); both are configurable.
"""

from __future__ import annotations

import math
from typing import Literal

from codecurate.ops.select._diversity import (
    BudgetConfig,
    EmbedConfig,
    EmbeddingSelector,
    resolve_budget,
    score_first_filter,
    stack,
    stat_number,
)
from codecurate.ops.turns import turn_pairs, user_turns
from codecurate.pipeline.op import Decision
from codecurate.pipeline.registry import register


class DeitaConfig(EmbedConfig, BudgetConfig):
    score_fields: list[str] = ["complexity", "quality"]  # keys in record["stats"], multiplied
    tau: float = 0.9
    backfill: bool = False
    complexity_model: str | None = None  # computes stats.complexity where missing
    quality_model: str | None = None  # computes stats.quality where missing
    turns: Literal["all", "first"] = "all"  # multi-turn: score every turn, sum_t prod(fields)_t (DEITA)


@register
class Deita(EmbeddingSelector[DeitaConfig]):
    """Score-first greedy selection with a cosine-similarity threshold (DEITA Repr Filter)."""

    name = "deita"
    Config = DeitaConfig
    paper = "DEITA (Liu et al., ICLR 2024), hkust-nlp/deita combined_filter.py"

    def setup(self) -> None:
        super().setup()
        self._scorers: dict[str, object] = {}

    def _scorer(self, model: str):
        if model not in self._scorers:
            from codecurate.models.complexity import ComplexityScorer

            self._scorers[model] = ComplexityScorer(model, scale="deita")
        return self._scorers[model]

    def _fill_scores(self, records: list[dict]) -> None:
        """Compute missing stats.complexity / stats.quality with the configured DEITA scorers."""
        cfg = self.config
        for key, model in (("complexity", cfg.complexity_model), ("quality", cfg.quality_model)):
            if model is None or key not in cfg.score_fields:
                continue
            todo = [r for r in records if stat_number(r.get("stats"), key) is None]
            if not todo:
                continue
            sc = self._scorer(model)
            multi = cfg.turns == "all"
            if key == "complexity":
                vals = (sc.score_turns([user_turns(r) for r in todo]) if multi
                        else sc.score([r["instruction"] for r in todo]))
            else:
                vals = (sc.score_quality_turns([turn_pairs(r) for r in todo]) if multi
                        else sc.score_quality([(r["instruction"], r["response"]) for r in todo]))
            errors = getattr(sc, "last_errors", None) or [None] * len(todo)
            per_turn = sc.last_turn_scores if multi else [[v] for v in vals]
            for r, v, err, turns in zip(todo, vals, errors, per_turn):
                st = r.setdefault("stats", {})
                st[key] = v
                if len(turns) > 1:
                    st[f"{key}_scores"] = turns
                if v is None:
                    st[f"{key}_error"] = err or "scorer failed"
                self.count(f"{key}_computed")

    def _turn_score(self, rec: dict) -> float | None:
        """DEITA's multi-turn final score: sum over turns of the product of the per-turn score lists
        (``<field>_scores``), when every score field has such a list and they have one length > 1."""
        st = rec.get("stats") or {}
        found = [st.get(f"{k}_scores") for k in self.config.score_fields]
        lists = [v for v in found if isinstance(v, list)]
        if len(lists) != len(found) or len({len(v) for v in lists}) != 1 or len(lists[0]) < 2:
            return None
        total = 0.0
        for t in range(len(lists[0])):
            prod = 1.0
            for v in lists:
                x = v[t]
                if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x):
                    return None
                prod *= x
            total += prod
        return total

    def _score(self, rec: dict) -> float | None:
        """Product of the score fields (per turn and summed, for a multi-turn record); None when a configured
        scorer failed on this record."""
        if self.config.turns == "all":
            v = self._turn_score(rec)
            if v is not None:
                return v
        score = 1.0
        for key in self.config.score_fields:
            v = stat_number(rec.get("stats"), key)
            if v is None and key in ("complexity", "quality") and getattr(self.config, f"{key}_model"):
                return None
            if v is None:
                raise ValueError(f"deita: record {rec.get('id')!r} has no numeric stats.{key}; score it first "
                                 f"(score_fields={self.config.score_fields}) or set complexity_model/"
                                 "quality_model")
            score *= v
        return score

    def map_batch(self, records: list[dict]) -> list[dict]:
        emb = self.embed(records)
        self._fill_scores(records)
        return [{"emb": e, "score": self._score(r), "id": r.get("id"),
                 "computed": {k: r["stats"][k] for k in ("complexity", "quality", "complexity_error", "quality_error",
                                                         "complexity_scores", "quality_scores")
                              if k in r["stats"] and getattr(self.config, f"{k.split('_')[0]}_model") is not None}}
                for e, r in zip(emb, records)]

    def reduce(self, payloads: list[dict]) -> list[Decision]:
        import numpy as np

        cfg = self.config
        budget = resolve_budget(self.name, cfg.n, cfg.ratio, len(payloads))
        failed = {i for i, p in enumerate(payloads) if p["score"] is None}
        scores = np.array([np.nan if p["score"] is None else p["score"] for p in payloads], dtype=np.float64)
        order = np.array([i for i in np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
                          if int(i) not in failed], dtype=np.int64)
        emb = stack(payloads)
        kept, rejected = score_first_filter(emb, order, cfg.tau, budget)
        backfilled: list[int] = []
        if cfg.backfill and budget is not None and len(kept) < budget:
            kept_set = set(kept)
            backfilled = [int(i) for i in order if int(i) not in kept_set][: budget - len(kept)]
        rank = {int(i): r + 1 for r, i in enumerate(order)}
        keep = set(kept) | set(backfilled)
        out = []
        for i, p in enumerate(payloads):
            if i in failed:
                self.count("dropped_score_failed")
                errs = "; ".join(f"{k}: {v}" for k, v in p["computed"].items() if k.endswith("_error"))
                out.append(Decision(False, f"deita: scorer failed ({errs or 'no score'})", dict(p["computed"])))
                continue
            stats = {**p["computed"], "deita_score": p["score"], "deita_rank": rank[i]}
            if i in keep:
                self.count("kept_backfill" if i in backfilled else "kept")
                out.append(Decision(True, "", stats))
            elif i in rejected:
                j, s = rejected[i]
                self.count("dropped_similar")
                out.append(Decision(False, f"deita: cosine similarity {s:.4f} > {cfg.tau:g} to kept record "
                                           f"{payloads[j]['id']!r} (score {p['score']:.4g})", stats))
            else:
                self.count("dropped_budget")
                out.append(Decision(False, f"deita: budget of {budget} filled before score rank {rank[i]} "
                                           f"(score {p['score']:.4g})", stats))
        return out
