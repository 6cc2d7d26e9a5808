"""The runner on real data: run directory, accounting, ledger, determinism, workers, resume."""

import json
from pathlib import Path

import pytest

from codecurate.pipeline.op import Mapper, OpError
from codecurate.pipeline.recipe import Recipe
from codecurate.pipeline.registry import get_op, register
from codecurate.pipeline.runner import run_recipe
from codecurate.pipeline.shards import count_rows

PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"
DATA = Path(__file__).parent / "data"


def quick_recipe(path=PKG / "mbpp.jsonl", **kw):
    return Recipe.from_dict({
        "name": "t", "input": {"path": str(path), **kw.pop("input", {})}, "batch_size": kw.pop("batch_size", 200),
        "stages": kw.pop("stages", [
            {"op": "extract_code", "overwrite": False},
            "python_syntax",
            {"op": "length", "field": "code", "min": 40, "max": 1500},
            {"op": "exact_dedup", "fields": ["code"]},
            {"op": "random_select", "fraction": 0.8},
        ]), **kw})


def data_bytes(run_dir: Path) -> dict[str, bytes]:
    files = sorted(run_dir.glob("stages/*/data-*.parquet")) + sorted(run_dir.glob("stages/*/ledger-*.parquet"))
    files += sorted((run_dir / "output").iterdir())
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in files}


def test_run_directory_and_accounting(tmp_path):
    res = run_recipe(quick_recipe(), output=tmp_path / "run", workers=1)
    run = tmp_path / "run"
    assert (run / "recipe.yaml").exists() and (run / "summary.json").exists()
    summary = json.loads((run / "summary.json").read_text())
    stages = summary["stages"]
    assert stages[0]["in"] == 974
    prev_out = 974
    for st in stages:
        d = next((run / "stages").glob(f"*_{st['stage']}"))
        m = json.loads((d / "manifest.json").read_text())
        data_rows = sum(count_rows(p) for p in d.glob("data-*.parquet"))
        ledger_rows = sum(count_rows(p) for p in d.glob("ledger-*.parquet"))
        assert st["in"] == prev_out
        assert data_rows == st["out"] == m["counts"]["out"]
        assert ledger_rows == st["dropped"]
        assert st["in"] + st["created"] == st["out"] + st["dropped"]
        prev_out = st["out"]
    ledger = res.ledger()
    assert len(ledger) == 974 - summary["records_out"]
    assert {e["op"] for e in ledger} >= {"length", "exact_dedup", "random_select"}
    dup = next(e for e in ledger if e["op"] == "exact_dedup")
    kept = next(r for r in run_recipe(quick_recipe(stages=[]), output=tmp_path / "plain", workers=1).records()
                if r["id"] == dup["detail"]["kept"])
    assert " ".join(kept["code"].split()) == " ".join(dup["record"]["code"].split())
    out_lines = (run / "output" / "curated.jsonl").read_text().splitlines()
    assert len(out_lines) == summary["records_out"] == sum(1 for _ in res.records())
    assert set(json.loads(out_lines[0])) == {"text", "code", "task_id", "test_setup_code", "test_list",
                                              "challenge_test_list"}


def test_deterministic_and_independent_of_workers(tmp_path):
    a = run_recipe(quick_recipe(), output=tmp_path / "a", workers=1)
    b = run_recipe(quick_recipe(), output=tmp_path / "b", workers=2)
    assert data_bytes(a.run_dir) == data_bytes(b.run_dir)
    c = run_recipe(quick_recipe(seed=7), output=tmp_path / "c", workers=1)
    assert [r["id"] for r in c.records()] != [r["id"] for r in a.records()]


def test_on_error_skip_sends_bad_lines_to_the_ledger(tmp_path):
    lines = (PKG / "mbpp.jsonl").read_text().splitlines()[:30]
    lines[5] = lines[5][:40]  # truncated JSON
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    res = run_recipe(quick_recipe(p, input={"on_error": "skip"}, stages=["python_syntax"]), output=tmp_path / "r",
                     workers=1)
    led = res.ledger()
    assert len(led) == 1 and led[0]["stage"] == "read" and led[0]["id"].endswith("bad.jsonl:6")
    assert "invalid JSON" in led[0]["reason"]
    assert sum(1 for _ in res.records()) == 29


