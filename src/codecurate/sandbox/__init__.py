"""Run untrusted code (dataset solutions, model generations) in an isolated process and score it on tests.

    from codecurate.sandbox import SandboxConfig, run_tests, run_tests_many, run_program, protections

    out = run_tests(code, record["tests"])          # TestOutcome: status, results (APPS codes), pass_ratio
    outs = run_tests_many([(code, tests), ...], workers=2)
    res = run_program("print(input())", stdin="hi")  # returncode, stdout, stderr, timed_out, seconds
    protections()                                    # {"network_namespace": True, "unprivileged_uid": True, ...}

See ``isolation.py`` for what is isolated and ``runner.py``/``_driver.py`` for how tests run.
"""

from codecurate.sandbox.config import SandboxConfig, SandboxUnavailable
from codecurate.sandbox.runner import (
    ProgramResult,
    TestOutcome,
    protections,
    run_program,
    run_tests,
    run_tests_many,
    shutdown,
)

__all__ = [
    "ProgramResult",
    "SandboxConfig",
    "SandboxUnavailable",
    "TestOutcome",
    "protections",
    "run_program",
    "run_tests",
    "run_tests_many",
    "shutdown",
]
