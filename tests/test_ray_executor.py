"""The Ray executor runs the same shard tasks as the local pool: same bytes out, on real MBPP."""

import json
from pathlib import Path

import pytest

from codecurate.pipeline.recipe import Recipe, RecipeError
from codecurate.pipeline.runner import Runner, run_recipe

PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"


def recipe(**kw):
    return Recipe.from_dict({
        "name": "t", "input": {"path": str(PKG / "mbpp.jsonl")}, "batch_size": 200,
        "stages": [
            {"op": "extract_code", "overwrite": False},
            "python_syntax",
            {"op": "length", "field": "code", "min": 40, "max": 1500},
            {"op": "exact_dedup", "fields": ["code"]},     # global: map on Ray, reduce here
            {"op": "minhash_dedup", "fields": ["code"]},   # global, with per-record payloads
            {"op": "random_select", "fraction": 0.8},
        ], **kw})


def data_bytes(run_dir: Path) -> dict[str, bytes]:
    files = sorted(run_dir.glob("stages/*/data-*.parquet")) + sorted(run_dir.glob("stages/*/ledger-*.parquet"))
    files += sorted((run_dir / "output").iterdir())
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in files}


def test_unknown_executor_is_named():
    with pytest.raises(RecipeError, match="'spark' is not an executor; valid: local, ray"):
        Runner(recipe(), executor="spark")
    with pytest.raises(ValueError, match="executor"):
        recipe(executor="spark")


def test_ray_output_is_byte_identical_to_local(tmp_path):
    pytest.importorskip("ray")
    local = run_recipe(recipe(), output=tmp_path / "local", workers=2)
    ray_run = run_recipe(recipe(executor="ray"), output=tmp_path / "ray", workers=2)
    a, b = data_bytes(local.run_dir), data_bytes(ray_run.run_dir)
    assert len(a) > 12 and a == b
    summary = json.loads((ray_run.run_dir / "summary.json").read_text())
    assert summary["executor"] == "ray" and summary["records_in"] == 974
    assert summary["records_out"] == sum(1 for _ in local.records())
    import ray

    assert not ray.is_initialized()  # the executor shut down the local cluster it started


def test_model_op_runs_on_a_model_actor_with_local_parity(tmp_path):
    """An op that needs a model (ifd_score, a tiny model built here, loaded with from_pretrained) runs on one
    model actor on a GPU-less Ray cluster (the model loaded once for all shards), a CPU op on Ray tasks, and the
    bytes equal the local run's."""
    pytest.importorskip("ray")
    from codecurate.io import read_records
    from codecurate.training.tiny import build_tiny_model

    recs = list(read_records(str(PKG / "mbpp.jsonl")))[:60]
    model = build_tiny_model(tmp_path / "tiny", [r["instruction"] + r["code"] for r in recs], vocab_size=300)
    spec = {"name": "m", "input": {"path": str(PKG / "mbpp.jsonl")}, "batch_size": 200,
            "stages": [{"op": "random_select", "count": 60},
                       {"op": "ifd_score", "model": str(model), "batch_size": 8, "max_length": 256},
                       {"op": "length", "field": "code", "min": 1, "max": 100000}]}
    local = run_recipe(Recipe.from_dict(spec), output=tmp_path / "local", workers=2)
    runner = Runner(Recipe.from_dict({**spec, "executor": "ray"}), output=tmp_path / "ray", workers=2,
                    progress=False)
    ray_run = runner.run()
    assert data_bytes(local.run_dir) == data_bytes(ray_run.run_dir)
    where = {p["fn"] + ":" + p["where"]: p for p in runner.executor.placements}
    assert where["run_shard_task:model_actors"]["actors"] == 1 and where["run_shard_task:model_actors"]["tasks"] == 5
    assert "run_shard_task:tasks" in where  # the length filter: plain CPU tasks
    m = json.loads((ray_run.run_dir / "stages" / "02_ifd_score" / "manifest.json").read_text())
    assert m["placement"] == "model"
