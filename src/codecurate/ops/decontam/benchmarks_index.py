"""Benchmark test items to decontaminate against, and the indexes that make checking fast.

Shipped benchmarks (``codecurate/data/benchmarks``, see its SOURCE.md):

================  =================================  ====================  ====================================
name              file                               TLI test text         exact-substring strings
================  =================================  ====================  ====================================
humaneval         HumanEval.jsonl.gz                 ``prompt``            docstring of the prompt, canonical
                                                                           solution (BigCode benchmark_data)
humaneval_plus    HumanEvalPlus.jsonl.gz             ``prompt``            same
mbpp              mbpp.jsonl, task_id 11-510         ``text``              ``text``, ``code`` (BigCode)
mbpp_plus         MbppPlus.jsonl.gz                  ``prompt``            prompt without its quotes,
                                                                           canonical solution
livecodebench     lcb_release_v1_sample40.jsonl      ``question_content``  ``question_content``
                  (40 of release_v1's 400 problems)
bigcodebench      bigcodebench_hard_sample30.json    ``instruct_prompt``   ``instruct_prompt``, docstring of
                  (30 of the 148 Hard tasks)                               ``complete_prompt``, canonical solution
================  =================================  ====================  ====================================

The LiveCodeBench and BigCodeBench files shipped are *samples*; give the full exports (and APPS test, CodeContests
test, or your own files) as a ``BenchmarkSpec`` with a ``preset`` that names the fields (``PRESETS``) or with
explicit fields. XCoder's compute_TLI.py compares the *test* key (``prompt`` by default, the HumanEval field) with
the user turns of the training data; for MBPP the problem statement is ``text``.

Each item also carries ``semantic_texts``, the views the ``semantic`` detector embeds: the problem description
(a docstring or statement without its examples, doctests and notes, see ``describe``) and, for HumanEval, the
whole docstring.

Indexes:
- ``TLIIndex``: inverted index from each whitespace 4/5-gram (as a tuple, no hashing, so results are exact)
  to the array of test items containing it, so a training record costs O(its n-grams), not O(test items).
  With a reference document-frequency table (``load_reference_df``) and ``df_max``, n-grams that occur in at
  least ``df_max`` documents of ordinary instruction data are left out of every test item (numerator and
  denominator): the *discounted* TLI (ours, not XCoder's).
- ``SubstringIndex``: each benchmark string (lower-cased, whitespace runs collapsed) is filed under its
  longest *inner* token (tokens at the ends may be cut by the match boundary); a training text is checked
  only against strings whose anchor token it contains, with a C-level ``in`` test, so matches are exact.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from codecurate.code.tokens import whitespace_ngrams
from codecurate.io import read_rows

BUILTIN_BENCHMARKS = ("humaneval", "humaneval_plus", "mbpp", "mbpp_plus", "livecodebench", "bigcodebench")
MBPP_TEST_IDS = range(11, 511)  # google-research mbpp/README: 11-510 test, 1-10 few-shot, 511-600 validation
_WS = re.compile(r"\s+")
REFERENCE_DF_FILE = "instruction_ngram_df.json.gz"

# Field names of the common benchmark exports, for ``BenchmarkSpec(preset=...)``:
# (id field, TLI fields, substring fields, semantic fields)
PRESETS: dict[str, tuple[str | None, list[str], list[str], list[str]]] = {
    # APPS (codeparrot/apps test split): BigCode indexes APPS questions, not its 115k solutions
    "apps": ("problem_id", ["question"], ["question"], ["question"]),
    # CodeContests (deepmind/code_contests test split, or the rllm/CodeT subset in shared data)
    "code_contests": ("name", ["description"], ["description"], ["description"]),
    # LiveCodeBench code_generation_lite rows
    "livecodebench": ("question_id", ["question_content"], ["question_content"], ["question_content"]),
    # BigCodeBench (bigcode/bigcodebench export; a JSON object keyed by task_id also reads)
    "bigcodebench": ("task_id", ["instruct_prompt"], ["instruct_prompt", "complete_prompt", "canonical_solution"],
                     ["instruct_prompt"]),
    "humaneval": ("task_id", ["prompt"], ["prompt", "canonical_solution"], ["prompt"]),
    "mbpp": ("task_id", ["text"], ["text", "code"], ["text"]),
}


class BenchmarkSpec(BaseModel):
    """A user-supplied benchmark file (JSONL, JSON list or object keyed by id, .jsonl.gz, parquet).

    ``preset`` (one of ``PRESETS``: apps, code_contests, livecodebench, bigcodebench, humaneval, mbpp) fills
    the id and text fields the export of that benchmark uses; fields given explicitly win. Without a preset
    the text is ``prompt`` and items are numbered by row."""

    model_config = ConfigDict(extra="forbid")
    name: str
    path: str
    preset: Literal["apps", "code_contests", "livecodebench", "bigcodebench", "humaneval", "mbpp"] | None = None
    tli_fields: list[str] = ["prompt"]
    substring_fields: list[str] = ["prompt"]
    semantic_fields: list[str] | None = None  # None: the TLI fields
    id_field: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        if isinstance(data, dict) and data.get("preset"):
            if data["preset"] not in PRESETS:
                raise ValueError(f"unknown preset {data['preset']!r}; valid: {', '.join(PRESETS)}")
            id_field, tli, subs, sem = PRESETS[data["preset"]]
            data = {"id_field": id_field, "tli_fields": tli, "substring_fields": subs, "semantic_fields": sem,
                    **data}
        return data


@dataclass
class TestItem:
    benchmark: str
    task_id: str
    tli_text: str
    substrings: list[tuple[str, str]] = field(default_factory=list)  # (field name, raw string)
    semantic_texts: list[str] = field(default_factory=list)  # views the semantic detector embeds

    def views(self) -> list[str]:
        return [t for t in self.semantic_texts if t.strip()] or [self.tli_text]


def normalize_for_substring(text: str) -> str:
    """Lower-case and collapse whitespace runs to one space (BigCode lower-cases; whitespace collapsing is
    ours so re-indented copies still match)."""
    return _WS.sub(" ", text.lower()).strip()


def _data_dir() -> Path:
    return Path(str(resources.files("codecurate") / "data" / "benchmarks"))


def _docstring(prompt: str, entry_point: str | None) -> str:
    """The docstring of the prompt's entry-point function (BigCode indexes HumanEval docstrings, not
    whole prompts); the prompt itself when it does not parse."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return prompt
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                entry_point is None or node.name == entry_point):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                return doc
    return prompt


