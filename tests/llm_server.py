"""A tiny OpenAI-compatible server on loopback for the LLM layer's tests and benchmark.

``LLMServer(llm)`` serves ``/v1/completions`` and ``/v1/chat/completions`` from a ``codecurate.models.llm`` LLM (the
real SmolLM2 behind the HF backend): a worker thread takes every request waiting (up to ``max_batch``), groups them
by decoding parameters and runs one batched ``generate`` per group. ``LLMServer(None)`` answers with an *echo*
model instead: a deterministic reply made from the prompt, the seed and the choice index (fast, for fault tests).

Fault injection: ``faults[prompt_text] = ["429:0.5", "500", ...]`` applies one fault per attempt for that prompt
(the text prompt, or the last message's content), then answers normally. Kinds: ``429:<retry-after>``, ``500``,
``503``, ``400``, ``hang`` (sleeps ``hang_s``, then closes without answering), ``cut`` (half the body, then
closes), ``badjson`` (200 with a body that is not JSON), ``reset`` (closes without answering), ``always500``.
``hold_after(n)``: after ``n`` answers, further requests wait and are then dropped unanswered (to SIGKILL a
client at a moment when nothing is in flight but unanswered requests).

Scripted replies: ``LLMServer(None, script=fn)`` answers choice ``i`` of a request with ``fn(body, i)`` (a string)
instead of the echo text: tests decide the reply per prompt (``prompt_key(body)``), seed and choice.

``answered``: the digest of every request body that got a complete 200 answer; ``attempts``: (time, prompt key,
fault) for every request received.
"""

from __future__ import annotations

import hashlib
import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def prompt_key(body: dict) -> str:
    if "messages" in body:
        return str((body["messages"] or [{}])[-1].get("content", ""))
    return str(body.get("prompt", ""))


def echo_text(body: dict, index: int) -> str:
    """The echo model: deterministic in (prompt, seed, index); random when sampling without a seed. Prompts
    containing ``JSON schema`` get ``{"answer": seed + index}`` (structured output tests)."""
    import random

    seed = body.get("seed")
    if body.get("temperature", 0) and seed is None:
        seed = random.randrange(1 << 30)
    key = hashlib.sha256(json.dumps([body.get("messages") or body.get("prompt"), seed, index]).encode()).hexdigest()
    if "JSON schema" in prompt_key(body):
        return json.dumps({"answer": (seed or 0) + index})
    return f"echo {key[:12]} seed {seed} choice {index}"


