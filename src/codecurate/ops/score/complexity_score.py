"""``complexity_score``: instruction complexity from a DEITA/XCoder complexity scorer, into ``stats.complexity``.

Papers: DEITA (Liu et al., ICLR'24; ``hkust-nlp/deita@b279f2c329b4:src/deita/selection/scorer/``) and XCoder
(Wang et al., arXiv 2409.03810; ``banksy23/XCoder@65ac3dbeaaa0:complexity.py``). The scorer LM reads the prompt
``"You are a helpful assistant. Please identify the complexity score of the following user query. \\n##Query:
{instruction}  \\n##Complexity: "``; the score is the expectation over the softmax of the next-token logits of
the digits "1".."6", weighted 1..6 (``scale: deita``, default) or 0..5 (``scale: xcoder``).
Default model: ``hkust-nlp/deita-complexity-scorer`` (XCoder: ``banksy235/XCoder-Complexity-Scorer``).

Multi-turn records (``turns: all``, default, with ``field: instruction``): every user turn is scored without
history and ``stats.complexity`` is the **sum** (XCoder paper §3.1; XCoder README "turn by turn without
history"; DEITA scores each turn); the per-turn scores go to ``stats.complexity_scores`` (DEITA's list, which the
``deita`` op combines turn by turn with ``quality_scores``). ``turns: first`` scores only the first user turn
(the earlier behaviour). Single-turn records are unaffected.

Deviations (see ``codecurate.models.complexity``): logits from a plain forward pass (not post-processed
``generate`` scores); a failed record gets ``complexity=None`` and ``complexity_error`` instead of a constant
(``fallback: 3.0`` = DEITA, ``2.0`` = XCoder restores theirs). ``on_failure: drop`` sends failures to the ledger.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from codecurate.ops.turns import user_turns
from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class ComplexityScoreConfig(OpConfig):
    model: str = "hkust-nlp/deita-complexity-scorer"
    template: str | None = None  # None: the DEITA/XCoder complexity prompt
    scale: Literal["deita", "xcoder"] = "deita"
    field: str = "instruction"
    digit_ids: list[int] | None = None  # None: resolved from the tokenizer ("1".."6")
    fallback: float | None = None
    max_length: int | None = None
    batch_size: int | None = None
    device: str | None = None
    dtype: Literal["fp32", "bf16", "fp16"] | None = None
    on_failure: Literal["keep", "drop"] = "keep"
    turns: Literal["all", "first"] = "all"  # all: sum over the user turns of a multi-turn record (XCoder)


@register
class ComplexityScore(Filter[ComplexityScoreConfig]):
    """Write ``stats.complexity`` (expected digit score of the complexity scorer) for every record."""

    name: ClassVar[str] = "complexity_score"
    Config = ComplexityScoreConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "model")
    paper: ClassVar[str] = "DEITA (ICLR'24) complexity scorer; XCoder (arXiv 2409.03810) complexity.py"

    def setup(self) -> None:
        from codecurate.models.complexity import COMPLEXITY_TEMPLATE, ComplexityScorer

        c = self.config
        self.scorer = ComplexityScorer(c.model, template=c.template or COMPLEXITY_TEMPLATE, scale=c.scale,
                                       max_length=c.max_length, batch_size=c.batch_size, device=c.device,
                                       dtype=c.dtype, digit_ids=c.digit_ids, fallback=c.fallback)

    def compute(self, records: list[dict]) -> None:
        if self.config.turns == "all" and self.config.field == "instruction":
            scores = self.scorer.score_turns([user_turns(r) for r in records])
            per_turn = self.scorer.last_turn_scores
        else:
            scores = self.scorer.score([field_text(r, self.config.field) for r in records])
            per_turn = [[s] for s in scores]
        for rec, s, err, turns in zip(records, scores, self.scorer.last_errors, per_turn):
            st = rec.setdefault("stats", {})
            st["complexity"] = s
            if len(turns) > 1:
                st["complexity_scores"] = turns
                self.count("multi_turn")
            else:
                st.pop("complexity_scores", None)
            if err is not None:
                st["complexity_error"] = err
                self.count("complexity_failed")
            self.count("complexity_scored")

    def decide(self, record: dict) -> str | None:
        err = record["stats"].get("complexity_error")
        if err is not None and self.config.on_failure == "drop":
            return f"complexity_score: no complexity score: {err}"
        return None