def _strip_quotes(prompt: str) -> str:
    s = prompt.strip()
    for q in ('"""', "'''"):
        if s.startswith(q) and s.endswith(q) and len(s) >= 6:
            return s[3:-3].strip()
    return s


# Where a problem description ends and its examples / doctests / notes / I-O format begin
_DESC_END = re.compile(
    r"^\s*(>>>|assert\b|for examples?\b|examples?\b|example\s*\d*\s*:|e\.g\.\s*:|notes?\s*:|variables\s*:|"
    r"constraints\s*:|sample input|input\s*$|input\s*:|args\s*:|parameters\s*:|returns?\s*:|requirements?\s*:|"
    r"the function should (raise|output)|you should write self-contained code)",
    re.I | re.M)


def describe(text: str, min_chars: int = 20) -> str:
    """The problem description of a docstring or statement: the text before its first example, doctest,
    assertion, note, argument list or input-format section (the whole text when that would leave fewer than
    ``min_chars`` characters)."""
    m = _DESC_END.search(text)
    if m and len(text[:m.start()].strip()) >= min_chars:
        return text[:m.start()].strip()
    return text.strip()


def _field(row: dict, key: str, where: str) -> str:
    if key not in row:
        raise ValueError(f"{where}: missing field {key!r}; fields present: {sorted(row)}")
    v = row[key]
    return v if isinstance(v, str) else json.dumps(v)


def _bcb_rows(path: Path) -> list[dict]:
    from codecurate.formats.bigcodebench import BCBError, read_bcb_file

    try:
        return read_bcb_file(str(path))
    except BCBError as e:
        raise ValueError(str(e)) from e


