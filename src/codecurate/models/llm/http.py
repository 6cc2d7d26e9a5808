"""OpenAI-compatible HTTP backend (vLLM server, SGLang, Ollama, llama.cpp server, hosted APIs) over ``httpx``'s
async client.

Text prompts go to ``/completions``, chats to ``/chat/completions``. Reliability:

- bounded concurrency (an ``asyncio.Semaphore`` of ``concurrency``);
- a rate limiter: token buckets for requests per minute and tokens per minute (prompt characters / 4 +
  ``max_tokens * n`` reserved before a call, corrected by the server's ``usage`` after it);
- retries with exponential backoff and full jitter (``backoff_base * 2**attempt``, capped at ``backoff_max``) on
  408/409/425/429/5xx, timeouts, connection errors and resets, truncated bodies and bodies that are not the
  expected JSON; a ``Retry-After`` header (seconds or an HTTP date) is honoured, capped at ``retry_after_max``;
- a per-request timeout (the whole request, body included: a server that trickles bytes cannot hold a slot);
- after the last retry, or on a non-retryable answer (400, 401, 403, 404, 422), a per-record error naming the
  URL: never an exception out of ``generate``, never a dropped record.

Structured output: the schema also goes to the server as ``response_format`` (``json_schema``), which servers with
guided decoding enforce; the driver validates either way.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from .base import LLM, LLMError, Outcome, Request, truncate_at_stop

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class TokenBucket:
    """``per_minute`` units per minute, refilled continuously, bursts up to one second's worth (at least 1);
    ``None`` = unlimited. A request larger than the burst waits for a full bucket and the rest is debited (the
    level goes negative), which delays later callers, as does a debit after the fact (actual usage > estimate)."""

    def __init__(self, per_minute: float | None):
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = max(1.0, (per_minute or 0) / 60.0)
        self.level = self.capacity
        self.t = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        assert self.rate is not None  # callers return early when unlimited
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now

    async def acquire(self, amount: float) -> None:
        if self.rate is None:
            return
        need = min(amount, self.capacity)
        async with self._lock:
            while True:
                self._refill()
                if self.level >= need:
                    self.level -= amount
                    return
                await asyncio.sleep((need - self.level) / self.rate)

    def debit(self, amount: float) -> None:
        if self.rate is not None:
            self._refill()
            self.level -= amount


class _Retry(Exception):
    def __init__(self, why: str, retry_after: float | None = None):
        super().__init__(why)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
        return max(0.0, dt.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIHTTPLLM(LLM):
    backend = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None, cache=None,
                 concurrency: int = 8, timeout: float = 120.0, max_retries: int = 5, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, retry_after_max: float = 120.0, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, response_format: bool = True,
                 extra_body: dict | None = None):
        try:
            import httpx  # noqa: F401
        except ImportError as e:
            raise LLMError("the openai backend needs `pip install httpx`") from e
        super().__init__(model, cache=cache)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://localhost:8000/v1").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.response_format = response_format
        self.extra_body = extra_body or {}

    # ------------------------------------------------------------ request bodies
    def _body(self, req: Request) -> tuple[str, dict]:
        p = req.params
        body: dict[str, Any] = {"model": self.model_id, "n": len(req.samples), "temperature": p.temperature,
                                "max_tokens": p.max_tokens}
        if not p.greedy:
            body["top_p"] = p.top_p
        if p.stop:
            body["stop"] = list(p.stop)[:4]  # the OpenAI API takes at most 4; the rest are cut locally
        if p.seed is not None:
            body["seed"] = p.seed
        schema = p.schema_dict()
        if isinstance(req.prompt, str):
            route = "completions"
            body["prompt"] = req.prompt
            if p.logprobs:
                body["logprobs"] = 1
        else:
            route = "chat/completions"
            body["messages"] = req.prompt
            if p.logprobs:
                body["logprobs"] = True
            if schema and self.response_format:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "reply", "schema": schema}}
        body.update(self.extra_body)
        return route, body

    @staticmethod
    def _parse(data: Any, req: Request, chat: bool) -> Outcome:
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            raise _Retry("the body has no choices")
        samples = []
        for c in sorted(data["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            if not isinstance(c, dict):
                raise _Retry("a choice is not an object")
            if chat:
                msg = c.get("message")
                if not isinstance(msg, dict):
                    raise _Retry("a choice has no message")
                text = msg.get("content") or ""
                lp = c.get("logprobs") or {}
                lps = [t.get("logprob") for t in (lp.get("content") or [])] if isinstance(lp, dict) else None
            else:
                if "text" not in c:
                    raise _Retry("a choice has no text")
                text = c.get("text") or ""
                lp = c.get("logprobs") or {}
                lps = lp.get("token_logprobs") if isinstance(lp, dict) else None
            text, cut = truncate_at_stop(text, req.params.stop)
            samples.append({"text": text, "finish_reason": "stop" if cut else c.get("finish_reason"),
                            "completion_tokens": 0, "logprobs": lps or None})
        usage = data.get("usage") or {}
        ct = int(usage.get("completion_tokens") or 0)
        for s in samples:  # usage is per request: share it out (exact for n = 1)
            s["completion_tokens"] = ct // len(samples)
        return Outcome(samples=samples, prompt_tokens=int(usage.get("prompt_tokens") or 0))

    # ------------------------------------------------------------ one request with retries
    async def _one(self, client, req: Request, sem: asyncio.Semaphore, rpm: TokenBucket, tpm: TokenBucket) -> Outcome:
        import httpx

        route, body = self._body(req)
        url = f"{self.base_url}/{route}"
        estimate = len(json.dumps(body.get("messages") or body.get("prompt"))) / 4 + req.params.max_tokens * body["n"]
        t0 = time.perf_counter()
        last = ""
        for attempt in range(self.max_retries + 1):
            delay = None
            async with sem:
                await rpm.acquire(1)
                await tpm.acquire(estimate)
                try:
                    resp = await asyncio.wait_for(client.post(url, json=body), self.timeout)
                    status = resp.status_code
                    if status in RETRYABLE_STATUS:
                        raise _Retry(f"HTTP {status}: {resp.text[:200]}",
                                     parse_retry_after(resp.headers.get("retry-after")))
                    if status >= 400:
                        return Outcome(error=f"{url} answered HTTP {status} (not retried): {resp.text[:300]}",
                                       seconds=time.perf_counter() - t0)
                    try:
                        data = resp.json()
                    except ValueError:
                        raise _Retry(f"invalid JSON body ({len(resp.content)} bytes)") from None
                    out = self._parse(data, req, chat=route.startswith("chat"))
                    used = out.prompt_tokens + sum(s["completion_tokens"] for s in out.samples)
                    if used:
                        tpm.debit(used - estimate)
                    out.seconds = time.perf_counter() - t0
                    return out
                except _Retry as e:
                    last, delay = str(e), e.retry_after
                except (asyncio.TimeoutError, httpx.TimeoutException):
                    last = f"timed out after {self.timeout}s"
                except httpx.HTTPError as e:  # connect errors, resets, truncated bodies (RemoteProtocolError)
                    last = f"{type(e).__name__}: {e}"
            if attempt == self.max_retries:
                break
            self.stats.add(retries=1)
            backoff = random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** attempt))
            await asyncio.sleep(min(self.retry_after_max, delay) if delay is not None else backoff)
        return Outcome(error=f"{url} failed after {self.max_retries + 1} attempts: {last}",
                       seconds=time.perf_counter() - t0)

    async def agenerate_requests(self, requests: list[Request], on_done: Callable[[Request, Outcome], None]) -> None:
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        rpm, tpm = TokenBucket(self.rpm), TokenBucket(self.tpm)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits, headers=headers) as client:
            async def task(req: Request) -> None:
                try:
                    out = await self._one(client, req, sem, rpm, tpm)
                except Exception as e:  # noqa: BLE001 - whatever happens, the record gets an outcome
                    out = Outcome(error=f"{type(e).__name__}: {e}")
                on_done(req, out)  # the driver commits to the cache here, as each result arrives

            await asyncio.gather(*(task(r) for r in requests))

    def _run(self, requests: list[Request], on_done: Callable[[Request, Outcome], None]) -> None:
        coro = self.agenerate_requests(requests, on_done)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(coro)
            return
        # called from inside an event loop (a notebook): run in a helper thread with its own loop
        err: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(coro)
            except BaseException as e:  # noqa: BLE001
                err.append(e)

        t = threading.Thread(target=target)
        t.start()
        t.join()
        if err:
            raise err[0]
