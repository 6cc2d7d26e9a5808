"""The recipe runner: reads the input, runs each stage, writes the run directory.

    RUN_DIR/
      recipe.yaml                     the resolved recipe (every default filled in)
      stages/00_read/                 the input as canonical records
      stages/NN_<stage>/
        data-00000.parquet ...        records kept by the stage, one shard per input shard
        ledger-00000.parquet ...      records set aside: id, stage, op, reason, detail, the record itself
        shard-00000.json ...          per-shard counts and stats (what resume reuses)
        manifest.json                 config hash, input fingerprint, output fingerprint, counts, seconds
        stats.json                    counts, top drop reasons, op counters, numeric stats summaries
      output/curated.jsonl            the curated dataset in the recipe's output format
      summary.json                    one line per stage

Resume: a stage whose manifest matches (config hash + input fingerprint) is skipped; inside an unfinished
mapper/filter/expander stage, finished shards are kept. Every file is written to a temp name and renamed, and a
shard's data file is written after its ledger and stats, so a run killed at any moment resumes to the same
bytes. Accounting is checked at every stage: records in = records out + records in the ledger (- created by
an expander).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pickle
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecurate.io import BadLine, atomic_write_bytes, read_records_with_errors, write_dataset_info, write_records
from codecurate.pipeline import shards as sh
from codecurate.pipeline.executors.local import LocalExecutor
from codecurate.pipeline.op import Decision, Dropped, GlobalOp, Op
from codecurate.pipeline.recipe import Recipe, RecipeError
from codecurate.pipeline.registry import get_op
from codecurate.records import validate_record

if TYPE_CHECKING:
    from codecurate.pipeline.executors.ray import RayExecutor

IN_PROCESS_NEEDS = {"model", "gpu", "sandbox"}  # these ops parallelize themselves or hold big models


def placement_for(cls: type[Op]) -> bool | str:
    """Where an op's shard tasks run, from its declared ``needs``: ``True`` (the CPU pool / Ray tasks),
    ``"model"`` (ops that hold a model or want a GPU: this process locally, one model actor per GPU on Ray, the
    model loaded once per actor), ``"sandbox"`` (ops that run code: this process locally, whose sandbox pool
    parallelizes them; Ray tasks on any node otherwise)."""
    needs = set(cls.needs)
    if needs & {"model", "gpu"}:
        return "model"
    if "sandbox" in needs:
        return "sandbox"
    return True


class AccountingError(RuntimeError):
    pass


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode()


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def fingerprint_input(path: str) -> str:
    from codecurate.io import resolve_path

    p = Path(resolve_path(path))
    if not p.exists():  # hub id: the spec is the fingerprint
        return _sha("hub", path)
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# -- per-shard work (runs in worker processes) ----------------------------------------------------------
_OP_CACHE: dict[str, Op] = {}


def _get_op(spec: dict) -> Op:
    key = json.dumps(spec, sort_keys=True, default=str)
    op = _OP_CACHE.get(key)
    if op is None:
        cls = get_op(spec["op"])
        op = cls(cls.Config.model_validate(spec["params"]), seed=spec["seed"], on_error=spec["on_error"])
        _OP_CACHE[key] = op
    return op


def _numeric_stats(records: list[dict]) -> dict[str, list[float]]:
    """{stats key: [count, sum, min, max]} over top-level numeric stats of the records."""
    acc: dict[str, list[float]] = {}
    for r in records:
        for k, v in (r.get("stats") or {}).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                continue
            a = acc.get(k)
            if a is None:
                acc[k] = [1, v, v, v]
            else:
                a[0] += 1
                a[1] += v
                a[2] = min(a[2], v)
                a[3] = max(a[3], v)
    return acc


def _columns(op: Op) -> set[str] | None:
    """Fields to decode for ``op``: what it reads and writes, or None (all) when it does not say."""
    r, w = op.reads(), op.writes
    if r is None or w is None or op.kind == "expander":
        return None
    return {"id"} | set(r) | set(w)


def _full_dropped(table, pos: dict[str, int], dropped: list[Dropped], cols: set[str] | None) -> list[Dropped]:
    """The ledger keeps whole records: decode the dropped rows fully and lay the op's fields over them."""
    if cols is None or not dropped:
        return dropped
    full = sh.table_to_records(sh.take(table, [pos[d.record["id"]] for d in dropped]))
    return [Dropped({**f, **d.record}, d.reason, d.detail) for f, d in zip(full, dropped)]


