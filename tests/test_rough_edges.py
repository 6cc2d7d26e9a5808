"""The rough edges new users hit (issue 19), each on real data: rich markup, duplicate Alpaca columns,
unfenced answers, refactor's blank lines and placement, --version, parameter docs, --json, stage names,
missing inputs, the Python API example, shipped recipes, resume keys, and training output for LLaMA-Factory."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import codecurate
from codecurate.cli import app, op_parameters
from codecurate.io import read_records, write_records
from codecurate.pipeline.recipe import Recipe, RecipeError
from codecurate.pipeline.registry import get_op
from codecurate.pipeline.runner import run_recipe

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
PKG = ROOT / "src" / "codecurate" / "data" / "benchmarks"
runner = CliRunner()


def alpaca_rows(n=300):
    return json.loads((DATA / "code_alpaca_300.json").read_text())[:n]


def invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in res.output, res.output
    return res


# -- CLI basics --------------------------------------------------------------------------------------------
def test_version():
    res = invoke("--version")
    assert res.exit_code == 0 and res.output.strip() == f"codecurate {codecurate.__version__}"


def test_data_and_docs_are_never_read_as_markup(tmp_path):
    rows = alpaca_rows(40)
    rows[3]["instruction"] = "[INST] Write a [bold]loop[/bold] [/INST] in Python"  # llama chat tags in the data
    rows[3]["output"] = "x" * 600  # too long: dropped, so `show` prints it as a sample
    src = tmp_path / "in.json"
    src.write_text(json.dumps(rows))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: '[red]demo[/red]'\ninput: {{path: {src}}}\nstages:\n"
                      "  - {op: length, field: response, max: 500, name: '[bold]len'}\n")
    run = invoke("run", recipe, "-o", tmp_path / "run", "-w", "1")
    assert run.exit_code == 0 and "[red]demo[/red]" in run.output and "[bold]len" in run.output
    show = invoke("show", tmp_path / "run", "-n", "5")
    assert show.exit_code == 0
    assert "[INST] Write a [bold]loop[/bold] [/INST] in Python" in show.output
    ops_out = invoke("ops", "length").output
    assert "[min, max]" in ops_out and "codecurate[models]" in ops_out  # markup ate both before
    with pytest.raises(RecipeError, match=r"stages\[0\].name '\[/len\]'"):  # it would become two directories
        Recipe.from_dict({"input": {"path": str(src)}, "stages": [{"op": "length", "name": "[/len]"}]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {path: '/no/such/[/dir]/x.jsonl'}\nstages: [python_syntax]\n")
    err = invoke("run", bad)
    assert err.exit_code == 2 and "/no/such/[/dir]/x.jsonl" in err.output


def test_ops_docs_once_descriptions_and_choices():
    out = invoke("ops", "decontaminate").output
    # class and module docstrings are the same text here: printed once (it was printed twice)
    first_line = (get_op("decontaminate").__doc__ or "").strip().splitlines()[0].strip()
    assert out.count(first_line[:60]) == 1
    params = {p["name"]: p for p in op_parameters(get_op("language_filter"))}
    assert params["python_check"]["choices"] == ["parse", "parse+detector"]
    assert params["python_check"]["type"] == "'parse' | 'parse+detector'"
    assert "Magika confidence" in params["min_score"]["description"]  # the comment next to the field
    refactor = op_parameters(get_op("refactor"))
    for name in ("refactor", "extract_code"):
        assert all(p["description"] for p in op_parameters(get_op(name))), name
    assert {p["name"]: p for p in refactor}["quote"]["choices"] == ["'", '"']
    table = invoke("ops", "language_filter").output
    assert "'parse+detector'" in table and "Magika" in table


def test_json_outputs(tmp_path):
    run = invoke("run", ROOT / "recipes" / "quickstart.yaml", "-o", tmp_path / "q", "-w", "1", "--json")
    assert run.exit_code == 0
    summary = json.loads(run.stdout)  # nothing but JSON on stdout (progress went to stderr)
    n_out = len((tmp_path / "q" / "output" / "curated.jsonl").read_text().splitlines())
    assert summary["records_out"] == n_out and summary["run_dir"] == str(tmp_path / "q")
    assert [s["stage"] for s in summary["stages"]][-1] == "random_select"
    show = json.loads(invoke("show", tmp_path / "q", "--json", "-n", "2").output)
    assert [s["dir"] for s in show["stages"]][:2] == ["00_read", "01_extract_code"]
    dedup = next(s for s in show["stages"] if s["stage"] == "exact_dedup")
    assert len(dedup["dropped_samples"]) == min(2, dedup["stats"]["counts"]["dropped"]) == 2
    assert all(d["reason"].startswith("exact_dedup: duplicate") for d in dedup["dropped_samples"])
    listing = json.loads(invoke("ops", "--json").output)
    assert {"extract_code", "minhash_dedup", "refactor"} <= {o["name"] for o in listing}
    one = json.loads(invoke("ops", "extract_code", "--json").output)
    assert one["version"] == get_op("extract_code").version
    assert {p["name"] for p in one["parameters"]} == set(get_op("extract_code").Config.model_fields)


def test_show_stage_by_directory_name_and_unknown_stage(tmp_path):
    run_recipe(ROOT / "recipes" / "quickstart.yaml", output=tmp_path / "q", workers=1)
    by_dir = invoke("show", tmp_path / "q", "--stage", "04_exact_dedup")
    by_name = invoke("show", tmp_path / "q", "--stage", "exact_dedup")
    assert by_dir.exit_code == 0 and "04_exact_dedup" in by_dir.output and "exact_dedup: duplicate" in by_dir.output
    assert by_dir.output == by_name.output
    assert "03_length" not in by_dir.output
    bad = invoke("show", tmp_path / "q", "--stage", "exact_dedupe")
    assert bad.exit_code == 2 and "no stage 'exact_dedupe'" in bad.output
    assert "exact_dedup (04_exact_dedup)" in bad.output and "read (00_read)" in bad.output


def test_decontam_report_on_a_missing_file(tmp_path):
    res = invoke("decontam-report", tmp_path / "nope.jsonl")
    assert res.exit_code == 2 and "nope.jsonl: no such file" in res.output


def test_shipped_recipes_run_from_package_data(tmp_path):
    """The wheel ships the recipes as package data (data/recipes links to recipes/); package:// finds them."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'codecurate = ["data/**/*"]' in pyproject
    shipped = ROOT / "src" / "codecurate" / "data" / "recipes"
    assert shipped.resolve() == (ROOT / "recipes").resolve()
    for name in ("quickstart", "dedup", "decontaminate", "study/cle", "study/ref"):
        r = Recipe.from_yaml(f"package://recipes/{name}.yaml")
        assert r.stages and r.input.path
    res = invoke("run", "package://recipes/quickstart.yaml", "-o", tmp_path / "q", "-w", "1", "-q")
    assert res.exit_code == 0 and "974 records in" in res.output
    bad = invoke("run", "package://recipes/quickstrat.yaml")
    assert bad.exit_code == 2 and "package://recipes/quickstart.yaml" in bad.output


