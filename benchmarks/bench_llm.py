"""The LLM layer: SmolLM2-135M load times, HF tokens/s batched vs one prompt at a time, the async HTTP client's
requests/s and tokens/s against the loopback server (real model and echo model) at concurrency 1, 4, 16, and a
cache-hit resume. Results: benchmarks/results/llm.json (with the load average: CPU figures are relative).

    .venv/bin/python benchmarks/bench_llm.py [--quick]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from llm_server import LLMServer  # noqa: E402

from codecurate.models.llm import GenParams, load_llm  # noqa: E402
from codecurate.models.llm.http import OpenAIHTTPLLM  # noqa: E402
from codecurate.models.llm.smollm import ensure_converted  # noqa: E402

TASKS = ["sum_list(numbers) that returns the sum of a list", "is_palindrome(s) that checks a palindrome",
         "fib(n) that returns the n-th Fibonacci number", "reverse_words(s) that reverses the words of s",
         "count_vowels(s) that counts vowels", "max_of(xs) that returns the largest element",
         "is_prime(n) that tests primality", "flatten(xs) that flattens a nested list",
         "factorial(n)", "gcd(a, b)", "merge_sorted(a, b) that merges two sorted lists", "unique(xs) keeping order",
         "celsius_to_f(c)", "word_count(s) returning a dict", "chunk(xs, k) splitting a list", "mean(xs)"]


def chats(k: int) -> list:
    return [[{"role": "user", "content": f"Write a Python function {TASKS[i % len(TASKS)]}."}] for i in range(k)]


def main() -> None:
    quick = "--quick" in sys.argv
    out: dict = {"loadavg_start": os.getloadavg(), "cpus": os.cpu_count()}
    # 1. load: first (GGUF -> safetensors conversion in a fresh cache dir) and cached
    with tempfile.TemporaryDirectory() as d:
        if not quick:
            t = time.perf_counter()
            ensure_converted("smollm2-135m", d)
            out["convert_first_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    hf = load_llm("smollm2-135m", batch_size=16)
    out["load_cached_s"] = round(time.perf_counter() - t, 2)

    # 2. correctness: greedy sum_list
    r = hf.generate(chats(1), GenParams(max_tokens=60))[0]
    from codecurate.code.extract import extract_code

    ns: dict = {}
    try:
        exec(extract_code(r.text)[0], ns)  # noqa: S102
        out["sum_list_correct"] = ns["sum_list"]([1, 2, 3.5]) == 6.5 and ns["sum_list"]([]) == 0
    except Exception as e:  # noqa: BLE001
        out["sum_list_correct"] = f"{type(e).__name__}: {e}"

    # 3. HF backend: batched vs one prompt at a time
    k, mt = (4, 24) if quick else (8, 48)
    p = GenParams(max_tokens=mt)
    t = time.perf_counter()
    batched = hf.generate(chats(k), p)
    tb = time.perf_counter() - t
    t = time.perf_counter()
    single = [hf.generate(c, p)[0] for c in chats(k)]
    ts = time.perf_counter() - t
    tok_b = sum(x.completion_tokens for x in batched)
    tok_s = sum(x.completion_tokens for x in single)
    out["hf"] = {"prompts": k, "max_tokens": mt, "batched_tokens_per_s": round(tok_b / tb, 1),
                 "single_tokens_per_s": round(tok_s / ts, 1), "batched_s": round(tb, 2), "single_s": round(ts, 2),
                 "speedup": round((tok_b / tb) / (tok_s / ts), 2)}
    print(json.dumps(out["hf"]), flush=True)

    # 4. HTTP client against the loopback server with the real model (server batches concurrent requests)
    n_real, mt_real = (8, 16) if quick else (16, 32)
    out["http_real"] = {}
    with LLMServer(hf, max_batch=16) as srv:
        for conc in (1, 4, 16):
            llm = OpenAIHTTPLLM("smollm2-135m", base_url=srv.base_url, concurrency=conc, timeout=600)
            t = time.perf_counter()
            res = llm.generate(chats(n_real), GenParams(max_tokens=mt_real))
            dt = time.perf_counter() - t
            toks = sum(x.completion_tokens for x in res)
            out["http_real"][conc] = {"requests": n_real, "ok": sum(x.ok for x in res),
                                      "requests_per_s": round(n_real / dt, 2), "tokens_per_s": round(toks / dt, 1)}
            print(conc, json.dumps(out["http_real"][conc]), flush=True)
        # 5. cache-hit resume: a full run, then the same run again from the cache
        with tempfile.TemporaryDirectory() as d:
            llm = OpenAIHTTPLLM("smollm2-135m", base_url=srv.base_url, concurrency=16, timeout=600,
                                cache=Path(d) / "c.sqlite")
            t = time.perf_counter()
            llm.generate(chats(n_real), GenParams(max_tokens=mt_real))
            first = time.perf_counter() - t
            hits = len(srv.answered)
            t = time.perf_counter()
            again = llm.generate(chats(n_real), GenParams(max_tokens=mt_real))
            resume = time.perf_counter() - t
            out["cache_resume"] = {"requests": n_real, "first_s": round(first, 2), "resume_s": round(resume, 4),
                                   "server_calls_on_resume": len(srv.answered) - hits,
                                   "all_hits": all(c.cached for x in again for c in x.completions)}
            print(json.dumps(out["cache_resume"]), flush=True)

    # 6. the client alone: echo server (no model), many requests
    n_echo = 200 if quick else 600
    out["http_echo"] = {}
    with LLMServer(None) as srv:
        for conc in (1, 4, 16):
            llm = OpenAIHTTPLLM("echo", base_url=srv.base_url, concurrency=conc)
            t = time.perf_counter()
            res = llm.generate([f"q{i}" for i in range(n_echo)], GenParams(max_tokens=8))
            dt = time.perf_counter() - t
            toks = sum(x.completion_tokens for x in res)
            out["http_echo"][conc] = {"requests": n_echo, "ok": sum(x.ok for x in res),
                                      "requests_per_s": round(n_echo / dt, 1), "tokens_per_s": round(toks / dt, 1)}
            print("echo", conc, json.dumps(out["http_echo"][conc]), flush=True)
    out["loadavg_end"] = os.getloadavg()
    dest = ROOT / "benchmarks" / "results" / "llm.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