def _finish_shard(task: dict, n_in: int, kept, dropped: list[Dropped], created: int, counters: Counter,
                  numeric_from: list[dict]) -> dict:
    """Write a shard's ledger, stats and data (data last: its presence marks the shard done)."""
    out_dir, k = Path(task["out_dir"]), task["k"]
    stage, opname = task["stage"], task["spec"]["op"]
    if dropped:
        sh.write_ledger_shard([{"id": d.record.get("id"), "stage": stage, "op": opname, "reason": d.reason,
                                "detail": d.detail, "record": d.record} for d in dropped],
                              out_dir / f"ledger-{k:05d}.parquet")
    n_out = kept.num_rows if hasattr(kept, "num_rows") else len(kept)
    info = {"k": k, "in": n_in, "out": n_out, "dropped": len(dropped), "created": created,
            "counters": dict(counters), "reasons": dict(Counter(_reason_key(d.reason) for d in dropped)),
            "numeric": _numeric_stats(numeric_from)}
    atomic_write_bytes(out_dir / f"shard-{k:05d}.json", _json_bytes(info))
    if hasattr(kept, "num_rows"):
        sh.write_table(kept, out_dir / f"data-{k:05d}.parquet")
    else:
        sh.write_records_shard(kept, out_dir / f"data-{k:05d}.parquet")
    return info


_NUM = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_QUOTED = re.compile(r"'[^'\n]{0,200}'")


def _reason_key(reason: str) -> str:
    """Group reasons for the top-reasons table: text before the first " (", standalone numbers replaced by N
    (rule ids such as F821 or B307 stay as they are), quoted values (record ids: "to kept record 'a17'") by
    '…', so a stage's table has a row per kind of reason, not per record."""
    head = _QUOTED.sub("'…'", _NUM.sub("N", reason.split(" (", 1)[0]))
    return head if len(head) <= 120 else head[:117] + "..."


def warm_worker() -> None:
    """Start a worker while the main process reads the input: unpickling this function imports this module and
    what shard tasks need (pyarrow, numpy, the registry); each op module is imported by its first task."""


def write_read_shard(items: list, d: Path, k: int, first_n: int, seen: dict[str, str] | None = None,
                     on_error: str = "raise", path: str = "") -> dict:
    """Write read-stage shard ``k`` from its input items (records and BadLines, item ``first_n`` on): records
    to ``data-k``, bad lines (and, when ``seen`` is given, repeated ids) to ``ledger-k``. Returns counts, drop
    reasons and 64-bit hashes of the ids kept. The serial and the parallel reader both write through here."""
    from codecurate.io import InputError

    batch, bad, reasons = [], [], Counter[str]()
    for j, item in enumerate(items):
        if isinstance(item, BadLine):
            bad.append({"id": item.where, "stage": "read", "op": "read", "reason": item.error,
                        "detail": {"where": item.where}, "record": {"raw": item.text}})
            reasons[item.error.split(":")[0]] += 1
            continue
        validate_record(item)
        if seen is not None:
            prev = seen.get(item["id"])
            if prev is not None:
                msg = f"duplicate record id {item['id']!r} (first seen at record #{prev})"
                if on_error == "raise":
                    raise InputError(f"{path}: {msg}; ids must be unique")
                bad.append({"id": item["id"], "stage": "read", "op": "read", "reason": "duplicate id",
                            "detail": {"first": prev}, "record": item})
                reasons["duplicate id"] += 1
                continue
            seen[item["id"]] = str(first_n + j + 1)
        batch.append(item)
    if bad:
        sh.write_ledger_shard(bad, d / f"ledger-{k:05d}.parquet")
    sh.write_records_shard(batch, d / f"data-{k:05d}.parquet")
    return {"k": k, "in": len(items), "out": len(batch), "bad": len(bad), "reasons": dict(reasons),
            "id_hashes": _id_hashes([x["id"] for x in batch])}


def _id_hashes(ids: list) -> bytes:
    """64-bit hashes of record ids (8 bytes each): what the parallel reader's repeat check needs, at a fixed
    cost per record (a hash collision only sends the read to the serial reader, which compares the ids)."""
    import xxhash

    return b"".join(xxhash.xxh3_64_digest(str(x).encode()) for x in ids)


