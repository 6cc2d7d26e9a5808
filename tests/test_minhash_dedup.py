"""minhash_dedup on real MBPP code with planted near-duplicates (renamed identifiers + reformatting)."""

import ast
import io
import json
import random
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

from codecurate.code.tokens import shingle_set
from codecurate.ops.dedup.lsh import optimal_bands_rows
from codecurate.ops.dedup.minhash_dedup import MinHashDedup, MinHashDedupConfig
from codecurate.pipeline.registry import get_op
from codecurate.records import make_record

MBPP = Path(__file__).parents[1] / "src/codecurate/data/benchmarks/mbpp.jsonl"


def load_mbpp():
    with open(MBPP) as f:
        return [json.loads(line) for line in f]


def rename_and_reformat(code: str, rng: random.Random) -> str | None:
    """Rename 1-3 locally bound identifiers (exact token spans) and re-indent 4->2 spaces, add trailing
    spaces and blank lines."""
    tree = ast.parse(code)
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                   | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
                   | {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)})
    if not names:
        return None
    mapping = {n: n + "_renamed" for n in rng.sample(names, min(len(names), rng.randint(1, 3)))}
    lines = code.splitlines(keepends=True)
    edits = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
             if t.type == tokenize.NAME and t.string in mapping]
    for t in reversed(edits):
        (r, c0), (_, c1) = t.start, t.end
        lines[r - 1] = lines[r - 1][:c0] + mapping[t.string] + lines[r - 1][c1:]
    out = []
    for line in "".join(lines).split("\n"):
        line = re.sub(r"^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), line)
        out.append(line + "  " if rng.random() < 0.3 else line)
        if rng.random() < 0.2:
            out.append("")
    return "\n".join(out)


@pytest.fixture(scope="module")
def planted():
    rng = random.Random(7)
    rows = load_mbpp()[:400]
    recs = [make_record(f"mbpp-{r['task_id']}", instruction=r["text"], code=r["code"]) for r in rows]
    dups = {}
    for r in rows[:150]:
        nd = rename_and_reformat(r["code"], rng)
        if nd is not None and nd != r["code"]:
            dups[f"dup-{r['task_id']}"] = f"mbpp-{r['task_id']}"
            recs.append(make_record(f"dup-{r['task_id']}", instruction=r["text"], code=nd))
    return recs, dups


def run(op, records):
    decisions = op.reduce(op.map_batch(records[: len(records) // 2]) + op.map_batch(records[len(records) // 2:]))
    return {r["id"]: d for r, d in zip(records, decisions)}


def test_planted_near_duplicates_are_found_with_cluster_and_representative(planted):
    recs, dups = planted
    dec = run(MinHashDedup({"fields": ["code"]}, seed=1), recs)
    found = [d for d in dups if not dec[d].keep]
    assert len(found) >= 0.95 * len(dups)
    for dup_id in found:
        d = dec[dup_id]
        orig = dec[dups[dup_id]]
        assert d.detail["cluster"] == d.stats["dup_cluster"] == orig.stats["dup_cluster"]
        assert d.detail["kept"] in d.reason and str(d.detail["cluster"]) in d.reason
        assert d.detail["jaccard"] >= 0.7
        # keep rule "first": the original precedes its copy, so it is kept unless MBPP itself holds an
        # earlier near-copy of it (then that earlier record is the representative)
        if orig.keep:
            assert d.detail["kept"] == dups[dup_id]
        else:
            assert int(d.detail["kept"].split("-")[1]) < int(dups[dup_id].split("-")[1])


def test_code_aware_shingles_beat_raw_tokens_on_renamed_copies(planted):
    recs, dups = planted
    raw = run(MinHashDedup({"identifiers": "keep"}), recs)
    aware = run(MinHashDedup({"identifiers": "placeholder"}), recs)
    assert sum(not aware[d].keep for d in dups) > sum(not raw[d].keep for d in dups)


def test_distinct_records_are_not_merged(planted):
    recs, _dups = planted
    originals = [r for r in recs if r["id"].startswith("mbpp-")]
    dec = run(MinHashDedup({"identifiers": "keep"}), originals)
    removed = [i for i, d in dec.items() if not d.keep]
    # MBPP has a few genuine near-copies among its 400 first solutions; every removal must be verified at the
    # threshold (0.65 since the neutral benchmark picked it; it was 0.85 and this test asserted 0.7)
    assert len(removed) < 0.05 * len(originals)
    assert all(dec[i].detail["jaccard"] >= MinHashDedupConfig().threshold for i in removed)


def test_verification_removes_false_positives(planted):
    recs, _ = planted
    # one band of one row: any two records sharing a min-hash become candidates (many false positives)
    loose = {"bands": 1, "rows": 1, "num_perm": 16}
    unverified = run(MinHashDedup({**loose, "verify": False}), recs)
    verified = run(MinHashDedup({**loose, "verify": True}), recs)
    op = MinHashDedup({**loose, "verify": True})
    run(op, recs)
    counters = op.take_counters()
    assert counters["rejected_pairs"] > 0
    n_unverified = sum(not d.keep for d in unverified.values())
    n_verified = sum(not d.keep for d in verified.values())
    assert n_verified < n_unverified
    assert all(d.detail["jaccard"] >= MinHashDedupConfig().threshold for d in verified.values() if not d.keep)


def test_keep_rules(planted):
    recs, dups = planted
    dup_id, orig_id = next(iter(dups.items()))
    pair = [r for r in recs if r["id"] in (dup_id, orig_id)]
    longest = run(MinHashDedup({"keep": "longest"}), pair)
    lengths = {r["id"]: len(r["code"]) for r in pair}
    kept = [i for i, d in longest.items() if d.keep]
    assert kept == [max(lengths, key=lengths.get)]
    pair[1]["stats"]["quality"] = 5.0
    pair[0]["stats"]["quality"] = 1.0
    scored = run(MinHashDedup({"keep": "score", "score_field": "stats.quality"}), pair)
    assert scored[pair[1]["id"]].keep and not scored[pair[0]["id"]].keep


def test_fields_and_empty_texts():
    recs = [make_record("a", instruction="Sort a list", code=""), make_record("b", instruction="Sort a list")]
    dec = run(MinHashDedup({"fields": ["code"]}), recs)
    assert all(d.keep for d in dec.values())  # empty code is never a duplicate
    dec = run(MinHashDedup({"fields": ["instruction", "code"]}), recs)
    assert not dec["b"].keep and dec["b"].detail["kept"] == "a"


def test_config_errors_and_registry():
    assert get_op("minhash_dedup") is MinHashDedup
    assert optimal_bands_rows(0.7, 256) == (25, 10)
    with pytest.raises(ValueError, match="bands and rows"):
        MinHashDedup({"bands": 4})
    with pytest.raises(ValueError, match="score_field"):
        MinHashDedup({"keep": "score"})
    with pytest.raises(ValueError, match="extra"):
        MinHashDedup({"treshold": 0.5})


def mbpp_by_id():
    return {r["task_id"]: r for r in load_mbpp()}


def test_structurally_identical_but_distinct_mbpp_solutions_are_kept():
    # min vs max length of sublists; tuple(set(..)) vs sum(list(..)) vs tuple(sorted(..)): same shape, different
    # programs. Placeholders with builtins normalized (the old default) merge them; local names + builtins do not.
    rows = mbpp_by_id()
    recs = [make_record(f"mbpp-{t}", code=rows[t]["code"]) for t in (95, 562, 193, 514, 341)]
    default = run(MinHashDedup({}), recs)
    assert all(d.keep for d in default.values())
    loose = run(MinHashDedup({"identifiers": "placeholder", "keep_builtins": False, "threshold": 0.7,
                              "clustering": "components"}), recs)
    assert sum(not d.keep for d in loose.values()) >= 2


def test_star_clustering_removes_only_near_duplicates_of_kept_records():
    # A, B = A + one more function, C = B + another: J(A,B) and J(B,C) pass the threshold, J(A,C) does not
    rows = mbpp_by_id()
    a = rows[493]["code"]
    b = a + "\n" + rows[3]["code"]
    c = b + "\n" + rows[202]["code"]
    sets = [shingle_set(t, identifiers="local") for t in (a, b, c)]

    def jac(x, y):
        inter = len(np.intersect1d(x, y))
        return inter / (len(x) + len(y) - inter)

    assert jac(sets[0], sets[1]) >= 0.75 and jac(sets[1], sets[2]) >= 0.75 and jac(sets[0], sets[2]) < 0.75
    recs = [make_record(i, code=t) for i, t in (("a", a), ("b", b), ("c", c))]
    params = {"threshold": 0.75, "num_perm": 16, "bands": 16, "rows": 1}  # every pair becomes a candidate
    star = run(MinHashDedup(params), recs)
    assert [star[i].keep for i in "abc"] == [True, False, True]
    assert star["b"].detail["kept"] == "a" and star["b"].detail["jaccard"] >= 0.75
    comp = run(MinHashDedup({**params, "clustering": "components"}), recs)
    assert [comp[i].keep for i in "abc"] == [True, False, False]
    assert comp["c"].detail["kept"] == "a" and comp["c"].detail["cluster_size"] == 3


def test_batch_split_does_not_change_decisions(planted):
    # map_batch runs per shard in worker processes: the split must not matter
    recs, _ = planted
    op = MinHashDedup({})
    one = op.reduce(op.map_batch(recs))
    many = op.reduce([p for k in range(0, len(recs), 37) for p in op.map_batch(recs[k:k + 37])])
    assert [d.keep for d in one] == [d.keep for d in many]
    assert [d.detail for d in one] == [d.detail for d in many]


def test_candidate_pairs_equal_brute_force_across_bands():
    """Every pair sharing a key in some band, each once, whatever band found it first (pairs found by many
    bands are merged across the sorted chunks), and a huge bucket bounded by its leaders."""
    from codecurate.ops.dedup.lsh import candidate_pairs

    rng = np.random.default_rng(0)
    n, bands = 1500, 20
    keys = rng.integers(0, 400, size=(n, bands)).astype(np.uint64)  # ~3.75 records per bucket per band
    keys[100:110] = keys[50]  # ten copies of one record share every band
    got = candidate_pairs(keys, window=10_000)
    want = set()
    for j in range(bands):
        buckets: dict[int, list[int]] = {}
        for i, k in enumerate(keys[:, j].tolist()):
            buckets.setdefault(k, []).append(i)
        for members in buckets.values():
            want.update((a, b) for x, a in enumerate(members) for b in members[x + 1:])
    assert [tuple(p) for p in got.tolist()] == sorted(want)
    valid = np.ones(n, dtype=bool)
    valid[::3] = False
    sub = candidate_pairs(keys, valid, window=10_000)
    assert [tuple(p) for p in sub.tolist()] == sorted(p for p in want if valid[p[0]] and valid[p[1]])
    one = np.zeros((n, 2), dtype=np.uint64)  # everything in one bucket: each record meets the first 5 (leaders)
    pairs = candidate_pairs(one, window=5)
    assert len(pairs) == sum(min(5, p) for p in range(n)) and set(pairs[:, 0].tolist()) == set(range(5))


def test_star_removes_every_near_copy_in_a_bucket_larger_than_the_leader_window():
    """600 near-copies of one function (7 variants): every member of the huge buckets meets the bucket's first
    records, so star keeps one record, as connected components do."""
    code = ('def area(width, height):\n    """Area of a rectangle."""\n    if width < 0 or height < 0:\n'
            '        raise ValueError("negative size")\n    result = width * height\n    return result + {k} - {k}\n')
    recs = [make_record(f"r{k}", instruction="Write a function for the area of a rectangle.",
                        code=code.format(k=k % 7)) for k in range(600)]
    for clustering in ("star", "components"):
        op = MinHashDedup({"fields": ["code"], "clustering": clustering, "max_bucket_leaders": 16})
        dec = op.reduce(op.map_batch(recs))
        assert [d.keep for d in dec].count(True) == 1 and dec[0].keep, clustering