class _Boom(Mapper):
    """Fails on MBPP task 3, to test error routing."""

    name = "test_boom"

    def map(self, record):
        if record["id"] == "3":
            raise ValueError("bad record")
        return record


register(_Boom)


def test_op_failure_names_op_and_record_or_goes_to_ledger(tmp_path):
    with pytest.raises(OpError, match=r"op 'test_boom' failed on record '3': ValueError: bad record"):
        run_recipe(quick_recipe(stages=["test_boom"], input={"limit": 5}), output=tmp_path / "r1", workers=1)
    res = run_recipe(quick_recipe(stages=[{"op": "test_boom", "on_error": "skip"}], input={"limit": 5}),
                     output=tmp_path / "r2", workers=1)
    led = res.ledger()
    assert [(e["id"], e["reason"]) for e in led] == [("3", "error: ValueError: bad record")]
    assert sum(1 for _ in res.records()) == 4


def test_resume_skips_finished_stages_and_reruns_changed_ones(tmp_path):
    r = quick_recipe()
    run_recipe(r, output=tmp_path / "r", workers=1)
    first = data_bytes(tmp_path / "r")
    res = run_recipe(r, output=tmp_path / "r", workers=1, resume=True)
    n_first = sum(1 for _ in res.records())
    assert all(rep.skipped for rep in res.reports)
    assert data_bytes(tmp_path / "r") == first
    r2 = quick_recipe(stages=[{"op": "extract_code", "overwrite": False}, "python_syntax",
                              {"op": "length", "field": "code", "min": 40, "max": 1500},
                              {"op": "exact_dedup", "fields": ["code"]}, {"op": "random_select", "fraction": 0.5}])
    res2 = run_recipe(r2, output=tmp_path / "r", workers=1, resume=True)
    assert [rep.skipped for rep in res2.reports] == [True, True, True, True, True, False]
    assert sum(1 for _ in res2.records()) < n_first


class _LengthFullDecode(get_op("length")):
    """`length` without its reads/writes declaration: the runner decodes every column."""

    name = "test_length_full_decode"
    writes = None

    def reads(self):
        return None


register(_LengthFullDecode)


def test_columnar_pass_through_equals_full_decode(tmp_path):
    """Ops that declare reads/writes get only those columns; the bytes written must not change."""
    stages = lambda op: [{"op": op, "field": "code", "min": 40, "max": 1500}]  # noqa: E731
    a = run_recipe(quick_recipe(stages=stages("length")), output=tmp_path / "a", workers=1)
    b = run_recipe(quick_recipe(stages=stages("test_length_full_decode")), output=tmp_path / "b", workers=1)
    files = lambda d: {p.name: p.read_bytes() for p in sorted(d.glob("stages/01_*/data-*.parquet"))}  # noqa: E731
    assert files(a.run_dir) == files(b.run_dir) and len(files(a.run_dir)) == 5
    la, lb = a.ledger(), b.ledger()
    assert [(e["id"], e["reason"], e["record"]) for e in la] == [(e["id"], e["reason"], e["record"]) for e in lb]
    assert la and la[0]["record"]["meta"]["test_list"]  # the ledger still has whole records


def _tricky_jsonl(path: Path, dup: bool = False) -> Path:
    """Real MBPP rows with CRLF line ends, blank and whitespace-only lines (NBSP too), bad JSON, a JSON array,
    a row of the wrong shape, and no newline at the end."""
    rows = [json.loads(x) for x in (PKG / "mbpp.jsonl").read_text().splitlines()[:40]]
    lines = []
    for i, r in enumerate(rows):
        lines.append(json.dumps(r, ensure_ascii=False))
        if i % 7 == 0:
            lines += ["", "  \t", "\u00a0"]
        if i % 11 == 3:
            lines += ["{not json", "[1, 2]", '{"bad": 1}']
    if dup:
        lines.append(json.dumps(rows[5]))
    lines.append(json.dumps({**rows[0], "task_id": 9999}))
    path.write_bytes("\r\n".join(lines).encode())
    return path


