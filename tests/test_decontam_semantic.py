"""The semantic decontamination detector (packaged all-MiniLM-L6-v2, exact top-k search) and its LLM-judge
confirmation, on real records: Code Alpaca rows that are benchmark problems (in Python and in JavaScript),
hand-written rephrasings of HumanEval / MBPP items (benchmarks/data/decontam_paraphrases.jsonl), same-topic clean
rows, multi-turn conversations, long instructions, other natural languages; the judge answers from a scripted
model behind the loopback OpenAI-compatible server (tests/llm_server.py)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")

from codecurate.models.llm.base import LLM, Outcome  # noqa: E402
from codecurate.ops.decontam.decontaminate import Decontaminate, decontam_report  # noqa: E402
from codecurate.records import make_record  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from llm_server import LLMServer  # noqa: E402

DATA = Path(__file__).parent / "data"
PARAS = {p["task_id"]: p for p in map(json.loads, (Path(__file__).parents[1] / "benchmarks" / "data"
                                                   / "decontam_paraphrases.jsonl").open())}
BENCHES = ["humaneval", "mbpp_plus"]  # enough for these records, and half the views to embed


def alpaca(i: int) -> dict:
    r = json.loads((DATA / "code_alpaca_300.json").read_text())[i]
    return make_record(f"alpaca-{i}", instruction=(r["instruction"] + "\n\n" + r["input"]).strip(), response=r["output"])


def para(task_id: str, rid: str | None = None) -> dict:
    return make_record(rid or f"para-{task_id}", instruction=PARAS[task_id]["instruction"])


def conversation(rid: str, user_turns: list[str]) -> dict:
    msgs = []
    for k, u in enumerate(user_turns):
        msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": f"Answer {k}."}]
    return make_record(rid, instruction=user_turns[0], response="Answer 0.", meta={"messages": msgs})


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("emb"))


@pytest.fixture(scope="module")
def semantic(cache):
    op = Decontaminate({"detectors": ["semantic"], "benchmarks": BENCHES, "embed_cache_dir": cache,
                        "semantic_decision": "calibrated"})
    op.ensure_setup()
    return op


def run(op, records):
    res = op.process([json.loads(json.dumps(r)) for r in records])
    assert len(res.kept) + len(res.dropped) == len(records)  # accounting: every record once
    assert len({r["id"] for r in res.kept} | {d.record["id"] for d in res.dropped}) == len(records)
    return res, {d.record["id"]: d for d in res.dropped}, {r["id"]: r for r in res.kept}


def test_leaks_paraphrases_and_same_topic_records(semantic):
    mbpp600 = "Write a python function to check whether the given number is even or not."
    records = [
        make_record("verbatim", instruction=mbpp600),
        alpaca(5),   # "Write a Python code to check if a given number is even or odd." = MBPP+ 600
        alpaca(12),  # "Write a JavaScript program to check if a given string is a palindrome." = HumanEval/48
        para("HumanEval/120"), para("HumanEval/36"), para("mbpp/102"), para("mbpp/262"),
        alpaca(26),   # two lists concatenated: same topic as MBPP+ 612 (unzip pairs), a different problem
        alpaca(249),  # "Create a HTML page with a list of items."
        alpaca(280),  # "What is the difference between deep learning and machine learning?"
    ]
    res, dropped, kept = run(semantic, records)
    assert set(dropped) == {"verbatim", "alpaca-5", "alpaca-12", "para-HumanEval/120", "para-HumanEval/36",
                            "para-mbpp/102", "para-mbpp/262"}
    d = dropped["verbatim"].detail
    assert d["detector"] == "semantic" and d["benchmark_item"] == "Mbpp/600" and d["similarity"] > 0.99
    # the calibrated score (cosine, margin over the next problem, hubness-corrected cosine)
    assert d["judge"] is None and d["decision"] == "calibrated"
    assert d["threshold"] == semantic.config.semantic_score_threshold <= d["score"]
    assert set(d["features"]) == {"cos", "margin", "csls"} and d["features"]["cos"] == d["similarity"]
    w = semantic.config.semantic_weights
    assert abs(w[0] + sum(wi * d["features"][f] for wi, f in zip(w[1:], ("cos", "margin", "csls")))
               - d["score"]) < 1e-3
    assert dropped["alpaca-5"].detail["benchmark_item"] == "Mbpp/600"
    assert dropped["alpaca-12"].detail["benchmark_item"] == "HumanEval/48"
    for tid in ("HumanEval/120", "HumanEval/36", "mbpp/102", "mbpp/262"):
        assert dropped[f"para-{tid}"].detail["benchmark_item"].lower() == tid.lower(), tid
        assert "semantic match" in dropped[f"para-{tid}"].reason
    # kept records still carry their closest items, best first
    same_topic = kept["alpaca-26"]["stats"]
    assert same_topic["semantic_match"] == "Mbpp/612"
    assert 0.6 < same_topic["semantic"] < semantic.config.semantic_threshold
    assert same_topic["semantic_score"] < semantic.config.semantic_score_threshold
    cands = same_topic["semantic_candidates"]
    assert len(cands) == semantic.config.semantic_top_k and cands[0] == ["Mbpp/612", same_topic["semantic"]]
    assert [s for _, s in cands] == sorted((s for _, s in cands), reverse=True)
    assert kept["alpaca-280"]["stats"]["semantic"] < 0.4
    assert res.counters["dropped_semantic"] == len(dropped) == res.counters["hits_semantic"]


def test_multi_turn_and_long_instructions(cache):
    leak = PARAS["HumanEval/120"]["instruction"]
    convo = conversation("convo", ["Hi! I am learning Python and have a few questions.",
                                   "Thanks. Next one: " + leak])
    preamble = max(json.loads((DATA / "evol_instruct_200.json").read_text()),
                   key=lambda r: len(r["instruction"].split()))["instruction"]
    assert len(preamble.split()) > 250  # beyond the model's 256 word pieces
    long_rec = make_record("long", instruction=preamble + "\n\n" + leak)
    base = {"detectors": ["semantic"], "benchmarks": BENCHES, "embed_cache_dir": cache}
    _, dropped, kept = run(Decontaminate(base), [convo, long_rec])
    assert set(dropped) == {"convo", "long"}
    assert dropped["convo"].detail["benchmark_item"] == "HumanEval/120"
    assert dropped["long"].detail["benchmark_item"] == "HumanEval/120"
    # only the first turn, or no paragraph/window chunks: the leak is not seen
    _, dropped, kept = run(Decontaminate({**base, "turns": "first"}), [convo])
    assert not dropped and kept["convo"]["stats"]["semantic"] < 0.5
    _, dropped, kept = run(Decontaminate({**base, "semantic_chunk_words": 0}), [long_rec])
    assert not dropped and kept["long"]["stats"]["semantic_match"] != "HumanEval/120"


def test_other_languages(cache):
    """Another programming language is found (alpaca-12 above: JavaScript). Another natural language is not, by
    the English embedding model: a translated problem stays far below the threshold, so it is caught only when
    it carries the benchmark's own text (code, docstring), by substring and TLI."""
    with gzip.open(Path(__file__).parents[1] / "src/codecurate/data/benchmarks/HumanEval.jsonl.gz", "rt") as f:
        he48 = [json.loads(line) for line in f][48]["prompt"]
    zh_translation = make_record("zh", instruction="编写一个函数，检查给定的字符串是否是回文。")
    es_translation = make_record("es", instruction="Escribe una función que compruebe si una cadena dada es un "
                                                   "palíndromo.")
    zh_with_prompt = make_record("zh-prompt", instruction="请补全下面的 Python 函数，并给出测试。\n\n" + he48)
    op = Decontaminate({"benchmarks": BENCHES, "embed_cache_dir": cache})
    _, dropped, kept = run(op, [zh_translation, es_translation, zh_with_prompt])
    assert set(dropped) == {"zh-prompt"}
    assert set(dropped["zh-prompt"].detail["detectors"]) >= {"substring", "tli"}
    assert kept["zh"]["stats"]["semantic"] < 0.5 and kept["es"]["stats"]["semantic"] < 0.5


