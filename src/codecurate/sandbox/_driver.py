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

import collections
import hashlib
import json
import math
import os
import pickle
import resource
import select
import sys
import time

# -- values across the boundary ----------------------------------------------------------------------------
# Tagged JSON that keeps what ``==`` looks at: tuples, sets, floats (nan/inf), bytes, dict keys and order,
# big ints (as hex: no 4300-digit int<->str limit), the stdlib containers whose equality differs from their
# base (Counter, OrderedDict, defaultdict, deque), numbers (Fraction, Decimal, numpy scalars and arrays).
# Other subclasses of builtins (namedtuples, user subclasses, IntEnum, ...) travel as their builtin
# content, read with the base type's own C methods: they compare as the base type's ``==`` would compare
# them, and an overridden ``__eq__``/``__iter__`` cannot bend the result. Anything else is opaque: equal to
# nothing. A value with more than ``VALUE_ITEMS`` items (a string counts one item per 16 characters) travels
# as a digest (see ``_digest``): transporting and comparing it as JSON would cost more than running it.
_MAX_DEPTH = 100
VALUE_ITEMS = 200_000
_SAFE_INT = 1 << 53
_Counter, _OrderedDict, _defaultdict, _deque = (collections.Counter, collections.OrderedDict,
                                                collections.defaultdict, collections.deque)
_STDLIB_DICTS = {_Counter: "Counter", _OrderedDict: "OrderedDict", _defaultdict: "defaultdict"}
# base type -> how to read a subclass instance's real content as an exact builtin (C methods, not overridable)
_BASES = ((int, int.__index__), (float, float.__float__), (str, str.__str__), (bytes, bytes.__bytes__),
          (list, list.copy), (tuple, lambda v: tuple.__getitem__(v, slice(None))), (dict, dict.copy),
          (set, set.copy), (frozenset, frozenset.copy))


# numpy dtypes a reported array may claim (bool, ints, floats, complex, bounded str/bytes, datetimes): a forged
# report naming e.g. a void dtype of 100 GB must not allocate it on the host
_DTYPE_RE = __import__("re").compile(r"^(bool|u?int(8|16|32|64)|float(16|32|64|128)|complex(64|128|256)|"
                                     r"[<>|=]?[?bBhHiIlLqQefdgFDG]|[<>|=]?[iuf][1248]|[<>|=]?c(8|16|32)|"
                                     r"[<>|=]?[US]\d{1,4}|<?U\d{1,4}|object|datetime64(\[\w+\])?|"
                                     r"timedelta64(\[\w+\])?|[<>|=]?[mM]8(\[\w+\])?)$")


class _TooBig(Exception):
    pass


def _opaque(v, why=None):
    t = type(v)
    if why is None:
        try:
            why = object.__repr__(v)
        except Exception:  # noqa: BLE001
            why = "<unrepresentable>"
    return {"~r": why[:200], "~type": getattr(t, "__name__", "?")}


def encode(v, limit=VALUE_ITEMS):
    """Encode a value for the other side of the sandbox boundary. ``limit``: most items encoded as values
    (None: no limit); a bigger value becomes a digest that only an identical value matches."""
    left = [math.inf if limit is None else limit]
    try:
        return _enc(v, 0, left)
    except _TooBig:
        return _digest(v)
    except RecursionError:
        return _opaque(v, "<too deep>")


