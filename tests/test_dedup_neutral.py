"""minhash_dedup beyond renamed copies: formatter output, docstring edits, banding for recall, and the
instruction view that keeps same-shaped code for different tasks apart. Real MBPP / HumanEval code (package
data); the formatter is the real ``ruff format`` (the ``clean`` extra)."""

import ast
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codecurate.code.tokens import batch_shingle_pairs, group_unique
from codecurate.ops.dedup.lsh import candidate_probability, jaccard_sorted, recall_bands_rows
from codecurate.ops.dedup.minhash_dedup import MinHashDedup, MinHashDedupConfig
from codecurate.ops.dedup.shingles import dedup_shingle_pairs, normalized_tokens
from codecurate.records import make_record

DATA = Path(__file__).parents[1] / "src/codecurate/data/benchmarks"


def mbpp():
    with open(DATA / "mbpp.jsonl") as f:
        return [json.loads(line) for line in f]


def shingle_sets(texts, **options):
    rec, h = dedup_shingle_pairs(texts, 5, identifiers="local", **options)
    flat, off = group_unique(rec, h, len(texts))
    return [np.sort(flat[off[i]:off[i + 1]]) for i in range(len(texts))]


def run(op, records):
    decisions = op.reduce(op.map_batch(records[: len(records) // 2]) + op.map_batch(records[len(records) // 2:]))
    return {r["id"]: d for r, d in zip(records, decisions)}


def test_every_option_keep_gives_the_tokens_module_shingles():
    codes = [r["code"] for r in mbpp()[:300]]
    for mode in ("keep", "local", "placeholder", "index"):
        a = batch_shingle_pairs(codes, 5, identifiers=mode)
        b = dedup_shingle_pairs(codes, 5, identifiers=mode)
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), mode


def test_format_tokens_and_docstrings_dropped_where_formatters_and_comments_touch():
    toks = normalized_tokens("f((a), b,)", format_tokens="drop")
    assert toks == ["f", "(", "a", ",", "b", ")"]  # call parens stay, grouping parens and trailing comma go
    code = ('def f(x):\n    """Doc."""\n    return (x + 1);\n'
            'class A(B):\n    "class doc"\n    y = {"a": "b"}\n    z = [1, 2,]\n    w = x \\\n        + 1\n')
    toks = normalized_tokens(code, docstrings="drop", format_tokens="drop")
    assert '"""Doc."""' not in toks and '"class doc"' not in toks
    assert toks.count('"a"') == 1 and toks.count('"b"') == 1  # a dict value after ":" is not a docstring
    assert ";" not in toks and "\\" not in toks
    assert toks[toks.index("return"):toks.index("return") + 4] == ["return", "x", "+", "1"]
    assert ["z", "=", "[", "1", ",", "2", "]"] == toks[toks.index("z"):toks.index("z") + 7]
    # nothing is dropped in keep mode
    assert normalized_tokens(code) == normalized_tokens(code, docstrings="keep", format_tokens="keep")
    assert '"""Doc."""' in normalized_tokens(code)


@pytest.fixture(scope="module")
def ruff_formatted(tmp_path_factory):
    """The first 300 MBPP solutions and ``ruff format`` of them with single quotes and 40-column lines (so
    quotes flip, long calls wrap with trailing commas, and grouping parentheses appear)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff (the clean extra) is needed"
    codes = [r["code"] for r in mbpp()[:300]]
    d = tmp_path_factory.mktemp("ruff")
    for i, c in enumerate(codes):
        (d / f"c{i}.py").write_text(c)
    subprocess.run([ruff, "format", "--no-cache", "--isolated", "--config", "format.quote-style='single'",
                    "--config", "line-length=40", str(d)], check=True, capture_output=True)
    out = [(d / f"c{i}.py").read_text() for i in range(len(codes))]
    changed = [i for i in range(len(codes)) if " ".join(out[i].split()) != " ".join(codes[i].split())]
    assert len(changed) > 200
    return [codes[i] for i in changed], [out[i] for i in changed]


def test_formatter_copies_keep_their_shingles(ruff_formatted):
    orig, formatted = ruff_formatted

    def jaccards(**options):
        return np.array([jaccard_sorted(a, b) for a, b in zip(shingle_sets(orig, **options),
                                                                shingle_sets(formatted, **options))])

    raw = jaccards()
    norm = jaccards(literals="quotes", format_tokens="drop", docstrings="drop")
    assert (raw == 1).mean() < 0.6 and (raw < 0.65).mean() > 0.2  # as written, many copies fall below 0.65
    assert (norm == 1).mean() > 0.95 and (norm >= 0.65).all()
    # and the op with its defaults removes every formatted copy
    recs = [make_record(f"o{i}", code=c) for i, c in enumerate(orig)]
    recs += [make_record(f"f{i}", code=c) for i, c in enumerate(formatted)]
    dec = run(MinHashDedup({}, seed=3), recs)
    assert all(not dec[f"f{i}"].keep or not dec[f"o{i}"].keep for i in range(len(orig)))


def strip_docstrings(code: str) -> str:
    tree = ast.parse(code)
    spans = [(n.body[0].lineno - 1, n.body[0].end_lineno) for n in ast.walk(tree)
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module))
             and ast.get_docstring(n) is not None]
    lines = code.splitlines()
    for a, b in sorted(spans, reverse=True):
        del lines[a:b]
    return "\n".join(lines)


def test_removing_docstrings_changes_nothing_with_docstrings_drop():
    with gzip.open(DATA / "HumanEval.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    code = [r["prompt"] + r["canonical_solution"] for r in rows]
    bare = [strip_docstrings(c) for c in code]
    same = [np.array_equal(a, b) for a, b in zip(shingle_sets(code, docstrings="drop"),
                                                 shingle_sets(bare, docstrings="drop"))]
    assert all(same)
    kept = np.array([jaccard_sorted(a, b) for a, b in zip(shingle_sets(code), shingle_sets(bare))])
    assert (kept < 1).mean() > 0.95 and (kept < 0.65).mean() > 0.1  # as written, the docstring counts


def test_banding_catches_pairs_at_the_threshold():
    for t in (0.6, 0.65, 0.7, 0.8, 0.85):
        b, r = recall_bands_rows(t, 256, 0.95)
        assert b * r <= 256 and candidate_probability(t, b, r) >= 0.95
        # one more row per band (fewer candidates) would miss the target
        assert candidate_probability(t, 256 // (r + 1), r + 1) < 0.95
    op = MinHashDedup({})
    op.ensure_setup()
    assert (op.bands, op.rows) == recall_bands_rows(MinHashDedupConfig().threshold, 256, 0.95)
    op = MinHashDedup({"lsh_recall": None, "threshold": 0.7})
    op.ensure_setup()
    assert (op.bands, op.rows) == (25, 10)  # text-dedup's optimum, P(candidate | J=0.7) only ~0.51
    assert candidate_probability(0.7, 25, 10) < 0.6


# MBPP tasks whose solutions are the same code after renaming but solve different tasks
SAME_SHAPE = [(17, 716), (458, 52), (703, 405)]  # square / rombus perimeter, rectangle / parallelogram area, ...


def test_instruction_view_keeps_same_shape_different_tasks_apart():
    rows = mbpp()
    recs = [make_record(f"mbpp-{r['task_id']}", instruction=r["text"], code=r["code"]) for r in rows]
    default = run(MinHashDedup({}), recs)
    code_only = run(MinHashDedup({"instruction_field": None}), recs)
    for a, b in SAME_SHAPE:
        assert default[f"mbpp-{a}"].keep and default[f"mbpp-{b}"].keep
        assert not (code_only[f"mbpp-{a}"].keep and code_only[f"mbpp-{b}"].keep)
    removed = [d for d in default.values() if not d.keep]
    assert 0 < len(removed) < sum(not d.keep for d in code_only.values())
    assert all(d.detail["instruction_similarity"] >= 0.5 for d in removed)
    # a copy whose instruction is re-templated is still a duplicate; plain word Jaccard would not do for the
    # different tasks (square vs rombus share 8 of 10 words)
    op = MinHashDedup({"instruction_weighting": "none"})
    plain = run(op, recs)
    assert not (plain["mbpp-17"].keep and plain["mbpp-716"].keep)


def test_instruction_view_accepts_reworded_copies():
    rows = mbpp()[:400]
    recs = [make_record(f"mbpp-{r['task_id']}", instruction=r["text"], code=r["code"]) for r in rows]
    templates = ["Task: {}", "Write Python code for the following.\n{}", "{}\nAnswer in Python.", "{}"]
    copies = {}
    for k, r in enumerate(rows[:120]):
        text = templates[k % len(templates)].format(r["text"].rstrip("."))
        recs.append(make_record(f"copy-{r['task_id']}", instruction=text, code=r["code"] + "\n# copied\n"))
        copies[f"copy-{r['task_id']}"] = f"mbpp-{r['task_id']}"
    dec = run(MinHashDedup({}), recs)
    found = [c for c, o in copies.items() if not dec[c].keep or not dec[o].keep]
    assert len(found) == len(copies)
    sims = [dec[c].detail["instruction_similarity"] for c in copies if not dec[c].keep]
    assert min(sims) >= 0.5 and max(sims) == 1.0


def test_no_instruction_means_no_instruction_check():
    rows = mbpp()
    a, b = rows[16], rows[715]  # square / rombus perimeter
    recs = [make_record("a", code=a["code"]), make_record("b", instruction=b["text"], code=b["code"])]
    dec = run(MinHashDedup({}), recs)
    assert not dec["b"].keep and dec["b"].detail["instruction_similarity"] is None


def test_new_config_errors():
    with pytest.raises(ValueError, match="lsh_recall"):
        MinHashDedup({"lsh_recall": 1.5})
    with pytest.raises(ValueError, match="instruction_threshold"):
        MinHashDedup({"instruction_threshold": 2})
    with pytest.raises(ValueError):
        MinHashDedup({"literals": "strings"})
    with pytest.raises(ValueError, match="recall"):
        recall_bands_rows(0.7, 256, 1.0)


def _edit_first_number(code: str) -> str:
    import re

    m = re.search(r"\b(\d+)\b", code)
    return code[:m.start()] + str(int(m.group(1)) + 1) + code[m.end():]


def test_pairs_without_an_instruction_check_need_the_stricter_code_threshold():
    # a one-number edit of MBPP task 6 keeps code Jaccard in [0.65, 0.7): a duplicate when the instructions
    # agree (threshold 0.65), not when code alone has to decide (code_only_threshold 0.7)
    row = next(r for r in mbpp() if r["task_id"] == 6)
    edited = _edit_first_number(row["code"])
    op = MinHashDedup({})
    jac = jaccard_sorted(op.record_shingles(make_record("a", code=row["code"])),
                         op.record_shingles(make_record("b", code=edited)))
    assert 0.65 <= jac < 0.7
    background = [make_record(f"mbpp-{r['task_id']}", instruction=r["text"], code=r["code"]) for r in mbpp()[100:400]]
    with_instr = [make_record("a", instruction=row["text"], code=row["code"]),
                  make_record("b", instruction=row["text"], code=edited)] + background
    code_only = [make_record("a", code=row["code"]), make_record("b", code=edited)]
    assert not run(MinHashDedup({}), with_instr)["b"].keep
    op = MinHashDedup({})
    assert run(op, code_only)["b"].keep and op.take_counters()["code_only_rejected_pairs"] == 1
    assert not run(MinHashDedup({"code_only_threshold": None}), code_only)["b"].keep
    with pytest.raises(ValueError, match="code_only_threshold"):
        MinHashDedup({"code_only_threshold": 0})


def test_signatures_and_jaccard_equal_their_definitions_on_real_code():
    # signatures are computed chunk by chunk in one reused buffer: each record's row must be the plain
    # definition min_s ((a * s + b) mod 2**64) >> 32, for records smaller and larger than a chunk and empty ones
    from codecurate.ops.dedup.lsh import permutations, signatures

    codes = [r["code"] for r in mbpp()[:120]]
    codes[3] = codes[7] = ""
    codes[10] = "\n".join(codes[:40])  # a record larger than the chunk below
    sets = shingle_sets(codes)
    flat = np.concatenate(sets)
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in sets])))
    a, b = permutations(64, 7)
    sig = signatures(flat, offsets, a, b, chunk=256)
    assert sig.shape == (len(codes), 64) and sig.dtype == np.uint32
    for i, s in enumerate(sets):
        if len(s) == 0:
            assert (sig[i] == 0xFFFFFFFF).all()
            continue
        with np.errstate(over="ignore"):
            ref = ((a[:, None] * s[None, :] + b[:, None]) >> np.uint64(32)).min(axis=1)
        assert np.array_equal(sig[i], ref.astype(np.uint32)), i
    assert np.array_equal(signatures(flat, offsets, a, b), sig)  # the chunk size changes nothing
    # exact Jaccard of unique sets, any order
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, len(sets), size=(200, 2)).tolist():
        x, y = set(sets[i].tolist()), set(sets[j].tolist())
        ref = 1.0 if not x | y else len(x & y) / len(x | y)
        assert jaccard_sorted(rng.permutation(sets[i]), sets[j]) == ref
