"""Analysis of untrusted code (pylint, radon, bandit) in limited, killable worker processes.

Pylint's inference runs a model generation's code symbolically, and a few hundred bytes can make it allocate
gigabytes or run for hours (``x = [0] * 99999999`` then ``x.a()``: astroid builds the 10^8-element list, 800 MB;
``x = [0]`` then thirty ``x += x`` lines: the inference time doubles with every line). Radon recurses over the
AST (a 500-term ``1 + 1 + ...`` is a ``RecursionError``). So no analysis of untrusted code runs in the caller:

- **host** (``AnalysisPool``, ``analyse``): keeps ``workers`` *analysis servers* (this file run as a script),
  sends them requests (a kind, a chunk of programs, options, limits) as JSON lines and multiplexes the answers
  with ``select`` in the calling thread. A server that dies or stops answering is replaced; its programs get an
  error result, the rest of the call goes on.
- **server**: imports the analyzer once, builds a *template* (pylint: a configured ``PyLinter`` warmed up on
  common stdlib imports, inference caches then cleared; radon/bandit: the imports and config) and ``fork``\\ s
  one *child* per program (pylint) or per chunk (radon, bandit: cheap per program, one result line streamed per
  program). The server itself never analyses anything.
- **child**: ``PR_SET_PDEATHSIG`` (SIGKILL when the server dies; the server has the same towards the host when
  started from the host's main thread, and exits -- killing its child -- as soon as its stdin closes),
  ``RLIMIT_AS`` = ``memory_mb``, ``RLIMIT_CPU`` = ``cpu_s`` per program, no core files; the server kills it
  after ``wall_s`` seconds without an answer.

A program's result is ``{"value": ...}`` or ``{"error": reason}`` with reason ``limit exceeded: memory``
(a ``MemoryError`` under ``RLIMIT_AS``, including one that pylint catches and reports as ``astroid-error``),
``limit exceeded: time`` (SIGXCPU or the wall-clock kill) or ``analyzer crashed: ...`` (a signal, an exit, an
exception in the analysis itself). The other programs of the call are not affected: a child that dies is
replaced and the chunk resumes after the program it was on.

One pylint child per program means every program is linted from the same process state, the same as
``pylint <file>`` per file: no cross-file ``duplicate-code`` (R0801, only ever reported between two files),
no inference state shared between programs (in one pylint run, ``string.Template.extra = 1`` in one file
hides the ``no-member`` error of the next), no order dependence. Forking the warm template costs ~15 ms of
CPU per program (2-core VM) where a fresh ``pylint`` process costs ~1.3 s (imports, checker registration,
stdlib modules parsed again): 0.5 programs/s one process per file, 15-20 programs/s per worker here, against
17-26 for the former one-pylint-run-per-100-files batches (which had neither limits nor per-file results).

The limits count the worker's own ~100 MB (pylint, radon and bandit loaded).

Linux only for the limits (``prctl``, ``RLIMIT_AS``); elsewhere the children run without them.

Default limits come from ``Limits()``: 1024 MB, 30 CPU s, 60 wall s per program, overridable with
``CODECURATE_ANALYSIS_MEMORY_MB``, ``CODECURATE_ANALYSIS_CPU_S``, ``CODECURATE_ANALYSIS_WALL_S``.
"""

from __future__ import annotations

import atexit
import collections
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

LIMIT_MEMORY = "limit exceeded: memory"
LIMIT_TIME = "limit exceeded: time"
KINDS = ("pylint", "radon", "bandit")
_SCRIPT = os.path.abspath(__file__)
_SAMPLE = "cc_sample"  # module name of the program under analysis (snake_case: no invalid-name for it)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """Per-program limits of an analysis child."""

    memory_mb: int = field(default_factory=lambda: int(_env_float("CODECURATE_ANALYSIS_MEMORY_MB", 1024)))
    cpu_s: float = field(default_factory=lambda: _env_float("CODECURATE_ANALYSIS_CPU_S", 30.0))
    wall_s: float = field(default_factory=lambda: _env_float("CODECURATE_ANALYSIS_WALL_S", 60.0))


