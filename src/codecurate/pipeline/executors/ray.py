"""Ray executor: runs the same shard tasks as the local executor, as Ray tasks (``pip install codecurate[ray]``).

The runner hands every executor the same thing: a picklable function and a list of task dicts (an op spec,
an input Parquet shard, an output folder), and expects the results back in task order. Here each task is a
Ray task with ``num_cpus=1``, so Ray places them on any node of the cluster and retries a task whose worker
died (shard writes are atomic and idempotent, so a retry rewrites the same bytes). Output is byte-identical
to the local executor for the same recipe.

Connecting: ``address=None`` joins the cluster named by ``RAY_ADDRESS`` when set, else starts a local one with
``workers`` CPUs; ``address="auto"`` or ``"ray://host:10001"`` joins an existing cluster. If Ray is already
initialized in this process it is used as is and left running.

Deviation from DESIGN.md ("Ray Data"): shards are scheduled as Ray tasks, not as a Ray Data dataset. The op
contract is unchanged (batches in, batches out; map/reduce for global ops), and the run directory stays the
single source of truth, so resume works the same way. The run directory must be on a filesystem every node
sees (one machine, or a shared mount such as NFS).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from codecurate.pipeline.executors.local import run_in_process


class RayExecutor:
    def __init__(self, workers: int = 1, address: str | None = None, object_store_mb: int = 512):
        try:
            import ray
        except ImportError as e:
            raise ImportError("executor 'ray' needs Ray: pip install 'codecurate[ray]'") from e
        self._ray = ray
        self.workers = max(1, workers)
        self._started = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            kw: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING",
                                  "configure_logging": True, "log_to_driver": True}
            if address is None:  # a local cluster sized like the local executor's pool
                kw.update(num_cpus=self.workers, object_store_memory=object_store_mb * 1024 * 1024)
            ray.init(address=address, **kw)
            self._started = True
        self._remote: dict[Callable, Any] = {}

    def warm(self, fn: Callable[[], Any] | None = None) -> None:
        """Ray starts its workers on demand; nothing to do."""

    def map(self, fn: Callable[[dict], Any], tasks: list[dict], parallel: bool = True,
            on_done: Callable[[dict, Any], None] | None = None) -> list[Any]:
        if not parallel or len(tasks) <= 1:
            return run_in_process(fn, tasks, on_done)
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(num_cpus=1)(fn)
        refs = [self._remote[fn].remote(t) for t in tasks]
        out = []
        for t, ref in zip(tasks, refs):
            r = self._ray.get(ref)
            out.append(r)
            if on_done:
                on_done(t, r)
        return out

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False