def _ids_repeat(infos: list[dict]) -> bool:
    """Whether the shards' id hashes repeat: a repeated id (or, rarely, a hash collision)."""
    import numpy as np

    hashes = np.frombuffer(b"".join(info["id_hashes"] for info in infos), dtype=np.uint64)
    return len(np.unique(hashes)) != len(hashes)


def _reset_dir(d: Path) -> None:
    shutil.rmtree(d)
    d.mkdir(parents=True)


def read_shard_task(task: dict) -> dict:
    """Parse one chunk of a JSONL input into read-stage shard ``k`` (ids are checked for repeats afterwards,
    across all chunks, by the caller)."""
    from codecurate.io import JsonlChunk, read_jsonl_chunk

    chunk = JsonlChunk(**task["chunk"])
    items = read_jsonl_chunk(task["path"], chunk, task["format"], task["on_error"])
    return write_read_shard(items, Path(task["out_dir"]), task["k"], chunk.first_index)


def run_shard_task(task: dict) -> dict:
    op = _get_op(task["spec"])
    table = sh.read_table(Path(task["in_path"]))
    cols = _columns(op)
    records = sh.table_to_records(table, cols)
    res = op.process(records)
    if cols is None:
        kept = res.kept
    else:  # untouched columns pass through as Arrow data
        pos = {r["id"]: i for i, r in enumerate(records)}
        kept = sh.overlay(sh.take(table, [pos[r["id"]] for r in res.kept]), res.kept, op.writes)
    numeric = res.kept if cols is None or "stats" in cols else []
    return _finish_shard(task, table.num_rows, kept, _full_dropped(table, pos if cols else {}, res.dropped, cols),
                         res.created, res.counters, numeric)


def _payload_dir(out_dir: Path, k: int) -> Path:
    return Path(out_dir) / f"payload-{k:05d}"


def map_shard_task(task: dict) -> dict:
    """A global op's map phase on one shard: the payloads go to ``payload-KKKKK/`` in the stage directory
    (never through the driver); returns the shard's record count and the counters the op raised meanwhile."""
    op = _get_op(task["spec"])
    assert isinstance(op, GlobalOp)  # the runner sends only global ops' stages here
    op.ensure_setup()
    records = sh.table_to_records(sh.read_table(Path(task["in_path"])), _reads(op))
    path = _payload_dir(task["out_dir"], task["k"])
    if path.exists():  # a killed earlier attempt
        shutil.rmtree(path)
    path.mkdir()
    op.map_shard(records, path)
    return {"k": task["k"], "in": len(records), "counters": op.take_counters()}


def _reads(op: Op) -> set[str] | None:
    r = op.reads()
    return None if r is None else {"id"} | set(r)


def apply_shard_task(task: dict) -> dict:
    table = sh.read_table(Path(task["in_path"]))
    with open(task["decisions_path"], "rb") as fh:  # written by this run's reduce
        decisions: list[Decision] = pickle.load(fh)
    if len(decisions) != table.num_rows:
        raise AccountingError(f"stage {task['stage']!r}: {len(decisions)} decisions for the {table.num_rows} "
                              f"records of shard {task['k']}")
    with_stats = any(d.stats for d in decisions)
    cols = {"id", "stats"} if with_stats else {"id"}
    records = sh.table_to_records(table, cols)
    kept_idx, kept, dropped = [], [], []
    for i, (rec, d) in enumerate(zip(records, decisions)):
        if d.stats:
            rec["stats"].update(d.stats)
        if d.keep:
            kept_idx.append(i)
            kept.append(rec)
        else:
            dropped.append(Dropped(rec, d.reason or f"{task['spec']['op']}: not selected", d.detail))
    out = sh.overlay(sh.take(table, kept_idx), kept, {"stats"} if with_stats else ())
    pos = {r["id"]: i for i, r in enumerate(records)}
    return _finish_shard(task, table.num_rows, out, _full_dropped(table, pos, dropped, cols), 0, Counter(),
                         kept if with_stats else [])


# -- the run ------------------------------------------------------------------------------------------
@dataclass
class StageReport:
    index: int
    name: str
    op: str
    n_in: int
    n_out: int
    dropped: int
    created: int
    seconds: float
    skipped: bool = False
    reasons: dict = field(default_factory=dict)


