"""Pylint/radon/bandit on untrusted code run in limited, killable workers; batched pylint == per-file pylint.

The hostile programs are real: each was measured against pylint 4.1.4 / astroid 4.3.4 / radon 6.0.1 without
limits (2-core machine):
- MEMORY_BOMB (75 bytes): astroid materializes ``[0] * 99999999`` (its guard stops at 10^8 elements) once per
  list when ``x.a()`` is checked for no-member: 2.39 GB peak, 45 s.
- TIME_BOMB (224 bytes): each ``x += x`` doubles the inference work of ``x.f()`` (22 lines: 57 s at 109 MB;
  30 lines: hours), with little memory.
- RADON_BOMB: a 500-term ``1 + 1 + ...`` parses fine but radon's AST visitors recurse past Python's limit.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from codecurate.evaluation._pylint_worker import (
    LIMIT_MEMORY,
    LIMIT_TIME,
    Limits,
    analyse,
    limited_command,
)
from codecurate.evaluation.benchmarks import load_humaneval
from codecurate.evaluation.static_metrics import (
    PYLINT_ARGS,
    maintainability_index,
    maintainability_indices,
    pylint_scores,
    summarize_pylint,
)
from codecurate.ops.clean.static_clean import StaticClean
from codecurate.records import make_record

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="limits use prctl/RLIMIT_AS (Linux)")

MEMORY_BOMB = "x = [0] * 99999999\ny = [1] * 99999999\nz = [2] * 99999999\nx.a()\ny.a()\nz.a()\n"
TIME_BOMB = "x = [0]\n" + "x += x\n" * 30 + "x.f()\n"
RADON_BOMB = "x = 1" + " + 1" * 500 + "\n"


def _cli_pylint_score(code: str, tmp_path, name: str = "prog") -> float:
    """The rating pylint itself prints for the file alone (the study's ``pylint <file>``)."""
    (tmp_path / f"{name}.py").write_text(code)
    (tmp_path / "empty.rc").write_text("")
    out = subprocess.run([sys.executable, "-m", "pylint", "--rcfile=empty.rc", "--persistent=n", f"{name}.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False).stdout
    return float(next(x for x in out.splitlines() if "rated at" in x).split("rated at ")[1].split("/")[0])


def _key(r):
    return (r.score, r.rated, r.counts, r.statements, r.symbols, r.error)


def test_pylint_bombs_are_contained_and_neighbours_keep_their_scores(tmp_path):
    he = [r["code"] for r in load_humaneval()[:4]]
    codes = [he[0], MEMORY_BOMB, he[1], he[2], TIME_BOMB, he[3]]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    res = pylint_scores(codes, workers=2, batch_size=2, limits=Limits(memory_mb=512, cpu_s=600, wall_s=4))
    assert time.monotonic() - t0 < 120
    # the caller's memory never saw the bomb (it needs 2.4 GB without a limit)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 300 * 1024
    assert res[1].error == LIMIT_MEMORY and not res[1].rated and res[1].score == 0.0
    assert res[4].error == LIMIT_TIME and not res[4].rated and res[4].score == 0.0  # wall-clock kill
    # neighbours (same requests, same workers): exactly their scores alone, and pylint's own rating
    for i in (0, 2, 3, 5):
        assert res[i].error is None and res[i].rated
        assert _key(res[i]) == _key(pylint_scores([codes[i]])[0])
    assert res[3].score == pytest.approx(_cli_pylint_score(codes[3], tmp_path), abs=0.006)
    summary = summarize_pylint(res)
    assert summary["limit_exceeded"] == {"memory": 1, "time": 1} and summary["analyzer_errors"] == 0
    assert summary["unrated"] == 2


def test_memory_bomb_child_stays_under_its_address_space_limit():
    raw = analyse("pylint", [MEMORY_BOMB, "x = 1\n"], options={"args": list(PYLINT_ARGS)},
                  limits=Limits(memory_mb=400, cpu_s=60, wall_s=120))
    assert raw[0]["error"] == LIMIT_MEMORY and raw[0]["rss_mb"] <= 400
    assert "value" in raw[1]  # the next program runs in a fresh child


def test_time_bomb_hits_the_cpu_limit():
    t0 = time.monotonic()
    raw = analyse("pylint", [TIME_BOMB], options={"args": list(PYLINT_ARGS)},
                  limits=Limits(memory_mb=1024, cpu_s=2, wall_s=300))
    assert raw[0]["error"] == LIMIT_TIME
    assert time.monotonic() - t0 < 120  # SIGXCPU after 2 CPU seconds, long before the wall limit


def test_radon_recursion_and_time_limit_are_per_program():
    from radon.metrics import mi_visit

    he = [r["code"] for r in load_humaneval()[:3]]
    res = maintainability_indices([he[0], RADON_BOMB, "def f(:\n", he[1]])
    assert res[1].value == 0.0 and res[1].error.startswith("RecursionError")  # the study: error -> 0.0
    assert res[2].value == 0.0 and res[2].error.startswith("SyntaxError")
    assert [res[0].value, res[3].value] == pytest.approx([mi_visit(he[0], True), mi_visit(he[1], True)])
    assert res[0].error is None and maintainability_index(RADON_BOMB) == 0.0
    # radon runs several programs per child: one over its CPU limit is stopped, the rest resume in a new child
    big = "".join(f"def f{i}(a):\n    return a + {i}\n" for i in range(20000))  # ~4 CPU s of radon
    res = maintainability_indices([he[0], big, he[1], he[2]], limits=Limits(cpu_s=1, wall_s=120))
    assert res[1].value == 0.0 and res[1].error == LIMIT_TIME
    assert [res[0].value, res[2].value, res[3].value] == pytest.approx([mi_visit(c, True) for c in he])


def test_batched_scores_equal_per_file_scores_on_near_copies(tmp_path):
    # 100 near copies of HumanEval/0 (issue: one pylint run over similar files reports duplicate-code, R0801,
    # and every such message lands on the last file of the run: one file went to 0.0)
    base = load_humaneval()[0]["code"]
    codes = [base.replace("has_close_elements", f"has_close_elements_{i}").replace("    return False",
                                                                                 f"    return {i} < 0")
             for i in range(100)]
    batched = pylint_scores(codes, workers=2, batch_size=25)
    alone = [pylint_scores([c])[0] for c in codes]
    assert [_key(r) for r in batched] == [_key(r) for r in alone]
    assert not any("duplicate-code" in r.symbols for r in batched)
    # the trap is real: pylint over three of the files reports duplicate-code ...
    for i in range(3):
        (tmp_path / f"p{i}.py").write_text(codes[i])
    out = subprocess.run([sys.executable, "-m", "pylint", "--rcfile=/dev/null", "--persistent=n", "p0.py", "p1.py",
                          "p2.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False).stdout
    assert "duplicate-code" in out
    # ... and pylint on one file alone rates it as the batch does
    assert batched[1].score == pytest.approx(_cli_pylint_score(codes[1], tmp_path, "alone"), abs=0.006)


def test_no_inference_state_leaks_from_one_program_to_the_next():
    # Beyond R0801: in one pylint run, astroid records ``string.Template.extra = 1`` of the first file on the
    # shared stdlib class, and the second file's no-member error disappears (pylint over both files, R0801
    # disabled: b rated 5.00; pylint b.py alone: 0.00). Each program here starts from the same clean state.
    a = "import string\nstring.Template.extra = 1\n"
    b = 'import string\nprint(string.Template("x").extra)\n'
    batched = pylint_scores([a, b], workers=1, batch_size=2)
    assert batched[1].symbols.get("no-member") == 1 and batched[1].score == 0.0
    assert _key(batched[1]) == _key(pylint_scores([b])[0])


def test_static_clean_ledgers_limit_exceeded_and_keeps_clean_neighbours():
    ok1 = "def add(a, b):\n    return a + b\n"
    ok2 = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n"
    recs = [make_record("ok1", code=ok1), make_record("mem", code=MEMORY_BOMB), make_record("time", code=TIME_BOMB),
            make_record("ok2", code=ok2)]
    op = StaticClean({"backends": ["pylint", "bandit"], "analysis_memory_mb": 512, "analysis_cpu_s": 2,
                      "analysis_wall_s": 300})
    res = op.process(recs)
    reasons = {d.record["id"]: d.reason for d in res.dropped}
    assert reasons == {"mem": "static_clean: analyzer error: pylint: limit exceeded: memory",
                       "time": "static_clean: analyzer error: pylint: limit exceeded: time"}
    assert [r["id"] for r in res.kept] == ["ok1", "ok2"]
    assert res.counters["analyzer_error.pylint"] == 2 and "analyzer_error.bandit" not in res.counters


def test_limited_command_sets_the_address_space_limit():
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_AS))"
    out = subprocess.run(limited_command([sys.executable, "-c", probe], 300), capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == str((300 * 2**20, 300 * 2**20))


def _children_of(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(name))
    return out


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.parametrize("started_from", ["main thread", "short-lived thread"])
def test_workers_do_not_outlive_their_host(started_from):
    # from the main thread the server is armed with PR_SET_PDEATHSIG; from another thread it is not (it would
    # die with that thread) and leaves when its stdin closes, killing the child it is waiting for
    host = subprocess.Popen([sys.executable, "-c", f"""
import threading
from codecurate.evaluation import _pylint_worker as W
pool = W.AnalysisPool()
if {started_from == "main thread"}:
    pool._ensure(1)
else:
    th = threading.Thread(target=pool._ensure, args=(1,))
    th.start()
    th.join()
print(pool._servers[0].proc.pid, flush=True)
pool.run("pylint", [{TIME_BOMB!r}], options={{"args": ["--rcfile=/dev/null"]}}, limits=W.Limits(cpu_s=600, wall_s=600))
"""], stdout=subprocess.PIPE, text=True)
    try:
        server = int(host.stdout.readline())
        deadline = time.monotonic() + 120
        while not _children_of(server) and time.monotonic() < deadline:  # the child linting the bomb
            time.sleep(0.2)
        children = _children_of(server)
        assert children, "the server never forked a child (or died with the thread that started it)"
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not all(_gone(p) for p in [server, *children]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(p) for p in [server, *children])
    finally:
        if host.poll() is None:
            host.kill()
