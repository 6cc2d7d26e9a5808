"""The driver that runs inside the sandbox (started as ``python -I -S -c <this file's source>``; it sets up
its own namespaces first, see ``_isolate``, then serves one job per line, see ``main``).

It must stay self-contained (standard library only, no codecurate import): its source text is passed to the
sandboxed interpreter, and the host also imports it for ``encode``/``decode``.

Trust split: the driver itself never executes user code. For every program it forks a *worker* child that
drops to the sandbox's private uid and executes the code; the worker reports back over a pipe, and the
driver (still root inside the sandbox's namespaces, so the worker cannot signal, ptrace or read it)
enforces per-test and total time limits, caps output, and writes one JSON report to the host on its own
stdout, which the worker does not hold. Expected outputs never enter the
sandbox: the host compares ``stdio`` and ``call`` results itself, so a program cannot read or fake them.
A worker that exits, is killed or goes quiet before reporting a case leaves that case failed: suppressing
a report can never turn into a pass.
"""

import json
import math
import os
import resource
import select
import sys
import time

# -- values across the boundary: tagged JSON that keeps tuples, sets, floats (nan/inf), bytes, dict keys ----
_MAX_DEPTH = 100


def encode(v, depth=0):
    """Encode a value built only from exact builtin types; anything else becomes an opaque repr that
    never compares equal to an expected value (so an object with a forged ``__eq__`` cannot pass)."""
    t = type(v)
    if depth > _MAX_DEPTH:
        return {"~r": "<too deep>", "~type": t.__name__}
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if abs(v) < (1 << 53) else {"~i": str(v)}
    if t is float:
        return v if math.isfinite(v) else {"~f": repr(v)}
    if t is list:
        return [encode(x, depth + 1) for x in v]
    if t is tuple:
        return {"~t": [encode(x, depth + 1) for x in v]}
    if t is set or t is frozenset:
        return {"~s" if t is set else "~fs": [encode(x, depth + 1) for x in v]}
    if t is dict:
        return {"~d": [[encode(k, depth + 1), encode(x, depth + 1)] for k, x in v.items()]}
    if t is bytes:
        return {"~b": v.hex()}
    if t is complex:
        return {"~c": [repr(v.real), repr(v.imag)]}
    try:
        r = object.__repr__(v)
    except Exception:  # noqa: BLE001
        r = "<unrepresentable>"
    return {"~r": r[:200], "~type": t.__name__}


class Opaque:
    """A value the sandbox could not transport faithfully; equal to nothing."""

    def __init__(self, r, tname):
        self.r, self.tname = r, tname

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<opaque {self.tname}: {self.r}>"


def decode(v):
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        if "~t" in v:
            return tuple(decode(x) for x in v["~t"])
        if "~s" in v:
            return {decode(x) for x in v["~s"]}
        if "~fs" in v:
            return frozenset(decode(x) for x in v["~fs"])
        if "~d" in v:
            return {decode(k): decode(x) for k, x in v["~d"]}
        if "~i" in v:
            return int(v["~i"])
        if "~f" in v:
            return float(v["~f"])
        if "~b" in v:
            return bytes.fromhex(v["~b"])
        if "~c" in v:
            return complex(float(v["~c"][0]), float(v["~c"][1]))
        if "~r" in v:
            return Opaque(v["~r"], v.get("~type", "?"))
        return {k: decode(x) for k, x in v.items()}
    return v


# -- the driver ------------------------------------------------------------------------------------------


def _excerpt(b, n=400):
    s = b.decode("utf-8", "replace")
    return s if len(s) <= n else s[:n] + f"... [{len(s) - n} more chars]"


