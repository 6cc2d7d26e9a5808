"""Process hygiene: when `codecurate run` / `codecurate eval` is killed with SIGKILL, nothing it started lives on
(the forkserver, the pool workers, the sandbox drivers and the programs they run).

Descendants are found two ways, since a killed process's children are re-parented and so no longer appear
under it: (1) while the run is alive, its process tree is walked through the parent links in /proc/*/stat
and every pid is recorded with its start time (field 22; a pid reused later by an unrelated process has
another start time); (2) after the kill, /proc/*/environ is scanned for a marker variable set only in the
run's environment (this finds descendants the walk missed; sandbox drivers get a clean environment, so
they are covered by (1) only).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

PKG = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"
CLI = [sys.executable, "-m", "codecurate.cli"]
MARKER = "CODECURATE_HYGIENE_TEST"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PDEATHSIG is Linux")


# ---------------------------------------------------------------- /proc helpers
def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time, state) of a live pid, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[-1].split()  # the command name (field 2) may hold spaces and parentheses
    if len(fields) < 20:
        return None
    # fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[19] field 22 (starttime)
    return int(fields[1]), int(fields[19]), fields[0]


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live process below ``root`` (root excluded)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid in _pids():
        st = _stat(pid)
        if st is not None:
            children.setdefault(st[0], []).append((pid, st[1]))
    out: dict[int, int] = {}
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid not in out:
                out[pid] = start
                todo.append(pid)
    return out


def _has_marker(pid: int, token: str) -> bool:
    try:
        return f"{MARKER}={token}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:160]
    except OSError:
        return "?"


def _survivors(seen: dict[int, int], token: str) -> dict[int, str]:
    """Recorded descendants still alive (same pid and start time, not a zombie) plus any live process that
    carries the run's marker; pid -> description."""
    out = {}
    for pid in _pids():
        st = _stat(pid)
        if st is None or st[2] in ("Z", "X"):  # a zombie is dead; only its new parent's wait() clears it
            continue
        recorded = seen.get(pid) == st[1]
        if recorded or _has_marker(pid, token):
            how = "recorded descendant" if recorded else "carries the run's marker"
            out[pid] = f"pid {pid} (ppid {st[0]}, {how}): {_cmdline(pid)}"
    return out