# ------------------------------------------------------------------------------------------------------------
# process plumbing shared by server and child
def _set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """prctl(PR_SET_PDEATHSIG, sig): the kernel sends ``sig`` when the parent (thread) exits."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


# ------------------------------------------------------------------------------------------------------------
# server side: templates (built once per server, inherited by the forked children)
_CRASHES: list[BaseException] = []
_PYLINT_TEMPLATES: dict[tuple, tuple] = {}
_BANDIT_CONFIG = None
# Warm-up program of the pylint template: the stdlib modules generated code imports most, built into
# astroid's module cache once, so no child parses them again. Building a module is deterministic; inference
# caches are cleared after the warm-up, so a child starts as a fresh pylint that has these modules on disk.
_WARMUP = "\n".join(f"import {m}" for m in (
    "os", "sys", "re", "math", "string", "random", "collections", "itertools", "functools", "operator",
    "heapq", "bisect", "copy", "typing", "json", "time", "datetime", "statistics", "fractions"))
_WARMUP += "\n"


def _caused_by(ex: BaseException | None, kind: type) -> bool:
    seen = set()
    while ex is not None and id(ex) not in seen:
        if isinstance(ex, kind):
            return True
        seen.add(id(ex))
        ex = ex.__cause__ or ex.__context__
    return False


def _pylint_template(args: list[str]):
    key = tuple(args)
    if key in _PYLINT_TEMPLATES:
        return _PYLINT_TEMPLATES[key]
    from pathlib import Path

    import astroid.context
    from astroid import MANAGER
    from astroid.inference_tip import clear_inference_tip_cache
    from pylint.lint import Run, pylinter
    from pylint.reporters import CollectingReporter

    def record_crash(ex, filepath, crash_file_path):  # pylint's crash report: remember it, write nothing
        _CRASHES.append(ex)
        return Path("pylint-crash-report-not-written")

    pylinter.prepare_crash_report = record_crash
    warm_dir = tempfile.mkdtemp(prefix="warmup_", dir=os.path.dirname(os.getcwd()))
    warm = os.path.join(warm_dir, "cc_warmup.py")
    with open(warm, "w", encoding="utf-8") as f:
        f.write(_WARMUP)
    reporter = CollectingReporter()
    linter = Run([*args, warm], reporter=reporter, exit=False).linter
    MANAGER.astroid_cache.pop("cc_warmup", None)
    clear_inference_tip_cache()
    astroid.context._invalidate_cache()
    _PYLINT_TEMPLATES[key] = template = (linter, reporter, _open_checkers(linter, reporter))
    return template


def _open_checkers(linter, reporter):
    r"""Do, once in the server, what ``linter.check([file])`` does before reading the file: fresh stats,
    message states initialized, the file's directory on ``sys.path``, every checker ``open()``\ ed and
    registered with a new AST walker (~20 ms per check). Each child starts from this state, lints its one
    file and closes the checkers -- ``check()`` for one file, less the set-up. None when this pylint has
    not the private methods used here; the children then call ``linter.check``.
    """
    import contextlib

    needed = ("_astroid_module_checker", "_iterate_file_descrs", "_get_asts", "_lint_files", "initialize")
    if not all(hasattr(linter, n) for n in needed) or linter.config.jobs != 1:
        return None
    try:
        from pylint.lint.expand_modules import discover_package_path
        from pylint.lint.utils import augmented_sys_path
        from pylint.utils import LinterStats

        linter.stats = LinterStats()
        reporter.messages = []
        linter.initialize()
        extra = [discover_package_path(_SAMPLE + ".py", linter.config.source_roots)]
        stack = contextlib.ExitStack()
        stack.enter_context(augmented_sys_path(extra))
        check_module = stack.enter_context(linter._astroid_module_checker())
    except Exception:  # noqa: BLE001 - another pylint: the slower public path
        return None
    return stack, check_module, extra


def _pylint_one(code: str, linter, reporter, opened) -> dict:
    with open(_SAMPLE + ".py", "w", encoding="utf-8") as f:
        f.write(code)
    _CRASHES.clear()
    if opened is None:
        from pylint.utils import LinterStats

        reporter.messages = []
        linter.stats = LinterStats()
        linter.check([_SAMPLE + ".py"])
    else:
        from pylint.reporters.progress_reporters import ProgressReporter

        stack, check_module, extra = opened
        items = linter._iterate_file_descrs([_SAMPLE + ".py"], extra_packages_paths=extra)
        progress = ProgressReporter(False)
        linter._lint_files(linter._get_asts(items, None, progress), check_module, progress)
        stack.close()  # the checkers' close(): messages such as cyclic-import are emitted here
    if any(_caused_by(ex, MemoryError) for ex in _CRASHES):
        raise MemoryError("pylint ran out of memory (reported by pylint as astroid-error)")
    stats = linter.stats.by_module.get(_SAMPLE)
    messages = [[m.msg_id, m.symbol, m.category, int(m.line or 0), m.msg[:300]]
                for m in reporter.messages if m.module == _SAMPLE]
    return {"stats": {k: int(v) for k, v in dict(stats).items()} if stats else None, "messages": messages}


def _radon_one(code: str, multi: bool) -> dict:
    from radon.metrics import mi_visit

    try:
        value = float(mi_visit(code, multi))
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - the study maps any radon error (SyntaxError, RecursionError) to 0
        return {"mi": 0.0, "exception": f"{type(e).__name__}: {str(e)[:200]}"}
    return {"mi": 0.0 if math.isnan(value) else value}


def _bandit_template():
    global _BANDIT_CONFIG
    if _BANDIT_CONFIG is None:
        import logging

        from bandit.core import config as b_config
        from bandit.core import manager as b_manager  # noqa: F401 - imported once, before the forks

        logging.getLogger("bandit").setLevel(logging.ERROR)
        _BANDIT_CONFIG = b_config.BanditConfig()
    return _BANDIT_CONFIG


def _bandit_one(code: str, config, ignore_nosec: bool) -> dict:
    from bandit.core import manager as b_manager

    path = os.path.abspath(_SAMPLE + ".py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)
    mgr = b_manager.BanditManager(config, "file", quiet=True, ignore_nosec=ignore_nosec)
    mgr.discover_files([path])
    mgr.run_tests()
    skipped = [str(reason) for _, reason in mgr.skipped]
    if any("MemoryError" in s for s in skipped):
        raise MemoryError("bandit ran out of memory")
    issues = [[i.test_id, int(i.lineno or 0), str(i.severity).lower(), i.text] for i in mgr.get_issue_list()]
    return {"issues": issues, "skipped": skipped}


def _prepare(kind: str, options: dict):
    """In the server: build the template, return (analyse one program, programs per child)."""
    global _FROZEN
    fn, per_child = _prepare_kind(kind, options)
    built = (len(_PYLINT_TEMPLATES), _BANDIT_CONFIG is not None, "radon.metrics" in sys.modules)
    if built != _FROZEN:  # a new template: keep its objects out of the children's garbage collections
        import gc

        gc.collect()
        gc.freeze()  # fewer copy-on-write pages per fork
        _FROZEN = built
    return fn, per_child


_FROZEN: tuple = ()


def _prepare_kind(kind: str, options: dict):
    if kind == "pylint":
        linter, reporter, opened = _pylint_template(list(options.get("args", [])))
        return (lambda code: _pylint_one(code, linter, reporter, opened)), 1
    if kind == "radon":
        import radon.metrics  # noqa: F401 - imported once, before the forks

        multi = bool(options.get("multi", True))
        return (lambda code: _radon_one(code, multi)), 0
    if kind == "bandit":
        config = _bandit_template()
        ignore_nosec = bool(options.get("ignore_nosec", True))
        return (lambda code: _bandit_one(code, config, ignore_nosec)), 0
    raise ValueError(f"unknown analysis kind {kind!r}; valid: {', '.join(KINDS)}")


def _child(fd: int, codes: list[str], fn, limits: dict, server_pid: int) -> None:
    """Forked child: set the limits, analyse ``codes`` in order, one JSON line per program. Never returns."""
    status = 0
    try:
        _set_pdeathsig(signal.SIGKILL)
        if os.getppid() != server_pid:
            os._exit(1)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        mem = int(limits["memory_mb"]) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
        for code in codes:
            ru = resource.getrusage(resource.RUSAGE_SELF)
            soft = math.ceil(ru.ru_utime + ru.ru_stime + float(limits["cpu_s"]))
            if cpu_hard != resource.RLIM_INFINITY:
                soft = min(soft, cpu_hard)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
            try:
                out = {"value": fn(code)}
            except MemoryError:
                out = None
            except Exception as e:  # noqa: BLE001 - the program's result, not the server's problem
                out = {"error": f"analyzer crashed: {type(e).__name__}: {str(e)[:200]}"}
            if out is None:  # the heap may be in any state: report and leave
                _write_all(fd, b'{"error": "' + LIMIT_MEMORY.encode() + b'"}\n')
                status = 3
                break
            _write_all(fd, (json.dumps(out) + "\n").encode())
    except MemoryError:
        status = 3
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the server
        status = 70
    finally:
        os._exit(status)


def _run_children(codes: list[str], fn, per_child: int, limits: dict) -> list[dict]:
    """In the server: analyse ``codes`` in forked children (``per_child`` programs each, 0 = all)."""
    results: list[dict | None] = [None] * len(codes)
    wall = float(limits["wall_s"])
    i = 0
    while i < len(codes):
        hi = len(codes) if per_child <= 0 else min(len(codes), i + per_child)
        r, w = os.pipe()
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(w, codes[i:hi], fn, limits, me)
        os.close(w)
        buf = b""
        done = i
        killed = False
        said_memory = False  # the child reported a MemoryError and leaves: the rest goes to a new child
        deadline = time.monotonic() + wall
        eof = False
        while done < hi and not eof:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([r, 0], [], [], left)
            if 0 in ready:  # the host sends nothing while a request runs: this is its end (EOF)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os._exit(0)
            if not ready:
                continue
            chunk = os.read(r, 1 << 16)
            if not chunk:
                eof = True
                break
            buf += chunk
            while b"\n" in buf and done < hi:
                line, buf = buf.split(b"\n", 1)
                res = results[done] = json.loads(line)
                said_memory = res.get("error") == LIMIT_MEMORY
                done += 1
                deadline = time.monotonic() + wall
        os.close(r)
        if done < hi and not killed:  # dead, or about to die: give it the rest of its wall time
            t_end = deadline
            while True:
                wpid, st, ru = os.wait4(pid, os.WNOHANG)
                if wpid:
                    break
                if time.monotonic() >= t_end:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                    wpid, st, ru = os.wait4(pid, 0)
                    break
                time.sleep(0.005)
        else:
            if done >= hi:
                try:
                    os.kill(pid, signal.SIGKILL)  # finished: no reason to wait for its exit
                except ProcessLookupError:
                    pass
            wpid, st, ru = os.wait4(pid, 0)
        if said_memory and (last := results[done - 1]) is not None:
            last["rss_mb"] = round(ru.ru_maxrss / 1024, 1)
        elif done < hi:
            rss_mb = round(ru.ru_maxrss / 1024, 1)
            if killed or (os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGXCPU):
                reason = LIMIT_TIME
            elif os.WIFEXITED(st) and os.WEXITSTATUS(st) == 3:
                reason = LIMIT_MEMORY
            elif os.WIFSIGNALED(st):
                reason = f"analyzer crashed: killed by {_signal_name(os.WTERMSIG(st))}"
            else:
                reason = f"analyzer crashed: exit status {os.WEXITSTATUS(st) if os.WIFEXITED(st) else st}"
            results[done] = {"error": reason, "rss_mb": rss_mb}
            done += 1
        elif per_child == 1 and (only := results[i]) is not None:
            only["rss_mb"] = round(ru.ru_maxrss / 1024, 1)
        i = done
    return results  # type: ignore[return-value]  # every slot is filled once ``i`` reaches the end


def serve(host_pid: int, arm: bool) -> None:
    """Server loop: one JSON request per stdin line, one JSON answer per stdout line.

    The server ends when its stdin closes (the host closed it or died), also while a child runs. With ``arm``
    (the host started it from its main thread) it also gets SIGKILL when the host dies (PR_SET_PDEATHSIG
    fires when the *thread* that started a process exits, so a server started from another thread is not
    armed: it would die with that thread).
    """
    if arm:
        _set_pdeathsig(signal.SIGKILL)
    if os.getppid() != host_pid:
        return
    # The protocol gets a private copy of stdout; fd 1 goes to /dev/null so nothing the analyzers print can
    # corrupt it. Children inherit fd 1 = /dev/null and never touch ``out``.
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    # programs are written into an otherwise empty directory (the analyzers add it to their import path)
    os.makedirs("work", exist_ok=True)
    os.chdir("work")
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        req = json.loads(line)
        answer: dict[str, Any]
        try:
            fn, per_child = _prepare(req["kind"], req.get("options") or {})
            answer = {"results": _run_children(req["codes"], fn, per_child, req["limits"])}
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a server-side problem (missing analyzer, bad
            answer = {"fatal": f"{type(e).__name__}: {e}"}  # pylint options): the host raises it
        _write_all(out, (json.dumps(answer) + "\n").encode())


# ------------------------------------------------------------------------------------------------------------
# host side
class AnalysisError(RuntimeError):
    """The analysis server could not run the analyzer at all (not a per-program problem)."""


class _Server:
    def __init__(self, home: str):
        self.home = tempfile.mkdtemp(prefix="srv_", dir=home)
        self.errpath = os.path.join(self.home, "stderr.txt")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYLINT")}
        env["PYLINTHOME"] = os.path.join(self.home, "pylinthome")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, _SCRIPT, "serve", str(os.getpid()),
                 "1" if threading.current_thread() is threading.main_thread() else "0"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, cwd=self.home, env=env, close_fds=True,
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both PIPE
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.buf = b""
        self.task: tuple[int, int, float] = (0, 0, 0.0)  # (lo, hi, deadline) of the request in flight

    @property
    def fd(self) -> int:
        return self.stdout.fileno()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: dict) -> None:
        self.stdin.write((json.dumps(request) + "\n").encode())
        self.stdin.flush()

    def read(self) -> dict | None | Literal[False]:
        """A complete answer, None (not yet), or False (the server is gone)."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            return False
        self.buf += chunk
        if b"\n" not in self.buf:
            return None
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def stderr_tail(self) -> str:
        try:
            with open(self.errpath, "rb") as f:
                return f.read()[-400:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def close(self, kill: bool = False) -> None:
        try:
            if not kill:
                self.stdin.close()
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)


