"""Hostile programs, one test each. Every one must be contained: the verdict is right (never a pass for a
program that cheats or misbehaves), the harness keeps running, no file outside the sandbox changes, no
process of the sandbox survives, and no network connection is made."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from codecurate.sandbox import (
    SandboxConfig,
    isolation,
    protections,
    run_program,
    run_tests,
    runner,
)

pytestmark = pytest.mark.skipif(not all(protections().get(k) for k in runner.REQUIRED),
                                reason="sandbox isolation needs root on Linux")

# Wall-clock limits. LIMITS are generous: for programs that end on their own (or are stopped by something other
# than a timeout), so that no verdict depends on how busy the machine is. SHORT is for the tests where a
# per-test timeout must fire: they assert the status, and that it took less than CEILING (a generous bound
# that only catches a timeout that did not work); its total limit leaves the next case time to run.
LIMITS = SandboxConfig(timeout_per_test=30.0, timeout_total=60.0, memory_mb=512, max_processes=32)
SHORT = dataclasses.replace(LIMITS, timeout_per_test=1.0, timeout_total=20.0)
CEILING = 30.0
OK_TESTS = {"kind": "assert", "setup": "", "cases": ["assert f(2) == 4", "assert f(3) == 9"]}
GOOD_F = "def f(x):\n    return x * x\n"


def sandbox_processes(uids: set[int]) -> list[int]:
    """Live pids owned by the sandbox uids this test used (other sessions may run sandboxes too)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{d}")
        except OSError:
            continue
        if st.st_uid in uids:
            try:
                state = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):  # a zombie is dead; only its parent's wait() clears the entry
                found.append(int(d))
    return found


