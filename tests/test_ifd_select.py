"""IFD ops (ifd_score, ifd_select, superfiltering) and the complexity scorer, on real Code Alpaca records with a
tiny causal LM built by tests/test_ifd.py's helpers."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_ifd import build_model

from codecurate.models.complexity import COMPLEXITY_TEMPLATE, ComplexityScorer
from codecurate.ops.select.ifd_select import select_by_ifd
from codecurate.pipeline.registry import get_op
from codecurate.records import make_record

DATA = Path(__file__).parent / "data" / "code_alpaca_300.json"


def alpaca_records(n: int) -> list[dict]:
    rows = json.loads(DATA.read_text())[:n]
    return [make_record(id=f"alpaca-{i}", instruction=r["instruction"] + ("\n" + r["input"] if r["input"] else ""),
                        response=r["output"], source="code_alpaca", meta=dict(r)) for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return str(build_model(tmp_path_factory.mktemp("sel_models"), False, "qwen2"))


def run_global(op, records):
    op.ensure_setup()
    payloads = []
    for c in range(0, len(records), 16):  # several map batches, as an executor would
        payloads += op.map_batch(records[c:c + 16])
    decisions = op.reduce(payloads)
    kept = []
    for rec, d in zip(records, decisions):
        if d.keep:
            rec = copy.deepcopy(rec)
            rec["stats"].update(d.stats or {})
            kept.append(rec)
    return kept, decisions


def test_select_by_ifd_rules():
    ifds = [0.5, 1.0, 0.9, None, 1.3, 0.9, 0.2, float("nan")]
    errs = [None, None, None, "empty answer", None, None, None, None]
    d = select_by_ifd(ifds, errs, k=2)
    assert [x.keep for x in d] == [False, False, True, False, False, True, False, False]  # 0.9, 0.9 (ties)
    assert "IFD 1 >= 1" in d[1].reason and "IFD 1.3 >= 1" in d[4].reason
    assert "empty answer" in d[3].reason and "no IFD" in d[7].reason
    assert "not in the top 2" in d[0].reason
    # Cherry's strict "> 1" keeps exactly 1.0; ratio of eligible records, floored
    d = select_by_ifd(ifds, errs, ratio=0.5, drop_equal=False)
    assert sum(x.keep for x in d) == int(5 * 0.5) and d[1].keep
    # ratio of the input (Superfiltering), and the hard-coded base
    assert sum(x.keep for x in select_by_ifd(ifds, errs, ratio=0.5, ratio_of="input")) == 4
    assert sum(x.keep for x in select_by_ifd(ifds, errs, ratio=0.5, ratio_base=4)) == 2
    # a budget of 0 keeps nothing (Cherry's [-0:] would keep all)
    assert not any(x.keep for x in select_by_ifd(ifds, errs, k=0))
    # the references' IFD=0 failure sentinel, on request: failures become eligible with the lowest IFD
    d = select_by_ifd(ifds, errs, failed_ifd="as_zero")
    assert (d[3].stats["ifd_rank"], d[7].stats["ifd_rank"]) == (4, 5)  # below every real score, ties by order


def test_ifd_score_op_writes_stats_and_keeps_failures(model_path):
    recs = alpaca_records(40)
    recs[3]["response"] = ""
    op = get_op("ifd_score")({"model": model_path, "max_length": 256})
    res = op.process(recs)
    assert len(res.kept) == 40 and not res.dropped
    assert res.kept[3]["stats"]["ifd"] is None and res.kept[3]["stats"]["ifd_error"] == "empty answer"
    assert res.counters["ifd_failed"] == 1 and res.counters["ifd_failed:empty answer"] == 1
    ok = [r for r in res.kept if r["stats"]["ifd"] is not None]
    assert len(ok) == 39 and all(r["stats"]["ifd_ppl_cond"] > 0 and r["stats"]["ifd_n_answer_tokens"] > 0 for r in ok)
    assert res.kept[0]["meta"]["instruction"]  # every original field survives
    drop = get_op("ifd_score")({"model": model_path, "max_length": 256, "on_failure": "drop"}).process(
        alpaca_records(40)[:3] + [recs[3]])
    assert len(drop.kept) == 3 and drop.dropped[0].reason.endswith("empty answer")


def test_ifd_select_budget_threshold_determinism(model_path):
    recs = alpaca_records(60)
    op_cls = get_op("ifd_select")
    kept, decisions = run_global(op_cls({"model": model_path, "max_length": 256, "k": 10}), recs)
    ifds = [d.stats["ifd"] for d in decisions if d.stats]  # computed here: stats travel with decisions
    assert len(ifds) == 60
    below = sorted((v for v in ifds if v is not None and v < 1), reverse=True)
    assert len(below) > 10  # the budget, not the filter, binds
    assert len(kept) == 10
    assert all(r["stats"]["ifd"] < 1 for r in kept)
    assert sorted((r["stats"]["ifd"] for r in kept), reverse=True) == below[:10]
    assert [r["id"] for r in kept] == sorted((r["id"] for r in kept), key=lambda s: int(s.split("-")[1]))
    assert sorted(r["stats"]["ifd_rank"] for r in kept) == list(range(10))
    assert set(kept[0]) == set(recs[0])  # every field kept
    over = [d for d, v in zip(decisions, ifds) if v is not None and v >= 1]
    assert all(not d.keep and ">= 1" in d.reason for d in over)
    # deterministic, and reuses stats.ifd from an earlier ifd_score without changing the result
    scored = get_op("ifd_score")({"model": model_path, "max_length": 256}).process(alpaca_records(60)).kept
    kept2, _ = run_global(op_cls({"model": "/nonexistent/model", "max_length": 256, "k": 10}), scored)
    assert [r["id"] for r in kept2] == [r["id"] for r in kept]
    kept3, _ = run_global(op_cls({"model": model_path, "max_length": 256, "ratio": 0.25}), alpaca_records(60))
    assert len(kept3) == int(len(below) * 0.25)


def test_superfiltering_preset(model_path):
    cfg = get_op("superfiltering").Config()
    assert (cfg.model, cfg.max_length, cfg.ratio, cfg.ratio_of, cfg.formula) == ("gpt2", 1024, 0.1, "input", "ppl_ratio")
    recs = alpaca_records(50)
    kept, decisions = run_global(get_op("superfiltering")({"model": model_path}), recs)
    assert len(kept) == min(5, sum(d.stats["ifd"] is not None and d.stats["ifd"] < 1 for d in decisions))
    assert get_op("superfiltering")({"k": 3}).config.ratio is None  # an explicit k replaces the preset ratio
    with pytest.raises(Exception, match="either k or ratio"):
        get_op("ifd_select")({"k": 3, "ratio": 0.2})


def test_complexity_scorer_matches_plain_forward(model_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recs = alpaca_records(20)
    instructions = [r["instruction"] for r in recs] + [""]
    cs = ComplexityScorer(model_path, batch_size=4)
    scores = cs.score(instructions)
    assert scores[-1] is None and cs.last_errors[-1] == "empty instruction"
    tok = AutoTokenizer.from_pretrained(model_path)
    lm = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    digits = [tok.convert_tokens_to_ids(d) for d in "123456"]
    for q, s in zip(instructions[:-1], scores[:-1]):
        ids = tok.encode(COMPLEXITY_TEMPLATE.replace("{instruction}", q), return_tensors="pt")
        with torch.no_grad():
            logits = lm(ids).logits[0, -1]
        p = torch.softmax(logits[digits], -1)
        want = float((p * torch.arange(1, 7)).sum())
        assert abs(s - want) < 1e-4 and 1 <= s <= 6
    xc = ComplexityScorer(model_path, scale="xcoder", fallback=2.0).score(instructions)
    assert all(abs((a - 1) - b) < 1e-4 for a, b in zip(scores[:-1], xc[:-1])) and xc[-1] == 2.0
    op = get_op("complexity_score")({"model": model_path})
    out = op.process(alpaca_records(5)).kept
    assert all(1 <= r["stats"]["complexity"] <= 6 for r in out)