def test_python_api_example_runs_as_a_script(tmp_path):
    """The README's Python API example, as a user would paste it into a script (the worker pool starts
    processes that import the script: the __main__ guard is what keeps it from running twice)."""
    script = tmp_path / "example.py"
    script.write_text('''import codecurate as cc

if __name__ == "__main__":  # the worker pool imports this script in its processes: keep the run under the guard
    records = list(cc.read_records("package://benchmarks/mbpp.jsonl"))  # canonical records, format auto-detected
    recipe = cc.Recipe.from_yaml("package://recipes/quickstart.yaml")   # or cc.Recipe.from_dict({...})
    run = cc.run_recipe(recipe, output="runs/demo", workers=2)          # resume=True to continue a killed run
    for rec in run.records():                                           # the curated records, in order
        print(rec["id"], rec["stats"])
    ledger = run.ledger()                                               # every record set aside: id, stage, op, reason
    cc.write_records(run.records(), "curated.jsonl", format="messages")  # rows TRL and LLaMA-Factory read
    print(len(records), len(ledger))
''')
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    n_in, n_ledger = map(int, lines[-1].split())
    assert n_in == 974 and n_in == len(lines) - 1 + n_ledger
    rows = [json.loads(x) for x in (tmp_path / "curated.jsonl").read_text().splitlines()]
    assert len(rows) == len(lines) - 1 and set(rows[0]) == {"id", "messages", "tests"}


