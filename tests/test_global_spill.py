"""Global ops out of core (issue 19, item 1): map payloads are spilled per shard to the stage directory and
reduced from there, shard by shard. The decisions must equal the in-memory ``reduce`` over every payload."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

import codecurate.ops.dedup.minhash_dedup as mh
from codecurate.pipeline.recipe import Recipe
from codecurate.pipeline.registry import get_op
from codecurate.pipeline.runner import Runner
from codecurate.records import make_record

MBPP = Path(__file__).parents[1] / "src/codecurate/data/benchmarks/mbpp.jsonl"


def records():
    """The MBPP release plus copies a user's pool has: exact repeats and lightly edited solutions."""
    rows = [json.loads(line) for line in MBPP.read_text().splitlines()]
    rng = random.Random(3)
    recs = [make_record(f"mbpp-{r['task_id']}", instruction=r["text"], code=r["code"]) for r in rows]
    for k, r in enumerate(rng.sample(rows, 150)):
        code = r["code"] if k % 3 == 0 else r["code"].replace("    ", "  ") + "\n# checked\n"
        text = r["text"] if k % 2 == 0 else r["text"] + " Use a helper if needed."
        recs.insert(rng.randrange(len(recs)), make_record(f"copy-{k}", instruction=text, code=code))
    return recs


def spilled(op, recs, tmp: Path, shard: int):
    """Decisions through map_shard / reduce_shards, shard by shard, as the runner calls them."""
    paths, sizes = [], []
    for k in range(0, len(recs), shard):
        p = tmp / f"payload-{k:05d}"
        p.mkdir()
        op.map_shard(recs[k:k + shard], p)
        paths.append(p)
        sizes.append(len(recs[k:k + shard]))
    per_shard = list(op.reduce_shards(paths, sizes))
    assert [len(d) for d in per_shard] == sizes
    return [d for ds in per_shard for d in ds]


@pytest.mark.parametrize("params", [
    {"fields": ["code"]},
    {"fields": ["code"], "clustering": "components", "keep": "longest"},
    {"fields": ["instruction", "code"], "instruction_field": None, "instruction_weighting": "none"},
    {"fields": ["code"], "instruction_weighting": "none", "verify": False},
])
def test_minhash_spilled_equals_in_memory(tmp_path, monkeypatch, params):
    monkeypatch.setattr(mh, "OPEN_PARTS", 2)  # most shingle lookups reopen a shard's files
    recs = records()
    mem = get_op("minhash_dedup")(params, seed=5)
    expected = mem.reduce(mem.map_batch(recs))
    disk = get_op("minhash_dedup")(params, seed=5)
    got = spilled(disk, recs, tmp_path, 97)
    assert got == expected
    removed = sum(not d.keep for d in got)
    assert removed >= 50  # the planted copies are found (not a vacuous equality)
    assert disk.take_counters()["duplicates_removed"] == mem.take_counters()["duplicates_removed"] == removed


@pytest.mark.parametrize("params", [
    {"fields": ["code"]},
    {"fields": ["code"], "instruction_weighting": "none"},
    {"fields": ["code"], "instruction_field": None},
    {"fields": ["code"], "verify": False},
])
def test_minhash_star_batched_verification_equals_pair_by_pair(tmp_path, monkeypatch, params):
    """Star clustering verifies a kept record's neighbours in one vectorized call; the decisions (and the
    ledger's Jaccard / instruction similarity) equal those of ``_similar`` called pair by pair."""
    monkeypatch.setattr(mh, "OPEN_PARTS", 2)
    recs = records()
    (tmp_path / "fast").mkdir()
    (tmp_path / "slow").mkdir()
    fast = get_op("minhash_dedup")(params, seed=3)
    got = spilled(fast, recs, tmp_path / "fast", 61)

    def one_by_one(self, cols, i, js):
        res = [self._similar(cols, i, int(j)) for j in js]
        return (np.array([r[0] for r in res], dtype=bool), np.array([r[1] for r in res]),
                np.array([r[2] for r in res]))

    monkeypatch.setattr(mh.MinHashDedup, "_similar_many", one_by_one)
    slow = get_op("minhash_dedup")(params, seed=3)
    expected = spilled(slow, recs, tmp_path / "slow", 61)
    assert [(d.keep, d.reason, d.detail) for d in got] == [(d.keep, d.reason, d.detail) for d in expected]
    assert sum(not d.keep for d in got) >= 50
    fc, sc = fast.take_counters(), slow.take_counters()
    for key in ("verified_pairs", "rejected_pairs", "instruction_rejected_pairs", "code_only_rejected_pairs"):
        assert fc[key] == sc[key], key


def test_minhash_keep_score_spilled(tmp_path):
    recs = records()
    for i, r in enumerate(recs):
        if i % 4:
            r["stats"]["quality"] = (i * 37) % 11 / 10
    params = {"fields": ["code"], "keep": "score", "score_field": "stats.quality"}
    mem = get_op("minhash_dedup")(params)
    assert spilled(get_op("minhash_dedup")(params), recs, tmp_path, 200) == mem.reduce(mem.map_batch(recs))


@pytest.mark.parametrize("name,params", [("exact_dedup", {"fields": ["code"]}),
                                         ("random_select", {"fraction": 0.3})])
def test_other_global_ops_spilled_equal_in_memory(tmp_path, name, params):
    recs = records()
    mem = get_op(name)(params, seed=9)
    got = spilled(get_op(name)(params, seed=9), recs, tmp_path, 128)
    assert got == mem.reduce(mem.map_batch(recs))
    assert 0 < sum(not d.keep for d in got) < len(recs)


def test_runner_spills_and_cleans_up(tmp_path):
    """Through the runner with 2 workers and 12 shards: the ledger equals the in-memory decisions, the counts
    add up, and no payload or decision file is left in the stage directories."""
    recs = records()
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    recipe = Recipe.from_dict({
        "name": "spill", "input": {"path": str(src)}, "batch_size": 100, "seed": 1,
        "stages": [{"op": "exact_dedup", "fields": ["code"]}, {"op": "minhash_dedup", "fields": ["code"]}]})
    res = Runner(recipe, output=tmp_path / "run", workers=2, progress=False).run()
    ex = get_op("exact_dedup")({"fields": ["code"]}, seed=1)
    ex_dec = ex.reduce(ex.map_batch(recs))
    after = [r for r, d in zip(recs, ex_dec) if d.keep]
    mh_op = get_op("minhash_dedup")({"fields": ["code"]}, seed=1)
    mh_dec = mh_op.reduce(mh_op.map_batch(after))
    want = {r["id"]: d.reason for r, d in zip(recs, ex_dec) if not d.keep}
    want.update({r["id"]: d.reason for r, d in zip(after, mh_dec) if not d.keep})
    got = {e["id"]: e["reason"] for e in res.ledger()}
    assert got == want and len(want) > 50
    assert [r["id"] for r in res.records()] == [r["id"] for r, d in zip(after, mh_dec) if d.keep]
    left = [p.name for p in (tmp_path / "run" / "stages").rglob("*") if p.name.startswith(("payload-", "decisions-"))]
    assert left == []
    # the stage's drop reasons group by kind, not by the kept record's id (one key per stage, however many ids)
    for stage, key in (("01_exact_dedup", "exact_dedup: duplicate"), ("02_minhash_dedup", "minhash_dedup: near-duplicate")):
        reasons = json.loads((tmp_path / "run" / "stages" / stage / "stats.json").read_text())["reasons"]
        assert list(reasons) == [key] and reasons[key] > 10, reasons
