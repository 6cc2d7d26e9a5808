"""``ifd_score``: Instruction-Following Difficulty of every record, written to ``stats.ifd``.

Paper: Li et al., "From Quantity to Quality" (Cherry LLM, NAACL'24) defines IFD; the procedure and defaults
here are CodeACT's (Lv et al., arXiv 2408.02193; ``Kyle-Lyu/CodeACT@4900323482d5:CDAS/calculate_ifd.py``):
prompt ``"Question:\\n{question}\\n\\nAnswer:\\n"``, IFD = PPL(answer | prompt) / PPL(answer),
``max_length`` = the model's ``max_position_embeddings``. ``formula: loss_ratio`` gives Cherry's mean-loss
ratio; ``template``/``direct_prefix``/``drop_truncated`` reproduce Superfiltering/Cherry (see
``codecurate.models.ifd``). The engine is batched and computes the output layer only on answer tokens.

Stats written: ``ifd`` (None on failure), ``ifd_ppl_cond``, ``ifd_ppl_uncond``, ``ifd_loss_cond``,
``ifd_loss_uncond``, ``ifd_n_answer_tokens``, ``ifd_n_answer_tokens_uncond``, ``ifd_answer_truncated`` and,
for a failed record, ``ifd_error`` with the reason. Deviation from CodeACT (which scores failures 0 and drops
records with an empty question/answer silently): failures keep ``ifd=None`` and a reason, are counted
(``ifd_failed``, ``ifd_failed:<reason>``), and are kept (``on_failure: keep``, default) or dropped
(``on_failure: drop``) into the ledger.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class IFDModelConfig(OpConfig):
    """Scorer parameters shared by ``ifd_score``, ``ifd_select`` and ``superfiltering``."""

    model: str = "gpt2"  # any HF causal LM path or hub id; CodeACT scores with the base model to fine-tune
    formula: Literal["ppl_ratio", "loss_ratio"] = "ppl_ratio"
    template: str = "codeact"  # a TEMPLATES name (codeact, superfiltering, none, alpaca, wiz) or a string
    max_length: int | None = None  # None: the model's max_position_embeddings (CodeACT)
    direct_prefix: str = ""  # Cherry: "### Response:"
    drop_truncated: bool = False  # Cherry skips answers cut by max_length; CodeACT keeps them
    instruction_field: str = "instruction"
    response_field: str = "response"
    batch_size: int | None = None
    max_batch_tokens: int | None = None
    device: str | None = None
    dtype: Literal["fp32", "bf16", "fp16"] | None = None  # None: fp32 on CPU, fp16 on GPU (CodeACT)
    linear_kernel: Literal["auto", "onednn", "default"] = "auto"  # CPU fp32 GEMM: oneDNN (auto) or stock


def make_ifd_scorer(cfg: IFDModelConfig):
    from codecurate.models.ifd import IFDScorer

    return IFDScorer(cfg.model, formula=cfg.formula, template=cfg.template, max_length=cfg.max_length,
                     batch_size=cfg.batch_size, device=cfg.device, dtype=cfg.dtype,
                     direct_prefix=cfg.direct_prefix, drop_truncated=cfg.drop_truncated,
                     max_batch_tokens=cfg.max_batch_tokens, linear_kernel=cfg.linear_kernel)


def ifd_pairs(records: list[dict], cfg: IFDModelConfig) -> list[tuple[str, str]]:
    return [(field_text(r, cfg.instruction_field), field_text(r, cfg.response_field)) for r in records]


def failure_key(error: str) -> str:
    """Counter key for a failure reason, without the per-record numbers."""
    return error.split(" (")[0]


class IFDScoreConfig(IFDModelConfig):
    on_failure: Literal["keep", "drop"] = "keep"


@register
class IFDScore(Filter[IFDScoreConfig]):
    """Compute IFD per record (CodeACT procedure; both formulas) into ``stats.ifd``."""

    name: ClassVar[str] = "ifd_score"
    Config = IFDScoreConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "model")
    paper: ClassVar[str] = "CodeACT (arXiv 2408.02193) CDAS/calculate_ifd.py; Cherry LLM (NAACL'24); Superfiltering (ACL'24)"

    def setup(self) -> None:
        self.scorer = make_ifd_scorer(self.config)

    def compute(self, records: list[dict]) -> None:
        results = self.scorer.score(ifd_pairs(records, self.config))
        for rec, res in zip(records, results):
            rec.setdefault("stats", {}).update(res.as_stats("ifd"))
            self.count("ifd_scored")
            if res.error is not None:
                self.count("ifd_failed")
                self.count(f"ifd_failed:{failure_key(res.error)}")

    def decide(self, record: dict) -> str | None:
        err = record["stats"].get("ifd_error")
        if err is not None and self.config.on_failure == "drop":
            return f"ifd_score: IFD could not be computed: {err}"
        return None