# -- resume keys -------------------------------------------------------------------------------------------
def test_resume_recomputes_after_an_op_or_codecurate_upgrade(tmp_path, monkeypatch):
    recipe = Recipe.from_dict({"name": "t", "input": {"path": str(PKG / "mbpp.jsonl")}, "batch_size": 500,
                               "stages": [{"op": "extract_code", "overwrite": False}, "python_syntax",
                                          {"op": "length", "field": "code", "max": 1500}]})
    run_recipe(recipe, output=tmp_path / "r", workers=1)
    again = run_recipe(recipe, output=tmp_path / "r", workers=1, resume=True)
    assert all(r.skipped for r in again.reports)
    monkeypatch.setattr(get_op("python_syntax"), "version", get_op("python_syntax").version + 1)
    bumped = run_recipe(recipe, output=tmp_path / "r", workers=1, resume=True)
    assert [r.skipped for r in bumped.reports] == [True, True, False, False]  # that stage and what follows
    monkeypatch.setattr(codecurate, "__version__", codecurate.__version__ + ".post1")
    upgraded = run_recipe(recipe, output=tmp_path / "r", workers=1, resume=True)
    assert not any(r.skipped for r in upgraded.reports)


# -- Alpaca with the answer in two columns -------------------------------------------------------------------
def test_alpaca_copies_of_the_output_follow_the_rewrite(tmp_path):
    """Code Alpaca rows with a `response` column (a copy of `output`, as many Alpaca exports have) and a
    `prompt` column (the formatted example): refactor rewrites `output`, and every copy follows."""
    rows = alpaca_rows()
    for r in rows:
        r["response"] = r["output"]
        r["prompt"] = f"### Instruction:\n{r['instruction']}\n\n### Response:\n{r['output']}"
    rows[7]["response"] = "an answer that is not a copy of the output"
    src = tmp_path / "ca.json"
    src.write_text(json.dumps(rows))
    recipe = Recipe.from_dict({"name": "ca", "input": {"path": str(src)}, "output": {"format": "same"},
                               "stages": [{"op": "extract_code"},
                                          {"op": "refactor", "steps": ["autopep8"], "validate_tests": False}]})
    res = run_recipe(recipe, output=tmp_path / "run", workers=1)
    out = [json.loads(x) for x in res.output_path.read_text().splitlines()]
    assert len(out) == 300
    changed = [i for i, (o, r) in enumerate(zip(out, rows)) if o["output"] != r["output"]]
    assert len(changed) >= 20  # autopep8 rewrote real answers
    for i, (o, r) in enumerate(zip(out, rows)):
        assert set(o) == set(r)
        assert o["instruction"] == r["instruction"] and o["input"] == r["input"]
        if i == 7:
            assert o["response"] == r["response"]  # not a copy: left alone
        else:
            assert o["response"] == o["output"], i
        assert o["prompt"] == f"### Instruction:\n{r['instruction']}\n\n### Response:\n{o['output']}", i
    # read -> write without ops gives the rows back unchanged (the copies are only touched on a rewrite)
    write_records(read_records(src), tmp_path / "rt.jsonl", format="same")
    assert [json.loads(x) for x in (tmp_path / "rt.jsonl").read_text().splitlines()] == rows


# -- extract_code on unfenced answers -------------------------------------------------------------------------
def test_extract_code_fills_unfenced_non_python_answers_for_language_filter():
    recs = list(read_records(DATA / "code_alpaca_300.json"))
    unfenced = [r for r in recs if "```" not in r["response"] and r["response"].strip()]
    assert len(unfenced) >= 250
    filled = get_op("extract_code")({}).process([dict(r, code="") for r in unfenced]).kept
    assert all(r["code"] == r["response"].strip("\n") for r in filled)
    old = get_op("extract_code")({"unfenced": "python"}).process([dict(r, code="") for r in unfenced]).kept
    assert sum(1 for r in old if not r["code"]) >= 150  # the old rule: empty code for every non-Python answer
    lf = get_op("language_filter")({"languages": ["python", "javascript", "java", "sql", "html", "cpp", "c"]})
    res = lf.process(filled)
    labels = Counter(r["stats"]["language"]["label"] for r in res.kept + [d.record for d in res.dropped])
    assert labels["empty"] == 0
    assert labels["javascript"] >= 20 and labels["sql"] >= 10 and labels["java"] >= 5
    assert len(res.kept) >= 150
    assert all(r["language"] == "python" for r in filled if r["stats"]["language"]["label"] == "python")


