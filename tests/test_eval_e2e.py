"""End-to-end `codecurate eval`: a tiny HF model built here, resume, --from-generations, the OpenAI backend."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from codecurate.evaluation.benchmarks import load_benchmark
from codecurate.evaluation.runner import EvalError, evaluate, read_all_code
from codecurate.models.generate import program_from_output
from codecurate.models.llm.hf import HFLLM


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random 2-layer Llama with a byte-level BPE tokenizer trained here on HumanEval prompts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny_llama")
    texts = [r["code"] for r in load_benchmark("humaneval")]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    hf_tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(hf_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id, bos_token_id=None)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return str(path)


def _files(out_dir):
    return {f for f in os.listdir(out_dir)}


def test_tiny_hf_model_full_path(tiny_model, tmp_path):
    out = evaluate("humaneval", tiny_model, backend="hf", prompt="auto", limit=3, max_new_tokens=8, batch_size=2,
                   workers=2, output_dir=str(tmp_path / "Results"), tag="base")
    assert out.out_dir == str(tmp_path / "Results" / "humaneval" / os.path.basename(tiny_model) / "base")
    assert {"all_code.json", "results.json", "per_problem.jsonl", "run_config.json"} <= _files(out.out_dir)
    rows = read_all_code(os.path.join(out.out_dir, "all_code.json"))
    recs = load_benchmark("humaneval", limit=3)
    assert [r["id"] for r in rows] == ["0_0", "1_0", "2_0"]
    for row, rec in zip(rows, recs):  # completion preset (no chat template): program = prompt + completion
        assert row["task_id"] == rec["id"] and row["code"] == rec["meta"]["prompt"] + row["raw"]
    res = json.load(open(os.path.join(out.out_dir, "results.json")))
    assert res["settings"]["prompt"] == "completion" and res["settings"]["backend"] == "hf"
    m = res["metrics"]
    assert 0.0 <= m["pass@1"] <= 1.0 and m["pass@1"] < 0.5  # a random model solves (almost) nothing
    assert 0.0 <= m["avg_pass_ratio"] <= 1.0
    assert 0.0 <= m["code_smell_score"] <= 10.0 and 0.0 <= m["maintainability_index"] <= 100.0
    assert set(m["smell_counts"]) == {"convention", "refactor", "warning", "error", "fatal"}
    assert res["counts"]["samples"] == 3 and res["versions"]["pylint"] and res["versions"]["radon"]
    per = [json.loads(x) for x in open(os.path.join(out.out_dir, "per_problem.jsonl"))]
    assert [p["task_id"] for p in per] == [r["id"] for r in recs]
    assert all(p["n"] == 1 and "pass@1" in p and "mi" in p["samples"][0] for p in per)


def test_tiny_hf_model_study_prompt_sampling(tiny_model, tmp_path):
    out = evaluate("mbpp", tiny_model, prompt="study", n=2, temperature=0.8, top_p=0.95, ks=(1, 2, 10), limit=2,
                   max_new_tokens=6, workers=2, output_dir=str(tmp_path), static=False)
    rows = read_all_code(os.path.join(out.out_dir, "all_code.json"))
    assert [r["id"] for r in rows] == ["0_0", "0_1", "1_0", "1_1"]
    recs = load_benchmark("mbpp", limit=2)
    assert all(r["code"] == program_from_output(recs[int(r["id"][0])], r["raw"], "study") for r in rows)
    assert rows[0]["raw"] != rows[1]["raw"]  # two samples drawn at temperature 0.8
    assert set(out.results["metrics"]) >= {"pass@1", "pass@2"} and "pass@10" not in out.results["metrics"]
    assert out.results["pass_at_k_skipped"] == [10]


class CountingLLM(HFLLM):
    """The real HF backend of the LLM layer, recording the prompts it is asked for and those it really runs."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.asked, self.ran = [], []

    def generate(self, prompts, params=None):
        self.asked.extend(prompts)
        return super().generate(prompts, params)

    def _run(self, requests, on_done):
        self.ran.extend(r.prompt for r in requests)
        return super()._run(requests, on_done)