@pytest.fixture
def guard(tmp_path, monkeypatch):
    """A parent working directory and a home file the program will attack; checked after the test."""
    cwd = tmp_path / "parent_cwd"
    cwd.mkdir()
    (cwd / "precious.txt").write_text("keep me")
    home_file = Path.home() / f".codecurate_sandbox_sentinel_{os.getpid()}"
    home_file.write_text("home secret")
    monkeypatch.chdir(cwd)
    before = sorted(p.name for p in cwd.iterdir())
    tmp_before = set(os.listdir("/tmp"))
    isolation.recent_uids.clear()
    yield {"cwd": cwd, "home_file": home_file}
    try:
        assert sorted(p.name for p in cwd.iterdir()) == before
        assert (cwd / "precious.txt").read_text() == "keep me"
        assert home_file.read_text() == "home secret"
        new_tmp = {n for n in set(os.listdir("/tmp")) - tmp_before if "sandbox" in n or "pwned" in n}
        assert not new_tmp, new_tmp
        assert os.getcwd() == str(cwd)
        uids = set(isolation.recent_uids)
        assert uids, "the test ran no sandboxed program"
        deadline = time.monotonic() + 10  # a SIGKILLed process still has to be scheduled to exit
        while (left := sandbox_processes(uids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], f"sandbox processes still alive 10 s after the test: {left}"
    finally:
        home_file.unlink(missing_ok=True)


def hostile(body: str) -> str:
    return textwrap.dedent(body) + "\n" + GOOD_F


def assert_not_passed(out):
    assert out.status != "passed" and out.passed < out.total, out
    return out


# -- resources -------------------------------------------------------------------------------------------


def test_fork_bomb(guard):
    code = hostile("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    assert_not_passed(run_tests(code, OK_TESTS, SHORT))


def test_fork_bomb_is_capped_by_nproc(guard):
    code = hostile("""
        import os, time
        n = 0
        for _ in range(500):
            try:
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                n += 1
            except OSError:
                break
        print("forked", n)
    """)
    r = run_program(code, config=LIMITS)
    m = re.fullmatch(r"forked (\d+)\s*", r.stdout)
    assert m, f"expected the program to print 'forked N', got {r}"
    forked = int(m.group(1))
    assert 0 < forked < LIMITS.max_processes, r


def test_memory_bomb(guard):
    code = hostile("x = bytearray(8 * 1024 ** 3)")
    out = assert_not_passed(run_tests(code, OK_TESTS, LIMITS))
    assert out.status == "compile_error" and "MemoryError" in out.error  # APPS: failure while loading = -2


def test_memory_bomb_in_a_test_is_a_runtime_error(guard):
    out = run_tests(GOOD_F, {"kind": "assert", "cases": ["x = [0] * (10 ** 10)", "assert f(2) == 4"]}, LIMITS)
    assert out.results == [-1, True]
    assert "MemoryError" in out.per_case[0]["error"]


def test_infinite_loop(guard):
    t0 = time.monotonic()
    out = run_tests(GOOD_F, {"kind": "assert", "cases": ["while True: pass", "assert f(2) == 4"]}, SHORT)
    assert out.results == [-1, True] and out.per_case[0]["status"] == "timeout", out
    assert time.monotonic() - t0 < CEILING


def test_c_level_loop_that_ignores_signals(guard):
    code = hostile("""
        import signal
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(s, signal.SIG_IGN)
    """)
    out = run_tests(code, {"kind": "assert", "cases": ["sum(range(10 ** 12))"]}, SHORT)
    assert out.results == [-1] and out.status == "timeout", out


def test_sleep_past_timeout(guard):
    t0 = time.monotonic()
    out = run_tests(GOOD_F, {"kind": "assert", "cases": ["import time; time.sleep(60)"]}, SHORT)
    assert out.status == "timeout" and out.results == [-1], out
    assert time.monotonic() - t0 < CEILING  # far below the 60 s sleep


def test_total_time_limit(guard):
    # each case far under the per-test limit (so it passes however busy the machine is), together (5 s) over
    # the total (3 s)
    config = dataclasses.replace(LIMITS, timeout_per_test=2.5, timeout_total=3.0)
    cases = ["import time; time.sleep(0.5)"] * 10
    out = run_tests(GOOD_F, {"kind": "assert", "cases": cases}, config)
    assert out.results[0] is True and -1 in out.results, out
    assert out.seconds < CEILING


def test_huge_stdout(guard):
    t0 = time.monotonic()
    r = run_program("while True:\n    print('x' * 10000)", config=LIMITS)
    assert r.returncode == -9 and r.error == "output limit exceeded", r
    assert len(r.stdout) <= LIMITS.max_output_bytes + 65536
    assert time.monotonic() - t0 < CEILING  # stopped by the output limit, not by the 30 s timeout


def test_write_10gb_file(guard):
    code = hostile("""
        with open("big.bin", "wb") as fh:
            chunk = b"0" * (1 << 20)
            for _ in range(10 * 1024):
                fh.write(chunk)
    """)
    out = assert_not_passed(run_tests(code, OK_TESTS, LIMITS))
    assert "File too large" in out.error or "No space" in out.error or "OSError" in out.error


# -- files, environment, network ------------------------------------------------------------------------


def test_delete_files_in_parent_cwd_and_home(guard):
    code = hostile(f"""
        import os, shutil
        errors = []
        for p in [{str(guard['cwd'] / 'precious.txt')!r}, {str(guard['home_file'])!r}]:
            try:
                os.remove(p)
            except OSError as e:
                errors.append(type(e).__name__)
        try:
            shutil.rmtree({str(guard['cwd'])!r})
        except OSError as e:
            errors.append(type(e).__name__)
        assert len(errors) == 3, errors
    """)
    assert run_tests(code, OK_TESTS, LIMITS).status == "passed"  # every attempt failed inside


def test_home_directory_is_hidden(guard):
    r = run_program(f"import os\nprint(os.path.exists({str(guard['home_file'])!r}))", config=LIMITS)
    assert r.stdout.strip() == "False"


def test_write_outside_the_sandbox(guard):
    code = f"""
import os
for p in ["/tmp/pwned_by_sandbox", "/pwned", "/etc/pwned", {str(guard['cwd'] / 'pwned.txt')!r}, "/var/tmp/pwned"]:
    try:
        open(p, "w").write("x")
        print("wrote", p)
    except OSError:
        pass
"""
    r = run_program(code, config=LIMITS)
    assert r.returncode == 0
    # only the private /tmp and /var/tmp tmpfs accept writes; they vanish with the sandbox (guard checks)
    assert set(r.stdout.split()) <= {"wrote", "/tmp/pwned_by_sandbox", "/var/tmp/pwned"}
    assert not Path("/tmp/pwned_by_sandbox").exists() and not Path("/var/tmp/pwned").exists()


def test_environment_secrets_do_not_leak(guard, monkeypatch):
    monkeypatch.setenv("CODECURATE_TEST_SECRET", "s3cr3t-token-42")
    code = """
import os
found = [k for k, v in os.environ.items() if "s3cr3t" in v]
for pid in [os.getppid(), 1] + [int(d) for d in os.listdir("/proc") if d.isdigit()][:200]:
    try:
        if b"s3cr3t" in open(f"/proc/{pid}/environ", "rb").read():
            found.append(pid)
    except OSError:
        pass
print("found", found)
"""
    r = run_program(code, config=LIMITS)
    assert r.stdout.strip() == "found []"
    assert "s3cr3t" not in r.stdout + r.stderr


def test_network_connection_is_blocked(guard):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    got = []

    def accept():
        try:
            got.append(srv.accept())
        except OSError:
            pass

    th = threading.Thread(target=accept)
    th.start()
    code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=1)
    print("connected")
except OSError as e:
    print("blocked", e.errno)
"""
    r = run_program(code, config=LIMITS)
    th.join()
    srv.close()
    assert r.stdout.startswith("blocked") and got == []


def test_dns_and_external_network_blocked(guard):
    r = run_program("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=1); print('open')\n"
                    "except OSError:\n    print('blocked')", config=LIMITS)
    assert r.stdout.strip() == "blocked"


# -- processes ----------------------------------------------------------------------------------------


def test_kill_the_parent_process(guard):
    code = hostile(f"""
        import os, signal
        for pid in (os.getppid(), {os.getpid()}, 1):
            try:
                os.kill(pid, signal.SIGKILL)
                raise SystemExit("killed " + str(pid))
            except (PermissionError, ProcessLookupError):  # in its own PID namespace the host pid is unseen
                pass
    """)
    out = run_tests(code, OK_TESTS, LIMITS)
    assert out.status == "passed"  # every kill was refused, so the (correct) program passes
    assert run_tests(GOOD_F, OK_TESTS, LIMITS).status == "passed"  # and the harness carries on


def test_kill_every_process_it_can(guard):
    code = hostile("""
        import os, signal, time
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        os.kill(-1, signal.SIGKILL)  # reaches only the program's own uid: its child, not the driver or host
        assert os.waitpid(pid, 0)[1] == signal.SIGKILL
    """)
    assert run_tests(code, OK_TESTS, LIMITS).status == "passed"
    assert run_tests(GOOD_F, OK_TESTS, LIMITS).status == "passed"


def test_daemon_that_outlives_the_program(guard):
    code = hostile("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.closerange(0, 100)
                time.sleep(120)
            os._exit(0)
    """)
    out = run_tests(code, OK_TESTS, LIMITS)
    assert out.status == "passed"  # the program itself is correct; its daemon is reaped (guard checks)


