"""execution_filter: keep records whose own code passes their own tests, run in the sandbox.

Execution-based cleaning as in the study's harnesses: APPS (hendrycks/apps eval/testing_util.py: per-test
timeout 4 s, 10 s per problem, result codes True/False/-1/-2) and MBPP (test_list asserts after the code).
A record is kept when its pass ratio reaches ``min_pass_ratio`` (default 1.0: every test passes, APPS's
"strict accuracy"). Records without tests are kept by default (``no_tests: keep``): most instruction data
has no tests, and dropping it silently would empty a dataset; set ``no_tests: drop`` to keep only verified
records. ``stats["exec"]`` = {passed, total, pass_ratio, status, results}.

EvalPlus-style ``call`` cases whose output is None are compared with the reference solution named by
``reference_field`` (default ``meta.canonical_solution``, as EvalPlus records carry it).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import get_field


class ExecutionFilterConfig(OpConfig):
    min_pass_ratio: float = 1.0  # 1.0 = all tests must pass
    no_tests: Literal["keep", "drop"] = "keep"
    workers: int = 2  # programs run in parallel (each its own sandboxed process)
    timeout_per_test: float = 4.0  # APPS
    timeout_total: float = 10.0  # APPS
    memory_mb: int = 2048
    stdio_compare: Literal["apps", "strict"] = "apps"
    reference_field: str = "meta.canonical_solution"
    allow_unisolated: bool = False  # only for trusted data on machines without namespaces/root


def _first_failure(results: list, per_case: list[dict]) -> str:
    for i, r in enumerate(results):
        if r is True:
            continue
        if r is False:
            word = "wrong answer"
        elif r == -2:
            word = "compile error"
        elif i < len(per_case) and per_case[i].get("status") == "timeout":
            word = "timeout"
        else:
            word = "runtime error"
        return f"case {i + 1}: {word}"
    return ""


@register
class ExecutionFilter(Filter):
    """Run each record's ``code`` against its ``tests`` in the sandbox; drop records below the pass ratio."""

    name = "execution_filter"
    Config = ExecutionFilterConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "sandbox")
    paper = ("APPS (Hendrycks et al. 2021) and MBPP (Austin et al. 2021) execution harnesses; "
             "defaults: hendrycks/apps eval/testing_util.py")

    def setup(self) -> None:
        from codecurate.sandbox import SandboxConfig, protections

        c = self.config
        self.sandbox_config = SandboxConfig(timeout_per_test=c.timeout_per_test, timeout_total=c.timeout_total,
                                            memory_mb=c.memory_mb, allow_unisolated=c.allow_unisolated)
        protections(self.sandbox_config)

    def compute(self, records: list[dict]) -> None:
        from codecurate.sandbox import run_tests_many

        todo = [r for r in records if r.get("tests") and (r["tests"].get("cases") or [])]
        items = []
        for r in todo:
            ref = get_field(r, self.config.reference_field)
            items.append((r.get("code") or "", r["tests"], ref if isinstance(ref, str) and ref else None))
        outs = run_tests_many(items, self.sandbox_config, workers=self.config.workers,
                              stdio_compare=self.config.stdio_compare) if items else []
        for r, out in zip(todo, outs):
            r.setdefault("stats", {})["exec"] = {"passed": out.passed, "total": out.total,
                                                 "pass_ratio": out.pass_ratio, "status": out.status,
                                                 "results": list(out.results),
                                                 "first_failure": _first_failure(out.results, out.per_case)}
            self.count(f"exec_{out.status}")

    def decide(self, record: dict) -> str | None:
        ex = record.get("stats", {}).get("exec")
        if ex is None:
            if self.config.no_tests == "drop":
                return "execution: record has no tests (no_tests: drop)"
            return None
        if ex["total"] == 0:
            return f"execution: {ex['status']}: no test result"
        if ex["pass_ratio"] + 1e-12 >= self.config.min_pass_ratio:
            return None
        detail = f" ({ex['first_failure']})" if ex.get("first_failure") else ""
        return f"execution: {ex['passed']}/{ex['total']} tests passed{detail}"