def test_resume_after_killed_run(tiny_model, tmp_path):
    gen = CountingLLM(tiny_model, cache=str(tmp_path / "calls.sqlite"), batch_size=1)
    kw = dict(generator=gen, model=tiny_model, prompt="completion", max_new_tokens=6, limit=4, batch_size=1,
              output_dir=str(tmp_path), static=False, workers=2)
    out = evaluate("humaneval", **kw)
    path = os.path.join(out.out_dir, "all_code.json")
    full = open(path).read().splitlines(keepends=True)
    assert len(full) == 4 and len(gen.ran) == 4 and gen.stats.cache_misses == 4
    gen_stats = out.results["generation"]
    assert gen_stats["completion_tokens"] > 0 and gen_stats["cache_misses"] == 4 and gen_stats["errors"] == 0
    # simulate a kill during problem 2: two complete lines and half of the third
    with open(path, "w") as f:
        f.write(full[0] + full[1] + full[2][: len(full[2]) // 2])
    gen.asked.clear(), gen.ran.clear()
    out2 = evaluate("humaneval", **kw)
    recs = load_benchmark("humaneval", limit=4)
    assert gen.asked == [recs[2]["meta"]["prompt"], recs[3]["meta"]["prompt"]]  # finished problems not redone
    assert gen.ran == []  # and the two it asks again come from the call cache: no call is paid twice
    assert out2.results["generation"]["cache_hits"] == 2
    lines = open(path).read().splitlines(keepends=True)
    assert lines[:2] == full[:2] and len(lines) == 4
    assert [json.loads(x)["id"] for x in lines] == ["0_0", "1_0", "2_0", "3_0"]
    assert lines[2:] == full[2:]  # greedy decoding (or the cache) gives the same text
    assert out2.results["counts"]["samples"] == 4
    # nothing left to do: no generation at all
    gen.asked.clear()
    evaluate("humaneval", **kw)
    assert gen.asked == []
    # other settings in the same directory are refused instead of mixing generations
    with pytest.raises(EvalError, match="other settings"):
        evaluate("humaneval", **{**kw, "max_new_tokens": 7})


def test_generation_errors_are_reported_not_scored(tiny_model, tmp_path):
    """A problem whose generation fails is listed in generation_errors.jsonl, left out of the metrics, and
    generated again by the next run."""

    class Flaky(CountingLLM):
        fail: set = set()

        def _run(self, requests, on_done):
            from codecurate.models.llm import Outcome

            ok = [r for r in requests if not any(p in r.prompt for p in self.fail)]
            for r in requests:
                if r not in ok:
                    on_done(r, Outcome(error="ConnectError: server at http://127.0.0.1:9/v1 unreachable"))
            return super()._run(ok, on_done)

    recs = load_benchmark("humaneval", limit=3)
    gen = Flaky(tiny_model, cache=None)
    Flaky.fail = {recs[1]["meta"]["prompt"]}
    kw = dict(generator=gen, model=tiny_model, prompt="completion", max_new_tokens=4, limit=3,
              output_dir=str(tmp_path), static=False, workers=2)
    out = evaluate("humaneval", **kw)
    errs = [json.loads(x) for x in open(os.path.join(out.out_dir, "generation_errors.jsonl"))]
    assert [e["task_id"] for e in errs] == [recs[1]["id"]] and "unreachable" in errs[0]["error"]
    assert out.results["generation"]["failed_problems"] == 1
    assert out.results["counts"]["problems_without_generations"] == 1 and out.results["counts"]["problems"] == 2
    assert [r["task_id"] for r in read_all_code(os.path.join(out.out_dir, "all_code.json"))] == \
        [recs[0]["id"], recs[2]["id"]]
    Flaky.fail = set()
    gen.ran.clear()
    out2 = evaluate("humaneval", **kw)
    assert gen.ran == [recs[1]["meta"]["prompt"]]  # only the failed problem is asked again
    assert out2.results["counts"]["problems"] == 3
    assert not os.path.exists(os.path.join(out.out_dir, "generation_errors.jsonl"))
    Flaky.fail = {r["meta"]["prompt"] for r in recs}  # every problem fails: a clear error, not a 0 score
    with pytest.raises(EvalError, match="generation failed for every problem.*unreachable"):
        evaluate("humaneval", **{**kw, "tag": "down"})


def _known_generations(tmp_path, recs):
    study = tmp_path / "all_code.json"
    with open(study, "w") as f:
        for i, r in enumerate(recs):
            code = r["code"] if i < 5 else r["meta"]["prompt"] + "    return None\n"
            f.write(json.dumps({"id": f"{i}_0", "code": code}) + "\n")
    he_samples = tmp_path / "samples.jsonl"
    with open(he_samples, "w") as f:
        for i, r in enumerate(recs):
            completion = r["meta"]["canonical_solution"] if i < 5 else "    return None\n"
            f.write(json.dumps({"task_id": r["id"], "completion": completion}) + "\n")
    return study, he_samples


def test_from_generations_known_scores(tmp_path):
    recs = load_benchmark("humaneval", limit=10)
    study, he_samples = _known_generations(tmp_path, recs)
    for gens in (study, he_samples):
        out = evaluate("humaneval", from_generations=str(gens), limit=10, output_dir=str(tmp_path / "R"),
                       model_name="known", tag=gens.stem, workers=2)
        m, c = out.results["metrics"], out.results["counts"]
        assert m["pass@1"] == pytest.approx(0.5)
        assert m["avg_pass_ratio"] == pytest.approx(0.5)
        assert c["correct_samples"] == 5 and c["problems"] == 10 and c["failed"] == 5
        assert [p["c"] for p in out.per_problem] == [1] * 5 + [0] * 5
        written = read_all_code(os.path.join(out.out_dir, "all_code.json"))
        assert [w["id"] for w in written] == [f"{i}_0" for i in range(10)]


def test_from_generations_mbpp_pass_ratio_denominator(tmp_path):
    """A solution passing 2 of 3 asserts scores 2/3: the denominator is the number of test inputs."""
    recs = load_benchmark("mbpp", limit=2)
    # Mbpp/11 remove_Occ: stripping the character from both ends passes "abcda" and "PHP" but not "hello"
    partial = "def remove_Occ(s, ch):\n    return s.strip(ch)\n"
    path = tmp_path / "gens.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"task_id": recs[0]["id"], "code": partial}) + "\n")
        f.write(json.dumps({"task_id": recs[1]["id"], "code": recs[1]["code"]}) + "\n")
    out = evaluate("mbpp", from_generations=str(path), limit=2, output_dir=str(tmp_path), workers=2)
    p0 = out.per_problem[0]
    assert p0["samples"][0]["results"] == [False, True, True]
    expected = 2 / 3
    assert p0["pass_ratio"] == pytest.approx(expected) and p0["c"] == 0
    assert out.results["metrics"]["avg_pass_ratio"] == pytest.approx((expected + 1.0) / 2)
    assert out.results["metrics"]["pass@1"] == pytest.approx(0.5)


def test_from_generations_bad_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "HumanEval/999", "code": "x"}) + "\n")
    with pytest.raises(EvalError, match="HumanEval/999"):
        evaluate("humaneval", from_generations=str(bad), output_dir=str(tmp_path))


