"""The LLM interface: parameters, results, statistics, structured output and the cache-aware driver.

A backend implements ``_run(requests, on_done)``: generate ``len(req.samples)`` completions for each request and
call ``on_done(req, outcome)`` once per request, as soon as it is known (success or error). The driver in
``LLM.generate`` looks every sample up in the cache first, sends only the misses, commits every sample to the
cache the moment ``on_done`` hands it over, validates structured output and re-asks for the samples that fail,
and returns one ``LLMResult`` per prompt, in prompt order: never None, never dropped, errors as fields.
"""

from __future__ import annotations

import abc
import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .cache import LLMCache, cache_key

Chat = list[dict[str, str]]
Prompt = str | Chat


class LLMError(RuntimeError):
    """A configuration error (unknown model, missing backend package); per-record failures are never raised."""


@dataclass(frozen=True)
class GenParams:
    """Decoding parameters. ``temperature == 0`` is greedy. ``logprobs``: return the log-probability of each
    generated token where the backend gives them. ``json_schema``: a JSON schema (dict) or a pydantic model class;
    the reply is parsed and validated, and a reply that fails is asked again (``structured_retries`` more times,
    sampled at ``retry_temperature`` with a new seed when decoding is greedy), then returned as a per-sample error
    carrying the raw text."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    logprobs: bool = False
    json_schema: Any = None
    schema_in_prompt: bool = True
    structured_retries: int = 2
    retry_temperature: float = 0.7

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if isinstance(self.stop, str) or isinstance(self.stop, list):
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def schema_dict(self) -> dict | None:
        s = self.json_schema
        if s is None:
            return None
        if isinstance(s, dict):
            return s
        if hasattr(s, "model_json_schema"):
            return s.model_json_schema()
        raise TypeError("json_schema must be a dict or a pydantic model class")

    def key(self) -> dict:
        """What identifies a sample's decoding (``n`` excluded: each sample has its own key)."""
        return {"temperature": self.temperature, "top_p": self.top_p if not self.greedy else 1.0,
                "max_tokens": self.max_tokens, "stop": list(self.stop), "logprobs": self.logprobs,
                "schema": self.schema_dict(), "schema_in_prompt": self.schema_in_prompt}

    def for_attempt(self, attempt: int) -> GenParams:
        """Parameters of a structured-output retry: a new seed, sampled when the first try was greedy."""
        if attempt == 0:
            return self
        seed = (self.seed or 0) + 7919 * attempt
        return replace(self, seed=seed, temperature=self.temperature or self.retry_temperature)


@dataclass
class Completion:
    text: str
    finish_reason: str | None = None
    completion_tokens: int = 0
    logprobs: list[float] | None = None
    cached: bool = False
    parsed: Any = None  # structured output: the validated object (dict, or the pydantic model instance)
    error: str | None = None
    attempts: int = 1


@dataclass
class LLMResult:
    """One prompt's outcome: ``n`` completions (in sample order), token counts, seconds, cache hits/misses and
    ``error`` (None when every sample succeeded)."""

    index: int
    completions: list[Completion] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]

    @property
    def text(self) -> str:
        return self.completions[0].text if self.completions else ""

    def to_dict(self) -> dict:
        d = asdict(self)
        for c in d["completions"]:
            if c["parsed"] is not None and hasattr(c["parsed"], "model_dump"):
                c["parsed"] = c["parsed"].model_dump()
        return d


@dataclass
class LLMStats:
    requests: int = 0  # calls answered by the backend (HTTP: successful requests; HF: prompts generated)
    retries: int = 0  # transport retries (HTTP)
    errors: int = 0  # samples that ended as errors
    cache_hits: int = 0
    cache_misses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # wall time inside generate()
    structured_retries: int = 0  # samples asked again because the reply failed the schema
    structured_failures: int = 0  # samples still invalid after the last structured retry

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, **kw: float) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        d["tokens_per_s"] = round(self.completion_tokens / self.seconds, 2) if self.seconds else 0.0
        return d


@dataclass
class Request:
    """One unit of backend work: ``len(samples)`` completions of one prompt under ``params``."""

    index: int  # prompt index
    prompt: Prompt
    samples: list[int]  # sample indices to fill
    params: GenParams
    attempt: int = 0