class LLMServer:
    def __init__(self, llm=None, *, faults: dict[str, list[str]] | None = None, hang_s: float = 3.0,
                 delay_s: float = 0.0, max_batch: int = 16, host: str = "127.0.0.1", port: int = 0,
                 script=None):
        self.llm = llm
        self.script = script
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.hang_s, self.delay_s, self.max_batch = hang_s, delay_s, max_batch
        self.answered: list[str] = []
        self.attempts: list[tuple[float, str, str | None]] = []
        self._lock = threading.Lock()
        self._hold_after: int | None = None
        self._started = 0  # requests let through (held ones excluded)
        self._released = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def setup(self):
                super().setup()  # no Nagle: headers and body are separate writes (else ~40 ms per keep-alive call)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    name = getattr(server.llm, "model_id", "echo")
                    self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                server._handle(self)

            def _send(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        self._threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True)]
        if llm is not None:
            self._threads.append(threading.Thread(target=self._worker, daemon=True))

    # ------------------------------------------------------------ lifecycle
    def start(self) -> LLMServer:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def hold_after(self, n: int) -> None:
        self._released.clear()
        self._hold_after = n + self._started

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    # ------------------------------------------------------------ requests
    def _handle(self, h) -> None:
        try:
            length = int(h.headers.get("Content-Length") or 0)
            body = json.loads(h.rfile.read(length) or b"{}")
        except ValueError:
            h._send(400, {"error": "bad request body"})
            return
        key = prompt_key(body)
        with self._lock:
            plan = self.faults.get(key)
            fault = None
            if plan:
                fault = plan[0] if plan[0] == "always500" else plan.pop(0)
            self.attempts.append((time.monotonic(), key, fault))
            hold = self._hold_after is not None and self._started >= self._hold_after
            if not hold:
                self._started += 1
        if hold:
            self._released.wait()
            self._close(h)
            return
        if fault:
            if fault.startswith("429"):
                ra = fault.split(":", 1)[1] if ":" in fault else "1"
                h._send(429, {"error": "rate limited"}, {"Retry-After": ra})
                return
            if fault in ("500", "503", "always500", "400"):
                h._send(int(fault.replace("always", "")), {"error": f"injected {fault}"})
                return
            if fault == "hang":
                time.sleep(self.hang_s)
                self._close(h)
                return
            if fault == "reset":
                self._close(h)
                return
            if fault == "badjson":
                data = b'{"choices": [ not json'
                h.send_response(200)
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
                h.wfile.flush()
                return
        try:
            reply = self._reply(body)
        except Exception as e:  # noqa: BLE001
            h._send(500, {"error": f"{type(e).__name__}: {e}"})
            return
        if fault == "cut":
            data = json.dumps(reply).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            self._close(h)
            return
        h._send(200, reply)
        with self._lock:
            self.answered.append(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest())

    @staticmethod
    def _close(h) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _reply(self, body: dict) -> dict:
        if self.delay_s:
            time.sleep(self.delay_s)
        chat = "messages" in body
        n = int(body.get("n") or 1)
        if self.llm is None:
            texts = [self.script(body, i) if self.script else echo_text(body, i) for i in range(n)]
            usage = {"prompt_tokens": len(prompt_key(body).split()), "completion_tokens": sum(len(t.split()) for t in texts)}
            finish = ["stop"] * n
        else:
            done = threading.Event()
            slot: dict = {}
            self._queue.put((body, slot, done))
            done.wait()
            if "error" in slot:
                raise RuntimeError(slot["error"])
            r = slot["result"]
            if r.error:
                raise RuntimeError(r.error)
            texts = r.texts
            finish = [c.finish_reason for c in r.completions]
            usage = {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if chat:
            choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": f}
                       for i, (t, f) in enumerate(zip(texts, finish))]
            obj = "chat.completion"
        else:
            choices = [{"index": i, "text": t, "finish_reason": f} for i, (t, f) in enumerate(zip(texts, finish))]
            obj = "text_completion"
        return {"id": "cmpl-test", "object": obj, "created": int(time.time()), "model": body.get("model"),
                "choices": choices, "usage": usage}

    def _worker(self) -> None:
        """Batch the waiting requests through the LLM: one generate() per group of equal decoding parameters."""
        from codecurate.models.llm import GenParams

        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            items = [first]
            while len(items) < self.max_batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            groups: dict[tuple, list] = {}
            for body, slot, done in items:
                try:
                    stop = body.get("stop") or ()
                    params = GenParams(n=int(body.get("n") or 1), temperature=float(body.get("temperature") or 0),
                                       top_p=float(body.get("top_p") or 1.0), max_tokens=int(body.get("max_tokens") or 16),
                                       stop=tuple([stop] if isinstance(stop, str) else stop), seed=body.get("seed"),
                                       logprobs=bool(body.get("logprobs")))
                except (TypeError, ValueError) as e:
                    slot["error"] = str(e)
                    done.set()
                    continue
                groups.setdefault((params,), []).append((body, slot, done))
            for (params,), members in groups.items():
                prompts = [b.get("messages") or b.get("prompt") or "" for b, _, _ in members]
                try:
                    results = self.llm.generate(prompts, params)
                except Exception as e:  # noqa: BLE001
                    for _, slot, done in members:
                        slot["error"] = f"{type(e).__name__}: {e}"
                        done.set()
                    continue
                for (_, slot, done), r in zip(members, results):
                    slot["result"] = r
                    done.set()


if __name__ == "__main__":  # python tests/llm_server.py [model]: serve until interrupted
    import sys

    from codecurate.models.llm import load_llm

    srv = LLMServer(load_llm(sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m")).start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
