"""The first operators on real data."""

import ast
from pathlib import Path

from codecurate.code.extract import code_blocks, extract_code, replace_primary_code
from codecurate.io import read_records
from codecurate.pipeline.registry import get_op

DATA = Path(__file__).parent / "data"
PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"


def op(name, **params):
    cls = get_op(name)
    return cls(params, seed=42)


def test_extract_code_from_markdown_responses():
    recs = list(read_records(DATA / "evol_instruct_200.json"))
    fenced = [r for r in recs if "```python" in r["response"]]
    assert len(fenced) >= 40
    res = op("extract_code").process(fenced)
    assert len(res.kept) == len(fenced)
    for r in res.kept:
        assert r["language"] == "python" and r["code"]
        assert r["code"] in r["response"]
    parsed = sum(1 for r in res.kept if _parses(r["code"]))
    assert parsed / len(fenced) > 0.9


def _parses(code):
    try:
        ast.parse(code)
        return True
    except SyntaxError:
        return False


def test_extract_code_language_tags_and_fallbacks():
    js = "Here:\n```javascript\nconst x = 1;\n```\nand\n```python\nx = 1\n```\n"
    assert extract_code(js) == ("x = 1", "python")
    assert extract_code(js, prefer="javascript") == ("const x = 1;", "javascript")
    mbpp = next(read_records(PKG / "mbpp.jsonl"))
    assert extract_code(mbpp["code"])[0] == mbpp["code"].strip("\n")  # bare code parses: taken whole
    assert extract_code("The answer is 4, because two plus two is four.") == ("", None)
    assert len(code_blocks("~~~py\na=1\n~~~\n```\nb=2\n```")) == 2
    text = "x\n```python\nold()\n```\ny"
    assert replace_primary_code(text, "old()", "new()") == "x\n```python\nnew()\n```\ny"


def test_python_syntax_drops_with_message_and_line():
    recs = list(read_records(PKG / "mbpp.jsonl", limit=20))
    broken = recs[3]
    broken["code"] = broken["code"].replace(":", "", 1)  # first `def f(...):` loses its colon
    res = op("python_syntax").process(recs)
    assert len(res.kept) == 19 and len(res.dropped) == 1
    d = res.dropped[0]
    line = broken["code"][: broken["code"].index("(")].count("\n") + 1  # the line that lost its colon
    assert d.record["id"] == broken["id"] and d.reason == f"syntax: expected ':' (line {line})"
    other = dict(recs[4], language="javascript", code="const x = ;")
    assert op("python_syntax").process([other]).kept  # non-Python passes through by default


def test_length_bounds_and_stats():
    recs = list(read_records(PKG / "mbpp.jsonl"))
    res = op("length", field="code", min=40, max=1500).process(recs)
    lens = {r["id"]: len(r["code"]) for r in recs}
    assert all(40 <= lens[r["id"]] <= 1500 for r in res.kept)
    assert all(not 40 <= lens[d.record["id"]] <= 1500 for d in res.dropped)
    assert len(res.dropped) == sum(1 for n in lens.values() if not 40 <= n <= 1500) > 0
    assert res.kept[0]["stats"]["len_code"] == lens[res.kept[0]["id"]]
    lines = op("length", field="code", unit="lines", max=3).process(list(read_records(PKG / "mbpp.jsonl", limit=50)))
    assert all(r["code"].count("\n") + 1 <= 3 for r in lines.kept)


def test_exact_dedup_keeps_first_of_real_duplicates():
    recs = list(read_records(PKG / "mbpp.jsonl"))
    o = op("exact_dedup", fields=["code"])
    decisions = o.reduce(o.map_batch(recs))
    norm = [" ".join(r["code"].split()) for r in recs]
    first = {}
    for r, n in zip(recs, norm):
        first.setdefault(n, r["id"])
    expected_drop = {r["id"] for r, n in zip(recs, norm) if first[n] != r["id"]}
    dropped = {r["id"] for r, d in zip(recs, decisions) if not d.keep}
    assert dropped == expected_drop and len(dropped) > 0
    for r, d in zip(recs, decisions):
        if not d.keep:
            assert d.detail["kept"] == first[" ".join(r["code"].split())]


def test_random_select_fraction_count_and_seed():
    payloads = [None] * 1000
    a = [d.keep for d in get_op("random_select")({"fraction": 0.3}, seed=1).reduce(payloads)]
    b = [d.keep for d in get_op("random_select")({"fraction": 0.3}, seed=1).reduce(payloads)]
    c = [d.keep for d in get_op("random_select")({"fraction": 0.3}, seed=2).reduce(payloads)]
    assert a == b and a != c and sum(a) == 300
    assert sum(d.keep for d in get_op("random_select")({"count": 17}, seed=1).reduce(payloads)) == 17
    assert sum(d.keep for d in get_op("random_select")({"count": 5000}, seed=1).reduce(payloads)) == 1000


def test_batch_failure_is_isolated_to_the_failing_record():
    """A Filter whose batch step (``compute``) fails on one record: ``on_error: skip`` reruns the batch record by
    record, so only that record goes to the ledger with the error; otherwise the batch raises naming its first
    record, and a batch of one names the record itself."""
    import pytest

    from codecurate.pipeline.op import Filter, OpError
    from codecurate.records import make_record

    class Boom(Filter):
        name = "boom_test_filter"

        def compute(self, records):
            for r in records:
                if "poison" in r["code"]:
                    raise ValueError("cannot score this one")
                r["stats"]["len"] = len(r["code"])

        def decide(self, record):
            return None if record["stats"]["len"] > 5 else "too short"

    recs = [make_record(f"r{i}", code=c) for i, c in enumerate(["x = 1 + 2", "poison()", "y = 1", "z = [1, 2, 3]"])]
    res = Boom(on_error="skip").process([dict(r, stats={}) for r in recs])
    assert [r["id"] for r in res.kept] == ["r0", "r3"]
    assert [(d.record["id"], d.reason) for d in res.dropped] == [
        ("r1", "error: ValueError: cannot score this one"), ("r2", "too short")]
    with pytest.raises(OpError, match="batch starting at record 'r0'"):
        Boom().process([dict(r, stats={}) for r in recs])
    with pytest.raises(OpError, match="failed on record 'r1'"):
        Boom().process([dict(recs[1], stats={})])