def _enc(v, depth, left):
    left[0] -= 1
    if left[0] < 0:
        raise _TooBig
    t = type(v)
    if depth > _MAX_DEPTH:
        return _opaque(v, "<too deep>")
    if v is None or t is bool:
        return v
    if t is str:
        left[0] -= len(v) >> 4  # a string of megabytes is an item per 16 chars: past the limit it goes by digest
        if left[0] < 0:
            raise _TooBig
        return v
    if t is int:
        return v if -_SAFE_INT < v < _SAFE_INT else {"~i": hex(v)}
    if t is float:
        return v if math.isfinite(v) else {"~f": repr(v)}
    d = depth + 1
    if t is list:
        return [_enc(x, d, left) for x in v]
    if t is tuple:
        return {"~t": [_enc(x, d, left) for x in v]}
    if t is set or t is frozenset:
        return {"~s" if t is set else "~fs": [_enc(x, d, left) for x in v]}
    if t is dict:
        return {"~d": [[_enc(k, d, left), _enc(x, d, left)] for k, x in v.items()]}
    if t is bytes:
        left[0] -= len(v) >> 4
        if left[0] < 0:
            raise _TooBig
        return {"~b": v.hex()}
    if t is complex:
        return {"~c": [repr(v.real), repr(v.imag)]}
    if t in _STDLIB_DICTS:
        return {"~d": [[_enc(k, d, left), _enc(x, d, left)] for k, x in dict.items(v)], "~cls": _STDLIB_DICTS[t]}
    if t is _deque:
        return {"~dq": [_enc(x, d, left) for x in v]}
    if t is bytearray:
        return {"~b": bytes(v).hex(), "~cls": "bytearray"}
    mod = getattr(t, "__module__", "")
    if mod == "fractions" and t.__name__ == "Fraction":
        return {"~fr": [_enc(v.numerator, d, left), _enc(v.denominator, d, left)]}
    if mod == "decimal" and t.__name__ == "Decimal":
        return {"~dec": str(v)}
    if mod == "numpy":
        if t.__name__ == "ndarray":
            return {"~nd": _enc(v.tolist(), d, left), "dtype": str(v.dtype)}
        if hasattr(v, "item"):  # numpy scalars compare like the Python number they hold
            return _enc(v.item(), depth, left)
    for base, content in _BASES:
        if issubclass(t, base):
            return _enc(content(v), depth, left)
    return _opaque(v)


class _IntoHash:
    """A file for ``pickle.Pickler`` that feeds the hash: a huge value is digested in bounded memory."""

    def __init__(self, h):
        self.write = h.update


def _pickle_into(h, v):
    p = pickle.Pickler(_IntoHash(h), protocol=5)
    p.fast = True  # no memo: the bytes depend on the value, not on which objects happen to be shared
    p.dump(v)


def _digest(v):
    """SHA-256 over the value's pickle (fast mode: no memo), at C speed. Only for values too large to send.
    Sets and (non-ordered) dicts at the top level are hashed as the sum of their elements' hashes, so their
    iteration order (which depends on the interpreter's hash seed) does not matter. Equal values built from
    the same types give equal digests; 1 vs 1.0, a float off by 1 ulp or a differently ordered set nested
    inside do not: a digest can only cause a false failure, never a false pass."""
    t = type(v)
    h = hashlib.sha256(getattr(t, "__name__", "?").encode() + b"\0")
    try:
        if t in (set, frozenset, dict, _Counter, _defaultdict):
            items = dict.items(v) if issubclass(t, dict) else v
            if t is _Counter:
                items = [kv for kv in items if kv[1] != 0]  # Counter equality ignores zero counts
            acc = 0
            for x in items:
                hx = hashlib.sha256()
                _pickle_into(hx, x)
                acc += int.from_bytes(hx.digest(), "big")
            h.update((acc % (1 << 256)).to_bytes(32, "big"))
        else:
            _pickle_into(h, v)
    except Exception:  # noqa: BLE001 - unpicklable (a class of the program's own, a cycle): opaque
        return _opaque(v, "<value too large to transport>")
    return {"~h": h.hexdigest(), "~type": getattr(t, "__name__", "?")}


class Opaque:
    """A value the sandbox could not transport faithfully; equal to nothing."""

    def __init__(self, r, tname):
        self.r, self.tname = r, tname

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<opaque {self.tname}: {self.r}>"


class Digest:
    """A value too large to transport: equal only to a digest of an identical value."""

    def __init__(self, digest, tname):
        self.digest, self.tname = digest, tname

    def __eq__(self, other):
        return type(other) is Digest and other.digest == self.digest

    def __hash__(self):
        return hash(self.digest)

    def __repr__(self):
        return f"<large {self.tname}, sha256 {self.digest[:16]}>"


def _dict_of(cls, items):
    pairs = [(decode(k), decode(x)) for k, x in items]
    no_hash_flood([k for k, _ in pairs])
    d = dict(pairs)
    if cls == "Counter":
        return _Counter(d)
    if cls == "OrderedDict":
        return _OrderedDict(d)
    if cls == "defaultdict":
        return _defaultdict(None, d)
    return d


