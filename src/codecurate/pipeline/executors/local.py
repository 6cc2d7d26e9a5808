"""Local executor: runs shard tasks in this process or on a pool of N worker processes.

The executor knows nothing of operators: it maps a picklable function over task dicts and returns results in
task order (so output is identical for any number of workers). Workers start from a forkserver, not fork, so
a parent that already started pyarrow or torch threads cannot hand a child a held lock.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


class LocalExecutor:
    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("forkserver"))
        return self._pool

    def warm(self, fn: Callable[[], Any] | None = None) -> None:
        """Start the workers now (without waiting), so their start-up overlaps work in this process."""
        if self.workers > 1:
            pool = self._ensure_pool()
            for _ in range(self.workers):
                pool.submit(fn or _noop)

    def map(self, fn: Callable[[dict], Any], tasks: list[dict], parallel: bool = True,
            on_done: Callable[[dict, Any], None] | None = None) -> list[Any]:
        if not parallel or self.workers == 1 or len(tasks) <= 1:
            return run_in_process(fn, tasks, on_done)
        pool = self._ensure_pool()
        futures = [pool.submit(fn, t) for t in tasks]
        out = []
        for t, f in zip(tasks, futures):
            r = f.result()
            out.append(r)
            if on_done:
                on_done(t, r)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def run_in_process(fn: Callable[[dict], Any], tasks: list[dict],
                   on_done: Callable[[dict, Any], None] | None = None) -> list[Any]:
    """Run the tasks one after another in this process (ops that must not leave it, or a single task)."""
    out = []
    for t in tasks:
        r = fn(t)
        out.append(r)
        if on_done:
            on_done(t, r)
    return out


def _noop() -> None:
    return None
