"""Shared helpers for scoring with Hugging Face causal LMs (IFD, complexity).

Loading follows one policy everywhere: any ``AutoModelForCausalLM`` path or hub id; fp32 on CPU and bf16 on
GPU unless a dtype is given; eval mode; no gradients. Scorers never need the full ``[tokens, vocab]`` logits
tensor: they run the model body (``model.base_model``) to get final hidden states and apply the output layer
only where a score is read (answer tokens, the last prompt position). ``AnswerHead`` does that in chunks.

torch/transformers are imported inside the functions so ``import codecurate`` stays light.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}


LINEAR_KERNELS = ("auto", "onednn", "default")


def check_linear_kernel(kernel: str) -> str:
    if kernel not in LINEAR_KERNELS:
        raise ValueError(f"unknown linear kernel {kernel!r} (key linear_kernel); valid: {', '.join(LINEAR_KERNELS)}")
    return kernel


def _onednn_linear_op():
    """oneDNN's fp32 linear (``torch.ops.mkldnn._linear_pointwise``) when this torch build has it, else None."""
    import torch

    try:
        if not torch.backends.mkldnn.is_available():
            return None
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):
        return None


@contextmanager
def cpu_linear_kernel(model, kernel: str = "auto"):
    """Route the ``nn.Linear`` layers of ``model`` through oneDNN's fp32 GEMM while the block runs (inference).

    Stock PyTorch runs CPU fp32 ``F.linear`` through MKL's sgemm, which on AMD CPUs takes a slower code path:
    on the 2-core EPYC (AVX-512) this project benchmarks on, oneDNN's fp32 kernel is 2.0x faster on the
    shapes of a scoring model's body and output layer, with the same fp32 arithmetic (max deviation from a
    float64 product 4.7e-6 vs MKL's 3.0e-6 on a 32k-vocab output layer). Nothing is rounded to a lower
    precision unless the user set ``torch.backends.mkldnn.matmul.fp32_precision`` themselves.

    ``kernel``: ``"auto"`` (oneDNN for fp32 CPU inputs without gradients, when the build has it), ``"onednn"``
    (the same, but an error if unavailable), ``"default"`` (leave the model alone). Any other input (GPU,
    bf16, grad mode) goes through ``F.linear`` unchanged. The patch is per module instance and undone on exit.
    """
    import torch

    check_linear_kernel(kernel)
    op = None if kernel == "default" else _onednn_linear_op()
    if op is None:
        if kernel == "onednn":
            raise RuntimeError("linear_kernel='onednn' needs a PyTorch build with oneDNN (mkldnn)")
        yield model
        return
    F = torch.nn.functional
    patched = []

    def make(mod):
        def forward(x):
            w = mod.weight
            if (x.device.type == "cpu" and x.dtype == torch.float32 and w.dtype == torch.float32
                    and not torch.is_grad_enabled()):
                return op(x, w, mod.bias, "none", [], "")
            return F.linear(x, w, mod.bias)
        return forward

    for mod in model.modules():
        if type(mod) is torch.nn.Linear and "forward" not in vars(mod):
            mod.forward = make(mod)  # type: ignore[method-assign]  # on purpose: the instance's, restored below
            patched.append(mod)
    try:
        yield model
    finally:
        for mod in patched:
            del mod.forward


def resolve_device(device: str | None = None) -> str:
    """``None``/"auto" -> "cuda" when a GPU is visible, else "cpu"."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str) -> Any:
    """``None`` -> fp32 on CPU, bf16 on GPU (the brief's policy); else one of fp32/bf16/fp16."""
    import torch

    if dtype in (None, "", "auto"):
        return torch.float32 if device == "cpu" else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(sorted(DTYPES))}")
    return getattr(torch, DTYPES[dtype])


def load_tokenizer(model: str, **kwargs):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model, use_fast=True, **kwargs)
    if tok.pad_token_id is None and tok.eos_token_id is not None:
        tok.pad_token_id = tok.eos_token_id  # as CodeACT does; padding ids are never scored anyway
    return tok


