"""Read and write datasets: JSONL, JSON list, Parquet, gzip'd JSONL, and HF hub ids (through ``datasets``).

Readers yield raw dicts with their location ("file:line" for JSONL, "file[i]" otherwise) so a bad record can be
named exactly; ``read_records`` converts them to canonical records with a format adapter.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from codecurate.formats import FORMATS, detect_format, get_format
from codecurate.formats.training import TRAINING_FORMATS, dataset_info, training_row

DETECT_SAMPLE = 20


class InputError(ValueError):
    """Bad input file: the message names the file and line (or record index) and what was wrong."""


@dataclass
class BadLine:
    """A line that did not parse, kept for the ledger when ``on_error: skip``."""

    where: str
    error: str
    text: str


_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_B = re.compile(rb"\d{19}")


def loads(s: str | bytes) -> Any:
    """orjson where it is exact, else the stdlib parser.

    orjson turns integers over 64 bits into floats without a word (EvalPlus inputs have such ints), so text with
    a run of 19+ digits goes to the stdlib; orjson refuses NaN/Infinity, which the stdlib accepts.
    """
    long_run = _LONG_DIGITS_B.search(s) if isinstance(s, bytes) else _LONG_DIGITS.search(s)
    if long_run is None:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            pass
    return json.loads(s)


def dumps(obj: Any) -> str:
    """Exact JSON text: stdlib json keeps big ints and NaN, which orjson would change."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


PACKAGE_DATA = Path(__file__).parent / "data"


def package_files(under: str = "") -> list[str]:
    """Package data files (``benchmarks/mbpp.jsonl``, ``recipes/quickstart.yaml``), following the recipes
    symlink that pathlib's rglob would not."""
    out = []
    for root, _dirs, files in os.walk(PACKAGE_DATA / under, followlinks=True):
        out += [str((Path(root) / f).relative_to(PACKAGE_DATA)) for f in files if f != "SOURCE.md"]
    return sorted(out)


def resolve_path(path: str | os.PathLike) -> str:
    """``package://benchmarks/mbpp.jsonl`` -> the file shipped in codecurate's package data."""
    s = str(path)
    if s.startswith("package://"):
        p = PACKAGE_DATA / s[len("package://"):]
        if not p.exists():
            raise InputError(f"{s}: no such package data file; shipped: {', '.join(package_files())}")
        return str(p)
    return s


def check_input(path: str | os.PathLike) -> None:
    """Raise InputError naming ``path`` when it is a local file that does not exist (package data resolved;
    hub ids are not checked here: loading them says what is wrong)."""
    spath = resolve_path(path)
    if not _is_hub_id(spath) and not Path(spath).exists():
        raise InputError(f"{spath}: no such file (expected a .jsonl, .json, .jsonl.gz or .parquet file, or a hub id)")


def _is_hub_id(path: str) -> bool:
    p = path[len("hf://"):] if path.startswith("hf://") else path
    return (path.startswith("hf://") or (p.count("/") == 1 and not os.path.exists(path))) and not p.endswith(
        (".json", ".jsonl", ".parquet", ".gz"))


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _snippet(text: str, n: int = 80) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n] + "..."


def read_raw(path: str | os.PathLike, on_error: str = "raise", split: str | None = None) -> Iterator[tuple[Any, str]]:
    """Yield (raw dict or BadLine, location). ``on_error``: "raise" (InputError naming file:line) or "skip"."""
    spath = resolve_path(path)
    if _is_hub_id(spath):
        yield from _read_hub(spath, split)
        return
    p = Path(spath)
    if not p.exists():
        raise InputError(f"{p}: no such file (expected a .jsonl, .json, .jsonl.gz or .parquet file, or a hub id)")
    name = p.name
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(p).to_pylist()):
            yield row, f"{p}[{i}]"
        return
    if name.endswith(".json") or name.endswith(".json.gz"):
        with _open_text(p) as fh:
            text = fh.read()
        if not text.strip():
            raise InputError(f"{p}: file is empty")
        if text.lstrip()[:1] == "[":
            try:
                data = loads(text)
            except ValueError as e:
                raise InputError(f"{p}: not valid JSON: {e}") from e
            for i, row in enumerate(data):
                yield row, f"{p}[{i}]"
            return
        # a .json file holding JSON lines
        yield from _jsonl_lines(p, text.splitlines(), on_error)
        return
    with _open_text(p) as fh:
        yield from _jsonl_lines(p, fh, on_error)