# programs per request to a server (the unit of load balancing between servers)
_CHUNK = {"pylint": 4, "radon": 64, "bandit": 32}


class AnalysisPool:
    """Up to ``size`` analysis servers, started lazily in the calling thread and kept between calls.

    A server started from the main thread gets SIGKILL when the host dies; every server exits when its stdin
    closes, so none outlives the host.
    """

    def __init__(self, size: int = 1):
        self.size = max(1, int(size))
        self._servers: list[_Server] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._home = tempfile.mkdtemp(prefix="cc_analysis_")

    def _ensure(self, n: int) -> list[_Server]:
        if os.getpid() != self._pid:  # a forked copy of the host: those servers belong to the parent
            self._servers, self._pid = [], os.getpid()
            self._home = tempfile.mkdtemp(prefix="cc_analysis_")
        for s in [s for s in self._servers if not s.alive()]:
            s.close(kill=True)
            self._servers.remove(s)
        while len(self._servers) < n:
            self._servers.append(_Server(self._home))
        return self._servers[:n]

    def run(self, kind: str, codes: list[str], *, options: dict | None = None, limits: Limits | None = None,
            workers: int | None = None, chunk: int | None = None) -> list[dict]:
        """Analyse each program; per program ``{"value": ...}`` or ``{"error": reason}``, in order."""
        if kind not in KINDS:
            raise ValueError(f"unknown analysis kind {kind!r}; valid: {', '.join(KINDS)}")
        codes = list(codes)
        if not codes:
            return []
        limits = limits or Limits()
        lim = asdict(limits)
        step = max(1, chunk or _CHUNK[kind])
        pending = collections.deque((lo, min(len(codes), lo + step)) for lo in range(0, len(codes), step))
        results: list[dict | None] = [None] * len(codes)
        with self._lock:
            servers = self._ensure(min(max(1, workers or self.size), len(pending)))
            busy: dict[int, _Server] = {}
            fatal: str | None = None
            failed_starts = 0
            try:
                while (pending and fatal is None) or busy:
                    for k, s in enumerate(servers):
                        if k in busy or not pending or fatal is not None:
                            continue
                        if not s.alive():
                            servers[k] = s = self._replace(s)
                        lo, hi = pending.popleft()
                        # the first request of a server also builds its template (imports, warm-up)
                        s.task = (lo, hi, time.monotonic() + 120 + (hi - lo) * (lim["wall_s"] + 5))
                        try:
                            s.send({"kind": kind, "codes": codes[lo:hi], "options": options or {}, "limits": lim})
                        except OSError:  # died before reading its request: a new server, same task
                            pending.appendleft((lo, hi))
                            failed_starts += 1
                            if failed_starts > 3:
                                raise AnalysisError(f"analysis server does not start: {s.stderr_tail()}") from None
                            servers[k] = self._replace(s)
                            continue
                        busy[k] = s
                    if not busy:
                        continue
                    timeout = max(0.0, min(s.task[2] for s in busy.values()) - time.monotonic())
                    ready, _, _ = select.select([s.fd for s in busy.values()], [], [], timeout)
                    for k, s in list(busy.items()):
                        lo, hi, deadline = s.task
                        if s.fd in ready:
                            answer = s.read()
                            if answer is None:
                                continue
                            del busy[k]
                            if answer is False:
                                why = s.stderr_tail().splitlines()[-1:] or [f"exit status {s.proc.poll()}"]
                                results[lo:hi] = [{"error": f"analyzer crashed: analysis server died: {why[0]}"}
                                                  for _ in range(lo, hi)]
                                servers[k] = self._replace(s)
                            elif "fatal" in answer:
                                fatal = answer["fatal"]
                            else:
                                results[lo:hi] = answer["results"]
                        elif time.monotonic() > deadline:
                            del busy[k]
                            results[lo:hi] = [{"error": LIMIT_TIME + " (analysis server unresponsive)"}
                                              for _ in range(lo, hi)]
                            servers[k] = self._replace(s)
            except BaseException:
                for s in busy.values():  # half-read answers: these servers cannot be reused
                    if s in self._servers:
                        self._servers.remove(s)
                    s.close(kill=True)
                raise
        if fatal is not None:
            raise AnalysisError(f"{kind} analysis failed: {fatal}")
        return results  # type: ignore[return-value]  # every slot is filled once ``pending`` and ``busy`` are empty

    def _replace(self, s: _Server) -> _Server:
        s.close(kill=True)
        new = _Server(self._home)
        if s in self._servers:
            self._servers[self._servers.index(s)] = new
        else:
            self._servers.append(new)
        return new

    def close(self) -> None:
        with self._lock:
            if os.getpid() == self._pid:
                for s in self._servers:
                    s.close()
            self._servers = []
            import shutil

            shutil.rmtree(self._home, ignore_errors=True)


