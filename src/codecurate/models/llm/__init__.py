"""One LLM layer for generation and judging.

    from codecurate.models.llm import load_llm, GenParams
    llm = load_llm("smollm2-135m", backend="hf", cache="runs/x/llm_cache.sqlite")
    results = llm.generate(["def sum_list(xs):", [{"role": "user", "content": "Hi"}]],
                           GenParams(max_tokens=64, stop=("\\n\\n",), seed=0))
    results[0].text, results[0].error, llm.stats.as_dict()

Backends: ``hf`` (transformers, CPU/GPU), ``openai`` (any OpenAI-compatible server, async ``httpx`` with
concurrency, rate limits and retries), ``vllm`` (offline, GPU, optional). Every backend goes through the same
driver (``base.LLM.generate``): durable SQLite cache per sample, structured output with validation and retries,
one ``LLMResult`` per prompt with errors as fields.
"""

from __future__ import annotations

from typing import Any

from .base import (LLM, Completion, GenParams, LLMError, LLMResult, LLMStats, Outcome, Request, extract_json,
                   validate_structured)
from .cache import LLMCache, cache_key, default_cache_dir
from .smollm import ALIASES, DEFAULT_MODEL, resolve_model

BACKENDS = ("hf", "openai", "vllm")

__all__ = ["LLM", "Completion", "GenParams", "LLMError", "LLMResult", "LLMStats", "LLMCache", "Outcome", "Request",
           "ALIASES", "DEFAULT_MODEL", "BACKENDS", "load_llm", "generate", "resolve_model", "cache_key",
           "default_cache_dir", "extract_json", "validate_structured"]


def load_llm(model: str | None = None, backend: str = "hf", **kwargs: Any) -> LLM:
    """An LLM for ``backend``. ``model``: an alias (``smollm2-135m``, the default), a local directory or a hub id
    (hf, vllm), or the server's model name (openai, with ``base_url=``). ``cache``: a path to the SQLite cache, an
    ``LLMCache``, or None (no cache)."""
    if backend == "hf":
        from .hf import HFLLM

        return HFLLM(model, **kwargs)
    if backend == "openai":
        from .http import OpenAIHTTPLLM

        if not model:
            raise LLMError("the openai backend needs the server's model name (model=...)")
        return OpenAIHTTPLLM(model, **kwargs)
    if backend == "vllm":
        from .vllm import VLLMLLM

        return VLLMLLM(model, **kwargs)
    raise LLMError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")


_LOADED: dict[tuple, LLM] = {}


def generate(prompts_or_chats: Any, params: GenParams | None = None, *, llm: LLM | None = None,
             model: str | None = None, backend: str = "hf", **kwargs: Any) -> list[LLMResult]:
    """``generate(prompts | chats, params) -> [LLMResult]``, one per prompt, in order. With ``llm=None`` the model
    is loaded once per (model, backend, options) and kept for later calls."""
    if llm is None:
        key = (model, backend, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in _LOADED:
            _LOADED[key] = load_llm(model, backend, **kwargs)
        llm = _LOADED[key]
    return llm.generate(prompts_or_chats, params)
