"""Format adapters on real data: detection, lossless round trip, cross-format writes, bad input."""

import gzip
import json
from pathlib import Path

import pytest

from codecurate.formats import detect_format, get_format
from codecurate.io import BadLine, InputError, read_raw, read_records, read_records_with_errors, write_records
from codecurate.records import set_code, validate_record

DATA = Path(__file__).parent / "data"
PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"

REAL = [
    (DATA / "code_alpaca_300.json", "alpaca"),
    (DATA / "evol_instruct_200.json", "alpaca"),
    (DATA / "code_contests_20.jsonl", "codecontests"),
    (DATA / "leetcode_100.json", "leetcode"),
    (DATA / "codeforces_50.json", "codeforces"),
    (DATA / "sanitized_mbpp_60.json", "mbpp"),
    (PKG / "mbpp.jsonl", "mbpp"),
    (PKG / "HumanEval.jsonl.gz", "humaneval"),
    (PKG / "HumanEvalPlus.jsonl.gz", "evalplus"),
    (PKG / "MbppPlus.jsonl.gz", "evalplus"),
]


@pytest.mark.parametrize("path,fmt", REAL, ids=[p.name for p, _ in REAL])
def test_detect_and_lossless_round_trip(path, fmt):
    raws = [r for r, _ in read_raw(path)]
    assert detect_format(raws[:20]).name == fmt
    recs = list(read_records(path))
    assert len(recs) == len(raws)
    assert len({r["id"] for r in recs}) == len(recs), "ids must be unique"
    adapter = get_format(fmt)
    for rec, raw in zip(recs, raws):
        validate_record(rec)
        assert adapter.from_record(rec) == raw


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".jsonl.gz"])
def test_file_round_trip_every_container(tmp_path, suffix):
    src = PKG / "mbpp.jsonl"
    recs = list(read_records(src, limit=50))
    out = tmp_path / f"mbpp{suffix}"
    write_records(recs, out, format="same")
    again = list(read_records(out))
    assert [r["meta"] for r in again] == [r["meta"] for r in recs]
    assert [r["tests"] for r in again] == [r["tests"] for r in recs]


def test_evalplus_big_ints_and_nan_survive_round_trip(tmp_path):
    """HumanEval+ inputs hold ints beyond 64 bits and NaN; both must come back exactly."""
    recs = list(read_records(PKG / "HumanEvalPlus.jsonl.gz"))
    out = tmp_path / "he.jsonl.gz"
    write_records(recs, out, format="same")
    orig = [json.dumps(json.loads(line), sort_keys=True) for line in gzip.open(PKG / "HumanEvalPlus.jsonl.gz", "rt")]
    again = [json.dumps(json.loads(line), sort_keys=True) for line in gzip.open(out, "rt")]
    assert again == orig
    assert any("99999999999999999999999" in o for o in orig)  # the data really holds a > 64-bit int


def test_formats_carry_tests_of_the_right_kind():
    mbpp = next(read_records(PKG / "mbpp.jsonl"))
    assert mbpp["tests"]["kind"] == "assert" and mbpp["tests"]["cases"][0].startswith("assert")
    he = next(read_records(PKG / "HumanEval.jsonl.gz"))
    assert he["tests"]["cases"] == [f"check({he['meta']['entry_point']})"]
    assert he["code"].startswith(he["meta"]["prompt"])
    cc = next(read_records(DATA / "code_contests_20.jsonl"))
    assert cc["tests"]["kind"] == "stdio" and len(cc["tests"]["cases"]) == len(cc["meta"]["tests"]["inputs"])
    lc = next(read_records(DATA / "leetcode_100.json"))
    assert "check(Solution()." in lc["tests"]["cases"][0]
    ep = next(read_records(PKG / "MbppPlus.jsonl.gz"))
    n = len(ep["meta"]["base_input"]) + len(ep["meta"]["plus_input"])
    assert ep["tests"]["kind"] == "call" and len(ep["tests"]["cases"]) == n