# -- refactor ------------------------------------------------------------------------------------------------
def test_refactor_blank_line_only_changes_are_not_changes():
    from codecurate.ops.refactor.refactor import content_lines

    recs = [r for r in read_records(DATA / "code_alpaca_300.json") if r["code"]]
    before = {r["id"]: r["code"] for r in recs}
    res = get_op("refactor")({"validate_tests": False}).process([dict(r, stats={}) for r in recs])
    assert sum(v for k, v in res.counters.items() if k.startswith("blank_lines_only.")) >= 10
    n_changed = 0
    for r in res.kept:
        st = r["stats"]["refactor"]
        if "skipped" in st:
            continue
        differs = content_lines(r["code"]) != content_lines(before[r["id"]])
        assert st["changed"] == differs, r["id"]
        if not st["changed"]:
            assert r["code"] == before[r["id"]]  # a blank-line-only rewrite is not taken
        n_changed += st["changed"]
    assert 0 < n_changed == res.counters["changed"]


def test_refactor_runs_on_the_worker_pool(tmp_path):
    """With --workers 2 the refactor stage runs in the pool's processes (it ran in the main process before):
    the main process never imports the formatters, and the output equals the one-worker run."""
    code = f"""
import json, sys
from codecurate.pipeline.recipe import Recipe
from codecurate.pipeline.runner import run_recipe
r = Recipe.from_dict({{"name": "ref", "input": {{"path": {str(PKG / 'mbpp.jsonl')!r}, "limit": 120}},
                      "batch_size": 30, "stages": [{{"op": "refactor", "steps": ["autoflake", "autopep8"],
                                                    "validate_tests": False}}]}})
res = run_recipe(r, output=sys.argv[1], workers=int(sys.argv[2]))
m = json.loads(open(sys.argv[1] + "/stages/01_refactor/manifest.json").read())
print(json.dumps({{"workers": m["workers"], "autopep8_in_main": "autopep8" in sys.modules}}))
"""
    outs = {}
    for w in (2, 1):
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"w{w}"), str(w)], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        outs[w] = json.loads(p.stdout.strip().splitlines()[-1])
    assert outs[2] == {"workers": 2, "autopep8_in_main": False}
    assert outs[1] == {"workers": 1, "autopep8_in_main": True}
    data = {w: [f.read_bytes() for f in sorted((tmp_path / f"w{w}" / "stages" / "01_refactor").glob("data-*"))]
            for w in (1, 2)}
    assert len(data[1]) == 4 and data[1] == data[2]
    assert (tmp_path / "w1" / "output" / "curated.jsonl").read_bytes() == \
        (tmp_path / "w2" / "output" / "curated.jsonl").read_bytes()


