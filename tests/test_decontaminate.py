"""decontaminate / decontam_report on the Code Alpaca fixture with real MBPP and HumanEval items planted: the
substring and TLI detectors (faithful XCoder and discounted by the reference n-gram table), benchmark presets and
the shipped LiveCodeBench / BigCodeBench samples. The semantic detector and the LLM judge: test_decontam_semantic.py."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from codecurate.code.tokens import whitespace_ngrams
from codecurate.ops.decontam.benchmarks_index import (
    MBPP_TEST_IDS,
    BenchmarkSpec,
    TLIIndex,
    load_benchmarks,
    load_reference_df,
)
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


OLD_DEFAULT = {"detectors": ["tli", "substring"], "tli_mode": "faithful", "tli_benchmarks": ["humaneval", "humaneval_plus"],
               "benchmarks": ["humaneval", "humaneval_plus", "mbpp", "mbpp_plus"]}
NO_MODEL = {"detectors": ["substring", "tli"]}  # today's default without the semantic detector


@pytest.mark.parametrize("cfg", [OLD_DEFAULT, NO_MODEL], ids=["faithful-humaneval", "discounted-all"])
def test_planted_leaks_are_dropped_with_item_and_score(contaminated, cfg):
    recs, leaks, train_only = contaminated
    batch = recs + list(leaks.values()) + [train_only]
    res, dropped = process(Decontaminate(cfg), batch)
    assert len(res.kept) + len(res.dropped) == len(batch)  # accounting: nothing lost, nothing twice
    assert {r["id"] for r in res.kept}.isdisjoint(dropped)
    for lid in leaks:
        assert lid in dropped, lid
    assert "mbpp/17" in dropped["leak-mbpp-text"].reason
    assert dropped["leak-mbpp-code"].detail["detector"] == "substring"
    assert any(m.startswith("mbpp/120:code") for m in dropped["leak-mbpp-code"].detail["matches"])
    para = dropped["leak-he-para"].detail
    assert para["detector"] == "tli" and para["benchmark_item"].endswith("/31")
    assert para["score"] >= Decontaminate(cfg).config.effective_tli_threshold
    assert "mbpp-train-700" not in dropped
    # a verbatim MBPP problem statement fires both detectors; the ledger names both
    assert dropped["leak-mbpp-text"].detail["detectors"][:2] == ["substring", "tli"] or cfg is OLD_DEFAULT


def test_clean_fixture_is_not_flagged(contaminated):
    recs, _, _ = contaminated
    res, dropped = process(Decontaminate(OLD_DEFAULT), recs)
    # measured: 3 of 300 clean Code Alpaca records reach faithful TLI >= 0.05 against HumanEval(+) (max 0.055,
    # boilerplate like "takes an array of integers and returns"); none contains a benchmark string
    assert len(dropped) <= 0.02 * len(recs)
    assert all(d.detail["detector"] == "tli" and d.detail["score"] < 0.06 for d in dropped.values())
    tli = [r["stats"]["tli"] for r in res.kept]
    assert np.median(tli) < 0.01
    # faithful TLI against every benchmark flags half the fixture (MBPP's one-sentence prompts share
    # "Write a function to ..."); discounted TLI against the same benchmarks flags a handful
    _, faithful_all = process(Decontaminate({"detectors": ["tli"], "tli_mode": "faithful"}), recs)
    _, discounted = process(Decontaminate({"detectors": ["tli"]}), recs)
    assert len(faithful_all) > 0.3 * len(recs)
    assert len(discounted) <= 0.02 * len(recs)
    assert all(d.detail["mode"] == "discounted" for d in discounted.values())


def test_discounting_ignores_boilerplate_not_leaks():
    """The issue's case: ordinary instructions matching HumanEval/66 through "takes a string as input and
    returns". Faithful TLI flags them; the discounted TLI leaves them and still flags a pasted docstring."""
    he = {r["task_id"]: r for r in humaneval_rows()}
    clean = [make_record("c1", instruction="Write a function that takes a string as input and returns the number "
                                           "of words in it."),
             make_record("c2", instruction="Write a function that takes a string as input and returns the string "
                                           "reversed.")]
    leak = make_record("leak", instruction="Please solve: " + he["HumanEval/66"]["prompt"].split('"""')[1])
    items = load_benchmarks(["humaneval"])
    df, meta = load_reference_df()
    assert meta["documents"] > 1000 and meta["ngram_sizes"] == [4, 5]
    faithful = TLIIndex(items, (4, 5))
    discounted = TLIIndex(items, (4, 5), df=df, df_max=2)
    assert discounted.dropped_common > 0
    he66 = next(i for i, it in enumerate(items) if it.task_id == "HumanEval/66")
    for r in clean:
        assert faithful.similarities(r["instruction"])[he66] >= 0.05
        assert discounted.similarities(r["instruction"]).max() < 0.5
    assert discounted.similarities(leak["instruction"])[he66] > 0.5
    # the faithful index is XCoder's; the discounted one leaves the table's common n-grams out of every item
    gram = ("takes", "a", "string", "as")
    assert df.get(" ".join(gram), 0) >= 2
    assert gram in faithful.postings and gram not in discounted.postings


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
    cfg = {"detectors": ["tli"], "tli_mode": "faithful", "benchmarks": ["humaneval", "mbpp"]}
    res, dropped = process(Decontaminate(cfg), records)
    items = load_benchmarks(["humaneval", "mbpp"])
    max_sim, drop, best = reference_tli_loop([r["instruction"] for r in records], [it.tli_text for it in items])
    assert [r["id"] in dropped for r in records] == drop
    fast = {r["id"]: r["stats"]["tli"] for r in res.kept}
    fast.update({i: d.detail["score"] for i, d in dropped.items()})
    assert [fast[r["id"]] for r in records] == max_sim
    report = decontam_report(records, benchmarks=["humaneval", "mbpp"], detectors=["tli"])
    he = [b for it, b in zip(items, best) if it.benchmark == "humaneval"]
    assert report["benchmarks"]["humaneval"]["tli_mean"] == pytest.approx(np.mean(he), abs=1e-12)


