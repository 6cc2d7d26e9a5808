"""Synthesis ops (codecurate.ops.synth): deterministic tests against a loopback OpenAI-compatible server whose replies
are scripted per prompt (parsing, execution in the sandbox, ledger, accounting, faulty replies, resume after
SIGKILL with no call paid twice), and one smoke test per op on the real embedded SmolLM2-135M (structure only).

Data: MBPP's train split (task ids 601-974) and HumanEval from the package data, Code Alpaca from tests/data."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

import codecurate as cc
from codecurate.ops.synth._common import parse_assert_tests, record_seed, sections
from codecurate.pipeline.registry import get_op

sys.path.insert(0, str(Path(__file__).parent))
from llm_server import LLMServer, prompt_key

PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"
DATA = Path(__file__).parent / "data"
CLI = [sys.executable, "-m", "codecurate.cli"]


@pytest.fixture(scope="module")
def mbpp_train() -> dict[str, dict]:
    return {r["id"]: r for r in cc.read_records(PKG / "mbpp.jsonl") if 601 <= int(r["id"]) <= 974}


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    return list(cc.read_records(PKG / "HumanEval.jsonl.gz"))[:6]


class Script:
    """Scripted model: ``routes`` = [(substring of the last user message, reply)], where a reply is a string or a
    function (body, choice index, how many times this prompt was asked before) -> str; raises -> HTTP 500."""

    def __init__(self, routes):
        self.routes = routes
        self.seen: Counter = Counter()
        self.bodies: list[dict] = []

    def __call__(self, body: dict, i: int) -> str:
        key = prompt_key(body)
        self.bodies.append(body)
        n = self.seen[(key, i)]
        self.seen[(key, i)] += 1
        for sub, reply in self.routes:
            if sub in key:
                return reply(body, i, n) if callable(reply) else reply
        return "I have no scripted reply for this prompt."


def llm_params(srv, **kw) -> dict:
    return {"backend": "openai", "model": "scripted", "base_url": srv.base_url, "cache": None, "max_retries": 1,
            "timeout": 10.0, **kw}


def run_op(name: str, params: dict, records: list[dict], seed: int = 7):
    op = get_op(name)(params, seed=seed)
    recs = copy.deepcopy(records)
    res = op.process(recs)
    assert len(records) + res.created == len(res.kept) + len(res.dropped)  # nothing lost, nothing unexplained
    return res


def block(code: str) -> str:
    return f"```python\n{code}\n```"


# --------------------------------------------------------------------------- regenerate_solution (the study's Syn)
def test_regenerate_first_passing_attempt_replaces_and_rejected_attempts_are_ledgered(mbpp_train):
    a, b, c, d = (mbpp_train[k] for k in ("602", "604", "606", "609"))
    no_tests = dict(copy.deepcopy(mbpp_train["610"]), tests=None)
    wrong = "def first_repeated_char(s):\n    return s[0]"

    def for_a(body, i, n):  # attempt 1 wrong, 2 unfenced correct (bare code), never asked a 3rd time
        return block(wrong) if n == 0 else a["code"]

    def for_c(body, i, n):
        raise RuntimeError("backend down")  # HTTP 500 every time -> an LLM error per attempt

    script = Script([(a["instruction"], for_a), (b["instruction"], "Sure! Here is my plan, no code."),
                     (c["instruction"], for_c), (d["instruction"], "```python\n" + d["code"])])  # unclosed fence
    with LLMServer(None, script=script) as srv:
        res = run_op("regenerate_solution", llm_params(srv, attempts=3), [a, b, c, d, no_tests])
    kept = {r["id"]: r for r in res.kept}
    assert list(kept) == ["602", "604", "606", "609", "610"]
    assert kept["602"]["code"] == a["code"] and kept["602"]["stats"]["syn"]["attempt"] == 2
    assert kept["609"]["code"] == d["code"] and kept["609"]["stats"]["syn"]["attempt"] == 1  # fence left open
    for rid in ("604", "606"):  # nothing passed: the original stays, unchanged
        assert kept[rid]["code"] == mbpp_train[rid]["code"]
        assert kept[rid]["stats"]["syn"] == {"status": "kept_original", "attempts": 3}
    assert "syn" not in kept["610"]["stats"] and res.counters["syn_no_tests_kept"] == 1
    led = {x.record["id"]: x for x in res.dropped}
    assert sorted(led) == ["602#syn-a1", "604#syn-a1", "604#syn-a2", "604#syn-a3",
                           "606#syn-a1", "606#syn-a2", "606#syn-a3"]
    assert led["602#syn-a1"].reason.startswith("regenerate_solution: attempt 1/3 rejected: 2/3 tests passed (case 2: wrong answer)")
    assert led["602#syn-a1"].record["code"] == wrong and led["602#syn-a1"].detail["raw"] == block(wrong)
    assert led["604#syn-a2"].reason == "regenerate_solution: attempt 2/3 rejected: no code in the reply"
    assert "LLM error" in led["606#syn-a3"].reason and "HTTP 500" in led["606#syn-a3"].reason
    assert all(re.fullmatch(r"[0-9a-f]{16}", x.detail["prompt_hash"]) for x in res.dropped)
    # the study's prompt, with MBPP's first tests appended
    first = next(bd for bd in script.bodies if a["instruction"] in prompt_key(bd))
    msg = first["messages"][0]["content"]
    assert msg.startswith("You will be given a question (problem specification) and will generate a correct Python")
    assert "Your code should pass these tests:" in msg and a["tests"]["cases"][0] in msg
    assert first["temperature"] == 1.0 and first["seed"] == record_seed(7, "regenerate_solution", "602", 0)
    assert res.counters["syn_accepted"] == 2 and res.counters["syn_kept_original"] == 2
    assert res.counters["llm_calls"] == 3 + 3  # 602: 2, 604: 3, 609: 1; 606's errors are not calls
    assert res.counters["llm_errors"] == 3 and res.counters["llm_prompt_tokens"] > 0


def test_regenerate_hostile_and_slow_generations_never_pass(mbpp_train):
    r = mbpp_train["605"]  # prime_num
    replies = [block("def prime_num(n):\n    while True:\n        pass"),                         # hangs
               block("import os\ndef prime_num(n):\n    os._exit(0)"),                           # exits early
               block("def prime_num(n):\n    return True\nassert False"),                        # dies on load
               block("def prime_num(n)\n    return True")]                                        # syntax error
    script = Script([(r["instruction"], lambda body, i, n: replies[n])])
    with LLMServer(None, script=script) as srv:
        res = run_op("regenerate_solution", llm_params(srv, attempts=4, timeout_per_test=1.0, timeout_total=3.0),
                     [r])
    assert [x["id"] for x in res.kept] == ["605"] and res.kept[0]["code"] == r["code"]
    reasons = [x.reason.split("rejected: ")[1] for x in res.dropped]
    assert reasons[0].startswith("0/3 tests passed (case 1: timeout") or "timeout" in reasons[0]
    assert all(x.startswith("0/3 tests passed") for x in reasons)
    assert "compile error" in reasons[2] and "compile error" in reasons[3]


def test_regenerate_append_and_drop_through_the_runner(mbpp_train, tmp_path):
    rows = [json.loads(line) for line in (PKG / "mbpp.jsonl").read_text().splitlines()]
    rows = [x for x in rows if x["task_id"] in (604, 605, 606)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    good = {mbpp_train[k]["instruction"]: mbpp_train[k]["code"] for k in ("604", "605")}
    script = Script([(q, block(c)) for q, c in good.items()] + [("", "no code at all")])
    with LLMServer(None, script=script) as srv:
        stage = {"op": "regenerate_solution", **llm_params(srv, attempts=2, on_success="append", on_failure="drop")}
        recipe = cc.Recipe.from_dict({"name": "syn", "input": {"path": str(tmp_path / "in.jsonl")}, "seed": 1,
                                      "stages": [stage]})
        run = cc.run_recipe(recipe, output=tmp_path / "run", workers=1)
    out = list(run.records())
    assert [r["id"] for r in out] == ["604", "604#syn", "605", "605#syn"]
    assert out[1]["stats"]["syn"]["seed_id"] == "604" and out[0]["stats"]["syn"]["new_id"] == "604#syn"
    led = run.ledger()
    assert sorted(x["id"] for x in led) == ["606", "606#syn-a1", "606#syn-a2"]
    assert next(x for x in led if x["id"] == "606")["reason"] == "regenerate_solution: no passing attempt in 2 " \
                                                                  "(on_failure: drop)"
    st = run.summary["stages"][1]
    assert (st["in"], st["created"], st["out"], st["dropped"]) == (3, 4, 4, 3)
    stats = json.loads((tmp_path / "run" / "stages" / "01_regenerate_solution" / "stats.json").read_text())
    assert stats["counters"]["llm_calls"] == 4 and stats["counters"]["syn_accepted"] == 2
    # written back in MBPP's own format: the appended record is the same problem with the new code
    written = [json.loads(line) for line in (tmp_path / "run" / "output" / "curated.jsonl").read_text().splitlines()]
    assert [w["task_id"] for w in written] == [604, 604, 605, 605] and written[1]["test_list"] == rows[0]["test_list"]


# --------------------------------------------------------------------------- generate_tests + test_quality + xcoder
def test_generated_tests_score_candidates_and_feed_xcoder(mbpp_train):
    a, b = mbpp_train["605"], mbpp_train["611"]  # prime_num, max_of_nth
    wrong_b = dict(copy.deepcopy(b), id="611-wrong", code="def max_of_nth(test_list, N):\n  return 0")
    tests_a = "\n".join(a["tests"]["cases"]) + "\nassert prime_num(4) == True\nassert other(1) == 2\n" \
                                                "assert prime_num(13)==True"
    reply_a = f"Here are tests:\n{block('import math' + chr(10) + tests_a)}"
    script = Script([(a["instruction"], reply_a), (b["instruction"], block("\n".join(b["tests"]["cases"]))),
                     ("chain", "no tests, sorry")])
    bad = dict(copy.deepcopy(mbpp_train["601"]), id="601")
    with LLMServer(None, script=script) as srv:
        res = run_op("generate_tests", llm_params(srv, num_tests=12), [a, b, wrong_b, bad])
    gen = {r["id"]: r["stats"]["gen_tests"] for r in res.kept}
    assert gen["605"]["cases"] == a["tests"]["cases"] + ["assert prime_num(4) == True"]
    assert gen["605"]["rejected"] == 2 and gen["605"]["setup"] == "import math" and gen["605"]["fn_name"] == "prime_num"
    assert gen["601"]["error"] == "no assert calling max_chain_length in the reply" and gen["601"]["raw"]
    assert res.counters["gen_tests_invalid"] == 1 and res.counters["gen_tests_ok"] == 3
    p = next(bd for bd in script.bodies if a["instruction"] in prompt_key(bd))["messages"][0]["content"]
    assert "12 unit tests" in p and "`prime_num`" in p and a["code"] in p  # XCoder: instruction + response
    # test_quality: pass fractions, a wrong candidate scores lower, a threshold sets it aside with the reason
    recs = res.kept
    recs[0]["meta"]["more"] = json.dumps(["def prime_num(n):\n  return n > 1", "def prime_num(n):\n  return False"])
    q = run_op("test_quality", {"candidates_field": "meta.more", "min_pass_ratio": 0.5}, recs)
    st = {r["id"]: r["stats"] for r in q.kept + [d.record for d in q.dropped]}
    assert st["605"]["gen_pass_ratio"] == 0.75 and st["605"]["gen_tests_passed"] == 3  # prime_num(4)==True is wrong
    # "n > 1" is wrong (prime_num(4)) yet passes all four, the wrong generated test included: the 4th is wrong
    assert st["605"]["gen_candidates"] == [1.0, 0.25] and st["605"]["gen_best_pass_ratio"] == 1.0
    assert st["611"]["gen_pass_ratio"] == 1.0 and st["611-wrong"]["gen_pass_ratio"] == 0.0
    assert st["601"]["gen_pass_ratio"] is None and q.counters["quality_no_tests"] == 1
    [d] = q.dropped
    assert d.record["id"] == "611-wrong"
    assert d.reason == "test_quality: 0/3 generated tests passed (case 1: wrong answer) < 0.5"
    # xcoder takes the generated-test fractions as its quality signal
    from codecurate.ops.select.xcoder import Xcoder

    xc = Xcoder({"n": 2, "quality_source": "generated_tests"})
    assert [x[0] for x in xc._quality(q.kept + [d.record])] == [0.75, 1.0, None, 0.0]
    xc = Xcoder({"n": 2, "quality_source": "generated_tests", "quality": "pass_count"})
    assert [x[0] for x in xc._quality(q.kept)] == [3.0, 3.0, None]


# --------------------------------------------------------------------------- llm_judge
def _judgement(c, u, r) -> str:
    return json.dumps({"correctness": {"score": c, "reason": "checked"}, "usefulness": {"score": u, "reason": "ok"},
                       "readability": {"score": r, "reason": "fine"}})


def test_llm_judge_scores_filters_retries_and_agreement(mbpp_train):
    good, wrong, prose = mbpp_train["604"], dict(copy.deepcopy(mbpp_train["606"]), code="def radian_degree(d):\n  return d"), \
        mbpp_train["609"]
    wrong["response"] = wrong["code"]
    script = Script([(good["instruction"], _judgement(5, 5, 4)),
                     (wrong["instruction"], "Score: " + _judgement(5, 2, 3)),    # says correct, but is not
                     (prose["instruction"], lambda b, i, n: "I think it is good." if n < 2 else _judgement(2, 2, 2)),
                     ("chain", "not json {")])
    bad = mbpp_train["601"]
    with LLMServer(None, script=script) as srv:
        res = run_op("llm_judge", llm_params(srv, min_score=3.5), [good, wrong, prose, bad])
        asked = Counter(next(r["id"] for r in (good, wrong, prose, bad) if r["instruction"] in prompt_key(bd))
                        for bd in script.bodies)
    st = {r["id"]: r["stats"] for r in res.kept + [d.record for d in res.dropped]}
    assert st["604"]["judge"]["correctness"] == {"score": 5, "reason": "checked"} and st["604"]["judge_score"] == 14 / 3
    assert st["606"]["judge_correctness"] == 5 and st["606"]["judge_usefulness"] == 2
    assert st["609"]["judge_score"] == 2.0  # valid at the third try
    assert st["601"]["judge"] is None and st["601"]["judge_raw"] == "not json {"
    assert [r["id"] for r in res.kept] == ["604"]
    reasons = {d.record["id"]: d.reason for d in res.dropped}
    assert reasons["606"] == "llm_judge: mean score 3.33 < 3.5 (lowest: usefulness 2: ok)"
    assert reasons["609"].startswith("llm_judge: mean score 2.00 < 3.5")
    assert reasons["601"].startswith("llm_judge: invalid judgement (sample 0: structured output invalid after 3")
    assert asked == {"604": 1, "606": 1, "609": 3, "601": 3}  # 609 and 601 asked again twice (structured retries)
    # agreement with execution on records with tests: 604 both pass, 606 judge says correct but tests fail,
    # 609 judge says incorrect but tests pass
    assert st["604"]["judge_exec_agree"] is True and st["606"]["judge_exec_agree"] is False
    assert res.counters["agree_pass"] == 1 and res.counters["judge_pass_exec_fail"] == 1
    assert res.counters["judge_fail_exec_pass"] == 1 and res.counters["judge_invalid"] == 1


# --------------------------------------------------------------------------- oss_instruct
OSS_OK = ("[Problem Description]\nWrite a function `count_vowels(s)` that returns the number of vowels in s.\n\n"
          "[Solution]\n" + block("def count_vowels(s):\n    return sum(c in 'aeiou' for c in s.lower())") +
          "\n\n[Tests]\n" + block("assert count_vowels('Hello') == 2\nassert count_vowels('') == 0"))


def test_oss_instruct_snippets_are_seeded_spans_of_real_code(mbpp_train):
    seeds = [mbpp_train[k] for k in ("601", "602", "603", "607", "608", "612")]

    def route(body, i, n):  # a distinct, passing problem per snippet
        tag = "x" + record_seed(0, prompt_key(body)).__str__()
        return OSS_OK.replace("count_vowels", "count_vowels_" + tag)

    with LLMServer(None, script=Script([("", route)])) as srv:
        res = run_op("oss_instruct", llm_params(srv, n_per_seed=2), seeds)
        again = run_op("oss_instruct", llm_params(srv, n_per_seed=2), seeds)
    # the same snippet drawn twice gives the same prompt, hence the same problem: a ledgered duplicate
    dups = [d for d in res.dropped if "#" in d.record["id"]]
    assert len(res.kept) + len(dups) == 12 and len(res.kept) >= 6
    kept_snippets = {r["stats"]["oss"]["snippet"] for r in res.kept}
    assert all(d.reason.startswith("oss_instruct: duplicate") and d.record["stats"]["oss"]["snippet"] in kept_snippets
               for d in dups)
    by_id = {s["id"]: s for s in seeds}
    for r in res.kept:
        info = r["stats"]["oss"]
        lines = by_id[info["seed_id"]]["code"].splitlines()
        a, b = info["span"]
        assert 1 <= b - a <= 15 and info["snippet"] == "\n".join(lines[a:b])  # consecutive lines of the seed
        assert r["tests"]["kind"] == "assert" and info["pass_ratio"] == 1.0 and info["verified"]
        assert r["meta"] == {} and r["source"] == "mbpp" and r["instruction"].startswith("Write a function")
    assert [r["id"] for r in res.kept][:2] == ["601#oss0", "601#oss1"]
    assert [r["stats"]["oss"]["span"] for r in again.kept] == [r["stats"]["oss"]["span"] for r in res.kept]
    assert sum(d.reason == "oss_instruct: seed consumed (keep_seed: false)" for d in res.dropped) == 6


def test_oss_instruct_every_rejection_kind(mbpp_train):
    seeds = [dict(copy.deepcopy(mbpp_train["604"]), id=f"s{k}") for k in range(5)]
    replies = {"s0": OSS_OK, "s1": OSS_OK,  # s1 duplicates s0's problem
               "s2": OSS_OK.replace("== 2", "== 3").replace("count_vowels(s)`", "count_vowels(s)` (variant)"),
               "s3": OSS_OK.split("[Tests]")[0].replace("count_vowels(s)`", "cv`"),
               "s4": "Here is a nice problem about strings."}
    # all seeds share the code, so route by seed: the same prompt is asked once per seed id with its own seed
    by_seed = {record_seed(3, "oss_instruct", s["id"], 0): replies[s["id"]] for s in seeds}
    script = Script([("", lambda body, i, n: by_seed[body["seed"]])])
    with LLMServer(None, script=script) as srv:
        res = run_op("oss_instruct", llm_params(srv, temperature=0.5, keep_seed=True), seeds, seed=3)
    assert [r["id"] for r in res.kept] == ["s0", "s0#oss0", "s1", "s2", "s3", "s4"]
    led = {d.record["id"]: d.reason for d in res.dropped}
    assert led == {"s1#oss0": "oss_instruct: duplicate: the same problem was already generated in this shard",
                   "s2#oss0": "oss_instruct: failed tests: 1/2 tests passed (case 1: wrong answer)",
                   "s3#oss0": "oss_instruct: no tests: no assert in [Tests] (verify: true)",
                   "s4#oss0": "oss_instruct: unparsable: no [Problem Description]"}
    assert res.counters["oss_kept"] == 1 and res.counters["oss_rejected_failed_tests"] == 1


# --------------------------------------------------------------------------- evol_instruct
def test_evol_instruct_elimination_execution_and_lineage():
    alpaca = {r["id"]: r for r in cc.read_records(DATA / "code_alpaca_300.json")}
    seeds = [alpaca[k] for k in ("1", "2", "3", "4", "5")]
    for s in seeds:
        s["stats"] = {}
    ins = {s["id"]: s["instruction"] for s in seeds}
    extra = [" The function must also run in O(n) time and handle empty input (v0).",
             " It must also accept lower-case letters, digits and punctuation and report invalid input (v1)."]
    evolved = {"1": lambda n: ins["1"] + "".join(extra[:n + 1]),
               "2": lambda n: ins["2"],                                                       # no change
               "3": lambda n: "#Rewritten Prompt#: " + ins["3"] + " with constraints",        # copied prompt
               "4": lambda n: ins["4"] + " Also validate that the input is a list of integers.",
               "5": lambda n: ins["5"] + " Use recursion and no loops at all in the solution."}

    def route(body, i, n):
        p = prompt_key(body)
        if p.startswith("Please increase the difficulty"):
            q = p.split("Question:\n", 1)[1].strip()
            sid = next(k for k in ("1", "2", "3", "4", "5") if q.startswith(ins[k][:40]))
            return evolved[sid](q.count("(v"))
        sid = next(k for k in ("1", "2", "3", "4", "5") if p.startswith(ins[k][:40]))
        if sid == "4":
            return "Sorry, I cannot help with that."
        if sid == "5":
            return block("import no_such_module\ndef f():\n    return 1")
        return "Here it is:\n" + block("def solve(xs):\n    return sorted(set(xs))")

    script = Script([("", route)])
    with LLMServer(None, script=script) as srv:
        res = run_op("evol_instruct", llm_params(srv, rounds=2), seeds)
    kept = [r["id"] for r in res.kept]
    assert kept == ["1", "1#evol1", "1#evol2", "2", "3", "4", "5"]
    r2 = res.kept[2]
    assert r2["stats"]["evol"]["parent_id"] == "1#evol1" and "(v1)" in r2["instruction"]
    assert r2["code"] == "def solve(xs):\n    return sorted(set(xs))" and r2["stats"]["evol"]["executed"]
    assert r2["stats"]["evol"]["method"] in ("constraints", "less_common", "reasoning", "erroneous_code", "complexity")
    led = {d.record["id"]: d.reason for d in res.dropped}
    assert led["2#evol1"] == "evol_instruct: round 1 eliminated: no change: the evolved instruction equals its parent"
    assert led["3#evol2"].startswith("evol_instruct: round 2 eliminated: copied prompt: the evolved instruction "
                                     "contains '#rewritten prompt#'")
    assert led["4#evol1"] == ("evol_instruct: round 1 eliminated: failed generation: the answer apologises "
                              "(contains 'sorry', under 80 words)")
    assert led["5#evol2"] == ("evol_instruct: round 2 eliminated: did not run: ModuleNotFoundError: No module named "
                              "'no_such_module'")
    assert len(led) == 8  # rounds 1 and 2 of 2, 3, 4, 5
    # a failed lineage evolves its last surviving instruction again: round 2 of seed 2 starts from the seed
    evol_prompts = [prompt_key(b) for b in script.bodies if prompt_key(b).startswith("Please increase")]
    assert sum(ins["2"] in p for p in evol_prompts) == 2


# --------------------------------------------------------------------------- self_code_align
def test_self_code_align_k_samples_executed_one_passing_kept(humaneval):
    seeds = humaneval[:3]
    seeds[2] = dict(copy.deepcopy(seeds[2]), code="def f(x):\n    return x + 1")  # no docstring: not a seed
    samples = [  # k = 4 samples per instruction: failing, passing, unparsable, passing
        "[Response]\n" + block("def add(a, b):\n    return a - b") + "\n[Tests]\n" + block("assert add(1, 2) == 3"),
        "[Response]\nAdd them.\n" + block("def add(a, b):\n    return a + b") + "\n[Tests]\n" +
        block("assert add(1, 2) == 3\nassert add(0, 0) == 0"),
        "[Response]\nI would add them.",
        "[Response]\n" + block("def add(a, b):\n    return b + a\n\nassert add(2, 2) == 4"),  # tests inline
    ]

    def route(body, i, n):
        p = prompt_key(body)
        if p.startswith("Extract the key programming concepts"):
            return "[Concepts] list comprehension, sorting, floating point comparison"
        if p.startswith("Write a new, self-contained"):
            return "[Instruction]\nWrite a function add(a, b) that returns the sum of two numbers."
        return samples[i]

    script = Script([("", route)])
    with LLMServer(None, script=script) as srv:
        res = run_op("self_code_align", llm_params(srv, k=4), seeds)
    kept = res.kept
    assert [r["id"] for r in kept] == ["HumanEval/0#sca"]  # HumanEval/1: same function names -> duplicate
    st = kept[0]["stats"]["sca"]
    assert st["passing"] == 2 and st["k"] == 4 and st["concepts"][0] == "list comprehension"
    assert st["category"] in ("function implementation", "class implementation", "program implementation")
    assert kept[0]["tests"]["cases"] and kept[0]["instruction"].startswith("Write a function add")
    led = {d.record["id"]: d.reason for d in res.dropped}
    assert led["HumanEval/2"] == "self_code_align: not a seed (no function with a docstring and a return)"
    assert led["HumanEval/0"] == "self_code_align: seed consumed (keep_seed: false)"
    assert led["HumanEval/0#sca-s0"] == "self_code_align: failed tests: 0/1 tests passed (case 1: wrong answer)"
    assert led["HumanEval/0#sca-s2"] == "self_code_align: unparsable: no code in [Response]"
    chosen = st["sample"]
    other = 4 - chosen if chosen in (1, 3) else None
    assert led[f"HumanEval/0#sca-s{other}"].startswith("self_code_align: not chosen")
    assert any(v.startswith("self_code_align: duplicate function names: ['add']") for v in led.values())
    # the I -> R call asked k samples in one request at the configured temperature
    rq = [b for b in script.bodies if "[Response]" in prompt_key(b)]
    assert {b["n"] for b in rq} == {4} and {b["temperature"] for b in rq} == {0.7}


# --------------------------------------------------------------------------- wavecoder
def test_wavecoder_generator_rule_filter_discriminator_and_pool(mbpp_train):
    seeds = [dict(copy.deepcopy(mbpp_train[k])) for k in ("604", "606", "609", "610")]
    gen_ok = ("Task name: reverse words\nInstruction: Write a Python function that reverses the words of a "
              "sentence.\nInformation: <noinput>\nSolution: def reverse_words(s):\n    return ' '.join(reversed(s.split()))")
    gen_crash = gen_ok.replace("reverse words", "crash") + "\nreverse_words(None)  # dies when run"
    gen_bad = "Task name: x\nInstruction: Do it.\nInstruction: Again.\nInformation: <noinput>\nSolution: pass"
    gen_no = gen_ok.replace("reverse words", "rejected one")
    by_code = {seeds[0]["code"][:30]: gen_ok, seeds[1]["code"][:30]: gen_crash, seeds[2]["code"][:30]: gen_bad,
               seeds[3]["code"][:30]: gen_no}

    def route(body, i, n):
        p = prompt_key(body)
        if p.startswith("Check this instruction-tuning instance"):
            inst = p.split("Instance:\n", 1)[1]
            if "rejected one" in inst:
                return "1. <answer: yes, it says Python>\n- Overall answer: no\n- reasons: the logic is buried"
            return "1. <answer: yes, names Python>\n2. <answer: yes, relevant>\n- Overall answer: yes\n- reasons: fine"
        code = p.split("Input:\n", 1)[1]
        return next(v for k, v in by_code.items() if code.startswith(k))

    script = Script([("", route)])
    with LLMServer(None, script=script) as srv:
        res = run_op("wavecoder", llm_params(srv, tasks=["code_generation"], batch_size=2), seeds)
    kept = {r["id"]: r for r in res.kept}
    assert list(kept) == ["604#wc-code_generation"]
    k = kept["604#wc-code_generation"]
    assert k["code"].startswith("def reverse_words") and k["stats"]["wavecoder"]["overall"] == "yes"
    assert k["stats"]["wavecoder"]["executed"] is True
    led = {d.record["id"]: d.reason for d in res.dropped}
    assert led["606#wc-code_generation"] == "wavecoder: did not run: AttributeError: 'NoneType' object has no attribute 'split'"
    assert led["609#wc-code_generation"] == ("wavecoder: rule filter: key 'instruction' appears 2 times "
                                             "(needs exactly once)")
    assert led["610#wc-code_generation"] == "wavecoder: discriminator: no (the logic is buried)"
    assert all(led[s["id"]] == "wavecoder: seed consumed (keep_seed: false)" for s in seeds)
    # the generator-discriminator loop: the second wave's prompt shows the first wave's judged good case
    gens = [prompt_key(b) for b in script.bodies if prompt_key(b).startswith("You turn raw code")]
    assert "reverse words" not in gens[0] and any("Task name: reverse words" in g for g in gens[2:])


def test_wavecoder_parse_instance_rules():
    from codecurate.ops.synth.wavecoder import parse_instance

    ok, why = parse_instance("Task name: t\nInstruction: Write a sum function.\nInformation: none\nSolution: x = 1")
    assert why is None and ok["information"] == "<noinput>"
    _, why = parse_instance("Task name: t\nInstruction: A. B. C.\nInformation: <noinput>\nSolution: x = 1")
    assert why == "the instruction has 3 sentences (needs 1-2)"
    _, why = parse_instance("Task name: t\nInstruction: Do.\nInformation: <noinput>\nSolution: <noinput>")
    assert why == "more than one field is <noinput>"
    _, why = parse_instance("Task name: t\nInstruction: Do it.\nInformation: One. Two. Three.\nSolution: x = 1")
    assert why == "the information has more than 2 sentences"


def test_parsing_helpers():
    cases, setup, rej = parse_assert_tests("```python\nfrom math import pi\nassert f(1) == 2\nassert g(2)\n"
                                           "assert f(1) == 2\n```\nassert f(3) == 4", "f")
    assert cases == ["assert f(1) == 2"] and setup == "from math import pi" and rej == 2
    cases, _, rej = parse_assert_tests("assert f(1) == 2\nthis line is not code\nassert f(2) == 3\n"
                                       "assert f(...) == ...", "f")
    assert cases == ["assert f(1) == 2", "assert f(2) == 3"] and rej == 1  # the prompt's template echoed: rejected
    s = sections("**Solution**\ncode\n### Tests:\nassert x\n[Concepts]: a, b\n", ["Solution", "Tests", "Concepts"])
    assert s == {"solution": "code", "tests": "assert x", "concepts": "a, b"}


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="unknown method"):
        get_op("evol_instruct")({"methods": ["nope"]}).setup()
    with pytest.raises(ValueError, match="must contain \\{question\\}"):
        get_op("regenerate_solution")({"prompt": "no placeholder"}).setup()
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        get_op("oss_instruct")({"no_such_param": 1})


# --------------------------------------------------------------------------- resume after SIGKILL
def test_sigkill_mid_synthesis_then_resume_pays_no_call_twice(mbpp_train, tmp_path):
    rows = [json.loads(line) for line in (PKG / "mbpp.jsonl").read_text().splitlines()]
    rows = [x for x in rows if 611 <= x["task_id"] <= 622]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    gold = {mbpp_train[str(x["task_id"])]["instruction"]: mbpp_train[str(x["task_id"])]["code"] for x in rows}

    def route(body, i, n):  # even seeds get the right code, odd ones a wrong answer
        q = next(k for k in gold if k in prompt_key(body))
        return block(gold[q]) if body["seed"] % 2 == 0 else block("def f():\n    return None")

    script = Script([("", route)])

    def recipe(url):
        stage = {"op": "regenerate_solution", "backend": "openai", "model": "scripted", "base_url": url,
                 "cache": str(tmp_path / "cache.sqlite"), "attempts": 3, "concurrency": 2, "max_retries": 0,
                 "timeout": 60}
        p = tmp_path / "r.yaml"
        p.write_text(yaml.safe_dump({"name": "kill", "input": {"path": str(tmp_path / "in.jsonl")}, "batch_size": 3,
                                     "seed": 5, "stages": [stage]}))
        return p

    with LLMServer(None, script=script) as srv:
        r = recipe(srv.base_url)
        srv.hold_after(5)  # five answers, then the client waits forever: killed mid-stage, mid-shard
        out = tmp_path / "run"
        proc = subprocess.Popen(CLI + ["run", str(r), "-o", str(out), "-w", "1", "-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while len(srv.answered) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the held request is in flight
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert len(srv.answered) == 5 and not (out / "summary.json").exists()
        stage_dir = out / "stages" / "01_regenerate_solution"
        assert (stage_dir / "attempt.json").exists() and not (stage_dir / "manifest.json").exists()  # mid-stage
        srv.release()
        subprocess.run(CLI + ["run", str(r), "-o", str(out), "-w", "1", "-q", "--resume"], check=True,
                       capture_output=True)
        answered = list(srv.answered)
        # the same recipe again from scratch in another directory: everything from the cache, same bytes
        subprocess.run(CLI + ["run", str(r), "-o", str(tmp_path / "again"), "-w", "1", "-q"], check=True,
                       capture_output=True)
        assert srv.answered == answered  # not one call more
    assert len(answered) == len(set(answered))  # no request answered twice: nothing paid twice
    summary = json.loads((out / "summary.json").read_text())
    st = summary["stages"][1]
    assert st["in"] + st["created"] == st["out"] + st["dropped"] and st["out"] == 12
    from codecurate.pipeline import shards

    led = shards.read_ledger(sorted((out / "stages").glob("*/ledger-*.parquet")))
    outs = [r for p in sorted((out / "stages" / "01_regenerate_solution").glob("data-*.parquet"))
            for r in shards.read_records_shard(p)]
    regenerated = sum(r["stats"]["syn"]["status"] == "regenerated" for r in outs)
    assert 0 < regenerated < 12 and len(led) > 0
    assert len(answered) == regenerated + len(led)  # one answered call per attempt, each ledgered or accepted
    assert (out / "output" / "curated.jsonl").read_bytes() == (tmp_path / "again" / "output" / "curated.jsonl").read_bytes()


# --------------------------------------------------------------------------- the real model (SmolLM2-135M)
# one torch thread: on 2 cores shared with other jobs, two spinning threads cost ~6x the CPU time per token
SMOL = {"model": "smollm2-135m", "backend": "hf", "max_tokens": 24, "batch_size": 4, "threads": 1}


@pytest.mark.parametrize("op,params,data", [
    ("regenerate_solution", {"attempts": 1, "temperature": 0.0}, "mbpp"),
    ("generate_tests", {"num_tests": 3}, "mbpp"),
    ("llm_judge", {"on_invalid": "keep", "structured_retries": 0}, "mbpp"),
    ("oss_instruct", {"max_lines": 4}, "mbpp"),
    ("evol_instruct", {"rounds": 1, "evol_max_tokens": 16}, "mbpp"),
    ("self_code_align", {"k": 2, "plan_max_tokens": 12}, "humaneval"),
    ("wavecoder", {"tasks": ["code_generation"], "discriminator_max_tokens": 16}, "mbpp"),
])
def test_smoke_on_the_real_smollm2(op, params, data, mbpp_train, humaneval, tmp_path):
    recs = [mbpp_train["604"]] if data == "mbpp" else humaneval[:1]  # one record: 2 shared cores, a 135M model
    res = run_op(op, {**SMOL, **params, "cache": str(tmp_path / "c.sqlite")}, recs)
    assert res.counters["llm_calls"] >= 1 and res.counters["llm_completion_tokens"] >= 1
    every = res.kept + [d.record for d in res.dropped]
    assert {r["id"].split("#")[0] for r in every} == {r["id"] for r in recs}
    assert all(d.reason.startswith(op + ":") for d in res.dropped)
    if op == "generate_tests":
        assert all(isinstance(r["stats"]["gen_tests"]["cases"], list) for r in res.kept)
    if op == "llm_judge":
        assert all(("judge" in r["stats"]) for r in res.kept)
    # the cache: a second run answers from it, no new call
    again = run_op(op, {**SMOL, **params, "cache": str(tmp_path / "c.sqlite")}, recs)
    assert again.counters["llm_calls"] == 0 and again.counters["llm_cache_hits"] >= 1
    assert [r["id"] for r in again.kept] == [r["id"] for r in res.kept]