class ScriptedJudge(LLM):
    """A stand-in judge model served on loopback: same problem iff the training instruction says Kotlin (the
    record below that *is* MBPP 309 in another language); garbage for an instruction containing GARBLE."""

    backend = "scripted"

    def __init__(self):
        super().__init__("scripted-judge")
        self.asked: list[tuple[str, str]] = []

    def _run(self, requests, on_done):
        for req in requests:
            user = req.prompt[-1]["content"]
            bench = user.split("Benchmark problem:\n<<<\n", 1)[1].split("\n>>>", 1)[0]
            rec = user.split("Training instruction:\n<<<\n", 1)[1].split("\n>>>", 1)[0]
            self.asked.append((rec, bench))
            if "GARBLE" in rec:
                text = "I would rather not say."
            elif "Kotlin" in rec:
                text = json.dumps({"same": True, "reason": "maximum of two numbers, in Kotlin"})
            else:
                text = json.dumps({"same": False, "reason": "asks for a different result"})
            on_done(req, Outcome(samples=[{"text": text, "finish_reason": "stop", "completion_tokens": 9}]))


def test_llm_judge_confirms_overrules_and_is_cached(cache, tmp_path):
    factorial = alpaca(3)        # similarity 0.85 with MBPP+ 577 (last digit of n!): above the threshold
    kotlin = alpaca(216)         # "Write a function in Kotlin to find the maximum of two numbers." (0.68, MBPP 309)
    garbled_high = make_record("garbled-high", instruction=alpaca(5)["instruction"] + " GARBLE")
    garbled_low = make_record("garbled-low", instruction=kotlin["instruction"] + " GARBLE")
    unrelated = alpaca(280)
    records = [factorial, kotlin, garbled_high, garbled_low, unrelated]
    scripted = ScriptedJudge()
    with LLMServer(scripted) as srv:
        judge = {"model": "scripted-judge", "backend": "openai", "base_url": srv.base_url,
                 "cache": str(tmp_path / "judge.sqlite"), "top_k": 1, "min_similarity": 0.6,
                 "options": {"max_retries": 1, "timeout": 30}}
        # the cosine-threshold decision (semantic_decision: threshold) is what a failed judge falls back to here
        cfg = {"detectors": ["semantic"], "benchmarks": BENCHES, "embed_cache_dir": cache, "judge": judge,
               "semantic_decision": "threshold"}
        res, dropped, kept = run(Decontaminate(cfg), records)
        answered = len(srv.answered)
        # the same pairs again: every verdict comes from the judge's cache, the server sees nothing new
        res2, dropped2, _ = run(Decontaminate(cfg), records)
        assert len(srv.answered) == answered
    assert set(dropped) == {"alpaca-216", "garbled-high"} == set(dropped2)
    k = dropped["alpaca-216"].detail
    assert k["judge"] == "same" and k["benchmark_item"] in ("Mbpp/309",) and "Kotlin" in k["reason"]
    assert k["similarity"] < Decontaminate(cfg).config.semantic_threshold  # the threshold alone would keep it
    assert "judge: same problem" in dropped["alpaca-216"].reason
    # the judge overrules the threshold: factorial is kept with its verdict recorded
    verdicts = kept["alpaca-3"]["stats"]["semantic_judge"]
    assert kept["alpaca-3"]["stats"]["semantic"] >= Decontaminate(cfg).config.semantic_threshold
    assert [v["verdict"] for v in verdicts] == ["different"] and verdicts[0]["benchmark_item"] == "Mbpp/577"
    # a judge failure falls back to the threshold (on_error: threshold) and says so
    g = dropped["garbled-high"].detail
    assert g["judge"] == "error" and "structured output invalid" in g["reason"]
    assert kept["garbled-low"]["stats"]["semantic_judge"][0]["verdict"] == "error"
    # below min_similarity nothing is asked
    assert kept["alpaca-280"]["stats"]["semantic_judge"] == []
    assert all(r != unrelated["instruction"] for r, _ in scripted.asked)
    c = res.counters
    assert c["judge_calls"] == 4 and c["judge_same"] == 1 and c["judge_different"] == 1 and c["judge_error"] == 2
    assert res2.counters["judge_cached"] == 2  # valid verdicts replayed from the cache
    bench_seen = {b for _, b in scripted.asked}
    assert any("maximum of two numbers" in b for b in bench_seen)