def kill_and_check(cmd: list[str], ready, what: str, log: Path, start_timeout: float = 180,
                   exit_deadline: float = 30) -> dict:
    """Start ``cmd``, record its descendants until ``ready(descendants, token)`` says the run is mid-flight,
    SIGKILL the run's own process (not its group), and assert that none of its descendants survives."""
    token = uuid.uuid4().hex
    env = dict(os.environ, **{MARKER: token})
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, int] = {}
    marked: set[int] = set()
    try:
        deadline = time.monotonic() + start_timeout
        while proc.poll() is None and time.monotonic() < deadline:
            now = _descendants(proc.pid)
            seen.update(now)
            marked.update(p for p in now if _has_marker(p, token))
            if ready(seen, marked):
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            out = log.read_bytes().decode(errors="replace")[-3000:]
            pytest.fail(f"{what}: the run ended (exit {proc.returncode}) before it was mid-flight; output:\n{out}")
        if time.monotonic() >= deadline:
            tree = "\n".join(f"  {p}: {_cmdline(p)}" for p in seen)
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{what}: not mid-flight after {start_timeout:.0f} s; descendants seen:\n{tree}")
        seen.update(_descendants(proc.pid))
        os.kill(proc.pid, signal.SIGKILL)  # only the run itself: its descendants must follow on their own
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + exit_deadline
    while (left := _survivors(seen, token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        for pid in left:  # do not leave them running for the rest of the session
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pytest.fail(f"{what}: {len(left)} of {len(seen)} descendants survived SIGKILL of the run by "
                    f"{exit_deadline:.0f} s:\n" + "\n".join(left.values()))
    return {"seen": seen, "marked": marked}


def _sandbox_usable() -> bool:
    try:
        from codecurate.sandbox import protections, runner
    except ImportError:
        return False
    return all(protections().get(k) for k in runner.REQUIRED)


needs_sandbox = pytest.mark.skipif(not _sandbox_usable(), reason="sandbox isolation needs root on Linux")


# ---------------------------------------------------------------- codecurate run
def _slow_mbpp(path: Path, n: int, sleep: float) -> None:
    """The first ``n`` MBPP rows, each program sleeping ``sleep`` s when loaded: the sandbox stage takes long."""
    rows = [json.loads(line) for line in (PKG / "mbpp.jsonl").read_text().splitlines()[:n]]
    with open(path, "w") as fh:
        fh.writelines(json.dumps({**r, "code": f"import time\ntime.sleep({sleep})\n" + r["code"]}) + "\n" for r in rows)


def test_run_with_a_worker_pool_leaves_nothing_behind(tmp_path):
    """Killed while the pool's workers and the forkserver are up (no sandbox): all of them die."""
    import yaml

    rows = (PKG / "mbpp.jsonl").read_text().splitlines()
    with open(tmp_path / "big.jsonl", "w") as fh:
        for rep in range(5):  # 4,870 records in shards of 100, read and filtered on the 2 workers
            for line in rows:
                r = json.loads(line)
                fh.write(json.dumps({**r, "task_id": r["task_id"] + 1000 * rep}) + "\n")
    recipe = {"name": "pool", "input": {"path": str(tmp_path / "big.jsonl")}, "batch_size": 100,
              "stages": [{"op": "python_syntax"}, {"op": "length", "field": "code", "min": 40, "max": 1500}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"

    def ready(seen, marked):  # forkserver and workers up, and the workers have written shards
        return len(marked) >= 3 and any((out / "stages").glob("*/data-00003.parquet"))

    got = kill_and_check(CLI + ["run", str(tmp_path / "r.yaml"), "-o", str(out), "-w", "2", "-q"], ready,
                         "codecurate run -w 2", tmp_path / "log")
    assert len(got["marked"]) >= 3, got  # forkserver + 2 workers (+ the resource tracker)


@needs_sandbox
def test_run_with_sandbox_stage_leaves_nothing_behind(tmp_path):
    """Killed inside an execution_filter stage (sandboxed programs running) with a worker pool of 2."""
    import yaml

    _slow_mbpp(tmp_path / "slow.jsonl", 40, 1.0)
    recipe = {"name": "hygiene", "input": {"path": str(tmp_path / "slow.jsonl")}, "batch_size": 10,
              "stages": [{"op": "python_syntax"}, {"op": "execution_filter", "workers": 2}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"

    def ready(seen, marked):  # the sandbox stage started and a sandbox process (clean environment) is up
        return (any((out / "stages").glob("*execution_filter*/attempt.json"))
                and len(marked) >= 3 and len(set(seen) - marked) >= 2)

    got = kill_and_check(CLI + ["run", str(tmp_path / "r.yaml"), "-o", str(out), "-w", "2", "-q"], ready,
                         "codecurate run with execution_filter", tmp_path / "log")
    assert len(set(got["seen"]) - got["marked"]) >= 2, got  # sandbox drivers were among the descendants


# ---------------------------------------------------------------- codecurate eval
@needs_sandbox
def test_eval_from_generations_leaves_nothing_behind(tmp_path):
    """Killed while scoring HumanEval generations whose function sleeps 2 s per call."""
    import gzip

    with gzip.open(PKG / "HumanEval.jsonl.gz", "rt") as f:
        probs = [json.loads(x) for x in f][:20]
    gens = tmp_path / "gens.jsonl"
    with open(gens, "w") as fh:
        fh.writelines(json.dumps({"task_id": p["task_id"], "completion": "    import time\n    time.sleep(2)\n"}) + "\n"
                      for p in probs)
    out = tmp_path / "Results"

    def ready(seen, marked):  # programs are running in the sandbox
        return any(out.rglob("all_code.json")) and len(set(seen) - marked) >= 2

    got = kill_and_check(CLI + ["eval", "--benchmark", "humaneval", "--from-generations", str(gens), "-o", str(out),
                                "--workers", "2"], ready, "codecurate eval --from-generations", tmp_path / "log")
    assert len(set(got["seen"]) - got["marked"]) >= 2, got



@needs_sandbox
def test_eval_killed_while_linting_leaves_nothing_behind(tmp_path):
    """Killed in the static-metrics phase: the pylint worker (busy for ~40 s on these programs) dies at once."""
    import gzip

    with gzip.open(PKG / "HumanEval.jsonl.gz", "rt") as f:
        probs = [json.loads(x) for x in f][:16]
    padding = "\n\n" + "\n".join(f"def helper_{i}(x):\n    \"\"\"Doc.\"\"\"\n    return x + {i}\n" for i in range(2000))
    gens = tmp_path / "gens.jsonl"
    with open(gens, "w") as fh:
        fh.writelines(json.dumps({"task_id": p["task_id"], "code": p["prompt"] + p["canonical_solution"] + padding})
                      + "\n" for p in probs)
    out = tmp_path / "Results"

    def ready(seen, marked):
        return any("_pylint_worker" in _cmdline(p) for p in marked)

    kill_and_check(CLI + ["eval", "--benchmark", "humaneval", "--from-generations", str(gens), "-o", str(out),
                          "--workers", "2"], ready, "codecurate eval (linting)", tmp_path / "log", exit_deadline=10)


# ---------------------------------------------------------------- the pieces
def test_die_with_parent_exits_when_the_parent_is_already_gone():
    """The race guard: a child whose parent died before its prctl (here: a wrong expected parent) exits."""
    code = ("import os; from codecurate.pipeline.executors.local import die_with_parent\n"
            "assert die_with_parent(os.getppid()) is True\n"
            "print('armed', flush=True)\n"
            "die_with_parent(os.getppid() + 1)\n"
            "print('still here')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert (r.returncode, r.stdout) == (1, "armed\n"), (r.returncode, r.stdout, r.stderr[-2000:])


def test_pool_started_from_a_thread_outlives_the_thread(tmp_path):
    """PDEATHSIG fires when the *thread* that forked a child exits: a forkserver started from a short-lived
    thread must not be armed, or the pool would die with that thread."""
    code = """
import threading
from codecurate.pipeline.executors.local import LocalExecutor

def square(t):
    return t["x"] * t["x"]

if __name__ == "__main__":
    ex = LocalExecutor(2)
    th = threading.Thread(target=lambda: ex.map(square, [{"x": 1}, {"x": 2}]))
    th.start()
    th.join()
    import time; time.sleep(0.5)
    print(ex.map(square, [{"x": i} for i in range(6)]))
    ex.close()
"""
    (tmp_path / "pool_in_thread.py").write_text(code)  # a file: the workers must import its __main__
    r = subprocess.run([sys.executable, str(tmp_path / "pool_in_thread.py")], capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "[0, 1, 4, 9, 16, 25]", (r.returncode, r.stdout,
                                                                              r.stderr[-3000:])