def load_causal_lm(model: str, device: str | None = None, dtype: str | None = None, **kwargs):
    """Load ``(model, tokenizer, device)`` from a local path or hub id, in eval mode."""
    from transformers import AutoModelForCausalLM

    import transformers

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    # transformers >= 4.56 names the argument `dtype`; older releases only know `torch_dtype`
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    try:
        lm = AutoModelForCausalLM.from_pretrained(model, **{dtype_key: torch_dtype}, **kwargs)
    except OSError as e:
        raise OSError(f"cannot load causal LM {model!r} (a local directory or a hub id with a causal-LM "
                      f"head is expected): {e}") from e
    lm.to(dev)  # type: ignore[arg-type, unused-ignore]  # transformers: .to typed as unbound
    lm.eval()
    tok = load_tokenizer(model)
    return lm, tok, dev


def resolve_lm(owner: str, model: str | None, lm: Any, tokenizer: Any, device: str | None,
               dtype: str | None) -> tuple[Any, Any, str]:
    """(lm, tokenizer, device) from a model path/hub id, or from an already loaded ``lm`` + ``tokenizer``."""
    if lm is None:
        if model is None:
            raise ValueError(f"{owner} needs a model path/hub id (model=...) or a loaded lm=")
        lm, tok, dev = load_causal_lm(model, device=device, dtype=dtype)
        return lm, tokenizer or tok, dev
    if tokenizer is None:
        raise ValueError(f"{owner}(lm=...) also needs tokenizer=")
    return lm, tokenizer, str(next(lm.parameters()).device)


def model_max_length(lm, tokenizer=None) -> int | None:
    """The model's context size (``max_position_embeddings``/``n_positions``), as CodeACT's default."""
    cfg = lm.config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            return v
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 10**8:
        return int(tokenizer.model_max_length)
    return None


@dataclass
class AnswerHead:
    """Body + output layer split of a causal LM, so logits are computed only at the positions we score.

    ``hidden(ids)`` returns the final (post-norm) hidden states ``[B, T, H]``; ``logits(h)`` applies the
    output layer (and the final-logit soft-capping / scaling some architectures use) to ``[N, H]``.
    ``exact`` is False when the split could not be verified against the full model; callers then use
    ``full_logits`` instead.
    """

    lm: Any
    body: Any
    head: Any
    softcap: float | None
    scale: float | None
    exact: bool

    def hidden(self, input_ids):
        out = self.body(input_ids=input_ids, use_cache=False)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def logits(self, h):
        import torch

        z = self.head(h)
        if self.scale is not None:
            z = z * self.scale
        if self.softcap is not None:
            z = torch.tanh(z / self.softcap) * self.softcap
        return z

    def full_logits(self, input_ids):
        return self.lm(input_ids=input_ids, use_cache=False).logits


def split_head(lm, probe_ids: list[int] | None = None) -> AnswerHead:
    """Find the body and output layer of ``lm`` and check, on a short probe, that head(body(x)) reproduces the
    model's own logits; if not (an architecture that does more after the body), mark the split inexact."""
    import torch

    body = getattr(lm, "base_model", None)
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    cfg = lm.config
    softcap = getattr(cfg, "final_logit_softcapping", None) or None
    scale = getattr(cfg, "logit_scale", None)
    scale = float(scale) if isinstance(scale, (int, float)) and scale != 1 else None
    ah = AnswerHead(lm, body, head, softcap, scale, exact=False)
    if body is None or body is lm or head is None:
        return ah
    vocab = int(getattr(cfg, "vocab_size", 0) or head.weight.shape[0])
    ids = probe_ids or [i % max(vocab, 1) for i in (1, 5, 17, 3, 9, 2, 11, 7)]
    dev = next(lm.parameters()).device
    x = torch.tensor([ids], device=dev)
    with torch.inference_mode():
        try:
            ref = ah.full_logits(x).float()
            ours = ah.logits(ah.hidden(x)).float()
        except Exception:  # noqa: BLE001 - an exotic model: fall back to full logits
            return ah
    tol = 1e-3 if ref.dtype == torch.float32 and next(lm.parameters()).dtype == torch.float32 else 5e-2
    ah.exact = bool(ref.shape == ours.shape and torch.allclose(ref, ours, atol=tol, rtol=tol))
    return ah
