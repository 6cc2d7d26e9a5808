"""``decontaminate``: remove training records that leak benchmark test items.

Two detectors, both on by default:

1. ``tli`` — XCoder's Test Leakage Indicator (Wang et al. 2024, "How Do Your Code LLMs Perform? Empowering
   Code Instruction Tuning with Really Good Data", arXiv 2409.03810; ``banksy23/XCoder`` compute_TLI.py).
   Texts are split on whitespace (case-sensitive); n-grams are the union of 4- and 5-grams with NLTK-style
   ``<start>``/``<end>`` padding; S(test t, train r) = |G_t ∩ G_r| / |G_t| (normalized by the *test*
   item); a training record is dropped when its max over all test items is >= ``tli_threshold`` (0.05).
   Training text = ``fields`` joined by spaces. XCoder's default train key is ``messages``: the content of
   **every user turn**, joined with spaces (``role.lower() == "user"``; assistant and system turns contribute
   nothing). Here ``instruction`` means the same for a multi-turn record (``turns: all``, default; the
   conversation is the record's ``meta.messages``/``meta.conversations``, see ``codecurate.ops.turns``), so
   n-grams also span the end of one user turn and the start of the next, as in XCoder. ``turns: first``
   keeps the earlier single-turn behaviour: only the first user turn is compared, so a leak in a later
   turn goes unseen.
2. ``substring`` — BigCode / Magicoder exact substring decontamination
   (``bigcode-project/bigcode-dataset`` decontamination/find_substrings.py): a record is dropped when any
   benchmark prompt/docstring or canonical solution occurs in it, case-insensitively. Deviation: whitespace
   runs are collapsed on both sides (re-indented copies still match) and benchmark strings shorter than
   ``min_substring_chars`` are not used (BigCode keeps an allow-list of trivial solutions instead).
   With ``turns: all``, ``instruction`` / ``response`` in ``substring_fields`` stand for every user /
   assistant turn of a multi-turn record (joined with a blank line), so a benchmark solution pasted in a
   later turn is found too.

Deviation (default only): TLI drops against HumanEval and HumanEval+ (``tli_benchmarks``); MBPP and MBPP+
are checked by the substring detector. MBPP prompts are one short sentence ("Write a python function to
..."), so with XCoder's padded 4/5-grams and the 0.05 threshold, ordinary instructions share enough
boilerplate grams to pass it: on the first 300 Code Alpaca records (clean of MBPP), the faithful setting
flags 145 against MBPP test prompts (median best similarity 0.042, max 0.62) and 49 against MBPP+, but 3
against HumanEval (max 0.055). ``tli_benchmarks: null`` restores the faithful all-benchmark behaviour, and
``decontam_report`` always reports TLI for every benchmark.

Speed: the per-record check goes through inverted indexes (``benchmarks_index``), so it costs O(the
record's n-grams), not a loop over every test item; results equal XCoder's loop exactly (n-grams are
compared as tuples, not hashes). The ledger entry names the benchmark item matched and the score;
``stats.tli`` and ``stats.tli_match`` are set on every record.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import model_validator

from codecurate.ops.decontam.benchmarks_index import (BUILTIN_BENCHMARKS, BenchmarkSpec, SubstringIndex,
                                                      TLIIndex, load_benchmarks)
from codecurate.ops.turns import assistant_turns, user_turns
from codecurate.pipeline.op import DropRecord, FieldsConfig, Filter
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class DecontaminateConfig(FieldsConfig):
    benchmarks: list[str] = list(BUILTIN_BENCHMARKS)
    extra_benchmarks: list[BenchmarkSpec] = []
    detectors: list[Literal["tli", "substring"]] = ["tli", "substring"]
    # Shipped benchmarks the TLI detector drops against (None = all of ``benchmarks``); user files in
    # extra_benchmarks always count. See the module docstring for why MBPP/MBPP+ are off by default.
    tli_benchmarks: list[str] | None = ["humaneval", "humaneval_plus"]
    fields: list[str] = ["instruction"]
    substring_fields: list[str] = ["instruction", "response"]
    ngram_sizes: list[int] = [4, 5]
    tli_threshold: float = 0.05
    min_substring_chars: int = 20
    # "all": instruction/response stand for every user/assistant turn of a multi-turn record (XCoder joins
    # all user turns); "first": only the first turn (the record's instruction/response fields)
    turns: Literal["all", "first"] = "all"

    @model_validator(mode="after")
    def _check(self) -> "DecontaminateConfig":
        unknown = [b for b in self.benchmarks + (self.tli_benchmarks or []) if b not in BUILTIN_BENCHMARKS]
        if unknown:
            raise ValueError(f"benchmarks: unknown {unknown}; shipped: {list(BUILTIN_BENCHMARKS)} "
                             "(add other files with extra_benchmarks)")
        if not self.detectors:
            raise ValueError("detectors: give at least one of tli, substring")
        if not self.ngram_sizes or min(self.ngram_sizes) < 1:
            raise ValueError(f"ngram_sizes must be positive integers, got {self.ngram_sizes}")
        return self


def _turn_text(rec: dict, field: str, turns: str, sep: str) -> str:
    if turns == "all" and field == "instruction":
        return sep.join(user_turns(rec))
    if turns == "all" and field == "response":
        return sep.join(assistant_turns(rec))
    return field_text(rec, field)


def train_text(rec: dict, fields: list[str], turns: str = "all") -> str:
    """XCoder joins the chosen training keys with a space; for ``messages`` it joins every user turn with a
    space, which ``instruction`` stands for here under ``turns="all"``."""
    return " ".join(_turn_text(rec, f, turns, " ") for f in fields)


def substring_text(rec: dict, fields: list[str], turns: str = "all") -> str:
    """BigCode joins the chosen columns with a blank line; every turn of a multi-turn record is included."""
    return "\n\n".join(_turn_text(rec, f, turns, "\n\n") for f in fields)


@register
class Decontaminate(Filter):
    __doc__ = __doc__
    name: ClassVar[str] = "decontaminate"
    Config = DecontaminateConfig
    paper: ClassVar[str] = ("XCoder TLI (arXiv 2409.03810, compute_TLI.py: 4+5-grams, threshold 0.05); "
                            "BigCode/Magicoder exact-substring decontamination")

    def setup(self) -> None:
        c = self.config
        self.items = load_benchmarks(c.benchmarks, c.extra_benchmarks)
        extra = {spec.name for spec in c.extra_benchmarks}
        self.tli_items = [it for it in self.items if c.tli_benchmarks is None or it.benchmark in extra
                          or it.benchmark in c.tli_benchmarks]
        self.tli = (TLIIndex(self.tli_items, tuple(c.ngram_sizes))
                    if "tli" in c.detectors and self.tli_items else None)
        self.substr = SubstringIndex(self.items, c.min_substring_chars) if "substring" in c.detectors else None

    def compute(self, records: list[dict]) -> None:
        for rec in records:
            stats = rec.setdefault("stats", {})
            if self.tli is not None:
                sims = self.tli.similarities(train_text(rec, self.config.fields, self.config.turns))
                best = int(np.argmax(sims))
                stats["tli"] = float(sims[best])
                stats["tli_match"] = self.tli_items[best].task_id if sims[best] > 0 else None
            if self.substr is not None:
                hits = self.substr.find(substring_text(rec, self.config.substring_fields, self.config.turns))
                stats["benchmark_substrings"] = [f"{self.items[t].task_id}:{f}" for t, f in hits]

    def decide(self, record: dict) -> str | None:
        stats = record["stats"]
        if self.substr is not None and stats.get("benchmark_substrings"):
            first = stats["benchmark_substrings"][0]
            tid, fname = first.rsplit(":", 1)
            self.count("dropped_substring")
            raise DropRecord(
                f"benchmark leak: contains {tid} {fname} verbatim",
                {"detector": "substring", "matches": stats["benchmark_substrings"],
                 "tli": stats.get("tli")})
        if self.tli is not None and stats["tli"] >= self.config.tli_threshold:
            self.count("dropped_tli")
            raise DropRecord(
                f"benchmark leak: TLI {stats['tli']:.3f} >= {self.config.tli_threshold} with "
                f"{stats['tli_match']}",
                {"detector": "tli", "benchmark_item": stats["tli_match"], "score": stats["tli"],
                 "threshold": self.config.tli_threshold})
        return None


def decontam_report(
    records,
    benchmarks: list[str] | None = None,
    extra_benchmarks: list[BenchmarkSpec | dict] | None = None,
    fields: list[str] | None = None,
    substring_fields: list[str] | None = None,
    ngram_sizes: tuple[int, ...] = (4, 5),
    threshold: float = 0.05,
    min_substring_chars: int = 20,
    top_items: int = 5,
    turns: str = "all",
) -> dict:
    """Per-benchmark contamination of ``records`` without removing anything.

    TLI as XCoder reports it (top=1): for each test item its best match over all training records;
    ``tli_mean`` = mean over the benchmark's items (the paper prints it x100), ``tli_max`` = max.
    Also per benchmark: training records whose max similarity to that benchmark is >= ``threshold`` (what
    ``decontaminate`` would drop), records containing one of its strings verbatim, and the most leaked items.
    """
    specs = [s if isinstance(s, BenchmarkSpec) else BenchmarkSpec.model_validate(s)
             for s in (extra_benchmarks or [])]
    names = list(BUILTIN_BENCHMARKS) if benchmarks is None else list(benchmarks)
    items = load_benchmarks(names, specs)
    fields = fields or ["instruction"]
    substring_fields = substring_fields or ["instruction", "response"]
    tli = TLIIndex(items, tuple(ngram_sizes))
    substr = SubstringIndex(items, min_substring_chars)
    bench_of = np.array([it.benchmark for it in items])
    bench_names = list(dict.fromkeys(it.benchmark for it in items))
    masks = {b: bench_of == b for b in bench_names}
    best = np.zeros(len(items))
    best_rec: list[str | None] = [None] * len(items)
    leaked = {b: 0 for b in bench_names}
    substring_hits = {b: 0 for b in bench_names}
    n = 0
    for rec in records:
        n += 1
        sims = tli.similarities(train_text(rec, fields, turns))
        better = np.flatnonzero(sims > best)
        if len(better):
            best[better] = sims[better]
            for t in better.tolist():
                best_rec[t] = rec.get("id")
        for b, m in masks.items():
            if sims[m].max(initial=0.0) >= threshold:
                leaked[b] += 1
        hit_benches = {items[t].benchmark for t, _ in substr.find(substring_text(rec, substring_fields, turns))}
        for b in hit_benches:
            substring_hits[b] += 1
    out: dict = {"records": n, "fields": fields, "turns": turns, "ngram_sizes": list(ngram_sizes),
                 "threshold": threshold, "benchmarks": {}}
    for b in bench_names:
        idx = np.flatnonzero(masks[b])
        vals = best[idx]
        order = idx[np.argsort(-vals, kind="stable")][:top_items]
        out["benchmarks"][b] = {
            "test_items": int(len(idx)),
            "tli_mean": float(vals.mean()) if len(vals) else 0.0,
            "tli_mean_x100": round(float(vals.mean()) * 100, 2) if len(vals) else 0.0,
            "tli_max": float(vals.max()) if len(vals) else 0.0,
            "records_over_threshold": leaked[b],
            "records_with_substring": substring_hits[b],
            "most_leaked": [{"task_id": items[t].task_id, "tli": round(float(best[t]), 4),
                             "record": best_rec[t]} for t in order.tolist()],
        }
    return out
