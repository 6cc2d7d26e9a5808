"""Instruction complexity (and response quality) scoring with a DEITA/XCoder-style scorer LM.

DEITA (``hkust-nlp/deita@b279f2c329b4:src/deita/selection/scorer/{base,llama_scorer}.py``) and XCoder
(``banksy23/XCoder@65ac3dbeaaa0:complexity.py``) fill a fixed prompt with the instruction, read the model's
next-token distribution at the end of the prompt, take the logits of the six digit tokens "1".."6", softmax
over those six, and return the expectation with weights 1..6 (DEITA) or 0..5 (XCoder's scale).
Models: ``hkust-nlp/deita-complexity-scorer``, ``banksy235/XCoder-Complexity-Scorer`` (any causal LM works).

Faithful points: the raw prompt string (no chat template), tokenized with the tokenizer's special tokens and
not truncated (DEITA); digit ids resolved from the tokenizer ("1".."6"; for Llama-3 these are 16..21, for
Llama-2 29896.., as the references hard-code) or given explicitly.

Deviations (documented): the logits come from one plain forward pass at the last prompt position, not from
``generate(output_scores=True)``, whose scores are post-processed by the checkpoint's generation config
(temperature/top-p can rescale or -inf the digits; selection_algorithms.md §3.2); that matches the vLLM path.
A failed item (empty instruction, prompt longer than ``max_length``) is ``None`` with a reason in
``last_errors`` rather than DEITA's 3.0 / XCoder's 2.0 constant; pass ``fallback=3.0`` / ``2.0`` for theirs.
Prompts are batched (right padding without a mask is exact for causal models: the last real position never
sees the pads) and the output layer is applied to one row per prompt.

Multi-turn (``score_turns`` / ``score_quality_turns``): each turn is scored on its own, without the earlier
turns (XCoder README: "score it turn by turn without history"; DEITA ``score_pipeline.py`` scores each
(instruction, response) turn of a ShareGPT conversation), all turns of all conversations in one batched pass.
The record's score is the **sum** over its turns (XCoder paper §3.1: "In multi-turn dialogues, we score each
turn separately and use the sum of them as the final score"); the per-turn scores are kept in
``last_turn_scores`` (DEITA stores these lists and combines them turn by turn, see the ``deita`` op). A turn
that fails makes the conversation's score ``None`` with the turn named in ``last_errors`` (unless
``fallback`` replaces the failed turn's score, as XCoder's 2.0 / DEITA's 3.0 do per call). As DEITA, a user
turn that has no answer in a multi-turn conversation is scored for quality with an empty response; a
single-turn pair with an empty response is still a failure.
"""

from __future__ import annotations

import math
from typing import Any

COMPLEXITY_TEMPLATE = ("You are a helpful assistant. Please identify the complexity score of the following user "
                       "query. \n##Query: {instruction}  \n##Complexity: ")
QUALITY_TEMPLATE = ("You are a helpful assistant. Please identify the quality score of the Response corresponding "
                    "to the Question. \n #Question#:\n{instruction}\n#Response#:\n{output} \n##Quality: ")
WEIGHTS = {"deita": (1, 2, 3, 4, 5, 6), "xcoder": (0, 1, 2, 3, 4, 5)}


def digit_token_ids(tokenizer, digits: str = "123456") -> list[int]:
    """Token id of each digit as the model would emit it right after the prompt."""
    ids = []
    unk = getattr(tokenizer, "unk_token_id", None)
    for d in digits:
        tid = tokenizer.convert_tokens_to_ids(d)
        if tid is None or tid == unk:
            enc = tokenizer.encode(d, add_special_tokens=False)
            tid = enc[-1] if enc else None
        if tid is None or tokenizer.decode([tid]).strip() != d:
            raise ValueError(f"tokenizer has no single token for digit {d!r}; pass digit_token_ids=[...] "
                             f"(6 ids for '1'..'6')")
        ids.append(int(tid))
    return ids