def test_cross_format_conversion_preserves_task_and_tests(tmp_path):
    """CodeContests -> APPS (JSON-string fields) -> canonical, and -> the study's schema."""
    recs = list(read_records(DATA / "code_contests_20.jsonl"))
    for fmt in ("apps", "study"):
        out = tmp_path / f"cc_{fmt}.jsonl"
        write_records(recs, out, format=fmt)
        back = list(read_records(out, format=fmt))
        assert [b["instruction"] for b in back] == [r["instruction"] for r in recs]
        assert [b["tests"]["cases"] for b in back] == [r["tests"]["cases"] for r in recs]
    apps_row = json.loads((tmp_path / "cc_apps.jsonl").open().readline())
    assert isinstance(apps_row["input_output"], str) and isinstance(apps_row["solutions"], str)


def test_alpaca_to_messages_both_styles(tmp_path):
    recs = list(read_records(DATA / "code_alpaca_300.json", limit=30))
    out = tmp_path / "msgs.jsonl"
    write_records(recs, out, format="messages")
    back = list(read_records(out))
    assert back[0]["source"] == "messages"
    assert [b["instruction"] for b in back] == [r["instruction"] for r in recs]
    assert [b["response"] for b in back] == [r["response"] for r in recs]
    sharegpt = {"conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "Q"},
                                  {"from": "gpt", "value": "```python\nprint(1)\n```"}]}
    p = tmp_path / "sg.jsonl"
    p.write_text(json.dumps(sharegpt) + "\n")
    rec = next(read_records(p))
    assert (rec["instruction"], rec["code"]) == ("Q", "print(1)")
    assert get_format("messages").from_record(rec) == sharegpt


def test_changed_code_is_written_where_the_format_keeps_it():
    recs = [r for r in read_records(DATA / "evol_instruct_200.json") if "```" in r["response"] and r["code"]]
    rec = recs[0]
    new = "# refactored\n" + rec["code"]
    set_code(rec, new)
    raw = get_format("alpaca").from_record(rec)
    assert "# refactored" in raw["output"] and raw["instruction"] == rec["meta"]["instruction"]
    assert raw["output"].count("```") == rec["meta"]["output"].count("```")
    m = next(read_records(PKG / "mbpp.jsonl"))
    set_code(m, m["code"] + "\n# x")
    assert get_format("mbpp").from_record(m)["code"].endswith("# x")


def test_malformed_jsonl_names_file_and_line(tmp_path):
    lines = (PKG / "mbpp.jsonl").read_text().splitlines()[:5]
    lines.insert(3, '{"text": "broken", ')
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:4: invalid JSON"):
        list(read_records(p))
    items = list(read_records_with_errors(p, on_error="skip"))
    bad = [i for i in items if isinstance(i, BadLine)]
    assert len(items) == 6 and len(bad) == 1 and bad[0].where.endswith("bad.jsonl:4")


def test_empty_and_unknown_inputs(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    with pytest.raises(Exception, match="empty"):
        list(read_records(p))
    q = tmp_path / "odd.jsonl"
    q.write_text('{"foo": 1}\n')
    with pytest.raises(ValueError, match="cannot detect the format.*valid|format"):
        list(read_records(q))
    with pytest.raises(InputError, match="no such file"):
        list(read_records(tmp_path / "missing.jsonl"))


def test_record_missing_a_required_field_names_field_and_id(tmp_path):
    rows = json.loads((DATA / "code_alpaca_300.json").read_text())[:5]
    del rows[2]["output"]
    p = tmp_path / "a.json"
    p.write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"a\.json\[2\]: record '2' is missing required field 'output' for format alpaca"):
        list(read_records(p))
    items = list(read_records_with_errors(p, on_error="skip"))
    assert sum(isinstance(i, BadLine) for i in items) == 1 and len(items) == 5


def test_hub_ids_go_through_datasets(monkeypatch):
    """`owner/name[:split]` is loaded with datasets.load_dataset (network in real use; patched here)."""
    import datasets

    rows = [json.loads(line) for line in (PKG / "mbpp.jsonl").read_text().splitlines()[:7]]
    calls = []

    def fake_load(name, split=None):
        calls.append((name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    recs = list(read_records("google-research-datasets/mbpp:test"))
    assert calls == [("google-research-datasets/mbpp", "test")]  # loaded once: detection reads the same pass
    assert [r["id"] for r in recs] == [str(r["task_id"]) for r in rows] and recs[0]["source"] == "mbpp"