def test_report_closest_items_and_detector_counts(cache, tmp_path):
    records = [alpaca(5), alpaca(12), alpaca(26), para("HumanEval/96"), alpaca(280)]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    every = []
    report = decontam_report(records, benchmarks=BENCHES, closest=3, per_record=every.append,
                             decontaminate={"embed_cache_dir": cache})
    hits = report["detector_hits"]
    assert hits["semantic"] == 3 and hits["any"] == 3 and hits["substring"] == 0
    assert report["benchmarks"]["humaneval"]["flagged_by"]["semantic"] == 2
    assert report["benchmarks"]["mbpp_plus"]["flagged_by"]["semantic"] == 1
    flagged = {f["id"]: f for f in report["flagged"]}
    assert set(flagged) == {"alpaca-5", "alpaca-12", "para-HumanEval/96"}
    assert flagged["alpaca-12"]["closest"][0]["task_id"] == "HumanEval/48"
    assert len(flagged["alpaca-12"]["closest"]) == 3
    assert [e["id"] for e in every] == [r["id"] for r in records]
    assert every[2]["detectors"] == [] and every[2]["closest"][0]["task_id"] == "Mbpp/612"
    assert report["settings"]["semantic_threshold"] == Decontaminate({}).config.semantic_threshold


def test_calibrated_decision_beats_one_cosine_threshold(semantic, cache):
    """The calibrated score catches rephrasings whose cosine is under the old 0.83 threshold (a large
    margin over the next problem, a specific item) and keeps same-topic records over it (a generic item, a close
    runner-up); the threshold decision, on the same embeddings, does the opposite."""
    records = [para("HumanEval/72"), para("HumanEval/141"), para("mbpp/12"),
               alpaca(239),  # "... takes a list of numbers and returns the largest number": MBPP+ 57 is the
                             # largest number formed from digits, cosine 0.85
               alpaca(246),  # "sum of all even numbers from 0 to n": MBPP+ 270 sums even numbers at even positions
               alpaca(54)]   # "Create a C++ function that checks if a given integer is an Armstrong number." =
                             # MBPP+ 598 in another programming language
    _, dropped, kept = run(semantic, records)
    assert set(dropped) == {"para-HumanEval/72", "para-HumanEval/141", "para-mbpp/12", "alpaca-54"}
    assert dropped["alpaca-54"].detail["benchmark_item"] == "Mbpp/598"
    thr = semantic.config.semantic_threshold
    assert all(d.detail["similarity"] < thr for d in dropped.values())  # every one under the cosine threshold
    assert all(r["stats"]["semantic"] >= thr for r in kept.values())    # every one over it
    op = Decontaminate({"detectors": ["semantic"], "benchmarks": BENCHES, "embed_cache_dir": cache,
                        "semantic_decision": "threshold"})
    _, dropped_t, _ = run(op, records)
    assert set(dropped_t) == {"alpaca-239", "alpaca-246"}
    assert "semantic_score" not in dropped_t["alpaca-239"].record["stats"]


