"""execution_filter: keep records whose own code passes their own tests, run in the sandbox.

Execution-based cleaning as in the study's harnesses: APPS (hendrycks/apps eval/testing_util.py: per-test
timeout 4 s, 10 s per problem, result codes True/False/-1/-2) and MBPP (test_list asserts after the code).
A record is kept when its pass ratio reaches ``min_pass_ratio`` (default 1.0: every test passes, APPS's
"strict accuracy"). Records without tests are kept by default (``no_tests: keep``): most instruction data
has no tests, and dropping it silently would empty a dataset; set ``no_tests: drop`` to keep only verified
records. ``stats["exec"]`` = {passed, total, pass_ratio, status, results}.

EvalPlus-style ``call`` cases whose output is None are compared with the reference solution named by
``reference_field`` (default ``meta.canonical_solution``, as EvalPlus records carry it).

``convert_asserts`` (default false): ``assert`` cases run inside the record's own process, where the
program can read the expected values or fake the verdict. With ``convert_asserts: true`` every simple
assert whose expected side is a literal (``assert f(x) == [1, 2]``, ``is None``, ``math.isclose``, ``not
f(x)``, ... see ``codecurate.sandbox.assert_convert``) becomes a call case: only the arguments enter the
sandbox and the returned value is judged on the host. Asserts whose expected side is not a literal stay
in-process (a record's own code cannot serve as the reference for itself), as do other statements. A
``check(candidate)`` harness whose ``check`` function holds only such asserts (LeetCode's ``def
check(candidate): ...`` scripts, HumanEval records) expands to one call case per assert and passes when all
of them pass. A record with both kinds runs twice (once per kind) and its results are merged back in the
original case order. ``stats["exec"]["unforgeable"]`` counts the cases judged on the host (all
stdio and call cases; the converted assert cases);
counters ``exec_cases_unforgeable`` / ``exec_cases_in_process`` sum them over the dataset.
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
    convert_asserts: bool = False  # judge simple literal asserts on the host (unforgeable), see the docstring


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


def _combine(subs: list) -> bool | int:
    """One original case from the call cases it expanded to (a check(candidate) harness: all must pass)."""
    for code in (-2, -1):
        if any(not isinstance(x, bool) and x == code for x in subs):
            return code
    return all(x is True for x in subs)


def _merge(parts: list, n: int, kind: str) -> tuple[list, list[dict], str, int]:
    """Outcomes of a record's jobs -> (results, per_case, status, cases judged on the host), in the record's
    case order. ``parts``: [(original case index of each of the job's cases, or None for all, TestOutcome)];
    the converted part comes first. stdio and call cases are always judged on the host; assert cases only
    when converted."""
    if len(parts) == 1 and parts[0][0] is None:
        out = parts[0][1]
        return list(out.results), list(out.per_case), out.status, 0 if kind == "assert" else len(out.results)
    subs: list[list] = [[] for _ in range(n)]
    infos: list[list[dict]] = [[] for _ in range(n)]
    unforgeable = 0
    for j, (idx, out) in enumerate(parts):
        if out.total != len(idx):  # the job failed as a whole (e.g. a bad item): its cases are errors
            for i in idx:
                subs[i].append(-1)
                infos[i].append({"status": "error", "error": out.error})
            continue
        for i, res, pc in zip(idx, out.results, out.per_case or [{}] * len(idx)):
            subs[i].append(res)
            infos[i].append(pc)
        if j == 0:
            unforgeable = len(set(idx))
    results = [_combine(x) if x else -1 for x in subs]
    per_case = [next((p for p, x in zip(ps, xs) if x is not True), ps[0]) if ps else {"status": "error"}
                for ps, xs in zip(infos, subs)]
    if any(not isinstance(x, bool) and x == -2 for x in results):
        status = "compile_error"
    elif all(x is True for x in results):
        status = "passed"
    elif any(p.get("status") == "timeout" for p in per_case):
        status = "timeout"
    elif any(not isinstance(x, bool) and x == -1 for x in results):
        status = "error"
    else:
        status = "failed"
    return results, per_case, status, unforgeable


@register
class ExecutionFilter(Filter[ExecutionFilterConfig]):
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

    def _jobs(self, r: dict) -> list[tuple[tuple, list[int] | None]]:
        """The sandbox jobs of one record: [(item, original case indices or None for all)]."""
        tests = r["tests"]
        ref = get_field(r, self.config.reference_field)
        ref = ref if isinstance(ref, str) and ref else None
        code = r.get("code") or ""
        if not (self.config.convert_asserts and tests.get("kind") == "assert"):
            return [((code, tests, ref), None)]
        from codecurate.sandbox.assert_convert import convert_tests_with_origin

        call, origin, failed = convert_tests_with_origin(tests, allow_reference=False)
        if not call["cases"]:
            return [((code, tests, ref), None)]
        jobs: list[tuple[tuple, list[int] | None]] = [((code, call, None), origin)]
        if failed:
            jobs.append(((code, dict(tests, cases=[tests["cases"][i] for i in failed]), ref), failed))
        return jobs

    def compute(self, records: list[dict]) -> None:
        from codecurate.sandbox import run_tests_many

        todo = [r for r in records if r.get("tests") and (r["tests"].get("cases") or [])]
        items, owners = [], []
        for k, r in enumerate(todo):
            for item, idx in self._jobs(r):
                items.append(item)
                owners.append((k, idx))
        outs = run_tests_many(items, self.sandbox_config, workers=self.config.workers,
                              stdio_compare=self.config.stdio_compare) if items else []
        parts: dict[int, list] = {}
        for (k, idx), out in zip(owners, outs):
            parts.setdefault(k, []).append((idx, out))
        for k, r in enumerate(todo):
            kind = r["tests"].get("kind")
            results, per_case, status, unforgeable = _merge(parts[k], len(r["tests"]["cases"]), kind)
            passed = sum(1 for x in results if x is True)
            total = len(results)
            r.setdefault("stats", {})["exec"] = {"passed": passed, "total": total,
                                                 "pass_ratio": passed / total if total else 0.0, "status": status,
                                                 "results": results, "unforgeable": unforgeable,
                                                 "first_failure": _first_failure(results, per_case)}
            self.count(f"exec_{status}")
            self.count("exec_cases_unforgeable", unforgeable)
            self.count("exec_cases_in_process", total - unforgeable)

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