_MAX_INT_BITS = 1 << 23  # ints decode in linear time; the report line cap (1 MiB of hex) binds first. HumanEval/83's
# plus inputs return ints of about a million bits
_MAX_FRACTION_BITS = 1 << 16  # Fraction(p, q) runs gcd(p, q): quadratic in the bits
_MAX_DECIMAL_EXPONENT = 10_000  # int(Decimal("1e1000000")) builds a million-digit int
_MAX_STR_ARRAY_BYTES = 64 << 20  # a numpy str array is width x count x 4 bytes
_HASH_FLOOD = 32  # more keys than this with one hash: built on purpose to make a set quadratic


def no_hash_flood(items):
    """Refuse (ValueError) a collection whose elements share one hash more than ``_HASH_FLOOD`` times: a set or
    dict of them takes quadratic time to build (e.g. ints that are multiples of 2**61 - 1). A set a program
    really returned has no duplicates, and distinct values rarely share a hash."""
    if len(items) <= _HASH_FLOOD:
        return
    buckets = {}
    for x in items:
        seen = buckets.setdefault(hash(x), [])
        if len(seen) < _HASH_FLOOD:
            if all(y != x for y in seen):  # equal values (a line printed many times) are not a flood
                seen.append(x)
        elif all(y != x for y in seen):
            raise ValueError(f"over {_HASH_FLOOD} distinct elements with one hash: a set or dict built to collide")


def _int(v):
    if type(v) is not str or len(v) > (_MAX_INT_BITS >> 2) + 3:
        raise ValueError("an int tag must hold a hex string under 8 million bits")
    return int(v, 16) if v.lstrip("-").startswith("0x") else int(v)


def decode(v):
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        if "~t" in v:
            return tuple(decode(x) for x in v["~t"])
        if "~s" in v or "~fs" in v:
            items = [decode(x) for x in v.get("~s", v.get("~fs"))]
            no_hash_flood(items)
            return set(items) if "~s" in v else frozenset(items)
        if "~d" in v:
            return _dict_of(v.get("~cls"), v["~d"])
        if "~i" in v:
            return _int(v["~i"])
        if "~f" in v:
            return float(v["~f"])
        if "~b" in v:
            b = bytes.fromhex(v["~b"])
            return bytearray(b) if v.get("~cls") == "bytearray" else b
        if "~c" in v:
            return complex(float(v["~c"][0]), float(v["~c"][1]))
        if "~dq" in v:
            return _deque(decode(x) for x in v["~dq"])
        if "~fr" in v:
            import fractions

            p, q = decode(v["~fr"][0]), decode(v["~fr"][1])
            if type(p) is not int or type(q) is not int or max(p.bit_length(), q.bit_length()) > _MAX_FRACTION_BITS:
                raise ValueError("a fraction's terms must be ints under 65536 bits")
            return fractions.Fraction(p, q)
        if "~dec" in v:
            import decimal

            if type(v["~dec"]) is not str or len(v["~dec"]) > 10_000:
                raise ValueError("a decimal tag must hold a short string")
            d = decimal.Decimal(v["~dec"])
            if d.is_finite() and abs(d.adjusted()) > _MAX_DECIMAL_EXPONENT:
                raise ValueError("a decimal's exponent is out of range")
            return d
        if "~nd" in v:
            try:
                import numpy
            except ImportError:
                return Opaque("numpy array (numpy not installed)", "ndarray")
            dtype = v.get("dtype")
            if not (isinstance(dtype, str) and _DTYPE_RE.match(dtype)):
                raise ValueError(f"numpy dtype {str(dtype)[:40]!r} is not one a program's value can have here")
            if dtype.lstrip("<>|=")[:1] in ("U", "S"):  # width from the data, not the claim (<U9999 x 1M items)
                data = decode(v["~nd"])
                flat = numpy.ravel(numpy.array(data, dtype=object))
                width = max((len(x) for x in flat if isinstance(x, (str, bytes))), default=0)
                if width * len(flat) * 4 > _MAX_STR_ARRAY_BYTES:
                    raise ValueError("a string array that wide would not fit in memory")
                return numpy.array(data)
            return numpy.array(decode(v["~nd"]), dtype=dtype)
        if "~h" in v:
            return Digest(v["~h"], v.get("~type", "?"))
        if "~r" in v:
            return Opaque(v["~r"], v.get("~type", "?"))
        return {k: decode(x) for k, x in v.items()}
    return v