def _worker(job, kind, first, res_w, token):
    """Runs in the forked worker: executes user code. Never returns."""
    import builtins
    import io

    write = os.write  # bound now: a program that replaces os.write cannot silence or fake us through it
    # json.dumps calls isinstance from Python code; the one-shot C encoder behind iterencode does not, so
    # a program that monkeypatches builtins cannot bend our reports through it
    iterencode = json.JSONEncoder(ensure_ascii=True).iterencode
    join, enc, monotonic = "".join, encode, time.monotonic

    def dumps(obj):
        return join(iterencode(obj, _one_shot=True))

    def report(obj):
        obj["k"] = token
        write(res_w, (dumps(obj) + "\n").encode())

    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8",
                                 errors="replace")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8",
                                  errors="replace", write_through=False)
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                  errors="replace", write_through=True)
    sys.setrecursionlimit(job.get("recursion_limit", 10000))

    def flush():
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except BaseException:  # noqa: BLE001, S110 - a closed or broken stdout is the program's problem
                pass

    # Freeze the builtins the driver's own code uses (encode/decode/report) into the driver's globals,
    # so a program that replaces builtins.isinstance/repr/... cannot bend how results are encoded.
    frozen = globals()
    for name in ("type", "abs", "str", "repr", "isinstance", "len", "int", "float", "tuple", "list", "set",
                 "frozenset", "dict", "bytes", "complex", "object", "Exception", "BaseException", "bool",
                 "getattr", "compile", "exec", "range", "AssertionError", "SystemExit"):
        frozen[name] = getattr(builtins, name)
    g = {"__name__": "__main__", "__builtins__": builtins}
    code = job["code"]
    cases = job["cases"]
    if kind == "call":
        cases = [decode(c) for c in cases]  # before any user code runs
    if kind == "stdio":
        # one worker per case: a real stdin/stdout program, run as a script
        t0 = monotonic()
        rc, err = 0, None
        try:
            exec(job["compiled"]["code"], g)  # noqa: S102 - running the program is the point
        except SystemExit as e:
            rc = 0 if e.code in (None, 0) else (e.code if isinstance(e.code, int) else 1)
            if rc:
                err = f"SystemExit({e.code!r})"
        except BaseException as e:  # noqa: BLE001
            rc, err = 1, f"{type(e).__name__}: {e}"[:500]
        flush()
        report({"case": first, "ok": rc == 0, "err": err, "s": monotonic() - t0})
        os._exit(0)

    g["__name__"] = "__solution__"
    try:
        exec(job["compiled"]["code"], g)  # noqa: S102 - running the program is the point
        if job["compiled"]["setup"] is not None:
            exec(job["compiled"]["setup"], g)  # noqa: S102
        fn = None
        if kind == "call":
            name = job["fn_name"]
            if name.startswith(("Solution().", "Solution.")):
                fn = getattr(g["Solution"](), name.split(".", 1)[1])
            elif "class Solution" in code and name not in g and "Solution" in g:
                fn = getattr(g["Solution"](), name)  # APPS: LeetCode-style answers are methods
            else:
                fn = g[name]
    except BaseException as e:  # noqa: BLE001 - any failure while loading counts as APPS's -2
        flush()
        report({"load_error": f"{type(e).__name__}: {e}"[:500]})
        os._exit(0)
    report({"loaded": True})
    for i in range(first, len(cases)):
        report({"start": i})
        t0 = monotonic()
        try:
            if kind == "call":
                out = fn(*cases[i])
                flush()
                report({"case": i, "ok": True, "value": enc(out), "s": monotonic() - t0})
            else:
                exec(compile(cases[i], f"<test case {i}>", "exec"), g)  # noqa: S102 - compiled here: a syntax error
                # in one test case is that case's error, as in the MBPP harness
                flush()
                report({"case": i, "ok": True, "s": monotonic() - t0})
        except BaseException as e:  # noqa: BLE001 - SystemExit/KeyboardInterrupt in a test fail that test
            flush()
            is_assert = isinstance(e, AssertionError)
            report({"case": i, "ok": False, "wrong": is_assert and kind == "assert",
                    "err": f"{type(e).__name__}: {e}"[:500], "s": monotonic() - t0})
    flush()
    report({"done": True})
    os._exit(0)