def test_threads_are_capped_and_reaped(guard):
    code = hostile("""
        import threading, time
        n = 0
        try:
            for _ in range(1000):
                threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
                n += 1
        except RuntimeError:
            pass
        assert n < 1000
    """)
    assert run_tests(code, OK_TESTS, LIMITS).status == "passed"


def test_signals_to_itself(guard):
    out = run_tests(GOOD_F, {"kind": "assert", "cases": [
        "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "assert f(2) == 4",
        "import os, signal; os.kill(os.getpid(), signal.SIGTERM)", "assert f(3) == 9"]}, LIMITS)
    assert out.results == [-1, True, -1, True]


def test_setuid_back_to_root_fails(guard):
    r = run_program("import os\ntry:\n    os.setuid(0); print('root')\nexcept OSError:\n    print('denied')",
                    config=LIMITS)
    assert r.stdout.strip() == "denied"


# -- cheating the verdict ----------------------------------------------------------------------------------


def test_os_exit_zero_before_the_result(guard):
    out = run_tests(hostile("import os\nos._exit(0)"), OK_TESTS, LIMITS)
    assert out.passed == 0
    out = run_tests(GOOD_F, {"kind": "assert", "cases": ["import os; os._exit(0)", "assert f(2) == 5"]}, LIMITS)
    assert out.results == [-1, False]


def test_sys_exit_in_tests(guard):
    out = run_tests(GOOD_F, {"kind": "assert", "cases": ["import sys; sys.exit(0)", "exit()", "assert f(2) == 4"]},
                    LIMITS)
    assert out.results == [-1, -1, True]