# -- the driver ------------------------------------------------------------------------------------------


def _excerpt(b, n=400):
    s = b.decode("utf-8", "replace")
    return s if len(s) <= n else s[:n] + f"... [{len(s) - n} more chars]"


def _old_stdin():
    """What a module-level ``stdin`` (APPS's prelude line ``stdin = sys.stdin``, or ``from sys import stdin``)
    refers to under APPS: the process's original stdin, empty. During each test APPS patches ``read``,
    ``readline`` and ``readlines`` on that object (its ``@patch`` decorators are applied before ``sys.stdin``
    is replaced): as instance attributes, so a method bound at load time still reads the empty stream.
    ``_arm``/``_disarm`` set and remove them."""
    import io

    class OldStdin(io.StringIO):
        def _arm(self, text):
            lines = iter(text.split("\n"))
            self.readline = lambda *a: next(lines)  # the next line without its newline; StopIteration at the end
            self.readlines = lambda *a: text.split("\n")
            self.read = lambda *a: text

        def __next__(self):  # iteration reads the stream itself, never the patched methods (as a real stdin)
            line = io.StringIO.readline(self)
            if not line:
                raise StopIteration
            return line

        def _disarm(self):
            for name in ("readline", "readlines", "read"):
                self.__dict__.pop(name, None)

    return OldStdin("")


def _reliability_guard():
    """APPS's ``reliability_guard()`` (testing_util.py at HEAD calls it before loading a program): what it
    disables is disabled here too, so a program that uses it fails as there (``os.getcwd()`` -> -1, ``import
    resource`` -> -2). It is not what isolates the program: the box does."""
    import builtins
    import shutil
    import subprocess

    try:  # testing_util.py imports numpy at its top, before the guard (numpy 2 calls os.putenv on import)
        import numpy  # noqa: F401
    except ImportError:
        pass
    builtins.exit = None
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
                 "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
                 "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def _apps_stdio(job, g, first, report, flush, monotonic):
    """A standard-input program as APPS runs it (wrapped into ``code()`` by the host, see ``sandbox/apps.py``):
    loaded once, as APPS's RuntimeModule does (a plain namespace: ``__name__`` is the builtins'), after
    APPS's reliability guard and with Python's default recursion limit (APPS's ``setrecursionlimit`` is
    commented out); a failure there is -2 for every test. Then, per test, in this one process: ``code()`` with
    ``sys.stdin`` a StringIO of the input, the old stdin's read methods patched, ``open`` mocked to return
    the input, ``sys.stdout`` captured (direct writes to fd 1 are not, as in APPS) and ``SystemExit``
    swallowed. The captured text goes back in the case's report. Never returns."""
    import builtins
    import io
    from unittest import mock

    cases = job["cases"]
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # what bypasses sys.stdout is not captured, as in APPS
    old_stdin = _old_stdin()
    sys.stdin = old_stdin
    sys.setrecursionlimit(1000)
    g.pop("__name__", None)
    real_open, real_stdout = builtins.open, sys.stdout
    try:
        _reliability_guard()
        _gc_hide()
        exec(job["compiled"]["code"], g)  # noqa: S102 - running the program is the point
        code = g["code"]
    except BaseException as e:  # noqa: BLE001 - APPS: a module that does not load is a compile error (-2)
        report({"load_error": f"{type(e).__name__}: {e}"[:500]})
        os._exit(0)
    report({"loaded": True})
    for i in range(first, len(cases)):
        inputs = cases[i]["input"]
        t0 = monotonic()
        captured = io.StringIO()
        old_stdin._arm(inputs)
        sys.stdin = io.StringIO(inputs)
        sys.stdout = captured
        builtins.open = mock.mock_open(read_data=inputs)
        err = None
        try:
            code()
        except SystemExit:
            pass
        except BaseException as e:  # noqa: BLE001 - APPS: a runtime error (or timeout) is -1
            err = f"{type(e).__name__}: {e}"[:500]
        finally:
            builtins.open, sys.stdout = real_open, real_stdout
            old_stdin._disarm()
        report({"case": i, "ok": err is None, "err": err, "out": captured.getvalue(), "s": monotonic() - t0})
    report({"done": True})
    os._exit(0)


