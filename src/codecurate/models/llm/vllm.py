"""vLLM offline backend (GPU; optional: ``pip install vllm``). Imported only when asked for.

``LLM(model).generate(texts, SamplingParams(n, temperature, top_p, max_tokens, stop, seed, logprobs))``; chats go
through the tokenizer's chat template. Aliases resolve like the HF backend (``smollm2-135m`` -> the converted
safetensors directory). Not exercised by the CPU test suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import LLM, LLMError, Outcome, Request, truncate_at_stop
from .smollm import resolve_model


class VLLMLLM(LLM):
    backend = "vllm"

    def __init__(self, model: str | None = None, *, cache=None, cache_dir=None, max_model_len: int | None = None,
                 dtype: str = "auto", tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 trust_remote_code: bool = False):
        try:
            import vllm
        except ImportError as e:
            raise LLMError("the vllm backend needs `pip install vllm` and a GPU; use backend='hf' on CPU") from e
        from .smollm import DEFAULT_MODEL

        name = model or DEFAULT_MODEL
        super().__init__(name, cache=cache)
        kw = dict(model=resolve_model(name, cache_dir), dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                  gpu_memory_utilization=gpu_memory_utilization, trust_remote_code=trust_remote_code)
        if max_model_len:
            kw["max_model_len"] = max_model_len
        t0 = time.perf_counter()
        self.llm = vllm.LLM(**kw)
        self.load_seconds = time.perf_counter() - t0
        self.tokenizer = self.llm.get_tokenizer()

    def _run(self, requests: list[Request], on_done: Callable[[Request, Outcome], None]) -> None:
        from vllm import SamplingParams

        texts, sps = [], []
        for r in requests:
            p = r.params
            texts.append(r.prompt if isinstance(r.prompt, str) else
                         self.tokenizer.apply_chat_template(r.prompt, tokenize=False, add_generation_prompt=True))
            sps.append(SamplingParams(n=len(r.samples), temperature=p.temperature, top_p=p.top_p if not p.greedy else 1.0,
                                      max_tokens=p.max_tokens, stop=list(p.stop) or None, seed=p.seed,
                                      logprobs=0 if p.logprobs else None))
        t0 = time.perf_counter()
        try:
            outs = self.llm.generate(texts, sps)
        except Exception as e:  # noqa: BLE001
            for r in requests:
                on_done(r, Outcome(error=f"{type(e).__name__}: {e}"))
            return
        per = (time.perf_counter() - t0) / max(1, len(requests))
        for r, o in zip(requests, outs):
            samples = []
            for c in o.outputs:
                text, _ = truncate_at_stop(c.text, r.params.stop)
                lps = None
                if r.params.logprobs and c.logprobs:
                    lps = [d[t].logprob for d, t in zip(c.logprobs, c.token_ids)]
                samples.append({"text": text, "finish_reason": c.finish_reason,
                                "completion_tokens": len(c.token_ids), "logprobs": lps})
            on_done(r, Outcome(samples=samples, prompt_tokens=len(o.prompt_token_ids or []), seconds=per))
