"""The CLI verbs as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from codecurate.cli import app

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_quickstart_run_and_show(tmp_path):
    res = runner.invoke(app, ["run", str(ROOT / "recipes" / "quickstart.yaml"), "-o", str(tmp_path / "q"), "-w", "1"])
    assert res.exit_code == 0, res.output
    assert "quickstart: 974 records in" in res.output
    summary = json.loads((tmp_path / "q" / "summary.json").read_text())
    assert summary["records_out"] == len((tmp_path / "q" / "output" / "curated.jsonl").read_text().splitlines())
    show = runner.invoke(app, ["show", str(tmp_path / "q")])
    assert show.exit_code == 0 and "top drop reasons" in show.output and "exact_dedup: duplicate" in show.output


def test_ops_lists_and_shows_parameters():
    res = runner.invoke(app, ["ops"])
    assert res.exit_code == 0
    for name in ("extract_code", "python_syntax", "length", "exact_dedup", "random_select"):
        assert name in res.output
    one = runner.invoke(app, ["ops", "length"])
    assert one.exit_code == 0 and "unit" in one.output and "'chars'" in one.output
    bad = runner.invoke(app, ["ops", "lenght"])
    assert bad.exit_code == 2 and "Did you mean length" in bad.output


def test_convert_and_errors(tmp_path):
    out = tmp_path / "ca.parquet"
    res = runner.invoke(app, ["convert", str(DATA / "code_alpaca_300.json"), str(out), "--to", "messages"])
    assert res.exit_code == 0 and "wrote 300 records" in res.output
    res = runner.invoke(app, ["convert", str(DATA / "nope.json"), str(out)])
    assert res.exit_code == 2 and "no such file" in res.output
    res = runner.invoke(app, ["convert", str(DATA / "code_alpaca_300.json"), str(out), "--to", "xml"])
    assert res.exit_code == 2 and "valid:" in res.output
    bad = tmp_path / "r.yaml"
    bad.write_text("input: {path: x.jsonl}\nstages:\n  - op: length\n    maxx: 1\n")
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 2 and "stages[0]" in res.output and "maxx" in res.output


def test_import_and_data_ops_work_without_torch(tmp_path):
    """`import codecurate` and the model-free chain must not need torch (blocked in a subprocess)."""
    code = f"""
import sys
sys.modules['torch'] = None  # any `import torch` now raises ImportError
import codecurate as cc
from codecurate.pipeline.registry import all_ops
all_ops()
r = cc.run_recipe({str(ROOT / 'recipes' / 'quickstart.yaml')!r}, output={str(tmp_path / 'nt')!r}, workers=1)
print(sum(1 for _ in r.records()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 500