@pytest.mark.parametrize("dup", [False, True])
def test_parallel_read_writes_the_serial_readers_shards(tmp_path, dup):
    src = _tricky_jsonl(tmp_path / "in.jsonl", dup)
    runs = {}
    for w in (1, 2):
        rec = quick_recipe(src, stages=["python_syntax"], batch_size=6, input={"on_error": "skip"})
        res = run_recipe(rec, output=tmp_path / f"w{w}", workers=w)
        runs[w] = res
    a, b = data_bytes(runs[1].run_dir), data_bytes(runs[2].run_dir)
    assert len(a) > 10 and a == b
    for name in ("stats.json",):
        assert ((runs[1].run_dir / "stages/00_read" / name).read_bytes()
                == (runs[2].run_dir / "stages/00_read" / name).read_bytes())
    reasons = {e["reason"].split(":")[0] for e in runs[2].ledger()}
    assert {"invalid JSON", "expected a JSON object, got list"} <= reasons
    assert ("duplicate id" in reasons) == dup
    modes = [json.loads((runs[w].run_dir / "stages/00_read/manifest.json").read_text())["read_mode"] for w in (1, 2)]
    # a repeated id sends the read back to the serial reader, which ledgers the repeat where it occurs
    assert modes == ["serial", "serial" if dup else "parallel"]


@pytest.mark.parametrize("at", [0, 30])
def test_parallel_read_raises_the_serial_readers_error(tmp_path, at):
    """A bad line inside the format-detection window, or past it and the first chunks: same error, same line."""
    rows = (PKG / "mbpp.jsonl").read_text().splitlines()[:40]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows[:at] + ["{not json"] + rows[at:]) + "\n")
    msgs = []
    for w in (1, 2):
        with pytest.raises(Exception) as e:
            run_recipe(quick_recipe(src, stages=["python_syntax"], batch_size=6), output=tmp_path / f"w{w}",
                       workers=w)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1] and f"in.jsonl:{at + 1}: invalid JSON" in msgs[0], msgs


@pytest.mark.parametrize("dup", [False, True])
def test_serial_read_keeps_an_id_table_only_when_an_id_repeats(tmp_path, monkeypatch, dup):
    """The serial reader checks repeats by 8-byte id hashes; the table of ids (with positions, for the ledger)
    is built only on a second pass, when a repeat was seen."""
    import codecurate.pipeline.runner as runner_mod

    tables = []
    real = runner_mod.write_read_shard

    def spy(items, d, k, first_n, seen=None, *a, **kw):
        tables.append(seen is not None)
        return real(items, d, k, first_n, seen, *a, **kw)

    monkeypatch.setattr(runner_mod, "write_read_shard", spy)
    src = _tricky_jsonl(tmp_path / "in.jsonl", dup)
    res = run_recipe(quick_recipe(src, stages=["python_syntax"], batch_size=6, input={"on_error": "skip"}),
                     output=tmp_path / "w1", workers=1)
    assert any(tables) == dup and not all(tables)
    assert ("duplicate id" in {e["reason"] for e in res.ledger()}) == dup


def test_reason_keys_group_by_kind_not_by_record():
    """The stats' top-reasons table keys: numbers and quoted record ids folded, details after " (" dropped."""
    from codecurate.pipeline.runner import _reason_key

    ids = ["s1", "mbpp-17", "x y"]
    assert {_reason_key(f"deita: cosine similarity 0.9{k} > 0.9 to kept record {i!r} (score {k})")
            for k, i in enumerate(ids)} == {"deita: cosine similarity N > N to kept record '…'"}
    assert {_reason_key(f"minhash_dedup: near-duplicate (of {i}, cluster {k})") for k, i in enumerate(ids)} == {
        "minhash_dedup: near-duplicate"}
    assert _reason_key("static_clean: B307 use of eval") == "static_clean: B307 use of eval"


def test_recipe_built_in_python_names_its_stages_like_a_yaml_one(tmp_path):
    """A Recipe built from models (not from_dict) names each stage after its op, as the same recipe written
    as YAML does: its stage directories carry the op's name."""
    from codecurate.pipeline.recipe import InputSpec, StageSpec

    src = str(PKG / "mbpp.jsonl")
    built = Recipe(input=InputSpec(path=src), report=False, stages=[StageSpec(op="python_syntax")])
    assert built.stages[0].name == "python_syntax"
    parsed = Recipe.from_dict({"input": {"path": src}, "report": False, "stages": [{"op": "python_syntax"}]})
    assert parsed.stages[0].name == built.stages[0].name
    res = run_recipe(built, output=tmp_path / "run", workers=1)
    assert sorted(p.name for p in (res.run_dir / "stages").iterdir()) == ["00_read", "01_python_syntax"]
