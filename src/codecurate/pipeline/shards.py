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


def write_records_shard(records: list[dict], path: Path) -> None:
    cols = {c: [r.get(c) or "" for r in records] for c in STR_COLS}
    for c in JSON_COLS:
        cols[c] = [None if r.get(c) is None else _dumps(r[c]) for r in records]
    _atomic_table(pa.table(cols, schema=RECORD_SCHEMA), path)


def read_records_shard(path: Path) -> list[dict]:
    t = pq.read_table(path).to_pydict()
    n = len(t["id"])
    out = []
    for i in range(n):
        r = {c: t[c][i] for c in STR_COLS}
        for c in JSON_COLS:
            v = t[c][i]
            r[c] = None if v is None else loads(v)
        if r["meta"] is None:
            r["meta"] = {}
        if r["stats"] is None:
            r["stats"] = {}
        out.append(r)
    return out


def write_ledger_shard(entries: list[dict], path: Path) -> None:
    """entries: {id, stage, op, reason, detail (dict|None), record (dict)}."""
    cols = {c: [] for c in LEDGER_SCHEMA.names}
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
        t = pq.read_table(p).to_pylist()
        for row in t:
            row["detail"] = None if row["detail"] is None else loads(row["detail"])
            row["record"] = loads(row["record"])
            out.append(row)
    return out


def count_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