def limited_command(cmd: list[str], memory_mb: int) -> list[str]:
    r"""``cmd`` prefixed so that it runs with ``RLIMIT_AS`` = ``memory_mb`` and dies with its parent: a
    short Python launcher sets the limits and ``exec``\ s it (no ``preexec_fn``, which is unsafe in a
    threaded caller)."""
    return [sys.executable, "-I", "-S", _SCRIPT, "exec", str(int(memory_mb)), "--", *cmd]


def _exec_limited(memory_mb: int, cmd: list[str]) -> None:
    import resource

    _set_pdeathsig(signal.SIGKILL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    mem = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    os.execvp(cmd[0], cmd)


_SHARED: AnalysisPool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool() -> AnalysisPool:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = AnalysisPool()
            atexit.register(_SHARED.close)
        return _SHARED


def analyse(kind: str, codes, *, options: dict | None = None, limits: Limits | None = None, workers: int = 1,
            chunk: int | None = None) -> list[dict]:
    """Analyse ``codes`` with ``kind`` (pylint, radon, bandit) in the shared pool of limited workers."""
    return shared_pool().run(kind, codes, options=options, limits=limits, workers=workers, chunk=chunk)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(_SCRIPT):
            del sys.path[0]  # this package's modules must not be importable as top-level names by the analyzers
        serve(int(sys.argv[2]), sys.argv[3] == "1")
    elif len(sys.argv) > 4 and sys.argv[1] == "exec" and sys.argv[3] == "--":
        _exec_limited(int(sys.argv[2]), sys.argv[4:])
    else:
        sys.exit("usage: _pylint_worker.py serve HOST_PID ARM | exec MEMORY_MB -- COMMAND...")
