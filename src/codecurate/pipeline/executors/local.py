"""Local executor: runs shard tasks in this process or on a pool of N worker processes.

The executor knows nothing of operators: it maps a picklable function over task dicts and returns results in
task order (so output is identical for any number of workers). Workers start from a forkserver, not fork, so
a parent that already started pyarrow or torch threads cannot hand a child a held lock.

The forkserver and the workers die with this process, even when it is killed with SIGKILL (multiprocessing
alone leaves them running, re-parented to init, for ever):

- every worker asks for SIGKILL when its parent, the forkserver, exits (``PR_SET_PDEATHSIG``; the forkserver
  is single-threaded, so "the thread that forked it" is the whole process), and closes its copy of the
  forkserver's "alive" pipe, which multiprocessing hands every client: the forkserver then sees EOF, and
  exits, as soon as this process is gone;
- the forkserver itself asks for SIGKILL when this process exits (``_forkserver_preload``), when it was
  started from the main thread (``PR_SET_PDEATHSIG`` fires when the *thread* that forked a child exits, so
  it is not armed for a forkserver started from a short-lived thread; the alive pipe still covers that case).

Both check ``getppid()`` after arming, so a parent that died before the ``prctl`` is not missed.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1
# Set (to this process's pid) only while this process starts the forkserver; read by _forkserver_preload.
FORKSERVER_PARENT_ENV = "CODECURATE_FORKSERVER_PARENT"
_PRELOAD = "codecurate.pipeline.executors._forkserver_preload"
_start_lock = threading.Lock()


def die_with_parent(expected_ppid: int | None, sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux ``PR_SET_PDEATHSIG``).

    If the parent is already gone (``getppid() != expected_ppid``: it died before the ``prctl``, and the
    signal will never come), exit at once. Returns whether the signal is armed (False off Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if expected_ppid is not None and os.getppid() != expected_ppid:
        os._exit(1)
    return True


def _start_forkserver(ctx) -> int | None:
    """Start the forkserver (if not running) with the preload that ties it to this process; its pid."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    with _start_lock:
        preload = list(getattr(server, "_preload_modules", None) or ["__main__"])
        if _PRELOAD not in preload:
            ctx.set_forkserver_preload(preload + [_PRELOAD])
        # arm only from the main thread (it lives as long as the process); "" disarms a value inherited from
        # a parent process
        armed = threading.current_thread() is threading.main_thread()
        old = os.environ.get(FORKSERVER_PARENT_ENV)
        os.environ[FORKSERVER_PARENT_ENV] = str(os.getpid()) if armed else ""
        try:
            forkserver.ensure_running()
        finally:
            if old is None:
                os.environ.pop(FORKSERVER_PARENT_ENV, None)
            else:
                os.environ[FORKSERVER_PARENT_ENV] = old
    return getattr(server, "_forkserver_pid", None)


def _worker_init(forkserver_pid: int | None) -> None:
    """Runs first in every pool worker (a child of the forkserver): die with the forkserver, and let the
    forkserver exit when this (main) process does."""
    die_with_parent(forkserver_pid)
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver
        # private CPython attribute (absent from typeshed); the except below covers a Python without it
        fd = server._forkserver_alive_fd  # type: ignore[attr-defined]
        if fd is not None:  # this worker's copy of the alive pipe's write end: the main process keeps the other
            server._forkserver_alive_fd = None  # type: ignore[attr-defined]
            os.close(fd)
    except (AttributeError, OSError):
        pass


class LocalExecutor:
    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = mp.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                             initargs=(_start_forkserver(ctx),))
        return self._pool

    def warm(self, fn: Callable[[], Any] | None = None) -> None:
        """Start the workers now (without waiting), so their start-up overlaps work in this process."""
        if self.workers > 1:
            pool = self._ensure_pool()
            for _ in range(self.workers):
                pool.submit(fn or _noop)

    def map(self, fn: Callable[[dict], Any], tasks: list[dict], parallel: bool | str = True,
            on_done: Callable[[dict, Any], None] | None = None) -> list[Any]:
        """``parallel``: True = the worker pool; False, ``"model"`` or ``"sandbox"`` = this process (a model is
        loaded once here; the sandbox runs its own pool of programs)."""
        if parallel is not True or self.workers == 1 or len(tasks) <= 1:
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
