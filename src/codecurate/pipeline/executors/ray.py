"""Ray executor: runs the same shard tasks as the local executor, as Ray tasks (``pip install codecurate[ray]``).

The runner hands every executor the same thing: a picklable function and a list of task dicts (an op spec,
an input Parquet shard, an output folder), and expects the results back in task order. Here each task is a
Ray task with ``num_cpus=1``, so Ray places them on any node of the cluster and retries a task whose worker
died (shard writes are atomic and idempotent, so a retry rewrites the same bytes). Output is byte-identical
to the local executor for the same recipe.

Placement (the op's declared ``needs``, see ``runner.placement_for``): CPU ops are Ray tasks with
``num_cpus=1``; ops that run code in the sandbox are Ray tasks too (each shard's sandbox pool runs on the node
that got it); ops that hold a model or want a GPU run on **model actors**: one actor per GPU in the cluster
(``num_gpus=1``), or one actor when the cluster has no GPU, shards dealt round-robin, so each actor loads the
model once for the whole stage; the actors are released when the stage ends. ``placements`` records, per
``map`` call, where its tasks ran.

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
        self.placements: list[dict] = []

    def warm(self, fn: Callable[[], Any] | None = None) -> None:
        """Ray starts its workers on demand; nothing to do."""

    def _model_actors(self, want_gpu: bool) -> list:
        ray = self._ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        n = max(1, gpus) if want_gpu or gpus else 1
        cls = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0)(_ShardActor)
        return [cls.remote() for _ in range(n)]

    def map(self, fn: Callable[[dict], Any], tasks: list[dict], parallel: bool | str = True,
            on_done: Callable[[dict, Any], None] | None = None) -> list[Any]:
        if not parallel or not tasks:
            self.placements.append({"fn": fn.__name__, "where": "driver", "tasks": len(tasks)})
            return run_in_process(fn, tasks, on_done)
        actors: list = []
        if parallel == "model":
            actors = self._model_actors(want_gpu=True)
            refs = [actors[i % len(actors)].run.remote(fn, t) for i, t in enumerate(tasks)]
            self.placements.append({"fn": fn.__name__, "where": "model_actors", "actors": len(actors),
                                    "tasks": len(tasks)})
        else:
            if fn not in self._remote:
                self._remote[fn] = self._ray.remote(num_cpus=1)(fn)
            refs = [self._remote[fn].remote(t) for t in tasks]
            self.placements.append({"fn": fn.__name__, "where": "tasks", "kind": "sandbox" if parallel == "sandbox"
                                    else "cpu", "tasks": len(tasks)})
        out = []
        for t, ref in zip(tasks, refs):
            r = self._ray.get(ref)
            out.append(r)
            if on_done:
                on_done(t, r)
        for a in actors:  # free the model (and its GPU) for the next stage
            self._ray.kill(a)
        return out

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


class _ShardActor:
    """A long-lived worker for model ops: runs shard tasks one after another; the op (and its model) is built
    once per actor by the runner's op cache."""

    def run(self, fn: Callable[[dict], Any], task: dict) -> Any:
        return fn(task)

    def pid(self) -> int:
        import os

        return os.getpid()