def test_discounted_tli_equals_reference_loop(contaminated):
    """Discounted TLI = the XCoder loop with the reference table's common n-grams removed from each test item."""
    recs, leaks, _ = contaminated
    records = recs + list(leaks.values())
    res, dropped = process(Decontaminate({"detectors": ["tli"], "benchmarks": ["humaneval", "mbpp"]}), records)
    df, _ = load_reference_df()
    items = load_benchmarks(["humaneval", "mbpp"])
    test = [{g for g in whitespace_ngrams(it.tli_text) if df.get(" ".join(g), 0) < 2} for it in items]
    fast = {r["id"]: r["stats"]["tli"] for r in res.kept}
    fast.update({i: d.detail["tli"] for i, d in dropped.items()})
    for r in records:
        g_r = whitespace_ngrams(r["instruction"])
        ref = max((len(g_r & g_t) / len(g_t) for g_t in test if g_t), default=0.0)
        assert fast[r["id"]] == ref, r["id"]


def test_report_and_extra_benchmark(contaminated, tmp_path):
    recs, leaks, _ = contaminated
    path = tmp_path / "mytest.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"qid": "q1", "question": recs[5]["instruction"]}) + "\n")
    seen = []
    before = json.dumps(recs)
    report = decontam_report(recs + [leaks["leak-he-prompt"]], benchmarks=["humaneval"],
                             extra_benchmarks=[{"name": "mine", "path": str(path), "tli_fields": ["question"],
                                                "substring_fields": ["question"], "id_field": "qid"}],
                             detectors=["substring", "tli"], per_record=seen.append)
    assert report["benchmarks"]["mine"]["tli_max"] == 1.0
    assert report["benchmarks"]["mine"]["records_with_substring"] >= 1
    top = report["benchmarks"]["humaneval"]["most_leaked"][0]
    assert top["task_id"] == "HumanEval/10" and top["record"] == "leak-he-prompt" and top["tli"] > 0.9
    # what decontaminate would drop, per detector and per benchmark, and the records behind the counts
    hits = report["detector_hits"]
    assert hits["substring"] >= 2 and hits["tli"] >= 2 and hits["any"] == len(report["flagged"])
    assert report["benchmarks"]["mine"]["flagged_by"]["substring"] >= 1
    assert report["benchmarks"]["humaneval"]["flagged_by"]["tli"] >= 1
    flagged = {f["id"]: f for f in report["flagged"]}
    assert set(flagged["leak-he-prompt"]["detectors"]) == {"substring", "tli"}
    assert flagged["leak-he-prompt"]["tli"]["task_id"] == "HumanEval/10"
    assert flagged["alpaca-5"]["substrings"] == ["mine/q1:question"]
    assert len(seen) == len(recs) + 1 and sum(bool(e["detectors"]) for e in seen) == hits["any"]
    assert json.dumps(recs) == before  # the report does not touch the caller's records
    with pytest.raises(ValueError, match="missing field 'prompt'"):
        decontam_report(recs[:2], benchmarks=[], extra_benchmarks=[{"name": "x", "path": str(path)}],
                        detectors=["tli"])
    with pytest.raises(ValueError, match="unknown"):
        Decontaminate({"benchmarks": ["humaneval", "apps"]})
    with pytest.raises(ValueError, match="reference n-gram table not found: /nonexistent"):
        Decontaminate({"detectors": ["tli"], "reference_df": "/nonexistent/df.json.gz"}).ensure_setup()