def load_builtin(name: str) -> list[TestItem]:
    d = _data_dir()
    items: list[TestItem] = []
    if name in ("humaneval", "humaneval_plus"):
        fname = "HumanEval.jsonl.gz" if name == "humaneval" else "HumanEvalPlus.jsonl.gz"
        for row in read_rows(d / fname):
            doc = _docstring(row["prompt"], row.get("entry_point"))
            items.append(TestItem(name, row["task_id"], row["prompt"], [
                ("docstring", doc), ("canonical_solution", row["canonical_solution"])],
                list(dict.fromkeys([describe(doc), doc]))))
    elif name == "mbpp":
        for row in read_rows(d / "mbpp.jsonl"):
            if row["task_id"] in MBPP_TEST_IDS:
                items.append(TestItem(name, f"mbpp/{row['task_id']}", row["text"],
                                      [("text", row["text"]), ("code", row["code"])], [row["text"]]))
    elif name == "mbpp_plus":
        for row in read_rows(d / "MbppPlus.jsonl.gz"):
            prompt = _strip_quotes(row["prompt"])
            items.append(TestItem(name, row["task_id"], row["prompt"], [
                ("prompt", prompt), ("canonical_solution", row["canonical_solution"])], [describe(prompt)]))
    elif name == "livecodebench":
        for row in read_rows(d / "lcb_release_v1_sample40.jsonl"):
            q = row["question_content"]
            items.append(TestItem(name, f"livecodebench/{row['question_id']}", q, [("question_content", q)],
                                  [describe(q)]))
    elif name == "bigcodebench":
        for row in _bcb_rows(d / "bigcodebench_hard_sample30.json"):
            doc = _docstring(row["complete_prompt"], row.get("entry_point"))
            items.append(TestItem(name, row["task_id"], row["instruct_prompt"], [
                ("instruct_prompt", row["instruct_prompt"]), ("docstring", doc),
                ("canonical_solution", row["canonical_solution"])],
                [describe(row["instruct_prompt"])]))
    else:
        raise ValueError(f"unknown benchmark {name!r}; shipped: {', '.join(BUILTIN_BENCHMARKS)} "
                         "(or give a file with extra_benchmarks: [{name, path, preset | tli_fields, "
                         "substring_fields, id_field}])")
    return items


def load_spec(spec: BenchmarkSpec) -> list[TestItem]:
    path = Path(spec.path)
    if not path.exists():
        raise ValueError(f"benchmark {spec.name!r}: file not found: {path}")
    rows = _bcb_rows(path) if path.suffix == ".json" else read_rows(path)
    items = []
    sem_fields = spec.semantic_fields or spec.tli_fields
    for i, row in enumerate(rows):
        where = f"{path} row {i + 1}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
        if spec.id_field and spec.id_field not in row:
            raise ValueError(f"{where}: missing id field {spec.id_field!r}; fields present: {sorted(row)}")
        tid = str(row[spec.id_field]) if spec.id_field else str(i)
        tli = " ".join(_field(row, k, where) for k in spec.tli_fields)
        subs = []
        for k in spec.substring_fields:
            v = _field(row, k, where)
            if k == "complete_prompt":  # BigCodeBench: index the docstring, as for HumanEval
                v = _docstring(v, row.get("entry_point"))
            subs.append((k, v))
        sem = [describe(_field(row, k, where)) for k in sem_fields]
        items.append(TestItem(spec.name, f"{spec.name}/{tid}", tli, subs, sem))
    return items


def load_benchmarks(names: list[str], extra: list[BenchmarkSpec] | None = None) -> list[TestItem]:
    items: list[TestItem] = []
    for n in names:
        items += load_builtin(n)
    for spec in extra or []:
        items += load_spec(spec)
    if not items:
        raise ValueError("no benchmark items to check against: give benchmarks or extra_benchmarks")
    return items