def _spawn(job, kind, first, stdin_data):
    """Fork a worker; returns (pid, result_read_fd, stdout_fd, stderr_fd, token)."""
    token = os.urandom(16).hex()
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_fd = os.memfd_create("stdin") if stdin_data is not None else os.open(os.devnull, os.O_RDONLY)
    if stdin_data is not None:
        os.write(in_fd, stdin_data.encode("utf-8"))
        os.lseek(in_fd, 0, os.SEEK_SET)
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            _enter_sandbox(job)
            os.dup2(in_fd, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # the result pipe moves to a random high fd; everything else (the host report pipe) is closed
            cap = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 4096)
            hi = cap // 2 + int.from_bytes(os.urandom(2), "little") % (cap // 2)
            os.dup2(res_w, hi)
            os.closerange(3, hi)
            os.closerange(hi + 1, 4096)
            _worker(job, kind, first, hi, token)
        except BaseException as e:  # noqa: BLE001 - a driver bug: say so on the worker's stderr
            try:
                os.write(2, f"sandbox worker setup failed: {type(e).__name__}: {e}".encode())
            except BaseException:  # noqa: BLE001, S110 - nowhere left to report to
                pass
        finally:
            os._exit(70)
    for fd in (res_w, out_w, err_w, in_fd):
        os.close(fd)
    return pid, res_r, out_r, err_r, token


def _kill_group(pid):
    for f in (lambda: os.killpg(pid, 9), lambda: os.kill(pid, 9)):
        try:
            f()
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _run_worker(job, kind, first, stdin_data, results, deadline_total):
    """Run one worker until it finishes or must be killed. Fills ``results[i]`` for the cases it ran.
    Returns the index to continue from (len(cases) when done) and a load error, if any."""
    n = len(job["cases"])
    per_test = job["timeout_per_test"]
    max_out = job["max_output_bytes"]
    pid, res_r, out_r, err_r, token = _spawn(job, kind, first, stdin_data)
    bufs = {res_r: bytearray(), out_r: bytearray(), err_r: bytearray()}
    open_fds = set(bufs)
    current = first if kind == "stdio" else None  # the case whose clock runs
    loaded = kind == "stdio"
    started = time.monotonic()
    case_t0 = started
    load_error = None
    nxt = first
    killed_reason = None
    line_buf = bytearray()
    out_mark = err_mark = 0  # where the current case's output starts

    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    grace = None  # once the worker has exited, drain its pipes briefly (a daemon may hold them open)
    while open_fds:
        now = time.monotonic()
        limit = deadline_total
        if current is not None:
            limit = min(limit, case_t0 + per_test)
        elif not loaded:
            limit = min(limit, started + per_test)
        if grace is not None:
            limit = min(limit, grace)
        if now >= limit:
            if grace is None or now < grace:
                killed_reason = "timeout"
            break
        watch = list(open_fds) + ([pidfd] if pidfd is not None and grace is None else [])
        r, _, _ = select.select(watch, [], [], max(0.0, limit - now))
        for fd in r:
            if fd == pidfd:
                grace = time.monotonic() + 0.1
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                open_fds.discard(fd)
                continue
            if fd == res_r:
                line_buf += chunk
                if len(line_buf) > 64 * max_out + (1 << 20):
                    killed_reason = "result channel flooded"
                    break
                while b"\n" in line_buf:
                    line, _, rest = bytes(line_buf).partition(b"\n")
                    line_buf = bytearray(rest)
                    try:
                        msg = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if not isinstance(msg, dict) or msg.get("k") != token:
                        continue  # not from our worker code: ignore forged or garbled lines
                    if "load_error" in msg:
                        load_error = msg["load_error"]
                    elif "loaded" in msg:
                        loaded = True
                    elif "start" in msg:
                        current = int(msg["start"])
                        case_t0 = time.monotonic()
                        out_mark, err_mark = len(bufs[out_r]), len(bufs[err_r])
                    elif "case" in msg and current is not None and int(msg["case"]) == current:
                        i = current
                        rec = {"status": "ok" if msg.get("ok") else ("wrong" if msg.get("wrong") else "error"),
                               "seconds": round(time.monotonic() - case_t0, 4),
                               "error": msg.get("err")}
                        if "value" in msg:
                            rec["value"] = msg["value"]
                        if kind == "stdio":
                            rec["stdout_full"] = bytes(bufs[out_r]).decode("utf-8", "replace")
                        rec["stdout"] = _excerpt(bytes(bufs[out_r][out_mark:]))
                        rec["stderr"] = _excerpt(bytes(bufs[err_r][err_mark:]))
                        results[i] = rec
                        nxt = i + 1
                        current = None
            else:
                bufs[fd] += chunk
                if len(bufs[fd]) > max_out:
                    killed_reason = "output limit exceeded"
                    break
        if killed_reason:
            break
    if kind == "stdio" and killed_reason is None and results[first] is not None:
        # the report came before EOF on stdout: take the complete output now
        results[first]["stdout_full"] = bytes(bufs[out_r]).decode("utf-8", "replace")
    _kill_group(pid)
    for fd in bufs:
        os.close(fd)
    if pidfd is not None:
        os.close(pidfd)
    if load_error is not None:
        return n, load_error
    status = "timeout" if killed_reason == "timeout" else "error"
    why = killed_reason or "process exited before reporting"

    def fail(i):
        if results[i] is None:
            results[i] = {"status": status, "seconds": round(time.monotonic() - case_t0, 4), "error": why,
                          "stdout": _excerpt(bytes(bufs[out_r][out_mark:])),
                          "stderr": _excerpt(bytes(bufs[err_r][err_mark:]))}

    if kind == "stdio":
        fail(first)
        return first + 1, None
    if not loaded:  # hung or died while loading the code: no case can run
        why = ("timeout while loading the program" if status == "timeout"
               else "process exited while loading the program")
        for i in range(first, n):
            fail(i)
        return n, None
    if current is not None:  # a case was running and never reported
        fail(current)
        return current + 1, None
    if nxt == first and nxt < n:  # died between cases without progress: do not loop
        fail(first)
        return first + 1, None
    return nxt, None