def _gc_hide():
    """Move every object that exists before the program runs (the worker's report function, its token, the
    job) to the garbage collector's permanent generation: ``gc.get_objects()`` and ``gc.get_referrers()`` do
    not list it, so a program cannot find the driver's state that way. (Frames still lead there: tests of kind
    ``assert`` run in the program's process and a determined program can forge them; see the README.)"""
    import gc

    gc.freeze()


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

    max_line = job.get("max_report_line", 4 << 20)

    def report(obj):
        obj["k"] = token
        raw = obj.pop("value_raw", None)
        line = dumps(obj)
        if len(line) > max_line and "value" in obj:  # too big to send as a value: an exact digest instead
            obj["value"] = _digest(raw)
            line = dumps(obj)
        write(res_w, (line + "\n").encode())

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
    for name in ("type", "abs", "str", "repr", "isinstance", "issubclass", "len", "int", "float", "tuple", "list",
                 "set", "frozenset", "dict", "bytes", "bytearray", "complex", "object", "Exception",
                 "BaseException", "bool", "getattr", "hasattr", "hex", "slice", "compile", "exec", "range",
                 "AssertionError", "SystemExit", "ValueError", "TypeError", "MemoryError", "RecursionError"):
        frozen[name] = getattr(builtins, name)
    # the program's globals are a fresh module that replaces the driver as __main__ (the driver's module is not
    # reachable through sys.modules["__main__"])
    module = type(sys)("__main__")
    module.__dict__["__builtins__"] = builtins
    g = module.__dict__
    sys.modules["__main__"] = module
    code = job["code"]
    cases = job["cases"]
    if kind == "call":
        # before any user code runs; {"~expr": src} cases are evaluated in the program's globals when they run
        cases = [c if type(c) is dict and "~expr" in c else decode(c) for c in cases]
    if kind == "stdio" and job.get("harness") == "apps":
        _apps_stdio(job, g, first, report, flush, monotonic)
    if kind == "stdio":
        # one worker per case: a real stdin/stdout program, run as a script
        t0 = monotonic()
        rc, err = 0, None
        try:
            _gc_hide()
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
    sys.modules["__solution__"] = module
    if kind == "unittest":  # BigCodeBench: program + test code in one importable module, as its unsafe_execute
        name = job.get("module_name") or "__test__"
        g.update({"__name__": name, "__file__": f"{name}.py", "__package__": None, "__doc__": None, "sys": sys,
                  "os": os, "environ": os.environ})
        sys.modules[name] = module
    if kind == "call" and job.get("harness") == "apps":  # as _apps_stdio: APPS's guard, namespace, recursion
        sys.setrecursionlimit(1000)
        g.pop("__name__", None)
    try:
        if kind == "call" and job.get("harness") == "apps":
            _reliability_guard()
        _gc_hide()
        exec(job["compiled"]["code"], g)  # noqa: S102 - running the program is the point
        if job["compiled"]["setup"] is not None:
            exec(job["compiled"]["setup"], g)  # noqa: S102
        fn = None
        if kind == "call" and (job.get("harness") == "apps" or job.get("compare") == "lcb"):
            # APPS and LiveCodeBench: Solution().fn_name whenever the code has the class
            fn = getattr(g["Solution"](), job["fn_name"]) if job.get("has_solution_class") else g[job["fn_name"]]
        if kind == "unittest":
            import unittest

            test_class = g[job.get("test_class") or "TestCases"]
        if kind == "call" and fn is None:
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
    # No per-case "start" message: the driver starts case i+1's clock when case i's report arrives (half the
    # messages; the clock can only start late, never cut a case short).
    for i in range(first, len(cases)):
        t0 = monotonic()
        try:
            if kind == "call":
                c = cases[i]
                if type(c) is dict:  # {"~expr": source of (args, kwargs)}, built in the program's globals
                    args, kwargs = eval(c["~expr"], g)  # noqa: S307 - inside the sandbox, like the program
                    out = fn(*args, **kwargs)
                else:
                    out = fn(*c)
                s = monotonic() - t0  # the call alone, as evalplus times its ground truth
                if s > 0.1:  # a big output may take a while to encode: the time limit covers the call only
                    report({"returned": i})
                flush()
                report({"case": i, "ok": True, "value": enc(out), "value_raw": out, "s": s})
            elif kind == "unittest":
                result = unittest.TestResult()
                unittest.TestSuite([test_class(cases[i])]).run(result)  # with the class's setUpClass/tearDownClass
                flush()
                problems = result.failures + result.errors
                ok = result.wasSuccessful() and not problems
                err = None
                if not ok:
                    tb = problems[0][1] if problems else "unexpected success"
                    err = (tb.strip().splitlines() or ["failed"])[-1][:500]
                report({"case": i, "ok": ok, "wrong": bool(result.failures) and not result.errors, "err": err,
                        "s": monotonic() - t0})
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
    case_limits = job.get("case_timeouts")  # per-case limits (evalplus: from the reference's run time)

    def limit_of(i):
        return case_limits[i] if case_limits else per_test

    max_out = job["max_output_bytes"]
    max_line = job.get("max_report_line", 4 << 20)
    max_total = job.get("max_report_bytes", 32 << 20)
    report_bytes = job.setdefault("_report_bytes", [0])  # all workers of this job together
    pid, res_r, out_r, err_r, token = _spawn(job, kind, first, stdin_data)
    bufs = {res_r: bytearray(), out_r: bytearray(), err_r: bytearray()}
    open_fds = set(bufs)
    single = _one_case_per_worker(job)
    current = first if single else None  # the case whose clock runs
    loaded = single
    started = time.monotonic()
    case_t0 = case_began = started  # case_t0: when the running case's clock started; case_began: for reports
    encoding = False  # the running case's call has returned and its output is being encoded
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
            limit = min(limit, case_t0 + limit_of(current))
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
                lines = []
                if b"\n" in chunk:
                    *lines, rest = bytes(line_buf).split(b"\n")
                    line_buf = bytearray(rest)
                if len(line_buf) > max_line or any(len(x) > max_line for x in lines):
                    killed_reason = f"malformed report: a report line over {max_line} bytes"
                    break
                for line in lines:
                    report_bytes[0] += len(line)
                    if report_bytes[0] > max_total:
                        killed_reason = f"malformed report: reports over {max_total} bytes in all"
                        break
                    try:
                        msg = json.loads(line)
                    except (ValueError, RecursionError, MemoryError):
                        continue
                    if type(msg) is not dict or msg.get("k") != token:
                        continue  # not from our worker code: ignore forged or garbled lines
                    err = msg.get("err")
                    if err is not None and type(err) is not str:
                        err = f"malformed report: err of type {type(err).__name__}"
                    if "load_error" in msg:
                        load_error = str(msg["load_error"])[:1000]
                    elif "loaded" in msg and not loaded:
                        loaded = True
                        current = first if first < n else None
                        case_t0 = case_began = time.monotonic()
                        out_mark, err_mark = len(bufs[out_r]), len(bufs[err_r])
                    elif "returned" in msg and current is not None and msg["returned"] == current and not encoding:
                        # the call is over (evalplus' limit covers only the call); encoding its output gets a
                        # fresh allowance of the same length, still within the total limit
                        encoding = True
                        case_t0 = time.monotonic()
                    elif type(msg.get("case")) is int and current is not None and msg["case"] == current:
                        i = current
                        rec = {"status": "ok" if msg.get("ok") is True else
                               ("wrong" if msg.get("wrong") is True else "error"),
                               "seconds": round(time.monotonic() - case_began, 4),
                               "error": err[:1000] if err is not None else None}
                        if "value" in msg:  # passed on as JSON text: the host decodes one case at a time
                            try:
                                rec["value_json"] = json.dumps(msg["value"])
                            except (RecursionError, ValueError, TypeError, MemoryError):
                                rec.update(status="error", error="malformed report: value cannot be encoded")
                        if type(msg.get("s")) in (int, float) and 0 <= msg["s"] < 1e9:
                            rec["call_seconds"] = msg["s"]
                        if single:
                            rec["stdout_full"] = bytes(bufs[out_r]).decode("utf-8", "replace")
                        elif kind == "stdio":  # APPS harness: the output its code() printed to the captured stdout
                            rec["stdout_full"] = msg["out"] if type(msg.get("out")) is str else ""
                        rec["stdout"] = _excerpt(bytes(bufs[out_r][out_mark:]))
                        rec["stderr"] = _excerpt(bytes(bufs[err_r][err_mark:]))
                        results[i] = rec
                        nxt = i + 1
                        current = nxt if not single and nxt < n else None
                        case_t0 = case_began = time.monotonic()
                        encoding = False
                        out_mark, err_mark = len(bufs[out_r]), len(bufs[err_r])
            else:
                bufs[fd] += chunk
                if len(bufs[fd]) > max_out:
                    killed_reason = "output limit exceeded"
                    break
        if killed_reason:
            break
    if single and killed_reason is None and results[first] is not None:
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
            results[i] = {"status": status, "seconds": round(time.monotonic() - case_began, 4), "error": why,
                          "stdout": _excerpt(bytes(bufs[out_r][out_mark:])),
                          "stderr": _excerpt(bytes(bufs[err_r][err_mark:]))}

    if single:
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