class ComplexityScorer:
    """Expected score over the digit-token probabilities of the next token after ``template``.

    ``scale="deita"`` weights 1..6 (default), ``scale="xcoder"`` 0..5. ``score(instructions)`` returns
    ``list[float | None]``; reasons for the ``None`` entries are in ``last_errors`` (same order).
    """

    def __init__(self, model: str | None = None, template: str = COMPLEXITY_TEMPLATE, *, scale: str = "deita",
                 max_length: int | None = None, batch_size: int | None = None, device: str | None = None,
                 dtype: str | None = None, digit_ids: list[int] | None = None, fallback: float | None = None,
                 max_batch_tokens: int | None = None, lm: Any = None, tokenizer: Any = None):
        if scale not in WEIGHTS:
            raise ValueError(f"unknown complexity scale {scale!r}; valid: {', '.join(WEIGHTS)}")
        if "{instruction}" not in template:
            raise ValueError("complexity template needs an {instruction} placeholder")
        from codecurate.models.hf_common import model_max_length, resolve_lm, split_head

        self.lm, self.tokenizer, self.device = resolve_lm("ComplexityScorer", model, lm, tokenizer, device, dtype)
        lm, tokenizer = self.lm, self.tokenizer
        self.template = template
        self.weights = WEIGHTS[scale]
        self.digit_ids = list(digit_ids) if digit_ids is not None else digit_token_ids(tokenizer)
        if len(self.digit_ids) != 6:
            raise ValueError(f"digit_ids must list 6 token ids (for '1'..'6'), got {len(self.digit_ids)}")
        self.fallback = fallback
        self.max_length = int(max_length or model_max_length(lm, tokenizer) or 10**9)
        on_cpu = self.device.startswith("cpu")
        self.batch_size = int(batch_size or (8 if on_cpu else 32))
        self.max_batch_tokens = int(max_batch_tokens or (4096 if on_cpu else 65536))
        self.head = split_head(lm)
        self.last_errors: list[str | None] = []
        self.last_turn_scores: list[list[float | None]] = []

    def _fill(self, **fields: str) -> str:
        text = self.template
        for k, v in fields.items():
            text = text.replace("{" + k + "}", v)
        return text

    def score(self, instructions: list[str]) -> list[float | None]:
        """Complexity of each instruction (``template`` filled with ``{instruction}``)."""
        prompts = [self._fill(instruction=q) if isinstance(q, str) and q else None for q in instructions]
        return self._score_prompts(prompts, ["empty instruction"] * len(prompts))

    def score_quality(self, pairs: list[tuple[str, str]], template: str = QUALITY_TEMPLATE, *,
                      empty_response_ok: list[bool] | None = None) -> list[float | None]:
        """DEITA's response-quality score for (instruction, response) pairs (same digit read-out).
        ``empty_response_ok[i]`` scores pair i even with an empty response (DEITA's unanswered last turn)."""
        ok = empty_response_ok or [False] * len(pairs)
        prompts = [template.replace("{instruction}", q).replace("{output}", a or "")
                   if q and (a or e) else None for (q, a), e in zip(pairs, ok)]
        return self._score_prompts(prompts, ["empty instruction or response"] * len(prompts))

    def score_turns(self, conversations: list[list[str]]) -> list[float | None]:
        """Complexity of each conversation: the sum of its user turns' complexities, each scored without
        history (XCoder/DEITA). Per-turn scores in ``last_turn_scores``; reasons for ``None`` in
        ``last_errors``."""
        flat = [q for conv in conversations for q in conv]
        return self._regroup(conversations, self.score(flat))

    def score_quality_turns(self, conversations: list[list[tuple[str, str]]],
                            template: str = QUALITY_TEMPLATE) -> list[float | None]:
        """DEITA quality of each conversation of (user turn, answer) pairs: the sum over turns, each scored
        without history; an unanswered turn of a multi-turn conversation is scored with an empty response."""
        flat = [p for conv in conversations for p in conv]
        ok = [len(conv) > 1 for conv in conversations for _ in conv]
        return self._regroup(conversations, self.score_quality(flat, template, empty_response_ok=ok))

    def _regroup(self, conversations: list[list], flat_scores: list[float | None]) -> list[float | None]:
        flat_errors = self.last_errors
        totals: list[float | None] = []
        errors: list[str | None] = []
        per_turn: list[list[float | None]] = []
        k = 0
        for conv in conversations:
            n = len(conv)
            sc, er = flat_scores[k:k + n], flat_errors[k:k + n]
            k += n
            per_turn.append(list(sc))
            if n == 0:
                totals.append(None)
                errors.append("no turns")
                continue
            # a failed turn fails the conversation; with a fallback the turn's error is still reported
            totals.append(None if any(v is None for v in sc) else float(sum(v for v in sc if v is not None)))
            t = next((i for i, e in enumerate(er) if e is not None), None)
            errors.append(None if t is None else er[t] if n == 1 else f"turn {t + 1} of {n}: {er[t]}")
        self.last_errors = errors
        self.last_turn_scores = per_turn
        return totals

    def _score_prompts(self, prompts: list[str | None], empty_reasons: list[str]) -> list[float | None]:
        import torch

        n = len(prompts)
        scores: list[float | None] = [None] * n
        errors: list[str | None] = [None] * n
        live = [i for i, p in enumerate(prompts) if p is not None]
        for i in range(n):
            if prompts[i] is None:
                errors[i] = empty_reasons[i]
        enc = self.tokenizer([prompts[i] for i in live], add_special_tokens=True, verbose=False)["input_ids"] \
            if live else []
        ids = {}
        for i, e in zip(live, enc):
            if len(e) > self.max_length:
                errors[i] = f"prompt is {len(e)} tokens, over max_length={self.max_length}"
            elif len(e) == 0:
                errors[i] = "empty prompt"
            else:
                ids[i] = list(e)
        order = sorted(ids, key=lambda i: -len(ids[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        digit = torch.tensor(self.digit_ids, device=self.device)
        w = torch.tensor(self.weights, dtype=torch.float64)
        batches: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            if cur and (len(cur) >= self.batch_size or len(ids[cur[0]]) * (len(cur) + 1) > self.max_batch_tokens):
                batches.append(cur)
                cur = []
            cur.append(i)
        if cur:
            batches.append(cur)
        from codecurate.models.hf_common import cpu_linear_kernel

        with torch.inference_mode(), cpu_linear_kernel(self.lm):
            for b in batches:
                width = len(ids[b[0]])
                x = torch.tensor([ids[i] + [pad] * (width - len(ids[i])) for i in b], device=self.device)
                last = torch.tensor([len(ids[i]) - 1 for i in b], device=self.device)
                rows = torch.arange(len(b), device=self.device)
                if self.head.exact:
                    z = self.head.logits(self.head.hidden(x)[rows, last])
                else:
                    z = self.head.full_logits(x)[rows, last]
                p = torch.softmax(z.float()[:, digit].double(), dim=-1).cpu()
                for i, v in zip(b, (p * w).sum(-1).tolist()):
                    if math.isfinite(v):
                        scores[i] = v
                    else:
                        errors[i] = "nan"
        if self.fallback is not None:
            scores = [self.fallback if s is None else s for s in scores]
        self.last_errors = errors
        return scores