@lru_cache(maxsize=4)
def load_reference_df(path: str | None = None) -> tuple[dict[str, int], dict]:
    """The reference document-frequency table: {n-gram as its tokens joined by one space: number of
    reference documents containing it} (only n-grams in 2+ documents are stored) and its metadata (source,
    number of documents, n-gram sizes). Default: the table shipped as package data
    (``codecurate/data/decontam/instruction_ngram_df.json.gz``, built by ``benchmarks/bench_decontam.py
    --build-df`` from Code Alpaca + Evol-Instruct instructions; see its ``meta``)."""
    p = Path(path) if path else Path(str(resources.files("codecurate") / "data" / "decontam" / REFERENCE_DF_FILE))
    if not p.exists():
        raise ValueError(f"reference n-gram table not found: {p}")
    with gzip.open(p, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "grams" not in data or "meta" not in data:
        raise ValueError(f"{p}: not a reference n-gram table (expected an object with 'meta' and 'grams')")
    return dict(data["grams"]), data["meta"]


class TLIIndex:
    """XCoder's Test Leakage Indicator with an inverted index.

    S(test t, train r) = |G_t ∩ G_r| / |G_t| with G = union of whitespace n-grams of ``ngram_sizes``
    (NLTK-style padding). ``similarities(text)`` returns S for every test item at once.

    Discounted (``df`` and ``df_max`` given): G_t keeps only the n-grams found in fewer than ``df_max``
    documents of the reference table, so boilerplate such as "takes a string as input and returns" neither
    matches nor counts.
    """

    def __init__(self, items: list[TestItem], ngram_sizes: tuple[int, ...] = (4, 5),
                 df: dict[str, int] | None = None, df_max: int | None = None):
        self.items = items
        self.ngram_sizes = tuple(ngram_sizes)
        self.discounted = df is not None and df_max is not None
        self.dropped_common = 0  # test-item n-grams left out as common (discounted mode)
        postings: dict[tuple, list[int]] = {}
        sizes = np.zeros(len(items), dtype=np.float64)
        for t, item in enumerate(items):
            grams = whitespace_ngrams(item.tli_text, self.ngram_sizes)
            if df is not None and df_max is not None:  # self.discounted
                kept = {g for g in grams if df.get(" ".join(g), 0) < df_max}
                self.dropped_common += len(grams) - len(kept)
                grams = kept
            sizes[t] = len(grams)
            for g in grams:
                postings.setdefault(g, []).append(t)
        self.sizes = sizes
        self.postings = {g: np.array(ts, dtype=np.int32) for g, ts in postings.items()}
        self.keys = frozenset(self.postings)

    def similarities(self, text: str) -> np.ndarray:
        """S(t, r) for every test item t (float64, same arithmetic as len(shared) / len(test grams))."""
        grams = whitespace_ngrams(text, self.ngram_sizes)
        shared = grams & self.keys
        n = len(self.items)
        if not shared:
            return np.zeros(n)
        hits = np.concatenate([self.postings[g] for g in shared])
        counts = np.bincount(hits, minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.sizes > 0, counts / np.maximum(self.sizes, 1), 0.0)


class SubstringIndex:
    """BigCode-style exact substring matching of benchmark strings in training text (case-insensitive,
    whitespace-normalized), filed by anchor token."""

    def __init__(self, items: list[TestItem], min_chars: int = 20):
        self.items = items
        self.strings: list[tuple[str, int, str]] = []  # (normalized string, item index, field)
        self.by_anchor: dict[str, list[int]] = {}
        self.unanchored: list[int] = []
        self.skipped_short = 0
        seen: set[tuple[str, int]] = set()
        for t, item in enumerate(items):
            for fname, raw in item.substrings:
                s = normalize_for_substring(raw)
                if len(s) < min_chars:
                    self.skipped_short += 1
                    continue
                if (s, t) in seen:
                    continue
                seen.add((s, t))
                k = len(self.strings)
                self.strings.append((s, t, fname))
                inner = s.split(" ")[1:-1]
                if inner:
                    self.by_anchor.setdefault(max(inner, key=len), []).append(k)
                else:
                    self.unanchored.append(k)
        self.anchor_keys = frozenset(self.by_anchor)

    def find(self, text: str) -> list[tuple[int, str]]:
        """(item index, field) of every benchmark string contained in ``text``."""
        norm = normalize_for_substring(text)
        if not norm:
            return []
        cands = set(self.unanchored)
        for a in set(norm.split(" ")) & self.anchor_keys:
            cands.update(self.by_anchor[a])
        hits = []
        for k in sorted(cands):
            s, t, fname = self.strings[k]
            if s in norm:
                hits.append((t, fname))
        return hits
