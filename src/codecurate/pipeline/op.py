"""Operator base classes.

Ops work on batches of canonical records (lists of dicts, see ``codecurate.records``) and never on files or
executors, so the same op runs in one process, in a local worker pool, or on Ray. Four kinds:

- ``Mapper``: record -> record (refactor, extract_code). Override ``map``.
- ``Filter``: computes its stats into ``record["stats"]``, then keeps or drops each record with a reason.
  Override ``compute`` (batch, optional) and ``decide`` (per record: a reason string to drop, None to keep).
- ``Expander``: record -> records (augmentation, synthesis). Override ``expand``.
- ``GlobalOp``: needs the whole dataset. ``map_batch`` turns each record into a small picklable payload
  (a signature, an embedding, a score); ``reduce`` sees every payload in dataset order and returns one
  ``Decision`` per record (keep / drop with reason, plus stats to merge into the record).

Every op is configured by a pydantic model (``Config``) whose fields are its recipe parameters, with defaults
from the paper it implements. Unknown parameters are rejected (``extra="forbid"``).

A per-record failure inside ``map``/``decide``/``expand`` raises ``OpError`` naming the op and record id,
unless the stage sets ``on_error: skip``, in which case the record goes to the ledger with the error as
reason. An op can also set a record aside on purpose by raising ``DropRecord(reason)`` from ``map``.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict


class OpConfig(BaseModel):
    """Base of every op's parameters. Subclasses add fields with paper defaults."""

    model_config = ConfigDict(extra="forbid")


class FieldsConfig(OpConfig):
    """Config for ops that read text: which record fields (``instruction``, ``response``, ``code``,
    ``meta.<key>``) they look at."""

    fields: list[str] = ["code"]


def top_fields(fields: list[str] | tuple[str, ...]) -> set[str]:
    """Recipe field names (``code``, ``meta.task_id``) -> the top-level record fields they live in."""
    return {f.split(".", 1)[0] for f in fields}


class OpError(RuntimeError):
    """A record made an op fail; the message names the op and the record id."""


class DropRecord(Exception):
    """Raised by an op's per-record method to set the record aside with ``reason``."""

    def __init__(self, reason: str, detail: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Dropped:
    """A record set aside by an op: goes to the ledger."""

    record: dict
    reason: str
    detail: dict | None = None


@dataclass
class Decision:
    """A global op's verdict on one record."""

    keep: bool = True
    reason: str = ""
    stats: dict | None = None
    detail: dict | None = None


@dataclass
class BatchResult:
    kept: list[dict] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)
    created: int = 0  # records an Expander added beyond its inputs


OpKind = Literal["mapper", "filter", "expander", "global"]

# The op's config type: ``class MinHashDedup(GlobalOp[MinHashDedupConfig])`` makes ``self.config`` a
# ``MinHashDedupConfig`` for the type checker (``Config`` must then be that class or a subclass of it).
C = TypeVar("C", bound=OpConfig)


class Op(Generic[C]):
    """Base of all operators. Subclasses set ``name``, ``kind``, ``Config`` and a docstring citing the paper,
    and name the config type as the type parameter (``class Length(Filter[LengthConfig])``)."""

    name: ClassVar[str] = ""
    kind: ClassVar[OpKind]
    # Not a ClassVar: mypy forbids type variables in ClassVar. The default serves ops without parameters; it is
    # an OpConfig, not a C, so the checker cannot accept it for every C.
    Config: type[C] = OpConfig  # type: ignore[assignment]
    config: C
    # What the op needs so an executor can place it: "cpu", "gpu", "model", "sandbox".
    needs: ClassVar[tuple[str, ...]] = ("cpu",)
    # Paper / reference the defaults come from (shown by `codecurate ops NAME`).
    paper: ClassVar[str] = ""
    # Bump when a change to the op changes its output for the same input and parameters: the resume hash
    # includes it (and the codecurate version), so `--resume` recomputes the stage instead of reusing it.
    version: ClassVar[int] = 1
    # Record fields the op may change. With ``reads()``, this lets the runner decode only those columns and pass
    # every other column (``meta`` and ``tests`` are JSON) through untouched. None = any field.
    writes: ClassVar[frozenset[str] | None] = None

    def reads(self) -> set[str] | None:
        """Top-level record fields the op reads (None = all). ``id`` is always there."""
        return None

    def __init__(self, config: C | dict | None = None, *, seed: int = 0, on_error: str = "raise"):
        if config is None:
            config = {}
        self.config = config if isinstance(config, OpConfig) else self.Config.model_validate(config)
        self.seed = seed
        self.on_error = on_error
        self.counters: Counter = Counter()
        self._ready = False

    # -- lifecycle ---------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models or build indexes. Called once per worker process, before the first batch."""

    def ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def count(self, key: str, n: int = 1) -> None:
        """Increment a stage counter (merged across workers into the stage's stats)."""
        self.counters[key] += n

    def take_counters(self) -> Counter:
        c, self.counters = self.counters, Counter()
        return c

    # -- helpers -----------------------------------------------------------------------------------------
    def _fail(self, rec: dict, exc: BaseException, result: BatchResult) -> None:
        if isinstance(exc, DropRecord):
            result.dropped.append(Dropped(rec, exc.reason, exc.detail))
            return
        msg = f"{type(exc).__name__}: {exc}"
        if self.on_error == "skip":
            result.dropped.append(Dropped(rec, f"error: {msg}"))
            return
        raise OpError(f"op {self.name!r} failed on record {rec.get('id')!r}: {msg}") from exc

    def isolate_failure(self, records: list[dict], exc: BaseException, res: BatchResult) -> BatchResult:
        """A batch-level step failed with ``exc``: one record is named (ledgered with ``on_error: skip``, else
        raised); a batch raises, unless ``on_error: skip``, which reruns the records one by one so that only the
        failing ones go to the ledger."""
        if len(records) == 1:
            self._fail(records[0], exc, res)
            res.counters = self.take_counters()
            return res
        if self.on_error != "skip":
            raise OpError(f"op {self.name!r} failed on a batch starting at record "
                          f"{records[0].get('id')!r}: {type(exc).__name__}: {exc}") from exc
        for rec in records:
            sub = self.process([rec])
            res.kept += sub.kept
            res.dropped += sub.dropped
            res.created += sub.created
            res.counters += sub.counters
        return res

    def process(self, records: list[dict]) -> BatchResult:  # pragma: no cover - overridden per kind
        raise TypeError(f"{type(self).__name__} must define process()")