_RLIMITS = {"cpu": resource.RLIMIT_CPU, "as": resource.RLIMIT_AS, "nproc": resource.RLIMIT_NPROC,
            "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE}


def _clean_scratch(iso):
    """Empty the sandbox's private scratch dirs (its own tmpfs mounts: /tmp, /dev/shm, ...), so nothing one
    program wrote is seen by the next. Never follows symlinks (shutil.rmtree is symlink-attack safe)."""
    import shutil

    for d in iso.get("scratch", ()):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
            except OSError:
                pass


def _prepare_workdir(iso):
    if iso.get("scratch"):
        os.mkdir(iso["workdir"], 0o700)
        if iso.get("uid") is not None:
            os.chown(iso["workdir"], iso["uid"], iso["uid"])


def _enter_sandbox(job):
    """In a freshly forked worker (still root): the program's working directory and rlimits, then its
    private uid (no supplementary groups)."""
    iso = job["isolation"]
    os.chdir(iso["workdir"])
    for name, value in iso["rlimits"].items():
        resource.setrlimit(_RLIMITS[name], (value, value))
    uid = iso.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


def _has_children():
    """Reap exited children; True while any child is still alive. We are a subreaper, so every process a
    program created (daemons that setsid'd and double-forked included) is a descendant of ours: no children
    left means nothing of the program survives, and the kill-by-uid fork can be skipped."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _reap(uid):
    """Kill every process of the program's uid (daemons, orphans, forks) and reap them."""
    if not _has_children():
        return
    if uid is not None:
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, 9)
            finally:
                os._exit(0)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def run_job(job):
    t_start = time.monotonic()
    kind = job["kind"]
    cases = job["cases"]
    n = len(cases)
    results = [None] * n
    report = {"compile_error": None, "load_error": None, "cases": results}
    try:
        # compiled once here (trusted: compiling runs nothing); the forked workers inherit the code objects
        job["compiled"] = {"code": compile(job["code"], "<solution>", "exec"),
                           "setup": compile(job["setup"], "<test setup>", "exec") if job.get("setup") else None}
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as e:
        report["compile_error"] = f"{type(e).__name__}: {e}"[:500]
    iso = job["isolation"]
    _clean_scratch(iso)
    _prepare_workdir(iso)
    if report["compile_error"] is None:
        deadline = t_start + job["timeout_total"]
        i = 0
        while i < n and time.monotonic() < deadline:
            stdin_data = cases[i]["input"] if kind == "stdio" else None
            i, load_error = _run_worker(job, kind, i, stdin_data, results, deadline)
            if load_error is not None:
                report["load_error"] = load_error
                break
    _reap(iso.get("uid"))
    _clean_scratch(iso)
    report["seconds"] = time.monotonic() - t_start
    return report