# -- output for LLaMA-Factory / TRL ---------------------------------------------------------------------------
def _mixed_records():
    """Three real sources whose tests differ in shape: MBPP (assert: strings), CodeContests (stdio: objects),
    Code Alpaca (none), plus a multi-turn ShareGPT conversation with a system prompt."""
    mbpp = list(read_records(PKG / "mbpp.jsonl", limit=20))
    cc = list(read_records(DATA / "code_contests_20.jsonl", limit=10))
    ca = alpaca_rows(4)
    chat = {"id": "chat-0", "conversations": [{"from": "system", "value": "You write Python."}]}
    for r in ca:
        chat["conversations"] += [{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]
    return mbpp, cc, list(read_records(DATA / "code_alpaca_300.json", limit=20)), chat


def _check_llamafactory_rows(rows: list[dict], entry: dict) -> None:
    """What LLaMA-Factory's aligner requires of a dataset_info entry's rows (data/README.md): the mapped
    columns exist; sharegpt turns use the entry's tags, user turns at odd and assistant turns at even
    positions."""
    cols = entry["columns"]
    for row in rows:
        for c in cols.values():
            assert c in row, (c, row)
        if entry["formatting"] == "sharegpt":
            tags = entry["tags"]
            turns = row[cols["messages"]]
            if turns and turns[0][tags["role_tag"]] == tags["system_tag"]:
                turns = turns[1:]
            assert turns and len(turns) % 2 == 0
            for k, t in enumerate(turns):
                want = tags["user_tag"] if k % 2 == 0 else tags["assistant_tag"]
                assert t[tags["role_tag"]] == want and isinstance(t[tags["content_tag"]], str)
        else:
            assert isinstance(row["instruction"], str) and row["output"]


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_training_formats_have_one_schema_across_sources(tmp_path, fmt):
    from datasets import load_dataset

    mbpp, cc, ca, chat = _mixed_records()
    chat_path = tmp_path / "chat.jsonl"
    chat_path.write_text(json.dumps(chat) + "\n")
    chat_recs = list(read_records(chat_path))
    files = []
    for name, recs in (("mbpp", mbpp), ("cc", cc), ("ca", ca), ("chat", chat_recs)):
        files.append(tmp_path / f"{name}.{fmt}.jsonl")
        write_records(recs, files[-1], format=fmt)
    per_file = [[json.loads(x) for x in f.read_text().splitlines()] for f in files]
    rows = [r for rs in per_file for r in rs]
    keys = {frozenset(r) for r in rows}
    assert len(keys) == 1
    for r in rows:
        assert isinstance(r["tests"], str)  # one type whatever the source
    assert [json.loads(r["tests"]) for r in per_file[0]] == [r["tests"] for r in mbpp]
    assert [json.loads(r["tests"])["cases"] for r in per_file[1]] == [r["tests"]["cases"] for r in cc]
    assert all(json.loads(r["tests"]) is None for r in per_file[2])
    chat_row = per_file[3][0]
    # one dataset from all files: the json builder fails on columns whose type differs between files
    ds = load_dataset("json", data_files=[str(f) for f in files], split="train",
                      cache_dir=str(tmp_path / "hf"))
    assert len(ds) == len(rows)
    if fmt == "messages":
        assert chat_row["messages"][0] == {"role": "system", "content": "You write Python."}
        assert len(chat_row["messages"]) == 9
    elif fmt == "sharegpt":
        assert chat_row["system"] == "You write Python." and len(chat_row["conversations"]) == 8
    else:
        assert chat_row["system"] == "You write Python."  # one exchange per row: the first one
        assert [chat_row["instruction"], chat_row["output"]] == [t["value"] for t in chat["conversations"][1:3]]
    # read back: the training rows are valid input too, with the same instructions and tests
    back = list(read_records(files[0]))
    assert [b["instruction"] for b in back] == [r["instruction"] for r in mbpp]
    assert [b["tests"] for b in back] == [r["tests"] for r in mbpp]


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_run_writes_a_llamafactory_dataset_info_entry(tmp_path, fmt):
    recipe = Recipe.from_dict({"name": "mbpp_curated", "input": {"path": str(PKG / "mbpp.jsonl"), "limit": 50},
                               "output": {"format": fmt, "file": "train.jsonl"},
                               "stages": [{"op": "extract_code", "overwrite": False}, "python_syntax"]})
    res = run_recipe(recipe, output=tmp_path / "run", workers=1)
    info = json.loads((res.output_path.parent / "dataset_info.json").read_text())
    entry = info["mbpp_curated"]
    assert entry["file_name"] == "train.jsonl"
    assert (res.output_path.parent / entry["file_name"]).exists()
    rows = [json.loads(x) for x in res.output_path.read_text().splitlines()]
    assert len(rows) == res.summary["records_out"]
    _check_llamafactory_rows(rows, entry)


def test_unknown_output_format_fails_when_the_recipe_loads():
    with pytest.raises(RecipeError, match="unknown output format 'llama'.*sharegpt"):
        Recipe.from_dict({"input": {"path": "x.jsonl"}, "output": {"format": "llama"}})


def test_write_records_streams_in_batches_with_same_content(tmp_path):
    """write_records converts and writes a batch at a time (a generator is never listed whole) and gives the
    same rows as writing everything at once; Parquet takes records whose stats are all empty."""
    import gzip

    from codecurate.io import dumps, read_records, to_raw, write_records

    recs = list(read_records("package://benchmarks/mbpp.jsonl"))[:250]
    pulled = []

    def gen():
        for r in recs:
            pulled.append(r["id"])
            yield r

    rows = [to_raw(r, "messages") for r in recs]
    expect = "".join(dumps(r) + "\n" for r in rows).encode()
    assert write_records(gen(), tmp_path / "a.jsonl", format="messages", batch_rows=32) == 250
    assert (tmp_path / "a.jsonl").read_bytes() == expect and len(pulled) == 250
    write_records(iter(recs), tmp_path / "a.jsonl.gz", format="messages", batch_rows=32)
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == expect
    write_records(iter(recs), tmp_path / "a.json", format="messages", batch_rows=32)
    assert (tmp_path / "a.json").read_bytes() == json.dumps(rows, ensure_ascii=False, indent=1).encode() + b"\n"
    for fmt in ("messages", "codecurate"):
        write_records(iter(recs), tmp_path / f"{fmt}.parquet", format=fmt, batch_rows=32)
        back = list(read_records(str(tmp_path / f"{fmt}.parquet")))
        assert [b["id"] for b in back] == [r["id"] for r in recs]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
