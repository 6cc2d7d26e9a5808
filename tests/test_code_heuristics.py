"""language_filter, comment_ratio and line_length on real data (Code Alpaca answers, MBPP solutions)."""

import json
from pathlib import Path

from codecurate.ops.clean.comment_ratio import CommentRatio, comment_ratio, python_natural_text
from codecurate.ops.clean.language_filter import LanguageFilter
from codecurate.ops.clean.line_length import LineLength
from codecurate.records import make_record

DATA = Path(__file__).parent / "data"
MBPP = Path(__file__).parents[1] / "src" / "codecurate" / "data" / "benchmarks" / "mbpp.jsonl"


def alpaca_records():
    d = json.loads((DATA / "code_alpaca_300.json").read_text())
    return [make_record(i, x["instruction"], x["output"], x["output"], source="code_alpaca") for i, x in enumerate(d)]


def mbpp_records(n=200):
    with open(MBPP) as f:
        return [make_record(d["task_id"], code=d["code"]) for d in map(json.loads, list(f)[:n])]


def test_language_filter_separates_python_from_js_java_cpp():
    recs = alpaca_records()
    res = LanguageFilter().process([dict(r, stats={}) for r in recs])
    kept = {r["id"] for r in res.kept}
    dropped = {d.record["id"]: d.reason for d in res.dropped}
    by_id = {r["id"]: r for r in recs}
    # Known answers in the fixture (index = position in code_alpaca_300.json)
    js = next(r for r in recs if r["code"].startswith("for(let i = 0; i < numbersArray.length"))
    java = next(r for r in recs if r["code"].startswith("public class FactorialCalculator"))
    cpp = next(r for r in recs if r["code"].startswith("#include <iostream>\n \nint main()"))
    assert dropped[js["id"]] == "language_filter: detected javascript, want python"
    assert dropped[java["id"]] == "language_filter: detected java, want python"
    assert dropped[cpp["id"]] == "language_filter: detected cpp, want python"
    # every kept answer parses as Python; MBPP-style functions are kept
    for rid in kept:
        compile(by_id[rid]["code"], "<t>", "exec")
    assert 80 <= len(kept) <= 120  # about a third of Code Alpaca's answers are Python code
    res = LanguageFilter({"languages": ["javascript", "java", "cpp"]}).process([dict(r, stats={}) for r in recs])
    kept = {r["id"] for r in res.kept}
    assert {js["id"], java["id"], cpp["id"]} <= kept
    assert all(r["stats"]["language"]["label"] in {"javascript", "java", "cpp"} for r in res.kept)


def test_language_filter_keeps_all_mbpp():
    res = LanguageFilter({"set_language": True}).process(mbpp_records(100))
    assert len(res.kept) == 100 and all(r["language"] == "python" for r in res.kept)


def test_comment_ratio_matches_bigcode_definition():
    code = 'def f(x):\n    """Double x."""\n    # times two\n    return 2 * x\n'
    assert python_natural_text(code) == "Double x.\n times two"
    assert comment_ratio(code) == len("Double x.\n times two") / len(code)
    java = "// Java program\npublic class F {\n /* block */\n}"
    # Pygments lexes the Java line comment without its newline
    assert comment_ratio(java, "java") == (len("// Java program") + len("/* block */")) / len(java)


def test_comment_ratio_filter_on_real_code():
    recs = mbpp_records(200)
    res = CommentRatio().process([dict(r, stats={}) for r in recs])
    # StarCoder's lower bound (0.01) drops MBPP solutions without comments, keeps the commented ones
    for r in res.kept:
        assert 0.01 < r["stats"]["comment_ratio"] < 0.8
    for d in res.dropped:
        assert d.reason.startswith("comment_ratio: ") and d.record["stats"]["comment_ratio"] <= 0.01
    assert res.dropped and len(res.dropped) == res.counters["dropped.low"]
    res = CommentRatio({"min_ratio": -1}).process([dict(r, stats={}) for r in recs])
    assert len(res.kept) == 200
    only_comments = make_record("c", code="# just a note\n# nothing else\n")
    res = CommentRatio().process([only_comments])
    assert res.dropped and "not in (0.01, 0.8)" in res.dropped[0].reason


def test_line_length_filter():
    recs = mbpp_records(200)
    res = LineLength().process([dict(r, stats={}) for r in recs])
    # MBPP solutions are ordinary code; one of the first 200 is a single 180-char regex one-liner
    assert len(res.kept) == 199
    assert res.dropped[0].reason.startswith("line_length: mean line length 180.")
    stats = res.kept[0]["stats"]["lines"]
    assert set(stats) == {"max_line_length", "mean_line_length", "alphanum_fraction"}
    minified = make_record("min", code="x=[" + ",".join(["1"] * 600) + "]\n")  # one 1,203-char line
    symbols = make_record("sym", code="#" * 50 + "\n" + "-" * 50 + "\n")
    res = LineLength().process([minified, symbols, make_record("empty", code="")])
    reasons = {d.record["id"]: d.reason for d in res.dropped}
    assert reasons["min"] == "line_length: longest line 1203 > 1000"
    assert reasons["sym"].startswith("line_length: alphanumeric fraction 0.000 < 0.25")
    assert reasons["empty"] == "line_length: empty code"
    res = LineLength({"max_line_length": None, "mean_line_length": None}).process([dict(minified, stats={})])
    assert len(res.kept) == 1