def _jsonl_lines(p: Path, lines: Iterable[str], on_error: str, first_line: int = 1) -> Iterator[tuple[Any, str]]:
    for n, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except ValueError as e:
            if on_error == "skip":
                yield BadLine(f"{p}:{n}", f"invalid JSON: {e}", line[:2000]), f"{p}:{n}"
                continue
            raise InputError(f"{p}:{n}: invalid JSON ({e}): {_snippet(line)!r}") from e
        if not isinstance(row, dict):
            if on_error == "skip":
                yield BadLine(f"{p}:{n}", f"expected a JSON object, got {type(row).__name__}", line[:2000]), f"{p}:{n}"
                continue
            raise InputError(f"{p}:{n}: expected a JSON object, got {type(row).__name__}: {_snippet(line)!r}")
        yield row, f"{p}:{n}"


def _read_hub(spec: str, split: str | None) -> Iterator[tuple[Any, str]]:
    """``owner/name`` or ``hf://owner/name[:split]``; needs internet (or the HF cache)."""
    from datasets import load_dataset

    spec = spec[len("hf://"):] if spec.startswith("hf://") else spec
    if ":" in spec:
        spec, split = spec.split(":", 1)
    ds = load_dataset(spec, split=split or "train")
    for i, row in enumerate(ds):
        yield dict(row), f"{spec}[{i}]"


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Every raw row of a file (JSONL, JSON list, .gz, Parquet) or hub id; errors name file:line."""
    return [raw for raw, _ in read_raw(path)]


def detect_input_format(path, format: str | None = None, on_error: str = "raise"):
    """The format adapter for ``path``: the named one, or detected from its first records (read as
    ``read_records_with_errors`` reads them, so a bad line there raises the same error)."""
    if format and format != "auto":
        return get_format(format)
    return _detect(list(itertools.islice(read_raw(path, on_error=on_error), DETECT_SAMPLE)), path)


def _detect(head: list[tuple[Any, str]], path) -> Any:
    return detect_format([r for r, _ in head if isinstance(r, dict)], where=str(path))


def _convert(fmt, raw: Any, where: str, index: int, on_error: str) -> dict | BadLine:
    """One raw row (or BadLine) -> a canonical record, or a BadLine when ``on_error="skip"``."""
    if isinstance(raw, BadLine):
        return raw
    missing = [k for k in fmt.keys if k not in raw] if isinstance(raw, dict) else list(fmt.keys)
    if missing or not fmt.matches(raw):
        rid = fmt.raw_id(raw, index) if isinstance(raw, dict) else "?"
        msg = (f"record {rid!r} is missing required field {missing[0]!r} for format {fmt.name} "
               f"(required: {', '.join(fmt.keys)})" if missing else
               f"record {rid!r} does not have the shape of format {fmt.name}")
        if on_error == "skip":
            return BadLine(where, msg, dumps(raw)[:2000] if isinstance(raw, dict) else str(raw)[:2000])
        raise InputError(f"{where}: {msg}")
    try:
        return fmt.to_record(raw, index)
    except Exception as e:  # noqa: BLE001 - re-raised with the location
        if on_error == "skip":
            return BadLine(where, f"not a valid {fmt.name} record: {type(e).__name__}: {e}", dumps(raw)[:2000])
        raise InputError(f"{where}: not a valid {fmt.name} record: {type(e).__name__}: {e}") from e


def read_records_with_errors(path, format: str | None = None, on_error: str = "raise",
                             limit: int | None = None) -> Iterator[dict | BadLine]:
    """Canonical records (and BadLine items when ``on_error="skip"``), in file order."""
    items = read_raw(path, on_error=on_error)
    if format and format != "auto":
        fmt = get_format(format)
    else:  # detect from the first records of the same pass (a hub dataset is loaded once)
        head = list(itertools.islice(items, DETECT_SAMPLE))
        fmt = _detect(head, path)
        items = itertools.chain(head, items)
    n = 0
    for raw, where in items:
        if limit is not None and n >= limit:
            return
        n += 1
        yield _convert(fmt, raw, where, n - 1, on_error)
    if n == 0:
        raise InputError(f"{path}: input is empty (no records)")


# -- parallel JSONL reading: the same items as read_records_with_errors, a chunk of lines at a time ----------
@dataclass
class JsonlChunk:
    start: int  # byte offset of the chunk's first line
    end: int  # byte offset just past its last line
    first_line: int  # 1-based line number of the first line
    first_index: int  # record index (non-blank lines before it) of its first item


def plan_jsonl_chunks(path, items_per_chunk: int, limit: int | None = None,
                      block: int = 8 << 20) -> list[JsonlChunk] | None:
    """Split a plain ``.jsonl`` file into chunks of ``items_per_chunk`` non-blank lines (the last may be
    shorter), so workers can parse them in parallel and produce exactly the serial reader's items.

    None when the file cannot be split that way (not a local plain .jsonl file, or it uses lone ``\r`` line
    breaks, which text mode would split on and a byte scan would not).
    """
    import numpy as np

    spath = resolve_path(path)
    p = Path(spath)
    if _is_hub_id(spath) or not p.name.endswith(".jsonl") or not p.is_file():
        return None
    ends: list[np.ndarray] = []  # byte offset just past each line
    blank_runs: list[np.ndarray] = []
    with open(p, "rb") as fh:
        pos = 0
        carry = b""
        while True:
            buf = fh.read(block)
            if not buf:
                break
            data = carry + buf
            if re.search(rb"\r(?!\n)", data[:-1] if data.endswith(b"\r") else data):
                return None
            arr = np.frombuffer(data, dtype=np.uint8)
            nl = np.flatnonzero(arr == 10)
            if len(nl):
                e = nl + 1
                starts = np.concatenate(([0], e[:-1]))
                # blank (skipped) lines: no ASCII non-space byte, and (checked exactly) nothing str.strip() keeps
                solid = ((arr[:e[-1]] > 32) & (arr[:e[-1]] < 128)).astype(np.int32)
                blank = ~(np.add.reduceat(solid, starts) > 0)
                for j in np.flatnonzero(blank).tolist():
                    blank[j] = not data[starts[j]:e[j]].decode("utf-8", "replace").strip()
                ends.append(e + (pos - len(carry)))
                blank_runs.append(blank)
                cut = int(e[-1])
            else:
                cut = 0
            pos += len(buf)
            carry = data[cut:]
        if carry:  # a last line without a newline
            ends.append(np.array([pos], dtype=np.int64))
            blank_runs.append(np.array([not carry.decode("utf-8", "replace").strip()]))
    if not ends:
        return []
    line_end = np.concatenate(ends).astype(np.int64)
    blank = np.concatenate(blank_runs)
    item_lines = np.flatnonzero(~blank)  # 0-based line numbers of items
    if limit is not None:
        item_lines = item_lines[:limit]
    chunks = []
    for c in range(0, len(item_lines), items_per_chunk):
        first = int(item_lines[c])
        last = int(item_lines[min(c + items_per_chunk, len(item_lines)) - 1])
        start = int(line_end[first - 1]) if first > 0 else 0
        chunks.append(JsonlChunk(start, int(line_end[last]), first + 1, c))
    return chunks


def read_jsonl_chunk(path, chunk: JsonlChunk, fmt_name: str, on_error: str = "raise") -> list[dict | BadLine]:
    """The items of one chunk: what ``read_records_with_errors`` yields for those lines."""
    p = Path(resolve_path(path))
    fmt = get_format(fmt_name)
    with open(p, "rb") as fh:
        fh.seek(chunk.start)
        text = fh.read(chunk.end - chunk.start).decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    parts = text.split("\n")
    lines = [x + "\n" for x in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    out: list[dict | BadLine] = []
    n = chunk.first_index
    for (raw, where) in _jsonl_lines(p, lines, on_error, first_line=chunk.first_line):
        out.append(_convert(fmt, raw, where, n, on_error))
        n += 1
    return out


def read_records(path, format: str | None = None, on_error: str = "raise", limit: int | None = None) -> Iterator[dict]:
    """Canonical records from any supported file or hub id (auto-detected format unless ``format`` is given)."""
    for r in read_records_with_errors(path, format, on_error, limit):
        if isinstance(r, dict):
            yield r


# Atomic rename is what makes a killed run resumable (the page cache outlives the process). fsync also
# survives a machine crash but costs ~10 ms per file on network disks: opt in with CODECURATE_FSYNC=1.
FSYNC = os.environ.get("CODECURATE_FSYNC", "0") == "1"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if FSYNC:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_raw(rec: dict, format: str | None) -> dict:
    """A canonical record in ``format`` ("same" = the format it was read from; None = canonical).

    ``messages``, ``sharegpt`` and ``alpaca`` write training rows, the same columns for every record whatever
    its source (``formats/training.py``); ``same`` writes each record back in its own format, losslessly."""
    if format in (None, "codecurate", "canonical"):
        return get_format("codecurate").from_record(rec)
    if format in TRAINING_FORMATS:
        return training_row(rec, format)
    name = rec.get("source") if format == "same" else format
    if name not in FORMATS:
        name = "codecurate"
    return get_format(name).from_record(rec)


def _parquet_safe(table):
    """Parquet cannot store a struct with no fields (every row's ``stats`` is ``{}``): such columns are written as
    nulls (read back as None)."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_struct(f.type) and f.type.num_fields == 0:
            table = table.set_column(i, pa.field(f.name, pa.null()), pa.nulls(len(table)))
    return table


def write_records(records: Iterable[dict], path: str | os.PathLike, format: str | None = None,
                  batch_rows: int = 10_000) -> int:
    """Write canonical records to ``path`` (.jsonl, .jsonl.gz, .json, .parquet) in ``format``; atomic (a temp
    file renamed into place). Streams: records are converted and written ``batch_rows`` at a time, so memory does
    not grow with the dataset (Parquet: one row group per batch, the schema of the first batch; a later batch
    whose columns differ makes the writer fall back to one table built from every row)."""
    import itertools

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    rows_iter = (to_raw(r, format) for r in records)
    n = 0
    try:
        if name.endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            fallback: list[dict] | None = None
            while True:
                batch = list(itertools.islice(rows_iter, batch_rows))
                if not batch:
                    break
                n += len(batch)
                if fallback is not None:
                    fallback.extend(batch)
                    continue
                table = _parquet_safe(pa.Table.from_pylist(batch))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                elif not table.schema.equals(writer.schema):
                    try:
                        table = table.select(writer.schema.names).cast(writer.schema) \
                            if set(table.schema.names) == set(writer.schema.names) else None
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
                        table = None
                    if table is None:  # columns differ: rebuild from every row (bounded by the data, not ours)
                        writer.close()
                        fallback = [r for r in pq.read_table(tmp).to_pylist()] + batch
                        continue
                writer.write_table(table)
            if fallback is not None:
                pq.write_table(_parquet_safe(pa.Table.from_pylist(fallback)), tmp)
            elif writer is not None:
                writer.close()
            else:
                pq.write_table(pa.table({}), tmp)
        elif name.endswith(".json"):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("[")
                for row in rows_iter:  # byte-identical to json.dumps(rows, ensure_ascii=False, indent=1)
                    f.write(("\n" if n == 0 else ",\n") + "\n".join(
                        " " + line for line in json.dumps(row, ensure_ascii=False, indent=1).split("\n")))
                    n += 1
                f.write("\n]\n" if n else "]\n")
        else:
            with open(tmp, "wb") as fh:
                # no file name in the gzip header and mtime 0: the same bytes as gzip.compress(data, mtime=0)
                out = gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0) if name.endswith(".gz") else fh
                while True:
                    batch = list(itertools.islice(rows_iter, batch_rows))
                    if not batch:
                        break
                    n += len(batch)
                    out.write("".join(dumps(r) + "\n" for r in batch).encode())
                if out is not fh:
                    out.close()
        if FSYNC:
            with open(tmp, "rb") as fr:
                os.fsync(fr.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def write_dataset_info(data_path: str | os.PathLike, name: str, format: str) -> Path | None:
    """Add (or replace) the LLaMA-Factory ``dataset_info.json`` entry ``name`` for ``data_path``, in the same
    folder, so ``--dataset_dir <that folder> --dataset NAME`` reads the file. Only for the training formats
    (``messages``, ``sharegpt``, ``alpaca``); returns the path written, or None."""
    if format not in TRAINING_FORMATS:
        return None
    data_path = Path(data_path)
    info_path = data_path.parent / "dataset_info.json"
    info: dict = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text())
        except ValueError as e:
            raise InputError(f"{info_path}: not valid JSON ({e}); remove it or fix it") from e
        if not isinstance(info, dict):
            raise InputError(f"{info_path}: expected a JSON object of dataset entries")
    info.update(dataset_info(name, data_path.name, format))
    atomic_write_bytes(info_path, (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode())
    return info_path
