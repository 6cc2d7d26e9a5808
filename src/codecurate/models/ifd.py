"""Instruction-Following Difficulty (IFD): a batched engine that reproduces the reference procedures.

IFD compares how hard the response is to predict with and without the instruction (Li et al., "From Quantity to
Quality", NAACL'24 = Cherry LLM; Li et al., "Superfiltering", ACL'24; Lv et al., "CodeACT", arXiv 2408.02193).
Per (instruction, answer) pair, following ``Kyle-Lyu/CodeACT@4900323482d5:CDAS/calculate_ifd.py`` exactly:

- ``prompt = template.format(question)``; ``end_index = len(encode(prompt, truncation, max_length))`` with the
  tokenizer's special tokens (so it counts BOS where the tokenizer adds one);
- conditional pass: ``encode(prompt + answer)`` as ONE string (the prompt's last newline may merge with the
  answer, as in the reference), truncated to ``max_length``; tokens from ``end_index`` on are scored;
- direct pass: ``encode(answer)`` truncated to ``max_length - end_index + 1`` tokens (the same answer budget);
  every token after the first is scored (the first is BOS, or the first answer token for BOS-less tokenizers);
- loss = mean next-token cross-entropy over the scored tokens, ``ppl = exp(loss)``;
- ``formula="ppl_ratio"`` (CodeACT, Superfiltering; default): ``IFD = ppl_cond / ppl_direct``;
  ``formula="loss_ratio"`` (Cherry's ``data_by_IFD.py``): ``IFD = loss_cond / loss_direct``.

Options beyond CodeACT: ``direct_prefix`` (Cherry scores the answer after the literal ``"### Response:"``;
the prefix tokens are then context, and the direct budget is ``max_length - end_index + len(prefix tokens)``),
``drop_truncated`` (Cherry skips samples whose answer was cut in the conditional pass), and named templates
(``TEMPLATES``: ``codeact``, ``superfiltering``/``none``, ``alpaca``, ``wiz``).

Deviation (safer, documented): CodeACT turns every failure (exception, NaN, all labels masked) into IFD=0,
which then survives its ``IFD < 1`` filter. Here a failed pair gets ``ifd=None`` and an ``error`` reason
("empty answer", "answer truncated away", "nan", ...); callers decide to drop or keep it.

Precision: with no ``dtype`` the model runs in fp16 on a GPU, as CodeACT loads it (``calculate_ifd.py``:
``torch_dtype=torch.float16``; Cherry, Superfiltering and Reflection-Tuning load fp32, efficode bf16), and in
fp32 on CPU. ``dtype`` (fp32/bf16/fp16) overrides it.

Speed (why this is not the reference loop): the references run one sample per forward and materialize fp32
full-vocabulary logits for every position, then a full ``log_softmax``. Here both passes of many pairs go
through the model body together in length-sorted buckets (right padding, no attention mask: with causal
attention a real token never sees the pads after it, so scores equal batch-1 scores), the output layer is
applied only at the positions that predict a scored token, in chunks (``logit_chunk`` rows at a time, small
enough to stay in cache), and each token's loss is ``logsumexp(z) - z[target]`` without writing the
log-softmax. The last input token of every sequence is not fed at all (it predicts nothing that is scored).
The two passes have different contexts, so they share no model work; identical sequences (repeated answers
with the same budget) are computed once. On CPU, the model's fp32 linear layers (body and output layer) run
through oneDNN's GEMM instead of stock PyTorch's MKL sgemm (``linear_kernel="auto"``; same fp32 arithmetic, 2x
faster on the AMD EPYC we benchmark on; ``"default"`` keeps stock kernels; see ``hf_common.cpu_linear_kernel``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

CODEACT_TEMPLATE = "Question:\n{question}\n\nAnswer:\n"

# Scoring prompts of the references. ``{question}`` is the record's instruction (``{instruction}`` is accepted
# as an alias). Cherry's alpaca/wiz prompts end in "### Response:" and the answer follows with no newline.
TEMPLATES = {
    "codeact": CODEACT_TEMPLATE,
    "superfiltering": "{question}\n",  # Superfiltering code_ifd/data_analysis.py, prompt "none"
    "none": "{question}\n",
    "alpaca": ("Below is an instruction that describes a task. Write a response that appropriately completes "
               "the request.\n\n### Instruction:\n{question}\n\n### Response:"),
    "wiz": "{question}\n\n### Response:",
}

FORMULAS = ("ppl_ratio", "loss_ratio")


@dataclass
class IFDResult:
    """Scores of one (instruction, answer) pair. ``ifd`` is None exactly when ``error`` says why."""

    ifd: float | None = None
    ppl_cond: float | None = None
    ppl_uncond: float | None = None
    loss_cond: float | None = None
    loss_uncond: float | None = None
    n_answer_tokens: int = 0          # answer tokens scored in the conditional pass
    n_answer_tokens_uncond: int = 0   # answer tokens scored in the direct pass
    answer_truncated: bool = False    # the conditional text exceeded max_length
    error: str | None = None

    def as_stats(self, prefix: str = "ifd") -> dict[str, Any]:
        """Flat stats for a record: ``ifd``, ``ifd_ppl_cond``, ..., ``ifd_error`` (only when failed)."""
        d = asdict(self)
        out: dict[str, Any] = {prefix: d.pop("ifd")}
        err = d.pop("error")
        for k, v in d.items():
            out[f"{prefix}_{k}"] = v
        if err is not None:
            out[f"{prefix}_error"] = err
        return out


def default_dtype(device: str | None) -> str:
    """The IFD scorer's dtype when none is given: fp16 on a GPU, as CodeACT's ``calculate_ifd.py`` (L121:
    ``torch_dtype=torch.float16``), fp32 on CPU (where fp16 matmuls are slow or missing)."""
    from codecurate.models.hf_common import resolve_device

    return "fp32" if resolve_device(device).startswith("cpu") else "fp16"


def resolve_template(template: str) -> str:
    t = TEMPLATES.get(template, template)
    if "{question}" not in t and "{instruction}" not in t:
        raise ValueError(f"IFD template {template!r} has no {{question}} placeholder; give a template string "
                         f"containing {{question}} or one of: {', '.join(TEMPLATES)}")
    return t


def fill_template(template: str, question: str) -> str:
    # str.replace, not str.format: templates and code may contain other braces.
    return template.replace("{question}", question).replace("{instruction}", question)


@dataclass
class _Seq:
    """One forward sequence: tokens ``ids[start:]`` are scored (each predicted from the token before it)."""

    ids: list[int]
    start: int

    @property
    def n_scored(self) -> int:
        return max(0, len(self.ids) - max(self.start, 1))


class IFDScorer:
    """Batched IFD scorer over any Hugging Face causal LM (see the module docstring for the procedure).

    ``model`` is a local path or hub id (or pass an already loaded ``lm=``/``tokenizer=``). ``max_length``
    defaults to the model's ``max_position_embeddings`` as in CodeACT. ``dtype`` defaults to fp32 on CPU and
    fp16 on GPU (CodeACT's ``calculate_ifd.py`` loads the scorer with ``torch_dtype=torch.float16``; a model
    whose activations overflow fp16 gives "nan" failures that name the dtype: pass ``dtype="bf16"`` or
    ``"fp32"`` then). ``batch_size`` caps sequences per forward and ``max_batch_tokens`` caps padded tokens.
    ``linear_kernel`` picks the CPU fp32 GEMM (``auto``/``onednn``/``default``; see the module docstring).
    """

    def __init__(self, model: str | None = None, formula: str = "ppl_ratio", template: str = CODEACT_TEMPLATE,
                 max_length: int | None = None, batch_size: int | None = None, device: str | None = None,
                 dtype: str | None = None, *, direct_prefix: str = "", drop_truncated: bool = False,
                 max_batch_tokens: int | None = None, logit_chunk: int = 256, lm: Any = None,
                 tokenizer: Any = None, linear_kernel: str = "auto"):
        if formula not in FORMULAS:
            raise ValueError(f"unknown IFD formula {formula!r}; valid: {', '.join(FORMULAS)}")
        self.formula = formula
        self.template = resolve_template(template)
        self.direct_prefix = direct_prefix
        self.drop_truncated = drop_truncated
        self.logit_chunk = max(1, int(logit_chunk))
        from codecurate.models.hf_common import (
            check_linear_kernel,
            model_max_length,
            resolve_lm,
            split_head,
        )

        self.linear_kernel = check_linear_kernel(linear_kernel)

        if lm is None and dtype in (None, "", "auto"):
            dtype = default_dtype(device)
        self.lm, self.tokenizer, self.device = resolve_lm("IFDScorer", model, lm, tokenizer, device, dtype)
        self.dtype = str(next(self.lm.parameters()).dtype).replace("torch.", "")
        lm, tokenizer = self.lm, self.tokenizer
        self.max_length = int(max_length or model_max_length(lm, tokenizer) or 0)
        if self.max_length <= 1:
            raise ValueError("IFD max_length is unknown for this model: pass max_length= (e.g. 2048)")
        on_cpu = self.device.startswith("cpu")
        self.batch_size = int(batch_size or (8 if on_cpu else 32))
        self.max_batch_tokens = int(max_batch_tokens or (4096 if on_cpu else 65536))
        self.head = split_head(lm)
        self._w_norm: float | None = None
        self.stats = {"forward_sequences": 0, "forward_tokens": 0, "padded_tokens": 0, "scored_tokens": 0}

    # -- tokenization ------------------------------------------------------------------------------------
    def _encode(self, texts: list[str], limits: list[int]) -> list[list[int]]:
        """``encode(text, truncation=True, max_length=limit)`` for each text, batched through the fast
        tokenizer; only over-long texts are re-encoded one by one so truncation is exactly the tokenizer's."""
        tok = self.tokenizer
        if not texts:
            return []
        full = tok(texts, add_special_tokens=True, verbose=False)["input_ids"]
        out = []
        for text, ids, limit in zip(texts, full, limits):
            if len(ids) > limit:
                ids = tok.encode(text, truncation=True, max_length=limit)
            out.append(list(ids))
        return out

    def _plan(self, pairs: list[tuple[str, str]]):
        """Tokenize every pair into its conditional and direct sequences (or an early error)."""
        L = self.max_length
        results = [IFDResult() for _ in pairs]
        live = []
        for i, (q, a) in enumerate(pairs):
            if not isinstance(a, str) or a == "":
                results[i].error = "empty answer"
            elif not isinstance(q, str) or q == "":
                results[i].error = "empty instruction"
            else:
                live.append(i)
        prompts = [fill_template(self.template, pairs[i][0]) for i in live]
        p_ids = self._encode(prompts, [L] * len(live))
        end_idx = [len(p) for p in p_ids]
        cond_full = self.tokenizer([p + pairs[i][1] for p, i in zip(prompts, live)], add_special_tokens=True,
                                   verbose=False)["input_ids"]
        cond = [list(c) if len(c) <= L else
                self.tokenizer.encode(p + pairs[i][1], truncation=True, max_length=L)
                for c, p, i in zip(cond_full, prompts, live)]
        truncated = [len(c) > L for c in cond_full]
        if self.direct_prefix:
            n_prefix = len(self.tokenizer.encode(self.direct_prefix))
            d_texts = [self.direct_prefix + pairs[i][1] for i in live]
        else:
            n_prefix = 1  # CodeACT: the first token of the direct text is context (BOS or the first answer token)
            d_texts = [pairs[i][1] for i in live]
        direct = self._encode(d_texts, [max(1, L - e + n_prefix) for e in end_idx])
        plans = {}
        for k, i in enumerate(live):
            c = _Seq(cond[k], end_idx[k])
            d = _Seq(direct[k], n_prefix)
            r = results[i]
            r.answer_truncated = truncated[k]
            if c.n_scored == 0:
                r.error = (f"answer truncated away (prompt is {end_idx[k]} tokens, max_length={L})"
                           if end_idx[k] >= L else "no answer tokens after the prompt")
            elif d.n_scored == 0:
                r.error = "answer too short to score without the instruction (no token after the first)"
            elif self.drop_truncated and truncated[k]:
                r.error = f"answer truncated (conditional text exceeds max_length={L})"
            else:
                plans[i] = (c, d)
        return results, plans

    # -- model work --------------------------------------------------------------------------------------
    def _batches(self, seqs: list[_Seq]) -> Iterable[list[int]]:
        order = sorted(range(len(seqs)), key=lambda j: -len(seqs[j].ids))
        batch: list[int] = []
        width = 0
        for j in order:
            n = len(seqs[j].ids) - 1  # the last token is never an input we need
            new_width = max(width, n)
            if batch and (len(batch) >= self.batch_size or new_width * (len(batch) + 1) > self.max_batch_tokens):
                yield batch
                batch, new_width = [], n
            batch.append(j)
            width = new_width
        if batch:
            yield batch

    def _mean_nll(self, seqs: list[_Seq]) -> list[float]:
        """Mean next-token NLL over each sequence's scored tokens."""
        import torch

        from codecurate.models.hf_common import cpu_linear_kernel

        means = [math.nan] * len(seqs)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        dev = self.device
        with torch.inference_mode(), cpu_linear_kernel(self.lm, self.linear_kernel):
            for batch in self._batches(seqs):
                width = max(len(seqs[j].ids) - 1 for j in batch)
                rows = [seqs[j].ids[:-1] + [pad] * (width - len(seqs[j].ids) + 1) for j in batch]
                x = torch.tensor(rows, dtype=torch.long, device=dev)
                t_idx: list[int]
                b_idx, t_idx, tgt, owner = [], [], [], []
                for r, j in enumerate(batch):
                    s = seqs[j]
                    first = max(s.start, 1)
                    n = len(s.ids) - first
                    b_idx += [r] * n
                    t_idx += range(first - 1, len(s.ids) - 1)
                    tgt += s.ids[first:]
                    owner += [r] * n
                b_t = torch.tensor(b_idx, device=dev)
                t_t = torch.tensor(t_idx, device=dev)
                tgt_t = torch.tensor(tgt, device=dev)
                own_t = torch.tensor(owner, device=dev)
                if self.head.exact:
                    h = self.head.hidden(x)[b_t, t_t]
                    z_of = self.head.logits
                else:
                    h = self.head.full_logits(x)[b_t, t_t]
                    z_of = None
                sums = torch.zeros(len(batch), dtype=torch.float64, device=dev)
                for c in range(0, h.shape[0], self.logit_chunk):
                    hc = h[c:c + self.logit_chunk]
                    z = (z_of(hc) if z_of is not None else hc).float()
                    zt = z.gather(1, tgt_t[c:c + self.logit_chunk, None])[:, 0]
                    if z_of is not None and z.data_ptr() != hc.data_ptr():
                        # z is a fresh fp32 buffer: logsumexp in place (exp_, sum) instead of torch.logsumexp's
                        # amax/sub/exp/sum temporaries; the max shift is skipped when |z| <= ||h|| max||W_v|| is
                        # provably small (exp cannot overflow: 32k * e^60 << fp32 max), else applied in place.
                        bound = self._logit_bound(hc)
                        if bound < 60.0:
                            lse = z.exp_().sum(-1).log_()
                        else:
                            mx = z.amax(dim=-1, keepdim=True)
                            lse = z.sub_(mx).exp_().sum(-1).log_() + mx[:, 0]
                    else:
                        lse = torch.logsumexp(z, dim=-1)
                    nll = lse - zt
                    sums.index_add_(0, own_t[c:c + self.logit_chunk], nll.double())
                counts = torch.bincount(own_t, minlength=len(batch)).double()
                for r, v in enumerate((sums / counts).tolist()):
                    means[batch[r]] = v
                self.stats["forward_sequences"] += len(batch)
                self.stats["forward_tokens"] += sum(len(seqs[j].ids) - 1 for j in batch)
                self.stats["padded_tokens"] += width * len(batch)
                self.stats["scored_tokens"] += len(tgt)
        return means

    def _logit_bound(self, h) -> float:
        """An upper bound on |logit| for hidden rows ``h`` (inf when the output layer is not a plain matrix)."""
        if self._w_norm is None:
            w = getattr(self.head.head, "weight", None)
            ok = (w is not None and getattr(self.head.head, "bias", None) is None and w.dim() == 2
                  and self.head.softcap is None and self.head.scale is None)
            self._w_norm = float(w.detach().float().norm(dim=-1).max()) if ok and w is not None else math.inf
        if self.head.softcap is not None:
            return float(self.head.softcap)
        if not math.isfinite(self._w_norm):
            return math.inf
        return float(h.float().norm(dim=-1).max()) * self._w_norm * 1.01

    # -- public ------------------------------------------------------------------------------------------
    def score(self, pairs: list[tuple[str, str]]) -> list[IFDResult]:
        """IFD for each ``(instruction, answer)`` pair, in input order."""
        pairs = list(pairs)
        results, plans = self._plan(pairs)
        seqs: list[_Seq] = []
        index: dict[tuple, int] = {}  # identical sequences are computed once

        def slot(s: _Seq) -> int:
            key = (s.start, tuple(s.ids))
            if key not in index:
                index[key] = len(seqs)
                seqs.append(s)
            return index[key]

        slots = {i: (slot(c), slot(d)) for i, (c, d) in plans.items()}
        try:
            means = self._mean_nll(seqs)
        except RuntimeError as e:  # OOM or a model error: report it on every pair of this call
            for i in plans:
                results[i].error = f"model error: {type(e).__name__}: {str(e)[:200]}"
            return results
        for i, (cs, ds) in slots.items():
            c, d = plans[i]
            self._finish(results[i], means[cs], means[ds], c.n_scored, d.n_scored)
        return results

    def _finish(self, r: IFDResult, loss_c: float, loss_d: float, n_c: int, n_d: int) -> None:
        r.loss_cond, r.loss_uncond = loss_c, loss_d
        r.n_answer_tokens, r.n_answer_tokens_uncond = n_c, n_d
        if not (math.isfinite(loss_c) and math.isfinite(loss_d)):
            r.error = ("nan (fp16 overflow? score with dtype bf16 or fp32)" if self.dtype == "float16"
                       else "nan")
            return
        try:
            r.ppl_cond, r.ppl_uncond = math.exp(loss_c), math.exp(loss_d)
        except OverflowError:
            r.error = "perplexity overflow"
            return
        if self.formula == "ppl_ratio":
            num, den = r.ppl_cond, r.ppl_uncond
        else:
            num, den = loss_c, loss_d
        if den == 0:
            r.error = f"zero direct {'perplexity' if self.formula == 'ppl_ratio' else 'loss'}"
            return
        v = num / den
        if not math.isfinite(v):
            r.error = "nan"
            return
        r.ifd = v
