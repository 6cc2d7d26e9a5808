"""OS-level isolation for one sandboxed process tree (Linux).

What a sandboxed program gets (when running as root, the normal case on our machines and in containers):

- its own network namespace (``unshare(CLONE_NEWNET)``): only a down loopback, so every connection fails;
- its own mount namespace: private tmpfs over ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run/lock`` (its working
  directory is a fresh directory in that tmpfs, gone when the last process exits), and a tmpfs over every
  directory that the sandbox uid cannot traverse on the way to the interpreter (e.g. ``/root`` when the
  interpreter lives in ``/root/.pyenv``), with only the interpreter/site-packages bound back read-only: the
  home directory's other files are invisible;
- a private unprivileged uid/gid (random, one per program, no supplementary groups) for the code itself (the
  driver that supervises it stays root inside the namespaces and drops the uid in each worker it forks), so
  RLIMIT_NPROC really holds (it is not enforced for root; training_eval.md §4b), files outside are read-only
  to it, it cannot signal or inspect its supervisor, and ``kill(-1, SIGKILL)`` from that uid removes every
  process the program left behind (daemons included; the driver is their subreaper and reaps them);
- rlimits (CPU, address space, NPROC, FSIZE, NOFILE, no core files), ``PR_SET_NO_NEW_PRIVS``, parent-death
  signal, its own session (``setsid``) so the whole group can be killed;
- a clean environment (no host variables leak) and ``python -I``.

The namespaces and mounts are set up once per driver by the driver itself (direct syscalls through ctypes,
no ``preexec_fn``, so starting drivers from many threads is safe); every program is then one ``fork`` of
that pristine driver (see ``_driver.py``), which is what makes the sandbox faster than per-program
``multiprocessing`` checkers while isolating more.
"""

from __future__ import annotations

import collections
import functools
import os
import resource
import secrets
import signal
import stat
import sys
import sysconfig
import threading

WORKDIR = "/tmp/sandbox"  # inside the program's private /tmp
TMPFS_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

_UID_BASE = 0x6F000000  # far above any real account; one fresh uid per running program
_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()
recent_uids: collections.deque[int] = collections.deque(maxlen=4096)  # for audits and tests


def allocate_uid() -> int:
    with _uid_lock:
        while True:
            uid = _UID_BASE + secrets.randbelow(1 << 24)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                recent_uids.append(uid)
                return uid


def release_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def reap_uid(uid: int) -> None:
    """Kill every process owned by ``uid`` (a private sandbox uid: nothing else runs as it).

    A forked helper drops to that uid and calls ``kill(-1, SIGKILL)``, which reaches exactly that uid's
    processes, including daemons that left the process group. Works even when a fork bomb has used up the
    uid's RLIMIT_NPROC (setuid does not fail on it; only exec would)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked helper
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _traversable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def _host_site_paths() -> tuple[str, ...]:
    """site-packages directories of the host interpreter (the sandbox runs ``-I -S`` and appends these)."""
    paths = []
    for key in ("purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p and os.path.isdir(p) and p not in paths:
            paths.append(p)
    for p in sys.path:
        if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p) and p not in paths:
            paths.append(p)
    return tuple(paths)


def host_site_paths() -> list[str]:
    """site-packages directories of the host interpreter (the sandbox runs ``-I -S`` and appends these)."""
    return list(_host_site_paths())


def needed_paths(python: str) -> list[str]:
    """Real paths the sandbox uid must be able to read: the interpreter's prefixes and site-packages."""
    out: list[str] = []
    for p in [os.path.dirname(os.path.dirname(os.path.realpath(python))), sys.base_prefix, sys.prefix,
              *host_site_paths()]:
        rp = os.path.realpath(p)
        if os.path.isdir(rp) and rp not in out:
            out.append(rp)
    # drop paths contained in another needed path
    return [p for p in out if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in out)]


@functools.lru_cache(maxsize=8)
def mount_plan(python: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(tmpfs dirs for writable scratch, tmpfs dirs that hide untraversable parents, paths to bind back)."""
    scratch = tuple(d for d in TMPFS_DIRS if os.path.isdir(d) and not os.path.islink(d))
    hide: list[str] = []
    binds: list[str] = []
    for p in needed_paths(python):
        parts = p.strip("/").split("/")
        for k in range(1, len(parts) + 1):
            anc = "/" + "/".join(parts[:k])
            if not _traversable_by_others(anc):
                if anc not in hide and anc != p:
                    hide.append(anc)
                break
        under = any(p.startswith(d + "/") for d in (*scratch, *hide))
        if under and p not in binds:
            binds.append(p)
    return scratch, tuple(hide), tuple(binds)


def setup_message(python: str, network: bool, mounts: bool, tmp_mb: int) -> dict:
    """What the driver sets up for itself at start (see ``_driver._isolate``): namespaces and mounts."""
    scratch, hide, binds = mount_plan(python) if mounts else ((), (), ())
    return {"network": network, "mounts": mounts, "scratch": list(scratch), "hide": list(hide),
            "binds": list(binds), "tmp_mb": int(tmp_mb)}


def rlimits(config, timeout_total: float | None = None) -> dict:
    """The rlimits of one program; ``timeout_total`` (default ``config.timeout_total``) sets the CPU limit."""
    import math

    mb = 1 << 20
    total = config.timeout_total if timeout_total is None else timeout_total
    return {
        resource.RLIMIT_CPU: math.ceil(total) + 1,
        resource.RLIMIT_AS: int(config.memory_mb) * mb,
        resource.RLIMIT_NPROC: int(config.max_processes),
        resource.RLIMIT_FSIZE: int(config.max_file_mb) * mb,
        resource.RLIMIT_NOFILE: int(config.max_open_files),
        resource.RLIMIT_CORE: 0,
    }