@dataclass
class Outcome:
    samples: list[dict] = field(default_factory=list)  # text, finish_reason, completion_tokens, logprobs
    prompt_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None


# ---------------------------------------------------------------- structured output
_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, a fenced block, or the outermost ``{...}`` / ``[...]``."""
    t = text.strip()
    try:
        return json.loads(t)
    except ValueError:
        pass
    for m in _FENCE.finditer(t):
        try:
            return json.loads(m.group(1).strip())
        except ValueError:
            continue
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = t.find(open_), t.rfind(close)
        if i != -1 and j > i:
            try:
                return json.loads(t[i:j + 1])
            except ValueError:
                continue
    raise ValueError("no JSON value in the reply")


def validate_structured(text: str, schema: Any) -> Any:
    """Parse and validate; raises ValueError with the reason."""
    obj = extract_json(text)
    if hasattr(schema, "model_validate"):  # a pydantic model class
        try:
            return schema.model_validate(obj)
        except Exception as e:  # pydantic.ValidationError
            raise ValueError(f"schema validation failed: {e}") from None
    try:
        import jsonschema
    except ImportError:  # minimal fallback: type object + required keys
        if schema.get("type") == "object" and not isinstance(obj, dict):
            raise ValueError("schema validation failed: not an object") from None
        missing = [k for k in schema.get("required", []) if not isinstance(obj, dict) or k not in obj]
        if missing:
            raise ValueError(f"schema validation failed: missing {missing}") from None
        return obj
    try:
        jsonschema.validate(obj, schema)
    except jsonschema.ValidationError as e:
        raise ValueError(f"schema validation failed: {e.message}") from None
    return obj


def with_schema_instruction(prompt: Prompt, schema: dict) -> Prompt:
    note = ("\n\nAnswer with only a JSON object that matches this JSON schema, and nothing else:\n"
            + json.dumps(schema))
    if isinstance(prompt, str):
        return prompt + note
    msgs = [dict(m) for m in prompt]
    for m in reversed(msgs):
        if m.get("role") == "user":
            m["content"] = (m.get("content") or "") + note
            break
    else:
        msgs.append({"role": "user", "content": note.strip()})
    return msgs


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut], cut < len(text)


def normalize_prompt(p: Any) -> Prompt:
    if isinstance(p, str):
        return p
    if isinstance(p, dict) and "role" in p:
        return [dict(p)]
    if isinstance(p, (list, tuple)) and all(isinstance(m, dict) and "role" in m for m in p):
        return [{"role": m["role"], "content": m.get("content") or ""} for m in p]
    raise TypeError(f"a prompt is a string or a list of {{'role', 'content'}} messages, got {type(p).__name__}")


# ---------------------------------------------------------------- the driver
class LLM(abc.ABC):
    """Base class: the cache-aware, structured-output-aware driver around a backend's ``_run``."""

    backend = "base"

    def __init__(self, model_id: str, *, cache: LLMCache | str | os.PathLike | None = None):
        self.model_id = model_id
        if isinstance(cache, (str, os.PathLike)):
            cache = LLMCache(cache)
        self.cache: LLMCache | None = cache
        self.stats = LLMStats()

    @abc.abstractmethod
    def _run(self, requests: list[Request], on_done: Callable[[Request, Outcome], None]) -> None:
        """Run the cache misses; call ``on_done`` once per request (each backend implements it)."""

    def close(self) -> None:
        pass

    def _key(self, prompt: Prompt, params: GenParams, sample: int, attempt: int) -> str:
        return cache_key(backend=self.backend, model=self.model_id, params=params.key(), prompt=prompt,
                         seed=params.seed, sample=sample, attempt=attempt)

    def generate(self, prompts: Sequence[Any] | str, params: GenParams | None = None) -> list[LLMResult]:
        """One ``LLMResult`` per prompt (a string or a chat), in order."""
        params = params or GenParams()
        if isinstance(prompts, str) or (isinstance(prompts, list) and prompts and isinstance(prompts[0], dict)):
            prompts = [prompts]
        t0 = time.perf_counter()
        norm = [normalize_prompt(p) for p in prompts]
        schema = params.schema_dict()
        sent = [with_schema_instruction(p, schema) if schema and params.schema_in_prompt else p for p in norm]
        results = [LLMResult(index=i, completions=[Completion(text="") for _ in range(params.n)])
                   for i in range(len(norm))]
        failed: set[tuple[int, int]] = set()  # samples whose call ended in an error (not retried here)
        # slots still to fill at the current attempt: (prompt index, sample index)
        todo = [(i, j) for i in range(len(norm)) for j in range(params.n)]
        max_attempts = 1 + (params.structured_retries if schema else 0)
        for attempt in range(max_attempts):
            if not todo:
                break
            ap = params.for_attempt(attempt)
            keys = {(i, j): self._key(norm[i], ap, j, attempt) for i, j in todo}
            hits = self.cache.get_many(list(keys.values())) if self.cache is not None else {}
            misses: dict[int, list[int]] = {}
            for (i, j), k in keys.items():
                if k in hits:
                    self._fill(results[i], j, hits[k], cached=True, attempt=attempt)
                    results[i].cache_hits += 1
                    self.stats.add(cache_hits=1)
                else:
                    misses.setdefault(i, []).append(j)
                    if self.cache is not None:
                        results[i].cache_misses += 1
                        self.stats.add(cache_misses=1)
            requests = [Request(index=i, prompt=sent[i], samples=js, params=ap, attempt=attempt)
                        for i, js in misses.items()]

            def on_done(req: Request, out: Outcome, _ap: GenParams = ap) -> None:
                r = results[req.index]
                r.seconds += out.seconds
                if out.error is not None:
                    for j in req.samples:
                        c = r.completions[j]
                        c.text, c.error, c.attempts = "", out.error, req.attempt + 1
                        failed.add((req.index, j))
                    self.stats.add(errors=len(req.samples))
                    return
                r.prompt_tokens = max(r.prompt_tokens, out.prompt_tokens)
                self.stats.add(requests=1, prompt_tokens=out.prompt_tokens)
                for j, s in zip(req.samples, out.samples):
                    s = {**s, "prompt_tokens": out.prompt_tokens}
                    if self.cache is not None:
                        self.cache.put(self._key(norm[req.index], _ap, j, req.attempt), s)
                    self._fill(r, j, s, cached=False, attempt=req.attempt)
                    self.stats.add(completion_tokens=s.get("completion_tokens", 0))
                for j in req.samples[len(out.samples):]:  # a backend that returned fewer choices than asked
                    r.completions[j].error = f"the backend returned {len(out.samples)} of {len(req.samples)} samples"
                    failed.add((req.index, j))
                    self.stats.add(errors=1)

            if requests:
                self._run(requests, on_done)
            # validate structured output; failures go to the next attempt
            nxt = []
            for i, j in todo:
                c = results[i].completions[j]
                if (i, j) in failed:
                    continue
                if schema:
                    try:
                        c.parsed = validate_structured(c.text, params.json_schema)
                        c.error = None
                    except ValueError as e:
                        c.error = f"structured output invalid after {attempt + 1} attempt(s): {e}"
                        if attempt + 1 < max_attempts:
                            nxt.append((i, j))
                            self.stats.add(structured_retries=1)
                            continue
                        self.stats.add(structured_failures=1, errors=1)
            todo = nxt
        for r in results:
            r.completion_tokens = sum(c.completion_tokens for c in r.completions)
            errs = [f"sample {j}: {c.error}" for j, c in enumerate(r.completions) if c.error]
            r.error = "; ".join(errs) if errs else None
        self.stats.add(seconds=time.perf_counter() - t0)
        return results

    @staticmethod
    def _fill(r: LLMResult, j: int, s: dict, *, cached: bool, attempt: int) -> None:
        c = r.completions[j]
        c.text = s.get("text", "")
        c.finish_reason = s.get("finish_reason")
        c.completion_tokens = int(s.get("completion_tokens") or 0)
        c.logprobs = s.get("logprobs")
        c.cached = cached
        c.error = None
        c.attempts = attempt + 1
        if cached:
            r.prompt_tokens = max(r.prompt_tokens, int(s.get("prompt_tokens") or 0))