def test_presets_and_shipped_lcb_bcb_samples(tmp_path):
    """CodeContests test (a path, preset code_contests) and the shipped LiveCodeBench / BigCodeBench samples:
    a pasted problem statement is found, with the item id, by substring and TLI."""
    cc = [json.loads(line) for line in (DATA / "code_contests_20.jsonl").open()]
    spec = BenchmarkSpec(name="code_contests", path=str(DATA / "code_contests_20.jsonl"), preset="code_contests")
    assert spec.id_field == "name" and spec.tli_fields == ["description"]
    lcb = [json.loads(line) for line in (BENCH / "lcb_release_v1_sample40.jsonl").open()]
    bcb = json.loads((BENCH / "bigcodebench_hard_sample30.json").read_text())
    bcb_task = sorted(bcb)[3]
    recs = alpaca()[:50] + [
        make_record("cc-leak", instruction="Solve this competitive programming problem in C++.\n\n"
                                            + cc[7]["description"]),
        make_record("lcb-leak", instruction=lcb[5]["question_content"] + "\nGive a Python solution."),
        make_record("bcb-leak", instruction=bcb[bcb_task]["instruct_prompt"]),
    ]
    op = Decontaminate({"detectors": ["substring", "tli"], "benchmarks": ["livecodebench", "bigcodebench"],
                        "extra_benchmarks": [spec.model_dump()]})
    res, dropped = process(op, recs)
    assert set(dropped) == {"cc-leak", "lcb-leak", "bcb-leak"}
    assert dropped["cc-leak"].detail["by_detector"]["tli"]["benchmark_item"] == f"code_contests/{cc[7]['name']}"
    assert f"livecodebench/{lcb[5]['question_id']}" in dropped["lcb-leak"].reason
    assert dropped["bcb-leak"].detail["by_detector"]["tli"]["benchmark_item"] == bcb_task  # "BigCodeBench/<n>"
    assert all(set(d.detail["detectors"]) == {"substring", "tli"} for d in dropped.values())
    counters = res.counters
    assert counters["dropped_substring"] == 3 and counters["hits_tli"] == 3
    with pytest.raises(ValueError, match="missing id field 'name'"):
        load_benchmarks([], [BenchmarkSpec(name="x", path=str(DATA / "leetcode_100.json"), preset="code_contests")])
