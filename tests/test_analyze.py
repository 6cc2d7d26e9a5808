"""``codecurate analyze`` / ``report``: JSON numbers against independent computations on real fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from codecurate.analysis import AnalyzeOptions, analyze, write_analysis
from codecurate.analysis import instruction_data as idata
from codecurate.analysis.run_report import method_of, run_report

DATA = Path(__file__).parent / "data"
ALPACA = DATA / "code_alpaca_300.json"
MBPP = DATA / "sanitized_mbpp_60.json"
GSM8K = DATA / "gsm8k_train_30.json"
SEED = DATA / "alpaca_seed_tasks_40.json"
EVOL = DATA / "evol_instruct_200.json"

CHEAP = dict(embeddings=False, contamination=False, near_dup=False, static=False)


def _records(path):
    import codecurate as cc

    return list(cc.read_records(str(path)))


@pytest.fixture(scope="module")
def embedded():
    """One analysis with embeddings of five real datasets (the model loads once)."""
    return analyze([str(MBPP), str(GSM8K), str(SEED), str(ALPACA), str(EVOL)],
                   options=AnalyzeOptions(contamination=False, near_dup=False, static=False, code_sample=0))


@pytest.fixture(scope="module")
def embedder():
    from codecurate.models.embed import Embedder

    return Embedder()


def _ds(result, stem):
    return next(d for d in result["datasets"] if d["name"] == stem)


# -- lengths, languages, tests ----------------------------------------------------------------------------
def test_lengths_and_languages_match_an_independent_count():
    res = analyze([str(ALPACA), str(MBPP)], options=AnalyzeOptions(**CHEAP, code_sample=0))
    for path, d in ((ALPACA, _ds(res, "code_alpaca_300")), (MBPP, _ds(res, "sanitized_mbpp_60"))):
        recs = _records(path)
        assert d["records"] == len(recs)
        it = np.array([len(r["instruction"].split()) for r in recs])
        rt = np.array([len(r["response"].split()) for r in recs])
        assert d["lengths"]["instruction_tokens"]["mean"] == pytest.approx(it.mean())
        assert d["lengths"]["instruction_tokens"]["p90"] == pytest.approx(np.percentile(it, 90))
        assert d["lengths"]["instruction_tokens"]["max"] == it.max()
        assert d["lengths"]["response_tokens"]["p50"] == pytest.approx(np.median(rt))
        lines = [len(r["code"].rstrip("\n").split("\n")) if r["code"].rstrip("\n") else 0 for r in recs]
        assert d["lengths"]["code_lines"]["mean"] == pytest.approx(np.mean(lines))
        tags = {}
        for r in recs:
            m = re.search(r"```[ \t]*([A-Za-z0-9_+#.-]*)", r["response"])
            k = "(no fence)" if not m else (m.group(1).lower() or "(untagged)")
            tags[k] = tags.get(k, 0) + 1
        assert d["languages"]["response_fence"] == dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])))
        with_tests = sum(1 for r in recs if r["tests"])
        assert d["tests"]["records_with_tests"] == with_tests
    # the shared histogram of instruction lengths counts every record of each dataset once
    dist = res["distributions"]["instruction_tokens"]
    assert sum(dist["counts"]["code_alpaca_300"]) == 300 and sum(dist["counts"]["sanitized_mbpp_60"]) == 60
    assert _ds(res, "sanitized_mbpp_60")["tests"]["kinds"] == {"assert": 60}


def test_stats_pass_rate_and_ifd_come_from_the_records(tmp_path):
    recs = _records(MBPP)[:20]
    for i, r in enumerate(recs):
        r["stats"] = {"ifd": 0.5 + i / 100, "exec": {"pass_ratio": 1.0 if i % 4 else 0.5, "passed": 1}}
    import codecurate as cc

    p = tmp_path / "scored.jsonl"
    cc.write_records(recs, p, format="codecurate")
    d = analyze([str(p)], options=AnalyzeOptions(**CHEAP, code_sample=0))["datasets"][0]
    assert d["ifd"]["mean"] == pytest.approx(np.mean([0.5 + i / 100 for i in range(20)]))
    assert d["tests"]["executed"] == 20
    assert d["tests"]["all_tests_pass"] == pytest.approx(15 / 20)
    assert d["stats"]["exec.passed"]["count"] == 20


# -- InstructionData ------------------------------------------------------------------------------------------
def test_contains_code_vectorized_equals_the_study_rule():
    import pyarrow as pa

    texts = [r["instruction"] for p in (ALPACA, GSM8K, SEED) for r in _records(p)]
    texts += [r["response"] for p in (ALPACA, GSM8K, SEED) for r in _records(p)]
    mask = idata.contains_code_mask(pa.chunked_array([texts]))
    assert mask.tolist() == [idata.contains_code(t) for t in texts]
    assert 0 < mask.sum() < len(texts)


def test_diversity_formula_equals_the_n_by_n_computation(embedded, embedder):
    """The study's FAISS search: all N neighbours by inner product of L2-normalised embeddings, drop the top
    hit (self), mean over the rest; diversity = 1 - that mean. Here done with the full N x N matrix."""
    for path, stem in ((MBPP, "sanitized_mbpp_60"), (GSM8K, "gsm8k_train_30")):
        e = embedder.encode([r["instruction"][:2000] for r in _records(path)]).astype(np.float64)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        sims = -np.sort(-(e @ e.T), axis=1)  # each row sorted descending, as FAISS returns it
        avg = sims[:, 1:].mean(axis=1)
        div = 1 - avg
        d = _ds(embedded, stem)["diversity"]
        assert d["mean"] == pytest.approx(div.mean(), abs=1e-5)
        assert d["mean_avg_sim"] == pytest.approx(avg.mean(), abs=1e-5)
        ours, _ = idata.diversity_scores(e)
        np.testing.assert_allclose(ours, div, atol=1e-5)
        srt = np.sort(div)
        k = len(div) // 3
        t = d["tertiles"]
        assert t["T1_lower"]["size"] == k and t["T3_higher"]["size"] == len(div) - 2 * k
        assert t["T1_lower"]["max"] == pytest.approx(srt[k - 1], abs=1e-5)
        assert t["T2_middle"]["min"] == pytest.approx(srt[k], abs=1e-5)
    # per-sample diversity histogram covers every record
    assert sum(embedded["distributions"]["diversity"]["counts"]["gsm8k_train_30"]) == 30


def test_domain_of_obvious_records(embedded):
    assert _ds(embedded, "gsm8k_train_30")["domain"]["counts"] == {"code": 0, "math": 30, "general": 0}
    assert _ds(embedded, "sanitized_mbpp_60")["domain"]["counts"]["code"] == 60
    seed = _ds(embedded, "alpaca_seed_tasks_40")["domain"]["counts"]
    assert seed["general"] >= 25 and seed["general"] == max(seed.values())
    alp = _ds(embedded, "code_alpaca_300")["domain"]
    assert alp["counts"]["code"] >= 290
    # the study's filter flags English "from " / "let " as code: it is reported, not used to classify
    assert _ds(embedded, "gsm8k_train_30")["domain"]["code_rule_rate"] > 0


def test_task_categories_of_obvious_records(embedder):
    recs = _records(ALPACA) + _records(EVOL)
    sql = [r for r in recs if re.match(r"(Write|Create) an? (SQL|MySQL) query", r["instruction"])]
    ml = [r for r in recs if re.search(r"\b(pandas|machine learning|neural network|dataframe)\b",
                                       r["instruction"], re.I)]
    algo = [r for r in recs if re.search(r"\b(linked list|binary search|bubble sort|quick ?sort|binary tree)\b",
                                         r["instruction"], re.I)]
    assert len(sql) >= 15 and len(ml) >= 4 and len(algo) >= 5
    names = list(idata.CATEGORIES)
    for group, want, share in ((sql, "Database & SQL", 0.8), (ml, "Data Science & Machine Learning", 0.8),
                               (algo, "Algorithmic & Data Structure", 0.8)):
        best, sim = idata.assign_categories(embedder.encode([r["instruction"] for r in group]), embedder)
        got = [names[b] for b in best]
        assert got.count(want) / len(got) >= share, (want, got)
        assert np.all((sim > 0) & (sim <= 1.0 + 1e-6))
    gsm = _records(GSM8K)
    best, _ = idata.assign_categories(embedder.encode([r["instruction"] for r in gsm]), embedder)
    assert [names[b] for b in best].count("Mathematical & Computational") >= 20


def test_task_type_counts_add_up_and_group(embedded):
    for d in embedded["datasets"]:
        tt = d["task_types"]
        assert sum(tt["counts"].values()) == d["records"]
        alg = sum(tt["counts"][c] for c in idata.ALGORITHMIC)
        assert tt["algorithmic_share"] == pytest.approx(alg / d["records"])
        assert list(tt["counts"]) == list(idata.CATEGORIES)


# -- code measures, contamination, near-dups -----------------------------------------------------------------
def test_radon_static_contamination_and_near_dups(tmp_path):
    """MBPP plus 8 renamed copies of its own records: near-dups finds the copies; MBPP prompts leak MBPP."""
    import codecurate as cc

    recs = _records(MBPP)
    copies = []
    for r in recs[:8]:
        c = dict(r, id=f"{r['id']}-copy", code=r["code"].replace("res", "out"))
        copies.append(c)
    p = tmp_path / "mbpp_plus_copies.jsonl"
    cc.write_records(recs + copies, p, format="codecurate")
    res = analyze([str(p)], options=AnalyzeOptions(embeddings=False, benchmarks=["mbpp", "humaneval"]))
    d = res["datasets"][0]
    assert d["near_duplicates"]["removed"] == 8
    assert d["near_duplicates"]["rate"] == pytest.approx(8 / 68)
    from radon.complexity import cc_visit

    expect = [max((b.complexity for b in cc_visit(r["code"])), default=1) for r in recs + copies]
    assert d["complexity"]["cyclomatic"]["mean"] == pytest.approx(np.mean(expect))
    assert d["static"]["sample"] == 68 and d["static"]["records_with_findings"] == 0
    cont = d["contamination"]["benchmarks"]
    assert set(cont) == {"mbpp", "humaneval"}
    # sanitized MBPP holds MBPP test problems verbatim (task ids 11-510 are the test split)
    assert cont["mbpp"]["records_with_substring"] > 0 and cont["mbpp"]["tli_max"] == pytest.approx(1.0)
    assert cont["mbpp"]["tli_mean_x100"] > cont["humaneval"]["tli_mean_x100"]


# -- JSON / HTML ----------------------------------------------------------------------------------------------
def test_json_schema_and_html_escape_data(tmp_path):
    import codecurate as cc

    recs = _records(ALPACA)[:30]
    recs[0]["instruction"] = "<script>alert('x')</script> " + recs[0]["instruction"]
    recs[1]["language"] = "<img src=x onerror=alert(1)>"
    p = tmp_path / "hostile.jsonl"
    cc.write_records(recs, p, format="codecurate")
    res = analyze([str(p), str(MBPP)], names=["<b>ours</b>", "mbpp"], options=AnalyzeOptions(**CHEAP))
    jp, hp = write_analysis(res, tmp_path / "out")
    j = json.loads(jp.read_text())
    assert j["schema"] == "codecurate.analysis/1"
    assert [d["name"] for d in j["datasets"]] == ["<b>ours</b>", "mbpp"]
    for key in ("records", "lengths", "languages", "domain", "diversity", "task_types", "complexity", "static",
                "contamination", "near_duplicates", "tests", "ifd", "stats"):
        assert key in j["datasets"][0]
    html = hp.read_text()
    assert "<b>ours</b>" not in html and "&lt;b&gt;ours&lt;/b&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert html.count("<script>") == 1  # only the report's own layout check


def test_same_name_twice_gets_two_columns():
    res = analyze([str(MBPP), str(MBPP)], options=AnalyzeOptions(**CHEAP, code_sample=0))
    assert [d["name"] for d in res["datasets"]] == ["sanitized_mbpp_60", "sanitized_mbpp_60 (2)"]


# -- run report -------------------------------------------------------------------------------------------
def _recipe(tmp_path, report=True, extra=None):
    from codecurate.pipeline.recipe import Recipe

    return Recipe.from_dict({"name": "rep", "input": {"path": str(ALPACA)}, "report": report,
                             "stages": [{"op": "extract_code"}, {"op": "length", "field": "code", "min": 40},
                                        {"op": "exact_dedup", "fields": ["instruction"]}, *(extra or [])]})


def test_run_writes_a_report_that_matches_the_run(tmp_path):
    import codecurate as cc

    run = cc.run_recipe(_recipe(tmp_path), output=tmp_path / "run", workers=1)
    assert run.report_path == tmp_path / "run" / "report.html" and run.report_path.exists()
    assert run.summary["report"] == str(run.report_path)
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [(f["stage"], f["out"]) for f in rep["funnel"]] == [(s["stage"], s["out"]) for s in run.summary["stages"]]
    ledger = run.ledger()
    length_drops = next(d for d in rep["drops"] if d["stage"] == "length")
    assert length_drops["dropped"] == sum(1 for e in ledger if e["stage"] == "length")
    led_ids = {e["id"] for e in ledger}
    for r in length_drops["reasons"]:
        assert r["examples"] and all(e["id"] in led_ids for e in r["examples"])
    # stats.len_code: before = every record entering `length` (kept + dropped), after = the output
    ba = rep["stats_before_after"]["len_code"]
    assert ba["stage"] == "length" and ba["before"]["count"] == rep["funnel"][1]["out"]
    assert ba["after"]["count"] == run.summary["records_out"]
    outs = [len(r["code"]) for r in run.records()]
    assert ba["after"]["mean"] == pytest.approx(np.mean(outs))
    assert rep["analysis"]["datasets"][1]["records"] == run.summary["records_out"]
    assert rep["level"] == "basic" and rep["selection_map"] is None


def test_report_of_a_stage_that_adds_stats_and_drops_nothing(tmp_path):
    """Evol-Instruct records through a length stage whose bounds keep all of them: the stage adds a numeric
    stat but has no ledger shard; the report is still written and its before/after covers that stat."""
    import codecurate as cc
    from codecurate.pipeline.recipe import Recipe

    rec = Recipe.from_dict({"input": {"path": str(Path(__file__).parent / "data" / "evol_instruct_200.json"),
                                      "format": "alpaca"},
                            "stages": [{"op": "extract_code"}, {"op": "length", "field": "code", "max": 10**6}]})
    run = cc.run_recipe(rec, output=tmp_path / "run", workers=1)
    assert run.summary["stages"][-1]["dropped"] == 0
    assert not list((tmp_path / "run" / "stages" / "02_length").glob("ledger-*"))
    assert run.report_path is not None and run.report_path.exists()
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["funnel"][-1]["out"] == run.summary["records_out"] == 200
    ba = rep["stats_before_after"]["len_code"]
    assert ba["stage"] == "length" and ba["before"]["count"] == ba["after"]["count"] == 200


def test_report_samples_past_its_cap_and_keeps_counts_exact(tmp_path):
    """A run bigger than the report's sample: the dataset panels and distributions use a seeded sample of that
    size (memory bounded), the funnel and drop reasons stay exact, and the page says it sampled."""
    import codecurate as cc
    from codecurate.analysis.run_report import run_report, run_report_html

    run = cc.run_recipe(_recipe(tmp_path), output=tmp_path / "run", workers=1)
    full = run_report(tmp_path / "run", "basic", sample=10**9)
    rep = run_report(tmp_path / "run", "basic", sample=50)
    n_in, n_out = run.summary["records_in"], run.summary["records_out"]
    assert n_in > 50 and n_out > 50
    assert rep["sampled"] == {"input": [50, n_in], "output": [50, n_out]}
    assert full["sampled"] == {"input": [n_in, n_in], "output": [n_out, n_out]}
    assert rep["funnel"] == full["funnel"] and rep["drops"] == full["drops"]
    assert rep["analysis"]["datasets"][1]["records"] == 50
    ba = rep["stats_before_after"]["len_code"]
    assert ba["after"]["count"] == 50 and ba["before"]["count"] <= 100
    out_ids = {r["id"] for r in run.records()}
    assert "Sampling" in run_report_html(rep) and "Sampling" not in run_report_html(full)
    assert len(out_ids) == n_out


def test_report_off_and_report_failure_never_fail_the_run(tmp_path, monkeypatch):
    import codecurate as cc
    import codecurate.analysis

    run = cc.run_recipe(_recipe(tmp_path, report=False), output=tmp_path / "off", workers=1)
    assert run.report_path is None and not (tmp_path / "off" / "report.html").exists()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(codecurate.analysis, "write_run_report", boom)
    run = cc.run_recipe(_recipe(tmp_path), output=tmp_path / "fail", workers=1)
    assert run.report_path is None and (tmp_path / "fail" / "output" / "curated.jsonl").exists()
    assert "report" not in run.summary


def test_full_report_selection_map(tmp_path):
    import codecurate as cc

    rec = _recipe(tmp_path, extra=[{"op": "random_select", "fraction": 0.5}])
    run = cc.run_recipe(rec, output=tmp_path / "run", workers=1)
    rep = run_report(tmp_path / "run", "full", AnalyzeOptions(contamination=False, near_dup=False, static=False,
                                                               code_sample=50, map_points=400))
    m = rep["selection_map"]
    final = {r["id"] for r in run.records()}
    assert sum(len(v) for v in m["points"].values()) == min(400, rep["funnel"][0]["out"])
    assert set(m["points"]) <= {"kept", "dropped at length", "dropped at exact_dedup", "dropped at random_select"}
    assert len(m["points"]["kept"]) <= len(final)
    assert rep["analysis"]["datasets"][0]["diversity"] is not None


def test_method_of_created_ids():
    assert method_of("mbpp-11#aug:For2While") == "aug:For2While"
    assert method_of("alpaca-3#evol12") == "evol"
    assert method_of("x#wc-codegen") == "wc-codegen"
    assert method_of("plain") == "plain"


def test_cli_analyze_and_report(tmp_path):
    from typer.testing import CliRunner

    from codecurate.cli import app

    r = CliRunner().invoke(app, ["analyze", str(GSM8K), str(SEED), "-o", str(tmp_path / "a"), "--no-embed",
                                 "--no-contamination", "--no-near-dup", "--no-static"])
    assert r.exit_code == 0, r.output
    j = json.loads((tmp_path / "a" / "analysis.json").read_text())
    assert [d["records"] for d in j["datasets"]] == [30, 40]
    assert (tmp_path / "a" / "report.html").exists()
    r = CliRunner().invoke(app, ["analyze", str(tmp_path / "missing.jsonl")])
    assert r.exit_code != 0 and "missing.jsonl" in r.output
    rec = tmp_path / "r.yaml"
    rec.write_text(f"name: r\nreport: false\ninput: {{path: {MBPP}}}\nstages:\n  - op: python_syntax\n")
    r = CliRunner().invoke(app, ["run", str(rec), "-o", str(tmp_path / "run"), "-q", "-w", "1"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "run" / "report.html").exists()
    r = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--basic"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "report.html").exists() and "report.html" in r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert r.exit_code != 0 and "not a finished run directory" in r.output