class _FakeOpenAI(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible server answering HumanEval completions with the canonical solution."""

    answers: dict = {}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/chat/completions"):
            text = "Here you go:\n```python\n" + self.answers[body["messages"][-1]["content"]] + "\n```\n"
            choices = [{"index": 0, "message": {"role": "assistant", "content": text}}]
        else:
            choices = [{"index": 0, "text": self.answers.get(body["prompt"], "    pass\n") + "\ndef extra():\n"}]
        data = json.dumps({"choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_backend_completion_and_chat(tmp_path):
    from codecurate.models.generate import build_prompt

    recs = load_benchmark("humaneval", limit=3)
    answers = {r["meta"]["prompt"]: r["meta"]["canonical_solution"] for r in recs[:2]}
    answers.update({build_prompt(r, "chat")[0][-1]["content"]: r["code"] for r in recs[:2]})
    answers[build_prompt(recs[2], "chat")[0][-1]["content"]] = "def nothing():\n    return 0"
    _FakeOpenAI.answers = answers
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        for preset in ("completion", "chat"):
            out = evaluate("humaneval", "served-model", backend="openai", prompt=preset, limit=3, tag=preset,
                           generator_kwargs={"base_url": url}, output_dir=str(tmp_path), static=False, workers=2)
            # the stop sequence "\ndef " cuts the extra function in completion mode
            assert out.results["metrics"]["pass@1"] == pytest.approx(2 / 3), preset
    finally:
        server.shutdown()


def test_cli_from_generations_with_limit(tmp_path):
    """The Typer command as the lead registers it; the study file covers 10 problems, --limit 6 scores 6."""
    import typer
    from typer.testing import CliRunner

    from codecurate.cli_eval import eval_command

    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("noop")(lambda: None)  # two commands so Typer keeps the "eval" sub-command name
    recs = load_benchmark("humaneval", limit=10)
    study, _ = _known_generations(tmp_path, recs)
    res = CliRunner().invoke(app, ["eval", "--from-generations", str(study), "--benchmark", "humaneval",
                                   "--limit", "6", "--output", str(tmp_path / "R"), "--model-name", "m",
                                   "--tag", "cli", "--workers", "2", "--no-static"])
    assert res.exit_code == 0, res.output
    results = json.load(open(tmp_path / "R" / "humaneval" / "m" / "cli" / "results.json"))
    assert results["counts"]["problems"] == 6 and results["metrics"]["pass@1"] == pytest.approx(5 / 6)
    bad = CliRunner().invoke(app, ["eval", "--benchmark", "humaneval", "--k", "0,x"])
    assert bad.exit_code != 0


def test_apps_stdio_from_generations(tmp_path):
    """APPS-format file (stdin/stdout problems): a correct, a wrong and a non-compiling program for problem 0."""
    import ast as _ast

    rows = json.loads(open(os.path.join(os.path.dirname(__file__), "data", "codeforces_50.json")).read())[:1]
    tests = rows[0]["tests"]
    tests = _ast.literal_eval(tests) if isinstance(tests, str) else tests
    apps = tmp_path / "apps.jsonl"
    apps.write_text(json.dumps({
        "problem_id": 7, "question": rows[0]["problem"], "solutions": "[]", "starter_code": "",
        "difficulty": "introductory", "url": "",
        "input_output": json.dumps({"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests]}),
    }) + "\n")
    right = "t = int(input())\nfor _ in range(t):\n    x, y = map(int, input().split())\n    print(min(x, y), max(x, y))\n"
    # (echoing "x y" back would pass: APPS' comparison cascade ends with token *sets*, so "8 4" == "4 8")
    wrong = "t = int(input())\nfor _ in range(t):\n    x, y = map(int, input().split())\n    print(x + y, x * y)\n"
    gens = tmp_path / "gens.jsonl"
    gens.write_text("".join(json.dumps({"id": f"0_{j}", "code": c}) + "\n"
                            for j, c in enumerate([right, wrong, "print(1 +\n"])))
    out = evaluate("apps", from_generations=str(gens), benchmark_path=str(apps), output_dir=str(tmp_path),
                   ks=(1, 2, 3), workers=2, static=False)
    p = out.per_problem[0]
    assert [s["status"] for s in p["samples"]] == ["passed", "failed", "compile_error"]
    assert p["n"] == 3 and p["c"] == 1
    m = out.results["metrics"]
    assert m["pass@1"] == pytest.approx(1 / 3) and m["pass@2"] == pytest.approx(2 / 3) and m["pass@3"] == 1.0
    assert m["avg_pass_ratio"] == 1.0  # best sample of the problem, as in the study
    assert out.results["counts"]["compile_errors"] == 1


def test_openai_backend_server_down_names_url(tmp_path):
    """No server listening: the client retries, then eval stops with an error naming the URL (not a 0 score)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens on this port now
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(EvalError, match=f"every problem.*127.0.0.1:{port}"):
        evaluate("humaneval", "served-model", backend="openai", prompt="chat", limit=2, output_dir=str(tmp_path),
                 static=False, workers=2, generator_kwargs={"base_url": url, "max_retries": 1, "backoff_base": 0.01,
                                                            "timeout": 2.0})
    errs = [json.loads(x) for x in open(tmp_path / "humaneval" / "served-model" / "default" /
                                        "generation_errors.jsonl")]
    assert len(errs) == 2 and all(url in e["error"] for e in errs)