def _clean_scratch(iso=None):
    """Empty the sandbox's private scratch dirs (its own tmpfs mounts: /tmp, /dev/shm, ...), so nothing one
    program wrote is seen by the next. In the box: a fresh tmpfs replaces each one (``_remount_scratch``),
    whatever the program left there (a directory chain thousands deep, paths past PATH_MAX, millions of files)
    costs nothing to drop. Otherwise, or if that fails: ``rm -rf --one-file-system`` (it walks any depth and
    never enters a bind, e.g. a venv under /tmp; the bind's mount point and the directories above it stay)."""
    if _SETUP.get("boxed"):
        try:
            _remount_scratch()
            return
        except OSError:
            pass
    keep = frozenset(_SETUP.get("keep", ()))
    for d in _SETUP.get("scratch", ()):
        try:
            entries = [e.path for e in os.scandir(d) if e.path not in keep]
        except OSError:
            continue
        if entries:
            import subprocess

            subprocess.run(["rm", "-rf", "--one-file-system", "--", *entries], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)


def _remount_scratch():
    """Replace each scratch dir by a fresh tmpfs: mount it on the stage dir, bind the read-only paths that
    live inside it (a venv under /tmp) back into it, detach the old one (freed once its last user is gone:
    the program's processes were killed) and move the new one into place."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ms_rdonly, ms_nosuid, ms_nodev, ms_remount, ms_bind, ms_move, ms_rec = 1, 2, 4, 32, 4096, 8192, 16384

    def check(rc, what):
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    stage = _SETUP.get("stage") or "/.scratch-stage"
    opts = f"mode=1777,size={int(_SETUP.get('tmp_mb', 64))}m".encode()
    keep = _SETUP.get("keep", ())
    for d in _SETUP.get("scratch", ()):
        check(libc.mount(b"tmpfs", stage.encode(), b"tmpfs", ms_nosuid | ms_nodev, opts), f"tmpfs on {stage}")
        try:
            for p in keep:
                if p.startswith(d + "/"):
                    target = stage + p[len(d):]
                    os.makedirs(target, mode=0o755, exist_ok=True)
                    check(libc.mount(p.encode(), target.encode(), None, ms_bind | ms_rec, None), f"bind {p}")
                    check(libc.mount(None, target.encode(), None,
                                     ms_bind | ms_remount | ms_rdonly | ms_nosuid | ms_nodev, None), f"ro {p}")
            check(libc.umount2(d.encode(), 2), f"detach {d}")  # MNT_DETACH
        except OSError:
            libc.umount2(stage.encode(), 2)
            raise
        check(libc.mount(stage.encode(), d.encode(), None, ms_move, None), f"move onto {d}")


def _prepare_workdir(iso):
    if _SETUP.get("scratch"):
        os.mkdir(iso["workdir"], 0o700)
        if iso.get("uid") is not None:
            os.chown(iso["workdir"], iso["uid"], iso["uid"])


def _enter_sandbox(job):
    """In a freshly forked worker (still root): in the box, a fresh IPC namespace (SysV IPC objects and POSIX
    message queues of the program die with it) and the OOM killer's first choice; then the program's working
    directory and rlimits, then its private uid (no supplementary groups, no capabilities left)."""
    iso = job["isolation"]
    if _SETUP.get("boxed") and _SETUP.get("ipc_per_program", True):
        import ctypes

        if ctypes.CDLL(None, use_errno=True).unshare(0x08000000) != 0:  # CLONE_NEWIPC
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC)")
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
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


_SETUP: dict = {}  # the setup message (``_isolate``): boxed, scratch dirs, paths to keep


def _one_case_per_worker(job):
    """A stdio program is a real process per test (a script with its own stdin); under APPS's harness all its
    tests run in one worker, as APPS calls ``code()`` once per test in one process."""
    return job["kind"] == "stdio" and job.get("harness") != "apps"


def run_job(job):
    t_start = time.monotonic()
    kind = job["kind"]
    cases = job["cases"]
    n = len(cases)
    results = [None] * n
    report = {"compile_error": None, "load_error": None, "cases": results}
    try:
        # compiled once here (trusted: compiling runs nothing); the forked workers inherit the code objects
        if kind == "unittest":  # BigCodeBench: code + "\n" + test, compiled as one module file
            job["code"] = job["code"] + "\n" + job.get("test_code", "")
        job["compiled"] = {"code": compile(job["code"], f"{job.get('module_name') or '__test__'}.py"
                                           if kind == "unittest" else "<solution>", "exec"),
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
            stdin_data = cases[i]["input"] if _one_case_per_worker(job) else None
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

    _SETUP.update(setup)
    libc = ctypes.CDLL(None, use_errno=True)
    if not setup.get("boxed"):  # in the box bwrap's --die-with-parent does this (and pid 1's death ends all)
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGKILL when the host process is gone
        if os.getppid() != setup.get("host_pid", os.getppid()):
            os._exit(1)  # the host died before the prctl
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")  # a program that exhausts its memory cgroup is killed, never the driver
    except OSError:
        pass
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


def _read_line(fd):
    """One line from ``fd`` with raw reads (no read-ahead buffer: the host sends the next job only after the
    answer to this one, so nothing past the newline is ever taken). b"" at end of input."""
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b""
        buf += chunk
    return bytes(buf)


def main():
    """A zygote: started once (``python -I -S``) inside the box, it never runs user code and never holds a job
    or a report. For every job it forks a *job supervisor* that reads the job line itself, runs it (forking
    the workers that execute the program, see ``run_job``), writes the report and exits; the zygote only waits
    for it. So every program starts from the same pristine interpreter state without paying for a new
    interpreter, and no program's worker inherits memory that held another job: not a reference solution's
    code or outputs (EvalPlus expected values), not another sample's outputs."""
    report_fd = os.dup(1)
    jobs_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # stray writes from the driver must not corrupt the reports

    def answer(obj):
        try:
            text = json.dumps(obj)
        except (RecursionError, ValueError, TypeError, MemoryError):
            for c in obj.get("cases") or ():  # a value the worker sent that cannot be re-encoded (too deep)
                if c and "value" in c:
                    try:
                        json.dumps(c["value"])
                    except (RecursionError, ValueError, TypeError, MemoryError):
                        c.update(value=None, status="error", error="malformed report: value cannot be encoded")
            text = json.dumps(obj)
        view = memoryview((text + "\n").encode())
        while view:
            view = view[os.write(report_fd, view):]

    try:
        _isolate(json.loads(_read_line(jobs_fd)))
    except Exception as e:  # noqa: BLE001 - reported to the host, which refuses or falls back
        answer({"setup_error": f"{type(e).__name__}: {e}"})
        os._exit(1)
    answer({"ready": True})
    import gc

    gc.freeze()  # the driver's objects move to a permanent generation: forked processes' GC never walks (and
    # copy-on-write faults) them
    while True:
        select.select([jobs_fd], [], [])
        pid = os.fork()
        if pid == 0:  # the job supervisor
            code = 70
            try:
                import ctypes

                ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the job's orphans come to us
                line = _read_line(jobs_fd)
                if not line:
                    code = 3
                else:
                    job = json.loads(line)
                    for p in job.get("sys_path", []):
                        if p not in sys.path:
                            sys.path.append(p)
                    answer(run_job(job))
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        while True:  # orphans of the job that came back to us (we are the subreaper): reap them
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
            os._exit(0)  # the host closed the job pipe
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            answer({"driver_error": f"the job supervisor died (status {status})", "cases": None})


if __name__ == "__main__":
    main()