class RunResult:
    def __init__(self, run_dir: Path, reports: list[StageReport], output_path: Path, report_path: Path | None = None):
        self.run_dir = Path(run_dir)
        self.reports = reports
        self.output_path = output_path
        self.report_path = report_path  # RUN_DIR/report.html (recipe ``report``), None if off or it failed

    @property
    def last_stage_dir(self) -> Path:
        return sorted((self.run_dir / "stages").iterdir())[-1]

    def records(self) -> Iterator[dict]:
        """The curated records (canonical), in order."""
        for p in sorted(self.last_stage_dir.glob("data-*.parquet")):
            yield from sh.read_records_shard(p)

    def ledger(self) -> list[dict]:
        return sh.read_ledger(sorted((self.run_dir / "stages").glob("*/ledger-*.parquet")))

    @property
    def summary(self) -> dict:
        return json.loads((self.run_dir / "summary.json").read_text())


class Runner:
    def __init__(self, recipe: Recipe, output: str | Path | None = None, workers: int | None = None,
                 resume: bool = False, progress: bool = True, console=None, executor: str | None = None,
                 ray_address: str | None = None):
        self.recipe = recipe
        out = output or recipe.output.dir or Path("runs") / recipe.name
        self.run_dir = Path(out)
        self.workers = max(1, workers or recipe.workers or os.cpu_count() or 1)
        self.resume = resume
        self.progress = progress
        self.console = console
        self.executor_name = executor or recipe.executor
        self.executor: LocalExecutor | RayExecutor
        if self.executor_name == "ray":
            from codecurate.pipeline.executors.ray import RayExecutor

            self.executor = RayExecutor(self.workers, address=ray_address)
        elif self.executor_name == "local":
            self.executor = LocalExecutor(self.workers)
        else:
            raise RecipeError(f"executor: {self.executor_name!r} is not an executor; valid: local, ray")

    def close(self) -> None:
        self.executor.close()

    def _stage_dir(self, i: int, name: str) -> Path:
        return self.run_dir / "stages" / f"{i:02d}_{name}"

    def _manifest(self, d: Path) -> dict | None:
        p = d / "manifest.json"
        if p.exists():
            try:
                return json.loads(p.read_text())
            except ValueError:
                return None
        return None

    # -- stages --------------------------------------------------------------------------------------
    def _read_stage(self, prog) -> tuple[Path, dict]:
        r = self.recipe
        d = self._stage_dir(0, "read")
        import codecurate  # readers change with releases too: a new version re-reads the input

        cfg = _sha(json.dumps(r.input.model_dump(), sort_keys=True), str(r.batch_size), codecurate.__version__)
        fp_in = fingerprint_input(r.input.path)
        m = self._manifest(d)
        if self.resume and m and m["config_hash"] == cfg and m["input_fingerprint"] == fp_in:
            self._report(StageReport(0, "read", "read", m["counts"]["in"], m["counts"]["out"],
                                     m["counts"]["dropped"], 0, m["seconds"], skipped=True))
            return d, m
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        t0 = time.perf_counter()
        task = prog.add_task("read", total=None) if prog else None
        infos = self._read_parallel(d, prog, task) if self.workers > 1 else None
        mode = "parallel"
        if infos is None:
            # first without an id table (8 bytes a record: the ids' hashes); only when an id repeats (or two
            # hashes collide) again with one, which ledgers or refuses the repeat with its position
            mode, infos = "serial", self._read_serial(d, prog, task, None)
            if _ids_repeat(infos):
                _reset_dir(d)
                infos = self._read_serial(d, prog, task, {})
            for info in infos:
                info.pop("id_hashes", None)
        return self._read_done(d, cfg, fp_in, t0, infos, prog, task, mode)

    def _read_serial(self, d: Path, prog, task, seen: dict[str, str] | None) -> list[dict]:
        r = self.recipe
        infos: list[dict] = []
        n = 0
        items_in = read_records_with_errors(r.input.path, r.input.format, r.input.on_error, r.input.limit)
        while True:
            items = list(itertools.islice(items_in, r.batch_size))
            if items or not infos:  # an empty input (limit 0) still gets shard 0
                infos.append(write_read_shard(items, d, len(infos), n, seen, r.input.on_error, r.input.path))
            n += len(items)
            if prog:
                prog.update(task, completed=n)
            if len(items) < r.batch_size:
                break
        return infos

    def _read_parallel(self, d: Path, prog, task) -> list[dict] | None:
        """Parse a plain JSONL input in chunks of ``batch_size`` items on the workers. Shards are the serial
        reader's bytes; None (serial read instead) for other inputs, and when an id repeats (the serial
        reader then ledgers or refuses the repeat, with its position)."""
        from codecurate.io import detect_input_format, plan_jsonl_chunks

        r = self.recipe
        chunks = plan_jsonl_chunks(r.input.path, r.batch_size, r.input.limit)
        if not chunks or len(chunks) < 2:
            return None
        fmt = detect_input_format(r.input.path, r.input.format, r.input.on_error)
        tasks = [{"path": r.input.path, "chunk": vars(c), "format": fmt.name, "on_error": r.input.on_error,
                  "out_dir": str(d), "k": k} for k, c in enumerate(chunks)]
        done = [0]

        def advance(t, info):
            done[0] += info["in"]
            if prog:
                prog.update(task, completed=done[0])

        infos = self.executor.map(read_shard_task, tasks, True, on_done=advance)
        if _ids_repeat(infos):
            _reset_dir(d)
            return None
        for info in infos:
            info.pop("id_hashes")
        return infos

    def _read_done(self, d: Path, cfg: str, fp_in: str, t0: float, infos: list[dict], prog, task,
                   mode: str) -> tuple[Path, dict]:
        """Totals, stats and manifest of the read stage from its shards' infos."""
        n_in, n_out, n_bad, k = (sum(i["in"] for i in infos), sum(i["out"] for i in infos),
                                 sum(i["bad"] for i in infos), len(infos))
        reasons: Counter = Counter()
        for info in infos:
            reasons.update(info["reasons"])
        if prog:
            prog.update(task, completed=n_in, total=n_in)
        secs = time.perf_counter() - t0
        if n_in != n_out + n_bad:
            raise AccountingError(f"read: {n_in} in != {n_out} out + {n_bad} in ledger")
        m = {"stage": "read", "op": "read", "config_hash": cfg, "input_fingerprint": fp_in,
             "output_fingerprint": _sha(cfg, fp_in), "counts": {"in": n_in, "out": n_out, "dropped": n_bad, "created": 0},
             "seconds": round(secs, 3), "shards": k, "read_mode": mode}
        atomic_write_bytes(d / "stats.json", _json_bytes({"counts": m["counts"], "reasons": dict(reasons)}))
        atomic_write_bytes(d / "manifest.json", _json_bytes(m))
        self._report(StageReport(0, "read", "read", n_in, n_out, n_bad, 0, secs, reasons=dict(reasons)))
        return d, m

    def _op_stage(self, i: int, prev_dir: Path, prev_m: dict, prog) -> tuple[Path, dict]:
        r = self.recipe
        st = r.stages[i - 1]
        assert st.name is not None  # StageSpec names every stage
        d = self._stage_dir(i, st.name)
        cfg = r.stage_hash(i - 1)
        fp_in = prev_m["output_fingerprint"]
        m = self._manifest(d)
        if self.resume and m and m["config_hash"] == cfg and m["input_fingerprint"] == fp_in:
            self._report(StageReport(i, st.name, st.op, m["counts"]["in"], m["counts"]["out"], m["counts"]["dropped"],
                                     m["counts"]["created"], m["seconds"], skipped=True))
            return d, m
        spec = {"op": st.op, "params": st.params, "seed": r.seed, "on_error": st.on_error}
        cls = get_op(st.op)
        attempt = {"config_hash": cfg, "input_fingerprint": fp_in}
        keep_done = False
        if self.resume and d.exists() and (d / "attempt.json").exists():
            try:
                keep_done = json.loads((d / "attempt.json").read_text()) == attempt and cls.kind != "global"
            except ValueError:
                keep_done = False
        if d.exists() and not keep_done:
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(d / "attempt.json", _json_bytes(attempt))
        for stale in d.glob(".*.tmp"):
            stale.unlink()

        in_paths = sorted(prev_dir.glob("data-*.parquet"))
        n_total = prev_m["counts"]["out"]
        parallel = placement_for(cls)
        t0 = time.perf_counter()
        task_id = prog.add_task(st.name, total=n_total) if prog else None

        def advance(t, info):
            if prog:
                prog.advance(task_id, info["in"] if isinstance(info, dict) else len(info[0]))

        tasks: list[dict[str, Any]] = [{"spec": spec, "in_path": str(p), "out_dir": str(d), "k": k,
                                        "stage": st.name} for k, p in enumerate(in_paths)]
        infos: dict[int, dict] = {}
        if keep_done:
            for t in tasks:
                if (d / f"data-{t['k']:05d}.parquet").exists() and (d / f"shard-{t['k']:05d}.json").exists():
                    infos[t["k"]] = json.loads((d / f"shard-{t['k']:05d}.json").read_text())
                    advance(t, infos[t["k"]])
        todo = [t for t in tasks if t["k"] not in infos]
        counters: Counter = Counter()  # raised outside any one shard: a global op's map and reduce phases
        if issubclass(cls, GlobalOp):
            infos.update(self._global_op(spec, d, todo, parallel, advance, counters))
        else:
            for info in self.executor.map(run_shard_task, todo, parallel, on_done=advance):
                infos[info["k"]] = info
        secs = time.perf_counter() - t0

        counts = {"in": 0, "out": 0, "dropped": 0, "created": 0}
        reasons: Counter = Counter()
        numeric: dict[str, list[float]] = {}
        for k in sorted(infos):
            inf = infos[k]
            for c in counts:
                counts[c] += inf[c]
            counters.update(inf["counters"])
            reasons.update(inf["reasons"])
            for key, (n, s, lo, hi) in inf["numeric"].items():
                a = numeric.get(key)
                numeric[key] = [n, s, lo, hi] if a is None else [a[0] + n, a[1] + s, min(a[2], lo), max(a[3], hi)]
        if counts["in"] != n_total:
            raise AccountingError(f"stage {st.name!r}: read {counts['in']} records, previous stage wrote {n_total}")
        if counts["in"] + counts["created"] != counts["out"] + counts["dropped"]:
            raise AccountingError(f"stage {st.name!r}: {counts['in']} in + {counts['created']} created != "
                                  f"{counts['out']} out + {counts['dropped']} in ledger")
        stats = {"counts": counts, "reasons": dict(reasons.most_common()), "counters": dict(sorted(counters.items())),
                 "numeric": {k: {"count": v[0], "mean": v[1] / v[0], "min": v[2], "max": v[3]}
                             for k, v in sorted(numeric.items())}}
        m = {"stage": st.name, "op": st.op, "params": st.params, "config_hash": cfg, "input_fingerprint": fp_in,
             "output_fingerprint": _sha(cfg, fp_in), "counts": counts, "seconds": round(secs, 3),
             "shards": len(tasks), "workers": self.workers if parallel is True else 1,
             "placement": "pool" if parallel is True else parallel}
        atomic_write_bytes(d / "stats.json", _json_bytes(stats))
        atomic_write_bytes(d / "manifest.json", _json_bytes(m))
        self._report(StageReport(i, st.name, st.op, counts["in"], counts["out"], counts["dropped"], counts["created"],
                                 secs, reasons=dict(reasons)))
        return d, m

    def _global_op(self, spec: dict, d: Path, todo: list[dict], parallel: bool | str, advance,
                   counters: Counter) -> dict[int, dict]:
        """Map (payloads spilled to ``payload-KKKKK/`` by the shard tasks), reduce in this process shard by shard
        (each shard's decisions pickled to ``decisions-KKKKK.pkl``), then apply the decisions per shard. The
        driver holds what the op's ``reduce_shards`` holds, never every payload or every decision."""
        mapped = self.executor.map(map_shard_task, todo, parallel, on_done=advance)
        for m in mapped:
            counters.update(m["counters"])
        sizes = [m["in"] for m in mapped]
        op = _get_op(spec)
        assert isinstance(op, GlobalOp)
        op.ensure_setup()
        produced = op.reduce_shards([_payload_dir(d, t["k"]) for t in todo], sizes)
        for t, n in zip(todo, sizes):
            decisions = next(produced, None)
            if decisions is None or len(decisions) != n:
                raise AccountingError(f"op {spec['op']!r}: reduce gave {'no' if decisions is None else len(decisions)}"
                                      f" decisions for the {n} records of shard {t['k']}")
            t["decisions_path"] = str(d / f"decisions-{t['k']:05d}.pkl")
            atomic_write_bytes(Path(t["decisions_path"]), pickle.dumps(decisions, protocol=pickle.HIGHEST_PROTOCOL))
        if next(produced, None) is not None:
            raise AccountingError(f"op {spec['op']!r}: reduce gave decisions for more shards than {len(todo)}")
        counters.update(op.take_counters())
        infos = {}
        # applying decisions needs no model: CPU tasks on Ray, this process locally as before
        for info in self.executor.map(apply_shard_task, todo, "light" if parallel == "model" else parallel):
            infos[info["k"]] = info
        for t in todo:  # the spilled payloads and decisions are scratch: the shards now hold the result
            shutil.rmtree(_payload_dir(d, t["k"]), ignore_errors=True)
            Path(t["decisions_path"]).unlink(missing_ok=True)
        return infos

    def _report(self, rep: StageReport) -> None:
        self.reports.append(rep)

    # -- main ----------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        r = self.recipe
        self.reports: list[StageReport] = []
        if self.run_dir.exists() and not self.resume:
            for sub in ("stages", "output"):
                if (self.run_dir / sub).exists():
                    shutil.rmtree(self.run_dir / sub)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.run_dir / "recipe.yaml", r.to_yaml().encode())
        # stale stage dirs from an older recipe with other stages
        keep = {self._stage_dir(0, "read").name} | {self._stage_dir(i + 1, s.name or s.op).name
                                                    for i, s in enumerate(r.stages)}
        if (self.run_dir / "stages").exists():
            for child in (self.run_dir / "stages").iterdir():
                if child.name not in keep:
                    shutil.rmtree(child)
        prog = None
        if self.progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            prog = Progress(TextColumn("{task.description:<22}", markup=False), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=self.console, transient=False)
            prog.start()
        if any(not (set(get_op(st.op).needs) & IN_PROCESS_NEEDS) for st in r.stages):
            self.executor.warm(warm_worker)  # worker start-up overlaps the read stage
        try:
            d, m = self._read_stage(prog)
            for i in range(1, len(r.stages) + 1):
                d, m = self._op_stage(i, d, m, prog)
        finally:
            if prog:
                prog.stop()
            self.close()
        out_path = self.run_dir / "output" / r.output.file
        # streamed shard by shard: the output never sits in memory as a whole
        n_out = write_records((rec for p in sorted(d.glob("data-*.parquet")) for rec in sh.read_records_shard(p)),
                              out_path, format=r.output.format)
        write_dataset_info(out_path, r.name, r.output.format)  # LLaMA-Factory entry for messages/sharegpt/alpaca
        summary = {"recipe": r.name, "executor": self.executor_name, "input": r.input.path, "output": str(out_path),
                   "records_in": self.reports[0].n_in,
                   "records_out": n_out,
                   "stages": [{"stage": x.name, "op": x.op, "in": x.n_in, "out": x.n_out, "dropped": x.dropped,
                               "created": x.created, "seconds": round(x.seconds, 3), "resumed": x.skipped}
                              for x in self.reports]}
        atomic_write_bytes(self.run_dir / "summary.json", _json_bytes(summary))
        report = self._write_report(summary)
        return RunResult(self.run_dir, self.reports, out_path, report)

    def _write_report(self, summary: dict) -> Path | None:
        """The run's HTML report (recipe ``report``); a failure is logged and never fails the run."""
        level = self.recipe.report
        if level is False:
            return None
        try:
            from codecurate.analysis import write_run_report

            path = write_run_report(self.run_dir, "full" if level == "full" else "basic")
        except Exception as e:  # noqa: BLE001 - the curated data is written; a report problem must not undo it
            import logging

            logging.getLogger(__name__).warning("report not written: %s: %s", type(e).__name__, e)
            if self.console is not None:
                from rich.text import Text

                self.console.print(Text(f"warning: report not written: {type(e).__name__}: {e}"), highlight=False)
            return None
        summary["report"] = str(path)
        atomic_write_bytes(self.run_dir / "summary.json", _json_bytes(summary))
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text.assemble("report: ", (str(path), "bold")), highlight=False)
        return path


def run_recipe(recipe: Recipe | str | Path, output: str | Path | None = None, workers: int | None = None,
               resume: bool = False, progress: bool = False, console=None, executor: str | None = None,
               ray_address: str | None = None) -> RunResult:
    """Run a recipe (object or YAML path) and return its RunResult. ``executor`` overrides the recipe's
    (``local`` or ``ray``); ``ray_address`` picks the Ray cluster (default: ``RAY_ADDRESS`` or a local one)."""
    if not isinstance(recipe, Recipe):
        recipe = Recipe.from_yaml(recipe)
    return Runner(recipe, output=output, workers=workers, resume=resume, progress=progress, console=console,
                  executor=executor, ray_address=ray_address).run()
