"""``scar``: SCAR style-consistency-aware response ranking; keep the top-ranked pairs.

Paper: Li et al., "SCAR: Data Selection via Style Consistency-Aware Response Ranking for Efficient Instruction
Tuning of Large Language Models", ACL 2025 (arXiv 2406.10882); code ``zhuang-li/SCAR@d1365fea3d76``, on PyPI as
``scar-tool`` (module ``style_ranker``). See seed0_techniques.md §3 and §9 choice 3.

The ranker (``style_ranker.ranker.model.StyleRanker``: a shared encoder over instruction and answer, an MLP
over the pair and a max-pool over answer tokens, then a scalar head) is loaded from a local folder or a hub id
with scar-tool's own ``StyleRanker.from_pretrained``; the default is the study's ``lizhuang144/scar-gte-base``.
Scoring follows ``style_ranker/rank.py``: instruction and answer tokenised separately, truncated at
``max_length`` 512, padded per batch of 32; higher is better. Selection keeps exactly one of ``ratio`` (the
first floor(N x ratio); default 0.2, the study's setting), ``topk`` or ``threshold`` (score >= t). Ties keep
dataset order (stable sort).

As the study: instruction = the problem statement (``instruction``), answer = the code (``code``; records with
no code fall back to ``response``). Unlike the study, every field of every record is kept (choice 3).
Deviation from ``rank.py``: its ``squeeze().tolist()`` breaks on a batch of one; we flatten instead.
``encoder`` overrides the encoder named in the ranker's config (``Alibaba-NLP/gte-base-en-v1.5`` for
scar-gte-base), e.g. with a local copy for offline use.
"""

from __future__ import annotations

from typing import cast

from codecurate.pipeline.op import Decision, GlobalOp, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class ScarConfig(OpConfig):
    ranker: str = "lizhuang144/scar-gte-base"
    encoder: str | None = None
    ratio: float | None = None  # default 0.2 when none of ratio/topk/threshold is set
    topk: int | None = None
    threshold: float | None = None
    max_length: int = 512
    batch_size: int = 32
    device: str | None = None
    instruction_field: str = "instruction"
    answer_field: str = "code"


def load_scar_ranker(path: str, encoder: str | None = None, device: str = "cpu"):
    """Load a SCAR StyleRanker and its tokenizer through scar-tool (``style_ranker``)."""
    import contextlib
    import io

    from transformers import AutoTokenizer

    try:
        from style_ranker.ranker.config import StyleRankerConfig
        from style_ranker.ranker.model import StyleRanker
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the `scar` op needs the PyPI package scar-tool (pip install scar-tool)") from e
    # scar-tool prints its loading steps; keep the run log clean
    with contextlib.redirect_stdout(io.StringIO()):
        config = StyleRankerConfig.from_pretrained(path)
        if encoder is not None:
            config.encoder_name = encoder
        model = StyleRanker.from_pretrained(path, config=config)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model.to(device).eval(), tokenizer


@register
class Scar(GlobalOp[ScarConfig]):
    """Rank (instruction, code) pairs with a SCAR style ranker and keep the top 20%."""

    name = "scar"
    Config = ScarConfig
    paper = "SCAR (Li et al., ACL 2025, arXiv 2406.10882), zhuang-li/SCAR style_ranker/rank.py"
    needs = ("cpu", "model")

    def setup(self) -> None:
        cfg = self.config
        self._ratio()
        import torch

        self._device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model, self._tokenizer = load_scar_ranker(cfg.ranker, cfg.encoder, self._device)

    def _ratio(self) -> float | None:
        """The effective ratio (0.2 when no rule is set), validating that at most one rule is given."""
        cfg = self.config
        chosen = [x for x in (cfg.ratio, cfg.topk, cfg.threshold) if x is not None]
        if len(chosen) > 1:
            raise ValueError("scar: set only one of `ratio`, `topk`, `threshold`; "
                             f"got ratio={cfg.ratio}, topk={cfg.topk}, threshold={cfg.threshold}")
        if cfg.ratio is not None and not 0 <= cfg.ratio <= 1:
            raise ValueError(f"scar: `ratio` must be in [0, 1], got {cfg.ratio}")
        if not chosen:
            return 0.2
        return cfg.ratio

    def score_pairs(self, instructions: list[str], answers: list[str]) -> list[float]:
        import torch

        cfg, tok = self.config, self._tokenizer
        scores: list[float] = []
        for s in range(0, len(instructions), cfg.batch_size):
            ins = tok(instructions[s:s + cfg.batch_size], return_tensors="pt", padding=True, truncation=True,
                      max_length=cfg.max_length).to(self._device)
            ans = tok(answers[s:s + cfg.batch_size], return_tensors="pt", padding=True, truncation=True,
                      max_length=cfg.max_length).to(self._device)
            with torch.no_grad():
                out = self._model(ins.input_ids, ins.attention_mask, ans.input_ids, ans.attention_mask)
            scores.extend(out.reshape(-1).float().cpu().tolist())
        return scores

    def map_batch(self, records: list[dict]) -> list[dict]:
        self.ensure_setup()
        cfg = self.config
        instructions = [field_text(r, cfg.instruction_field) for r in records]
        answers = []
        for r in records:
            a = field_text(r, cfg.answer_field)
            if not a.strip():
                a = r.get("response", "")
                self.count("answer_fallback_response")
            answers.append(a)
        return [{"score": s} for s in self.score_pairs(instructions, answers)]

    def reduce(self, payloads: list[dict]) -> list[Decision]:
        cfg = self.config
        n = len(payloads)
        order = sorted(range(n), key=lambda i: -payloads[i]["score"])  # stable, as rank.py's sorted()
        rank = {i: r + 1 for r, i in enumerate(order)}
        if cfg.threshold is not None:
            keep = {i for i in order if payloads[i]["score"] >= cfg.threshold}
            rule = f"score < threshold {cfg.threshold:g}"
        else:
            ratio = self._ratio()
            k = cfg.topk if cfg.topk is not None else int(n * cast(float, ratio))  # no topk: a ratio
            keep = set(order[:k])
            rule = f"not in the top {k} of {n}" + (f" ({ratio:.0%})" if cfg.topk is None else "")
        out = []
        for i, p in enumerate(payloads):
            stats = {"scar_score": p["score"], "scar_rank": rank[i]}
            if i in keep:
                self.count("kept")
                out.append(Decision(True, "", stats))
            else:
                self.count("dropped")
                out.append(Decision(False, f"scar: {rule} (score {p['score']:.4g}, rank {rank[i]})", stats))
        return out