def test_pair_features_dedupe_problems_and_margin():
    import numpy as np

    from codecurate.ops.decontam.semantic import calibrated_scores, pair_features

    keys = ["humaneval/3", "humaneval/3", "mbpp/9", "mbpp/9", "mbpp/10"]  # HumanEval + HumanEval+ copies
    hub = np.array([0.5, 0.5, 0.7, 0.7, 0.6], dtype=np.float32)
    idx = np.array([[0, 1, 2, 3, 4], [4, 2, 0, 1, 3]])
    sims = np.array([[0.9, 0.9, 0.6, 0.6, 0.5], [0.7, 0.69, 0.3, 0.3, 0.2]], dtype=np.float32)
    cand, f = pair_features(idx, sims, keys, hub)
    assert cand.tolist() == [[0, 2, 4], [4, 2, 0]]  # one candidate per problem
    assert np.allclose(f[0, 0], [0.9, 0.3, 0.4]) and np.allclose(f[0, 1], [0.6, -0.3, -0.1])
    assert np.allclose(f[1, 0], [0.7, 0.01, 0.1], atol=1e-6)
    s = calibrated_scores(f, [-1.0, 1.0, 2.0, 0.0], cand)
    assert np.allclose(s[0], [-1 + 0.9 + 0.6, -1 + 0.6 - 0.6, -1 + 0.5 - 0.8])
    one = pair_features(idx[:1, :2], sims[:1, :2], keys, hub)[0]
    assert one.tolist() == [[0, -1, -1]] and np.isneginf(calibrated_scores(f[:1] * 0, [0, 0, 0, 0], one)[0, 1:]).all()


def test_calibrated_config_errors(tmp_path):
    with pytest.raises(ValueError, match="semantic_weights: give 4 numbers"):
        Decontaminate({"semantic_weights": [1.0, 2.0]})
    with pytest.raises(ValueError, match="shipped hubness table is for all-MiniLM-L6-v2"):
        Decontaminate({"embed_model": "/models/some-other-encoder", "semantic_decision": "calibrated"})
    Decontaminate({"embed_model": "/models/some-other-encoder"})  # fine: the default decision is the threshold
    bad = tmp_path / "cal.json"
    bad.write_text('{"hub": []}')
    op = Decontaminate({"detectors": ["semantic"], "benchmarks": BENCHES, "semantic_calibration": str(bad),
                        "semantic_decision": "calibrated"})
    with pytest.raises(ValueError, match="not a semantic calibration table"):
        op.ensure_setup()