def _isolate(setup):
    """Run once when the driver starts (as root, single-threaded): enter fresh network and mount namespaces,
    put private tmpfs over the scratch dirs and over directories the sandbox uid cannot traverse on the way
    to the interpreter (binding the interpreter and site-packages back read-only), and set
    PR_SET_NO_NEW_PRIVS and PR_SET_CHILD_SUBREAPER (orphaned daemons come back to us to be reaped)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ms_rdonly, ms_nosuid, ms_nodev, ms_remount, ms_bind, ms_rec, ms_private = 1, 2, 4, 32, 4096, 16384, 1 << 18

    def check(rc, what):
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    flags = (0x40000000 if setup["network"] else 0) | (0x00020000 if setup["mounts"] else 0)
    if flags:
        check(libc.unshare(flags), "unshare(CLONE_NEWNET|CLONE_NEWNS)")
    if setup["mounts"]:
        check(libc.mount(None, b"/", None, ms_rec | ms_private, None), "make / private")
        fds = [os.open(p, os.O_PATH) for p in setup["binds"]]
        opts = f"mode=1777,size={setup['tmp_mb']}m".encode()
        for d in setup["scratch"]:
            check(libc.mount(b"tmpfs", d.encode(), b"tmpfs", ms_nosuid | ms_nodev, opts), f"tmpfs on {d}")
        for d in setup["hide"]:
            check(libc.mount(b"tmpfs", d.encode(), b"tmpfs", ms_nosuid | ms_nodev, b"mode=0755,size=1m"),
                  f"tmpfs on {d}")
        for p, fd in zip(setup["binds"], fds):
            os.makedirs(p, mode=0o755, exist_ok=True)
            check(libc.mount(f"/proc/self/fd/{fd}".encode(), p.encode(), None, ms_bind | ms_rec, None), f"bind {p}")
            check(libc.mount(None, p.encode(), None, ms_bind | ms_remount | ms_rdonly | ms_nosuid | ms_nodev, None),
                  f"read-only {p}")
            os.close(fd)
        os.chdir("/")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def main():
    """A zygote: started once (``python -I -S``) inside the network/mount namespaces, it never runs user code;
    it reads one JSON job per line and answers one JSON report per line, forking a fresh worker for every
    program, so each program starts from the same pristine interpreter state without paying for a new
    interpreter."""
    report_fd = os.dup(1)
    jobs = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # stray writes from the driver must not corrupt the reports

    def answer(obj):
        view = memoryview((json.dumps(obj) + "\n").encode())
        while view:
            view = view[os.write(report_fd, view):]

    try:
        _isolate(json.loads(jobs.readline()))
    except Exception as e:  # noqa: BLE001 - reported to the host, which refuses or falls back
        answer({"setup_error": f"{type(e).__name__}: {e}"})
        os._exit(1)
    answer({"ready": True})
    import gc

    gc.freeze()  # the driver's objects move to a permanent generation: forked workers' GC never walks (and
    # copy-on-write faults) them
    for line in jobs:
        job = json.loads(line)
        for p in job.get("sys_path", []):
            if p not in sys.path:
                sys.path.append(p)
        answer(run_job(job))
    os._exit(0)


if __name__ == "__main__":
    main()
