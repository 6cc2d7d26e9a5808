"""HF transformers backend: CPU or GPU, batched, length-sorted, left-padded ``generate``.

- Prompts are sorted by token length (longest first) and cut into batches of ``batch_size``, so a batch pads to
  similar lengths; results go back in prompt order.
- Chats go through the tokenizer's chat template (``add_generation_prompt=True``).
- Sampling is seeded: ``torch.manual_seed(seed)`` before each generate call. A batch shares one random stream, so
  with ``deterministic_sampling`` (default) sampled requests that carry a seed run one prompt per call (its ``n``
  samples together): a prompt's samples then depend on (prompt, seed) only, not on its batch neighbours (a server
  that batches whatever arrives together stays reproducible). Greedy decoding is always batched.
- Stop sequences: ``stop_strings`` in ``generate`` and the text cut at the first stop string.
- ``logprobs``: the log-probability of each generated token under the model's raw distribution.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

from .base import LLM, GenParams, LLMError, Outcome, Request, truncate_at_stop
from .smollm import resolve_model


class HFLLM(LLM):
    backend = "hf"

    def __init__(self, model: str | None = None, *, cache=None, device: str | None = None, dtype: str = "auto",
                 batch_size: int = 8, trust_remote_code: bool = False, cache_dir=None, threads: int | None = None,
                 deterministic_sampling: bool = True):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise LLMError("the hf backend needs `pip install codecurate[models]` (torch, transformers)") from e
        from .smollm import DEFAULT_MODEL

        name = model or DEFAULT_MODEL
        path = resolve_model(name, cache_dir)
        super().__init__(name, cache=cache)
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        import transformers

        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        if dtype == "auto" and self.device == "cpu":
            dtype = "float32"
        self.model: Any = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                               **{dtype_kw: dtype})  # Any: close() sets None
        self.model.to(self.device)  # type: ignore[arg-type, unused-ignore]  # transformers: .to typed as unbound
        self.model.eval()
        self.load_seconds = time.perf_counter() - t0
        self.batch_size = max(1, batch_size)
        self.deterministic_sampling = deterministic_sampling
        self.path = path

    def render(self, prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise LLMError(f"{self.model_id}: the tokenizer has no chat template; pass text prompts")
        text = self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        assert isinstance(text, str)  # tokenize=False: the rendered text
        return text

    def _run(self, requests: list[Request], on_done: Callable[[Request, Outcome], None]) -> None:
        # group by (params, number of samples): one generate() call handles one decoding configuration
        groups: dict[str, tuple[GenParams, int, list[Request]]] = {}
        for r in requests:
            gk = json.dumps([r.params.key(), r.params.seed, len(r.samples)], sort_keys=True, default=str)
            groups.setdefault(gk, (r.params, len(r.samples), []))[2].append(r)
        for params, n, reqs in groups.values():
            texts: list[str | None] = []
            for r in reqs:
                try:
                    texts.append(self.render(r.prompt))
                except Exception as e:  # noqa: BLE001 - a per-record error, e.g. a bad chat
                    texts.append(None)
                    on_done(r, Outcome(error=f"{type(e).__name__}: {e}"))
            live = [(r, t) for r, t in zip(reqs, texts) if t is not None]
            lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for _, t in live]
            order = sorted(range(len(live)), key=lambda k: -lengths[k])
            bs = 1 if (self.deterministic_sampling and not params.greedy and params.seed is not None) else self.batch_size
            for s in range(0, len(order), bs):
                idx = order[s:s + bs]
                batch = [live[k] for k in idx]
                try:
                    outs = self._generate_batch([t for _, t in batch], params, n)
                except Exception as e:  # noqa: BLE001 - e.g. out of memory: every record of the batch gets it
                    for r, _ in batch:
                        on_done(r, Outcome(error=f"{type(e).__name__}: {e}"))
                    continue
                for (r, _), out in zip(batch, outs):
                    on_done(r, out)

    def _generate_batch(self, texts: list[str], params: GenParams, n: int) -> list[Outcome]:
        torch = self.torch
        t0 = time.perf_counter()
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kw: dict[str, Any] = dict(max_new_tokens=params.max_tokens, num_return_sequences=n,
                                  pad_token_id=self.tokenizer.pad_token_id, do_sample=not params.greedy,
                                  return_dict_in_generate=True, output_logits=params.logprobs)
        if params.greedy:
            kw.update(temperature=None, top_p=None, top_k=None)
        else:
            kw.update(temperature=params.temperature, top_p=params.top_p, top_k=None)
        if params.stop:
            kw.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.no_grad():
            out = self.model.generate(**enc, **kw)
        seqs = out.sequences
        new = seqs[:, enc["input_ids"].shape[1]:]
        lp = None
        if params.logprobs and out.logits:
            logits = torch.stack(out.logits, dim=1).float()  # (batch*n, steps, vocab)
            lp = torch.log_softmax(logits, dim=-1).gather(-1, new[:, :logits.shape[1]].unsqueeze(-1)).squeeze(-1)
        eos_ids = self._eos_ids()
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        seconds = (time.perf_counter() - t0) / len(texts)
        results = []
        for i in range(len(texts)):
            samples = []
            for k in range(i * n, (i + 1) * n):
                ids = new[k].tolist()
                length, finish = len(ids), "length"
                for pos, t in enumerate(ids):
                    if t in eos_ids:
                        length, finish = pos, "stop"
                        break
                text = cast(str, self.tokenizer.decode(ids[:length], skip_special_tokens=True))  # one sequence: a str
                text, cut = truncate_at_stop(text, params.stop)
                if cut:
                    finish = "stop"
                samples.append({"text": text, "finish_reason": finish, "completion_tokens": length,
                                "logprobs": [round(float(x), 5) for x in lp[k, :length].tolist()] if lp is not None
                                else None})
            results.append(Outcome(samples=samples, prompt_tokens=int(prompt_lens[i]), seconds=seconds))
        return results

    def _eos_ids(self) -> set[int]:
        ids = set()
        gc_eos = self.model.generation_config.eos_token_id
        for x in (gc_eos if isinstance(gc_eos, list) else [gc_eos]):
            if x is not None:
                ids.add(int(x))
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return ids

    def close(self) -> None:
        self.model = None
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()
