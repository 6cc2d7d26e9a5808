"""decontaminate / decontam_report on the Code Alpaca fixture with real MBPP and HumanEval items planted."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from codecurate.code.tokens import whitespace_ngrams
from codecurate.ops.decontam.benchmarks_index import MBPP_TEST_IDS, load_benchmarks
from codecurate.ops.decontam.decontaminate import Decontaminate, decontam_report
from codecurate.records import make_record

DATA = Path(__file__).parent / "data"
BENCH = Path(__file__).parents[1] / "src/codecurate/data/benchmarks"


def alpaca():
    rows = json.loads((DATA / "code_alpaca_300.json").read_text())
    return [make_record(f"alpaca-{i}", instruction=(r["instruction"] + "\n\n" + r["input"]).strip(),
                        response=r["output"]) for i, r in enumerate(rows)]


def mbpp_rows():
    with open(BENCH / "mbpp.jsonl") as f:
        return [json.loads(line) for line in f]


def humaneval_rows():
    with gzip.open(BENCH / "HumanEval.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def contaminated():
    recs = alpaca()
    mbpp = {r["task_id"]: r for r in mbpp_rows()}
    he = humaneval_rows()
    leaks = {
        # an MBPP test problem used as an instruction, with its reference solution
        "leak-mbpp-text": make_record("leak-mbpp-text", instruction=mbpp[17]["text"],
                                      response="```python\n" + mbpp[17]["code"] + "\n```"),
        # an MBPP test solution, re-indented, under an unrelated instruction
        "leak-mbpp-code": make_record("leak-mbpp-code", instruction="Solve the task.",
                                      response=mbpp[120]["code"].replace("    ", "  ").upper()),
        # a HumanEval prompt pasted into an instruction (TLI catches it even when reformatted)
        "leak-he-prompt": make_record("leak-he-prompt", instruction="Complete this:\n" + he[10]["prompt"]),
        # a HumanEval docstring paraphrased at the edges: only TLI can catch it
        "leak-he-para": make_record("leak-he-para", instruction="Please: " + " ".join(
            he[31]["prompt"].split('"""')[1].split()[:6]) + " (paraphrased) " + " ".join(
            he[31]["prompt"].split('"""')[1].split()[6:])),
    }
    # an MBPP *training* item (task 700) is not a test item and must not be flagged by substring
    train_only = make_record("mbpp-train-700", instruction=mbpp[700]["text"], response=mbpp[700]["code"])
    assert 700 not in MBPP_TEST_IDS
    return recs, leaks, train_only


def process(op, records):
    res = op.process([json.loads(json.dumps(r)) for r in records])
    return res, {d.record["id"]: d for d in res.dropped}


def test_planted_leaks_are_dropped_with_item_and_score(contaminated):
    recs, leaks, train_only = contaminated
    res, dropped = process(Decontaminate({}), recs + list(leaks.values()) + [train_only])
    for lid in leaks:
        assert lid in dropped, lid
    assert "mbpp/17" in dropped["leak-mbpp-text"].reason
    assert dropped["leak-mbpp-code"].detail["detector"] == "substring"
    assert any(m.startswith("mbpp/120:code") for m in dropped["leak-mbpp-code"].detail["matches"])
    para = dropped["leak-he-para"].detail
    assert para["detector"] == "tli" and para["benchmark_item"].endswith("/31") and para["score"] >= 0.05
    assert "mbpp-train-700" not in dropped


def test_clean_fixture_is_not_flagged(contaminated):
    recs, _, _ = contaminated
    res, dropped = process(Decontaminate({}), recs)
    # measured: 3 of 300 clean Code Alpaca records reach TLI >= 0.05 against HumanEval(+) (max 0.055,
    # boilerplate like "takes an array of integers and returns"); none contains a benchmark string
    assert len(dropped) <= 0.02 * len(recs)
    assert all(d.detail["detector"] == "tli" and d.detail["score"] < 0.06 for d in dropped.values())
    tli = [r["stats"]["tli"] for r in res.kept]
    assert np.median(tli) < 0.01


def reference_tli_loop(train_texts, test_texts, threshold=0.05):
    """XCoder compute_TLI.py as written: set intersection for every (test, train) pair."""
    train = [whitespace_ngrams(t) for t in train_texts]
    test = [whitespace_ngrams(t) for t in test_texts]
    max_sim = [0.0] * len(train)
    best = []
    for g_t in test:
        top = 0.0
        for i, g_r in enumerate(train):
            s = len(g_r & g_t) / len(g_t)
            max_sim[i] = max(max_sim[i], s)
            top = max(top, s)
        best.append(top)
    return max_sim, [m >= threshold for m in max_sim], best


def test_fast_tli_equals_reference_loop(contaminated):
    recs, leaks, _ = contaminated
    records = recs + list(leaks.values())
    cfg = {"detectors": ["tli"], "tli_benchmarks": None, "benchmarks": ["humaneval", "mbpp"]}
    res, dropped = process(Decontaminate(cfg), records)
    items = load_benchmarks(["humaneval", "mbpp"])
    max_sim, drop, best = reference_tli_loop([r["instruction"] for r in records], [it.tli_text for it in items])
    assert [r["id"] in dropped for r in records] == drop
    fast = {r["id"]: r["stats"]["tli"] for r in res.kept}
    fast.update({i: d.detail["score"] for i, d in dropped.items()})
    assert [fast[r["id"]] for r in records] == max_sim
    report = decontam_report(records, benchmarks=["humaneval", "mbpp"])
    he = [b for it, b in zip(items, best) if it.benchmark == "humaneval"]
    assert report["benchmarks"]["humaneval"]["tli_mean"] == pytest.approx(np.mean(he), abs=1e-12)


def test_report_and_extra_benchmark(contaminated, tmp_path):
    recs, leaks, _ = contaminated
    path = tmp_path / "mytest.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"qid": "q1", "question": recs[5]["instruction"]}) + "\n")
    report = decontam_report(recs + [leaks["leak-he-prompt"]], benchmarks=["humaneval"],
                             extra_benchmarks=[{"name": "mine", "path": str(path), "tli_fields": ["question"],
                                                "substring_fields": ["question"], "id_field": "qid"}])
    assert report["benchmarks"]["mine"]["tli_max"] == 1.0
    assert report["benchmarks"]["mine"]["records_with_substring"] >= 1
    top = report["benchmarks"]["humaneval"]["most_leaked"][0]
    assert top["task_id"] == "HumanEval/10" and top["record"] == "leak-he-prompt" and top["tli"] > 0.9
    with pytest.raises(ValueError, match="missing field 'prompt'"):
        decontam_report(recs[:2], benchmarks=[], extra_benchmarks=[{"name": "x", "path": str(path)}])
    with pytest.raises(ValueError, match="unknown"):
        Decontaminate({"benchmarks": ["humaneval", "apps"]})
