"""Benchmark test items to decontaminate against, and the two indexes that make checking fast.

Shipped benchmarks (``codecurate/data/benchmarks``, see its SOURCE.md):

================  =========================  ===================  ==================================
name              file                       TLI test text        exact-substring strings
================  =========================  ===================  ==================================
humaneval         HumanEval.jsonl.gz         ``prompt``           docstring of the prompt, canonical
                                                                  solution (BigCode benchmark_data)
humaneval_plus    HumanEvalPlus.jsonl.gz     ``prompt``           same
mbpp              mbpp.jsonl, task_id 11-510 ``text``             ``text``, ``code`` (BigCode)
mbpp_plus         MbppPlus.jsonl.gz          ``prompt``           prompt without its quotes,
                                                                  canonical solution
================  =========================  ===================  ==================================

XCoder's compute_TLI.py compares the *test* key (``prompt`` by default, the HumanEval field) with the user
turns of the training data; for MBPP the problem statement is ``text``. Any JSONL/JSON file can be added as a
``BenchmarkSpec`` with its own fields (APPS test, CodeContests, LiveCodeBench exports).

Indexes:
- ``TLIIndex``: inverted index from each whitespace 4/5-gram (as a tuple, no hashing, so results are exact)
  to the array of test items containing it, so a training record costs O(its n-grams), not O(test items).
- ``SubstringIndex``: each benchmark string (lower-cased, whitespace runs collapsed) is filed under its
  longest *inner* token (tokens at the ends may be cut by the match boundary); a training text is checked
  only against strings whose anchor token it contains, with a C-level ``in`` test, so matches are exact.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from codecurate.code.tokens import whitespace_ngrams
from codecurate.io import read_rows

BUILTIN_BENCHMARKS = ("humaneval", "humaneval_plus", "mbpp", "mbpp_plus")
MBPP_TEST_IDS = range(11, 511)  # google-research mbpp/README: 11-510 test, 1-10 few-shot, 511-600 validation
_WS = re.compile(r"\s+")


class BenchmarkSpec(BaseModel):
    """A user-supplied benchmark file (JSONL, JSON list, or .jsonl.gz)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    path: str
    tli_fields: list[str] = ["prompt"]
    substring_fields: list[str] = ["prompt"]
    id_field: str | None = None


@dataclass
class TestItem:
    benchmark: str
    task_id: str
    tli_text: str
    substrings: list[tuple[str, str]] = field(default_factory=list)  # (field name, raw string)


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


def _field(row: dict, key: str, where: str) -> str:
    if key not in row:
        raise ValueError(f"{where}: missing field {key!r}; fields present: {sorted(row)}")
    v = row[key]
    return v if isinstance(v, str) else json.dumps(v)


def load_builtin(name: str) -> list[TestItem]:
    d = _data_dir()
    items: list[TestItem] = []
    if name in ("humaneval", "humaneval_plus"):
        fname = "HumanEval.jsonl.gz" if name == "humaneval" else "HumanEvalPlus.jsonl.gz"
        for row in read_rows(d / fname):
            items.append(TestItem(name, row["task_id"], row["prompt"], [
                ("docstring", _docstring(row["prompt"], row.get("entry_point"))),
                ("canonical_solution", row["canonical_solution"])]))
    elif name == "mbpp":
        for row in read_rows(d / "mbpp.jsonl"):
            if row["task_id"] in MBPP_TEST_IDS:
                items.append(TestItem(name, f"mbpp/{row['task_id']}", row["text"],
                                      [("text", row["text"]), ("code", row["code"])]))
    elif name == "mbpp_plus":
        for row in read_rows(d / "MbppPlus.jsonl.gz"):
            items.append(TestItem(name, row["task_id"], row["prompt"], [
                ("prompt", _strip_quotes(row["prompt"])), ("canonical_solution", row["canonical_solution"])]))
    else:
        raise ValueError(f"unknown benchmark {name!r}; shipped: {', '.join(BUILTIN_BENCHMARKS)} "
                         "(or give a file with extra_benchmarks: [{name, path, tli_fields, substring_fields}])")
    return items


def load_spec(spec: BenchmarkSpec) -> list[TestItem]:
    path = Path(spec.path)
    if not path.exists():
        raise ValueError(f"benchmark {spec.name!r}: file not found: {path}")
    items = []
    for i, row in enumerate(read_rows(path)):
        where = f"{path} row {i + 1}"
        tid = str(row[spec.id_field]) if spec.id_field else str(i)
        tli = " ".join(_field(row, k, where) for k in spec.tli_fields)
        subs = [(k, _field(row, k, where)) for k in spec.substring_fields]
        items.append(TestItem(spec.name, f"{spec.name}/{tid}" if not spec.id_field else tid, tli, subs))
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


class TLIIndex:
    """XCoder's Test Leakage Indicator with an inverted index.

    S(test t, train r) = |G_t ∩ G_r| / |G_t| with G = union of whitespace n-grams of ``ngram_sizes``
    (NLTK-style padding). ``similarities(text)`` returns S for every test item at once.
    """

    def __init__(self, items: list[TestItem], ngram_sizes: tuple[int, ...] = (4, 5)):
        self.items = items
        self.ngram_sizes = tuple(ngram_sizes)
        postings: dict[tuple, list[int]] = {}
        sizes = np.zeros(len(items), dtype=np.float64)
        for t, item in enumerate(items):
            grams = whitespace_ngrams(item.tli_text, self.ngram_sizes)
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
