"""``xcoder``: XCoder's complexity + quality + diversity selection (Algorithm 1).

Paper: Wang et al., "How Do Your Code LLMs Perform? Empowering Code Instruction Tuning with Really Good Data"
(XCoder), arXiv 2409.03810 / EMNLP 2024; ``banksy23/XCoder@65ac3dbeaaa0`` (``complexity.py`` and the paper PDF;
the combination and sampling code is unreleased). See selection_algorithms.md §3.

1. Complexity c: ``stats.complexity`` if an earlier stage scored it, else
   ``codecurate.models.complexity.ComplexityScorer(complexity_model, scale="xcoder")`` (the XCoder/DEITA
   complexity prompt, expected value over the digit probabilities, XCoder's 0..5 weights). A multi-turn record
   (``meta.messages``/``meta.conversations``) is scored turn by turn without history and c is the **sum** over
   its user turns (paper §3.1: "In multi-turn dialogues, we score each turn separately and use the sum of them
   as the final score"; README: "score it turn by turn without history"); the per-turn scores are written to
   ``stats.complexity_scores``. ``turns: first`` scores only the first user turn (the earlier behaviour).
2. Quality q: the record's code run on the record's own tests in the sandbox (``codecurate.sandbox``).
   ``quality: pass_ratio`` (default) uses passed/total; ``pass_count`` uses the number passed, as the paper
   (which counts passed cases of 12 generated tests). ``stats.<quality_field>`` is used when present.
   ``quality_source: generated_tests`` uses the pass fractions of LLM-generated unit tests instead, as the paper
   does: ``stats.gen_pass_ratio`` / ``stats.gen_tests_passed`` written by ``generate_tests`` + ``test_quality``
   (``codecurate.ops.synth``); the record's own tests are then not run.
3. s = alpha * Normalized(c) + (1 - alpha) * Normalized(q); sort by s descending.
4. Diversity (Algorithm 1): walk the sorted pool; add a record iff its cosine similarity to every selected
   record is < tau (0.945; the paper's "distance < 0.945" read as DEITA's similarity rule, see §3.4), the first
   is always added; stop when ``n``/``ratio`` records are selected or the pool is exhausted.

Not from the paper (it leaves them unspecified; marked here and configurable): min-max normalisation and
alpha = 0.5 (reference §7 note 7); records without tests get the mean normalised quality of the tested ones
(``untested: mean``; or ``zero`` / ``drop``); when no record has a quality signal, s = Normalized(c). The
paper's tests come from a 70B unit-test generator; here a record's own tests are used. Embeddings: the paper used
LLaMA3-8B; the default here is all-MiniLM-L6-v2 on the instruction (configurable).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from codecurate.ops.select._diversity import (
    BudgetConfig,
    EmbedConfig,
    EmbeddingSelector,
    resolve_budget,
    score_first_filter,
    stack,
    stat_number,
)
from codecurate.ops.turns import user_turns
from codecurate.pipeline.op import Decision
from codecurate.pipeline.registry import register

if TYPE_CHECKING:
    from codecurate.models.complexity import ComplexityScorer


class XcoderConfig(EmbedConfig, BudgetConfig):
    alpha: float = 0.5
    normalize: Literal["minmax", "zscore"] = "minmax"
    tau: float = 0.945
    complexity_field: str = "complexity"
    complexity_model: str | None = None
    quality: Literal["pass_ratio", "pass_count"] = "pass_ratio"
    quality_field: str = "pass_ratio"
    quality_source: Literal["own_tests", "generated_tests"] = "own_tests"
    run_tests: bool = True
    workers: int = 2
    untested: Literal["mean", "zero", "drop"] = "mean"
    turns: Literal["all", "first"] = "all"  # complexity of a multi-turn record: sum over user turns, or first


def normalized(x: np.ndarray, how: str) -> np.ndarray:
    if len(x) == 0:
        return x
    if how == "zscore":
        sd = x.std()
        return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


@register
class Xcoder(EmbeddingSelector[XcoderConfig]):
    """XCoder Algorithm 1: complexity + unit-test quality, then cosine-diversity sampling up to a budget."""

    name = "xcoder"
    Config = XcoderConfig
    paper = "XCoder (Wang et al., arXiv 2409.03810), Algorithm 1"
    needs = ("cpu", "model", "sandbox")

    def setup(self) -> None:
        if not 0.0 <= self.config.alpha <= 1.0:
            raise ValueError(f"xcoder: `alpha` must be in [0, 1], got {self.config.alpha}")
        super().setup()
        self._cscorer: ComplexityScorer | None = None

    def _complexity(self, records: list[dict]) -> tuple[list[float | None], list[list[float | None] | None]]:
        """(complexity, per-turn scores computed here for a multi-turn record, else None) per record."""
        key = self.config.complexity_field
        out = [stat_number(r.get("stats"), key) for r in records]
        per_turn: list[list[float | None] | None] = [None] * len(records)
        todo = [i for i, v in enumerate(out) if v is None and key not in (records[i].get("stats") or {})]
        if todo:
            if self.config.complexity_model is None:
                rid = records[todo[0]].get("id")
                raise ValueError(f"xcoder: record {rid!r} has no stats.{key} and no `complexity_model` is set; "
                                 f"score complexity first or set complexity_model (an HF causal LM path/hub id)")
            if self._cscorer is None:
                from codecurate.models.complexity import ComplexityScorer

                self._cscorer = ComplexityScorer(self.config.complexity_model, scale="xcoder")
            if self.config.turns == "all":
                scores = self._cscorer.score_turns([user_turns(records[i]) for i in todo])
                turns = self._cscorer.last_turn_scores
            else:
                scores = self._cscorer.score([records[i]["instruction"] for i in todo])
                turns = [[v] for v in scores]
            for i, v, t in zip(todo, scores, turns):
                out[i] = None if v is None else float(v)
                if len(t) > 1:
                    per_turn[i] = t
                    self.count("complexity_multi_turn")
                self.count("complexity_computed")
        return out, per_turn

    def _quality(self, records: list[dict]) -> list[tuple[float | None, dict | None]]:
        """(quality, stats computed here) per record; quality None = untested."""
        cfg = self.config
        out: list[tuple[float | None, dict | None]] = []
        todo = []
        if cfg.quality_source == "generated_tests":  # test_quality's pass fractions on generated tests
            key = "gen_tests_passed" if cfg.quality == "pass_count" else "gen_pass_ratio"
            return [(stat_number(r.get("stats"), key), None) for r in records]
        for i, r in enumerate(records):
            q = stat_number(r.get("stats"), cfg.quality_field)
            if q is None and cfg.quality == "pass_count":
                q = stat_number(r.get("stats"), "tests_passed")
            out.append((q, None))
            if q is None and cfg.run_tests and r.get("tests") and (r["tests"].get("cases")) and r.get("code"):
                todo.append(i)
        if todo:
            from codecurate.sandbox import run_tests_many

            outcomes = run_tests_many([(records[i]["code"], records[i]["tests"]) for i in todo],
                                      workers=cfg.workers)
            for i, o in zip(todo, outcomes):
                q = float(o.passed) if cfg.quality == "pass_count" else float(o.pass_ratio)
                out[i] = (q, {cfg.quality_field: float(o.pass_ratio), "tests_passed": int(o.passed),
                              "tests_total": int(o.total), "tests_status": str(o.status)})
                self.count("tests_run")
        return out

    def map_batch(self, records: list[dict]) -> list[dict]:
        emb = self.embed(records)
        comp, comp_turns = self._complexity(records)
        qual = self._quality(records)
        return [{"emb": e, "c": c, "cturns": ct, "q": q, "qstats": qs, "id": r.get("id")}
                for e, c, ct, (q, qs), r in zip(emb, comp, comp_turns, qual, records)]

    def reduce(self, payloads: list[dict]) -> list[Decision]:
        cfg = self.config
        n = len(payloads)
        decisions: list[Decision | None] = [None] * n

        def base_stats(i: int) -> dict:
            s = {"complexity": payloads[i]["c"]}
            if payloads[i].get("cturns"):
                s["complexity_scores"] = payloads[i]["cturns"]
            if payloads[i]["qstats"]:
                s.update(payloads[i]["qstats"])
            return s

        pool = []
        for i, p in enumerate(payloads):
            if p["c"] is None:
                decisions[i] = Decision(False, "xcoder: complexity score failed", base_stats(i))
                self.count("dropped_no_complexity")
            elif p["q"] is None and cfg.untested == "drop":
                decisions[i] = Decision(False, "xcoder: no tests to measure response quality (untested: drop)",
                                        base_stats(i))
                self.count("dropped_untested")
            else:
                pool.append(i)
        budget = resolve_budget(self.name, cfg.n, cfg.ratio, n)
        c = normalized(np.array([payloads[i]["c"] for i in pool], dtype=np.float64), cfg.normalize)
        tested = [k for k, i in enumerate(pool) if payloads[i]["q"] is not None]
        if tested:
            qn_tested = normalized(np.array([payloads[pool[k]]["q"] for k in tested], dtype=np.float64),
                                   cfg.normalize)
            fill = float(qn_tested.mean()) if cfg.untested == "mean" else (0.0 if cfg.normalize == "minmax"
                                                                           else float(qn_tested.min()))
            q = np.full(len(pool), fill)
            q[tested] = qn_tested
            s = cfg.alpha * c + (1 - cfg.alpha) * q
        else:
            self.count("no_quality_signal")
            s = c
        order_local = np.argsort(-s, kind="stable")
        pool_arr = np.asarray(pool, dtype=np.int64)
        emb = stack(payloads)
        kept, rejected = score_first_filter(emb, pool_arr[order_local], cfg.tau, budget, strict=True)
        kept_set = set(kept)
        rank_of = {int(pool_arr[k]): r + 1 for r, k in enumerate(order_local)}
        for k, i in enumerate(pool):
            st = base_stats(i)
            st.update({"xcoder_score": float(s[k]), "xcoder_rank": rank_of[i]})
            if i in kept_set:
                decisions[i] = Decision(True, "", st)
                self.count("kept")
            elif i in rejected:
                j, sim = rejected[i]
                decisions[i] = Decision(False, f"xcoder: cosine similarity {sim:.4f} >= {cfg.tau:g} to selected "
                                               f"record {payloads[j]['id']!r} (score {s[k]:.4g})", st)
                self.count("dropped_similar")
            else:
                decisions[i] = Decision(False, f"xcoder: budget of {budget} filled before score rank "
                                               f"{rank_of[i]} (score {s[k]:.4g})", st)
                self.count("dropped_budget")
        return [d if d is not None else Decision() for d in decisions]
