"""Datasets for analysis as Arrow tables of canonical records.

A source is any file ``codecurate.io.read_records`` reads (JSONL, JSON, Parquet, .jsonl.gz, every supported
format), a run directory (its last stage's Parquet shards, i.e. the curated records), or one stage directory of
a run (``runs/NAME/stages/03_length``). Shards are read as Arrow tables, columns untouched, so stats are
computed with vectorized Arrow/numpy code; files in other formats go through the format adapters once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from codecurate.pipeline.shards import RECORD_SCHEMA, records_to_table


class AnalysisError(ValueError):
    """A source cannot be analysed (missing, not a dataset, not a run directory); the message names it."""


@dataclass
class Dataset:
    name: str
    source: str
    table: pa.Table  # canonical columns: id, instruction, response, code, language, source, tests, meta, stats


def stage_dirs(run_dir: Path) -> list[Path]:
    d = Path(run_dir) / "stages"
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def read_shards(paths: list[Path]) -> pa.Table:
    if not paths:
        return RECORD_SCHEMA.empty_table()
    tables = [pq.read_table(p) for p in paths]
    return pa.concat_tables([t.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA) for t in tables])


def is_run_dir(p: Path) -> bool:
    return p.is_dir() and (p / "stages").is_dir()


def load_dataset(source: str | Path, name: str | None = None, format: str | None = None) -> Dataset:
    """The records of ``source`` as an Arrow table (see the module docstring for what a source can be)."""
    from codecurate.io import InputError, read_records

    p = Path(source)
    if p.is_dir():
        if is_run_dir(p):
            dirs = stage_dirs(p)
            if not dirs:
                raise AnalysisError(f"{p}: run directory has no stages")
            d = dirs[-1]
            label = name or f"{_run_name(p)}:{d.name.split('_', 1)[-1]}"
        elif list(p.glob("data-*.parquet")) or (p / "manifest.json").exists():
            d = p
            label = name or (f"{_run_name(p.parent.parent)}:{p.name.split('_', 1)[-1]}"
                             if p.parent.name == "stages" else p.name)
        else:
            raise AnalysisError(f"{p}: a directory, but neither a run directory (no stages/) nor a stage "
                                "directory (no data-*.parquet)")
        return Dataset(label, str(p), read_shards(sorted(d.glob("data-*.parquet"))))
    try:
        recs = list(read_records(str(source), format=format))
    except InputError as e:
        raise AnalysisError(str(e)) from None
    label = name or _file_label(p)
    return Dataset(label, str(source), records_to_table(recs))


def _run_name(run_dir: Path) -> str:
    s = Path(run_dir) / "summary.json"
    if s.exists():
        try:
            return json.loads(s.read_text()).get("recipe") or Path(run_dir).name
        except ValueError:
            pass
    return Path(run_dir).name


def _file_label(p: Path) -> str:
    n = p.name
    for suf in (".jsonl.gz", ".jsonl", ".json", ".parquet"):
        if n.endswith(suf):
            return n[: -len(suf)]
    return n or str(p)


def unique_names(names: list[str]) -> list[str]:
    """Dataset labels made unique (``a``, ``a (2)``) so the comparison view never merges two columns."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n} ({k + 1})")
    return out
