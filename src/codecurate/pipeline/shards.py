"""Parquet shards of canonical records and of ledger entries.

Text fields are string columns; ``tests``, ``meta`` and ``stats`` are exact JSON strings (the stdlib encoder keeps
big integers and NaN that EvalPlus inputs contain), so any record round-trips and shards of different sources
share one schema. Every write goes to a temp file that is renamed into place: a shard either exists whole or
not at all, which is what makes resume after SIGKILL safe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from codecurate.io import FSYNC, loads

STR_COLS = ("id", "instruction", "response", "code", "language", "source")
JSON_COLS = ("tests", "meta", "stats")
RECORD_SCHEMA = pa.schema([(c, pa.string()) for c in STR_COLS + JSON_COLS])
LEDGER_SCHEMA = pa.schema([(c, pa.string()) for c in ("id", "stage", "op", "reason", "detail", "record")])


def _dumps(v) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)


def _atomic_table(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    if FSYNC:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def records_to_table(records: list[dict], columns: tuple[str, ...] | None = None) -> pa.Table:
    columns = columns or tuple(RECORD_SCHEMA.names)
    cols = {}
    for c in columns:
        if c in JSON_COLS:
            cols[c] = [None if r.get(c) is None else _dumps(r[c]) for r in records]
        else:
            cols[c] = [r.get(c) or "" for r in records]
    return pa.table(cols, schema=pa.schema([RECORD_SCHEMA.field(c) for c in columns]))


def write_table(table: pa.Table, path: Path) -> None:
    _atomic_table(table, path)


def write_records_shard(records: list[dict], path: Path) -> None:
    _atomic_table(records_to_table(records), path)


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    # pq.ParquetFile, not pq.read_table: read_table goes through pyarrow.dataset, whose first import (it pulls
    # in pandas) costs ~0.5 s of CPU in every process that reads a shard; the table is the same
    with pq.ParquetFile(path) as f:
        return f.read(columns=columns)


def table_to_records(table: pa.Table, columns: set[str] | None = None) -> list[dict]:
    """Decode rows into record dicts; with ``columns``, only those fields (plus ``id``) are decoded."""
    names = [c for c in RECORD_SCHEMA.names if columns is None or c in columns or c == "id"]
    t = table.select(names).to_pydict()
    out = []
    for i in range(table.num_rows):
        r = {}
        for c in names:
            v = t[c][i]
            if c in JSON_COLS:
                v = None if v is None else loads(v)
                if v is None and c in ("meta", "stats"):
                    v = {}
            r[c] = v
        out.append(r)
    return out


def take(table: pa.Table, indices: list[int]) -> pa.Table:
    return table.take(pa.array(indices, type=pa.int64()))


def overlay(table: pa.Table, records: list[dict], columns) -> pa.Table:
    """``table`` (rows aligned with ``records``) with ``columns`` replaced by the records' values."""
    cols = tuple(c for c in RECORD_SCHEMA.names if c in (columns or ()))
    if not cols:
        return table
    new = records_to_table(records, cols)
    for c in cols:
        table = table.set_column(table.schema.get_field_index(c), c, new.column(c))
    return table


def read_records_shard(path: Path) -> list[dict]:
    return table_to_records(read_table(path))


def write_ledger_shard(entries: list[dict], path: Path) -> None:
    """entries: {id, stage, op, reason, detail (dict|None), record (dict)}."""
    cols: dict[str, list[Any]] = {c: [] for c in LEDGER_SCHEMA.names}
    for e in entries:
        cols["id"].append(str(e["id"]))
        cols["stage"].append(e["stage"])
        cols["op"].append(e["op"])
        cols["reason"].append(e["reason"])
        cols["detail"].append(None if e.get("detail") is None else _dumps(e["detail"]))
        cols["record"].append(_dumps(e["record"]))
    _atomic_table(pa.table(cols, schema=LEDGER_SCHEMA), path)


def read_ledger(paths: list[Path]) -> list[dict]:
    out = []
    for p in paths:
        t = read_table(p).to_pylist()
        for row in t:
            row["detail"] = None if row["detail"] is None else loads(row["detail"])
            row["record"] = loads(row["record"])
            out.append(row)
    return out


def count_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