def test_monkeypatched_builtins_and_forged_equality(guard):
    code = textwrap.dedent("""
        import builtins
        class Yes:
            def __eq__(self, other): return True
            __hash__ = object.__hash__
        builtins.isinstance = lambda *a: True
        builtins.AssertionError = type("Nope", (Exception,), {})
        def f(x):
            return Yes()
    """)
    call = {"kind": "call", "fn_name": "f", "cases": [{"input": [2], "output": 4}, {"input": [3], "output": 9}]}
    out = run_tests(code, call, LIMITS)
    assert out.results == [False, False]  # compared on the host: an object with a forged __eq__ is opaque
    out = run_tests(code.replace("return Yes()", "return x + 1"), OK_TESTS, LIMITS)
    assert out.results == [False, False]  # `assert` raises the real AssertionError


def test_forged_result_lines(guard):
    code = hostile("""
        import os, json
        for fd in range(3, 1024):
            for i in range(5):
                for msg in ({"case": i, "ok": True}, {"start": i}, {"done": True}, {"loaded": True}):
                    try:
                        os.write(fd, (json.dumps(msg) + "\\n").encode())
                    except OSError:
                        pass
        raise SystemExit(0)
    """)
    out = run_tests(code, OK_TESTS, LIMITS)
    assert out.passed == 0


def test_stdout_redirect_cannot_fake_stdio_answer(guard):
    code = "import os\nos.close(1)\nprint('42')\n"
    out = run_tests(code, {"kind": "stdio", "cases": [{"input": "", "output": "42"}]}, LIMITS)
    assert out.passed == 0 and out.results in ([False], [-1])


def test_recursion_limit(guard):
    out = run_tests(hostile("def r(n): return r(n + 1)"), {"kind": "assert", "cases": ["r(0)", "assert f(2) == 4"]},
                    LIMITS)
    assert out.results == [-1, True] and "RecursionError" in out.per_case[0]["error"]


def test_c_stack_overflow_segfault(guard):
    code = hostile("import sys\nsys.setrecursionlimit(10 ** 7)\ndef r(n): return r(n + 1)")
    out = run_tests(code, {"kind": "assert", "cases": ["r(0)", "assert f(2) == 4"]}, SHORT)
    assert out.results == [-1, True], out  # a crash, or (deep Python recursion on 3.11+) the timeout


def test_change_cwd(guard):
    code = hostile("""
        import os
        os.chdir("/")
        try:
            open("pwned", "w")
        except OSError:
            pass
        os.chdir("/tmp")
    """)
    assert run_tests(code, OK_TESTS, LIMITS).status == "passed"
    assert not Path("/pwned").exists()


def test_read_driver_memory_and_fds(guard):
    code = hostile("""
        import os
        ppid = os.getppid()
        for p in (f"/proc/{ppid}/mem", f"/proc/{ppid}/fd/1", f"/proc/{ppid}/environ"):
            try:
                open(p, "rb").read(1)
                raise SystemExit("read " + p)
            except (OSError, ValueError):
                pass
    """)
    assert run_tests(code, OK_TESTS, LIMITS).status == "passed"


def test_stdin_read_in_call_based_tests(guard):
    code = "import sys\ndef f(x):\n    return sys.stdin.read() + str(x)\n"
    out = run_tests(code, {"kind": "call", "fn_name": "f", "cases": [{"input": [1], "output": "1"}]}, LIMITS)
    assert out.results == [True]  # stdin is /dev/null: EOF at once, never the test data


def test_nothing_leaks_to_the_next_program(guard):
    writer = """
import os
for p in ("/tmp/leak", "/dev/shm/leak", "leak_in_workdir"):
    open(p, "w").write("secret of program A")
print(os.getcwd())
"""
    reader = """
import os
seen = [p for p in ("/tmp/leak", "/dev/shm/leak", "leak_in_workdir") if os.path.exists(p)]
print(os.getcwd(), sorted(os.listdir(".")), seen)
"""
    a = run_program(writer, config=LIMITS)
    b = run_program(reader, config=LIMITS)  # runs in the same pooled driver, right after A
    assert a.returncode == 0 and b.returncode == 0, (a, b)
    assert a.stdout.split()[:1] == b.stdout.split()[:1] != [], (a.stdout, b.stdout)  # same path, but a fresh,
    # empty directory
    assert b.stdout.strip().endswith("[] []")