class Mapper(Op[C]):
    kind: ClassVar[OpKind] = "mapper"

    def map(self, record: dict) -> dict:
        return record

    def process(self, records: list[dict]) -> BatchResult:
        self.ensure_setup()
        res = BatchResult()
        for rec in records:
            try:
                res.kept.append(self.map(rec))
            except Exception as e:  # noqa: BLE001 - routed by on_error
                self._fail(rec, e, res)
        res.counters = self.take_counters()
        return res


class Filter(Op[C]):
    kind: ClassVar[OpKind] = "filter"

    def compute(self, records: list[dict]) -> None:
        """Write this op's stats into each ``record["stats"]`` (batched for speed where it helps)."""

    def decide(self, record: dict) -> str | None:
        """Return a drop reason, or None to keep."""
        return None

    def process(self, records: list[dict]) -> BatchResult:
        if not records:  # an empty shard (e.g. after a selection): nothing to compute, no model to load
            return BatchResult(counters=self.take_counters())
        self.ensure_setup()
        res = BatchResult()
        try:
            self.compute(records)
        except Exception as e:  # noqa: BLE001
            return self.isolate_failure(records, e, res)
        for rec in records:
            try:
                reason = self.decide(rec)
            except Exception as e:  # noqa: BLE001
                self._fail(rec, e, res)
                continue
            if reason is None:
                res.kept.append(rec)
            else:
                res.dropped.append(Dropped(rec, reason))
        res.counters = self.take_counters()
        return res


class Expander(Op[C]):
    kind: ClassVar[OpKind] = "expander"

    def expand(self, record: dict) -> list[dict]:
        """Return the records to emit for ``record`` (usually the original first). Raise DropRecord to set
        the input aside instead."""
        return [record]

    def process(self, records: list[dict]) -> BatchResult:
        self.ensure_setup()
        res = BatchResult()
        for rec in records:
            try:
                out = self.expand(rec)
            except Exception as e:  # noqa: BLE001
                self._fail(rec, e, res)
                continue
            if not out:
                res.dropped.append(Dropped(rec, f"{self.name}: produced no records"))
                continue
            res.kept.extend(out)
            res.created += len(out) - 1
        res.counters = self.take_counters()
        return res


def ids_at(starts: Any, wanted: Any, load_part: Callable[[int], list]) -> dict[int, Any]:
    """{global record index: id} for the sorted indices ``wanted`` (numpy) of spilled shards whose first
    indices are ``starts`` (numpy, one more than shards); ``load_part(k)`` reads shard ``k``'s ids, called once
    per shard that holds a wanted index (a global op's reduce names only a few records, e.g. kept originals)."""
    import numpy as np

    out: dict[int, Any] = {}
    ks = np.searchsorted(starts, wanted, side="right") - 1
    for k in np.unique(ks).tolist():
        part = load_part(k)
        for i in wanted[ks == k].tolist():
            out[i] = part[i - int(starts[k])]
    return out


class GlobalOp(Op[C]):
    """Two phases: ``map_batch`` (parallel, per batch) and ``reduce`` (once, over all payloads in order).

    The runner goes through the out-of-core pair ``map_shard`` / ``reduce_shards``: each shard task writes its
    payloads to a directory of its own in the stage directory (so payloads never travel through the driver),
    and ``reduce_shards`` yields the decisions shard by shard (so the driver never holds a decision per record
    of the whole dataset). The defaults pickle ``map_batch``'s payloads and call ``reduce`` on all of them; an
    op whose payloads grow with the data (MinHash signatures and shingle sets, hashes) overrides both to read
    them back column by column from memory-mapped files."""

    kind: ClassVar[OpKind] = "global"

    def map_batch(self, records: list[dict]) -> list[Any]:
        return [None] * len(records)

    def reduce(self, payloads: list[Any]) -> list[Decision]:
        return [Decision() for _ in payloads]

    # -- out of core (what the runner calls) ----------------------------------------------------------------
    def map_shard(self, records: list[dict], path: Path) -> None:
        """Write the payloads of one shard's ``records`` under the (existing, empty) directory ``path``."""
        payloads = self.map_batch(records)
        if len(payloads) != len(records):
            raise OpError(f"op {self.name!r}: map_batch returned {len(payloads)} payloads for {len(records)} "
                          "records")
        with open(path / "payloads.pkl", "wb") as fh:
            pickle.dump(payloads, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def reduce_shards(self, paths: list[Path], sizes: list[int]) -> Iterator[list[Decision]]:
        """Decisions for the shards whose payloads ``map_shard`` wrote under ``paths`` (``sizes[k]`` records
        each, dataset order): one list per shard, in order."""
        lists = []
        for p in paths:
            with open(p / "payloads.pkl", "rb") as fh:  # written by this run's own map tasks
                lists.append(pickle.load(fh))
        decisions = self.reduce([x for pl in lists for x in pl])
        pos = 0
        for n in sizes:
            yield decisions[pos:pos + n]
            pos += n
