"""``refactor``: the study's rule-based refactoring chain, made safe.

Technique: "DataRecipe" refactoring as run in the study (``Techniques/Ref``; probably Kim et al., ASE 2024
NIER, unverified): autoflake (``--remove-all-unused-imports --remove-unused-variables``) -> autopep8
(``aggressive=2``) -> docformatter -> unify (quotes to ``'``), each step switchable. Versions the study
pinned: autoflake 2.3.1, autopep8 2.3.1, docformatter 1.7.6, unify 0.5. See
``shared/reference/seed0_techniques.md`` §4 and §9 choice 4.

Differences from the study, and why:
- docformatter is really applied. The study ran it with ``subprocess.run(..., check=True)``; docformatter
  exits 3 whenever it changed the file, so the wrapper always fell back to the input and the step never had
  an effect. Here its formatter API is called (exit codes do not exist), so docstrings really change.
- Every step's output is validated per record: it must still compile (``compile(..., "exec")``, which also
  catches ``return`` outside a function, not only ``ast.parse``), and, when the record has tests and
  ``validate_tests`` is on (default), it must pass at least as many of them as the original code did, run
  through ``codecurate.sandbox.run_tests_many``. A step that breaks the code is reverted for that record
  only, keeping the last good version step by step, and counted (``reverted.<step>``). The study validated
  nothing; autopep8's aggressive fixes are not semantics-preserving (E721 turns ``type(a) == type(b)`` into
  ``isinstance(a, type(b))``, which differs for subclasses such as ``bool``).
- Code that does not compile to begin with is left unchanged (``stats.refactor.skipped``), since nothing
  could be validated.
- Alternative formatters: steps ``ruff_format`` (one ``ruff format`` process per batch) and ``black``
  (``black.format_str``) can replace or follow ``autopep8``.

Test validation is cheap in the common case: the refactored code is run first; only when it passes fewer
tests than the original (run only then) is the chain replayed step by step for that record.

``stats.refactor`` = ``{"changed": bool, "steps": [steps that changed the code], "reverted": [...],
"errors": [steps that raised]}``. The record's code is replaced with ``codecurate.records.set_code``, so its
``response`` stays consistent.

A step whose output differs from its input only in blank lines (autopep8 adding the final newline or the two
blank lines before a ``def``) does not count as a change: its output is not taken, so such a record keeps its
code and reports ``changed: false`` (otherwise nearly every record "changed"). Counter
``blank_lines_only.<step>`` counts those.

Placement: the formatting steps are CPU work in pure Python, so the op runs on the worker pool
(``--workers N``) like any mapper; only test validation uses the sandbox, whose drivers each worker process
starts for itself (``needs`` is ``cpu``: the op holds no model and does not parallelize itself).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from codecurate.ops.refactor.steps import STEPS
from codecurate.pipeline.op import BatchResult, Mapper, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import set_code

STUDY_STEPS = ["autoflake", "autopep8", "docformatter", "unify"]


class RefactorConfig(OpConfig):
    steps: list[str] = STUDY_STEPS  # applied in order: autoflake, autopep8, docformatter, unify, ruff_format, black
    remove_all_unused_imports: bool = True  # autoflake --remove-all-unused-imports (the study's flag)
    remove_unused_variables: bool = True  # autoflake --remove-unused-variables (the study's flag)
    aggressive: int = 2  # autopep8 aggressiveness (the study: 2)
    autopep8_ignore: list[str] | None = None  # autopep8 codes to skip; None = its default list (E226,E24,W50,W690)
    max_line_length: int = 79  # autopep8's line length
    docformatter_args: list[str] = []  # extra docformatter options, e.g. ["--black", "--wrap-summaries", "88"]
    quote: Literal["'", '"'] = "'"  # unify: the quote every string literal gets
    format_line_length: int = 88  # ruff_format / black line length
    validate_tests: bool = True  # re-run the record's tests after each step (sandbox); revert a step that breaks them
    test_workers: int | None = None  # sandbox workers for validation; None = the sandbox's default
    sandbox: dict | None = None  # SandboxConfig fields (timeout_per_test, memory_mb, ...); None = defaults
    timeout_s: float = 120.0  # for ruff_format's process

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in STEPS]
        if bad:
            raise ValueError(f"unknown refactor step(s) {bad}; valid: {', '.join(STEPS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"refactor steps repeat a step: {v}")
        return v


def compiles(code: str) -> bool:
    try:
        with warnings.catch_warnings():  # the data's invalid escape sequences are not a reason to revert
            warnings.simplefilter("ignore", SyntaxWarning)
            compile(code, "<refactor>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def content_lines(code: str) -> list[str]:
    """The code's lines without blank ones: two versions with equal content lines differ only in blank lines."""
    return [line for line in code.splitlines() if line.strip()]


def same_but_blank_lines(a: str, b: str) -> bool:
    return content_lines(a) == content_lines(b)


def _score(outcome) -> float:
    ratio = getattr(outcome, "pass_ratio", None)
    if ratio is None:
        return 1.0 if getattr(outcome, "status", "") == "passed" else 0.0
    return float(ratio)


@register
class Refactor(Mapper[RefactorConfig]):
    """autoflake -> autopep8 -> docformatter -> unify, each step validated (syntax, tests) and reverted if it
    breaks the record."""

    name = "refactor"
    Config = RefactorConfig
    paper: ClassVar[str] = ("DataRecipe refactoring chain as run in the study (Techniques/Ref: autoflake, "
                            "autopep8 aggressive=2, docformatter, unify); tests re-run after refactoring")
    needs = ("cpu",)  # runs on the worker pool; test validation starts sandbox drivers in each worker
    version = 2  # 2: blank-line-only changes are not taken (changed: false)

    # -- steps -------------------------------------------------------------------------------------------
    def _step_options(self, step: str) -> dict:
        c = self.config
        options: dict[str, dict[str, Any]] = {
            "autoflake": dict(remove_all_unused_imports=c.remove_all_unused_imports,
                              remove_unused_variables=c.remove_unused_variables),
            "autopep8": dict(aggressive=c.aggressive, ignore=c.autopep8_ignore, max_line_length=c.max_line_length),
            "docformatter": dict(args=c.docformatter_args),
            "unify": dict(quote=c.quote),
            "ruff_format": dict(line_length=c.format_line_length, timeout_s=c.timeout_s),
            "black": dict(line_length=c.format_line_length),
        }
        return options[step]

    def apply_step(self, step: str, codes: list[str]) -> list:
        """New code (or the exception raised) for each input, looked up in ``steps.STEPS`` at call time."""
        if not codes:
            return []
        return STEPS[step](codes, **self._step_options(step))

    def _run_chain(self, codes: list[str], steps: list[str], accept) -> tuple[list[str], list[dict]]:
        """Apply ``steps`` in order to every code; keep a step's output only if ``accept(indices, outputs)``
        says so for that record. Returns final codes and per-record {steps, reverted, errors}."""
        cur = list(codes)
        info: list[dict[str, list[str]]] = [{"steps": [], "reverted": [], "errors": []} for _ in codes]
        for step in steps:
            outs = self.apply_step(step, cur)
            changed = []
            for i, out in enumerate(outs):
                if isinstance(out, BaseException):
                    info[i]["errors"].append(step)
                elif out != cur[i]:
                    if same_but_blank_lines(out, cur[i]):
                        self.count(f"blank_lines_only.{step}")
                    else:
                        changed.append((i, out))
            ok = accept([i for i, _ in changed], [o for _, o in changed])
            for (i, out), good in zip(changed, ok):
                if good:
                    cur[i] = out
                    info[i]["steps"].append(step)
                else:
                    info[i]["reverted"].append(step)
        return cur, info

    # -- tests -------------------------------------------------------------------------------------------
    def _run_tests(self, pairs: list[tuple[str, dict]]) -> list[float]:
        if not pairs:
            return []
        from codecurate.sandbox import SandboxConfig, run_tests_many

        config = SandboxConfig(**self.config.sandbox) if self.config.sandbox else None
        outcomes = run_tests_many(pairs, config=config, workers=self.config.test_workers)
        return [_score(o) for o in outcomes]

    # -- batch -------------------------------------------------------------------------------------------
    def process(self, records: list[dict]) -> BatchResult:
        self.ensure_setup()
        res = BatchResult()
        try:
            self._refactor_batch(records)
        except Exception as e:  # noqa: BLE001 - a batch-wide failure (e.g. sandbox unavailable) per on_error
            for rec in records:
                self._fail(rec, e, res)
            res.counters = self.take_counters()
            return res
        res.kept = list(records)
        res.counters = self.take_counters()
        return res

    def map(self, record: dict) -> dict:
        self._refactor_batch([record])
        return record

    def _refactor_batch(self, records: list[dict]) -> None:
        c = self.config
        idx = []
        for i, rec in enumerate(records):
            code = rec.get("code") or ""
            stats = rec.setdefault("stats", {})
            if not code.strip():
                stats["refactor"] = {"changed": False, "steps": [], "reverted": [], "skipped": "empty code"}
                self.count("skipped.empty")
            elif not compiles(code):
                stats["refactor"] = {"changed": False, "steps": [], "reverted": [], "skipped": "does not compile"}
                self.count("skipped.does_not_compile")
            else:
                idx.append(i)
        if not idx:
            return
        originals = [records[i]["code"] for i in idx]

        def syntax_ok(_positions, outs):
            return [compiles(o) for o in outs]

        finals, infos = self._run_chain(originals, c.steps, syntax_ok)
        for info in infos:
            for step in info["reverted"]:
                self.count(f"reverted.{step}")
            for step in info["errors"]:
                self.count(f"error.{step}")

        if c.validate_tests:
            tested = [k for k, i in enumerate(idx) if finals[k] != originals[k] and records[idx[k]].get("tests")]
            scores = self._run_tests([(finals[k], records[idx[k]]["tests"]) for k in tested])
            suspects = [k for k, s in zip(tested, scores) if s < 1.0]
            base = self._run_tests([(originals[k], records[idx[k]]["tests"]) for k in suspects])
            baseline = {k: b for k, b in zip(suspects, base)}
            broken = [k for k, s in zip(tested, scores) if k in baseline and s < baseline[k]]
            self.count("validated.tests", len(tested))
            if broken:
                self._replay_with_tests(broken, originals, finals, infos, baseline,
                                        [records[idx[k]]["tests"] for k in broken])

        for k, i in enumerate(idx):
            rec = records[i]
            info = infos[k]
            changed = not same_but_blank_lines(finals[k], originals[k])
            if not changed:
                finals[k] = originals[k]
            if changed:
                set_code(rec, finals[k])
                self.count("changed")
            rec["stats"]["refactor"] = {"changed": changed, **info}

    def _replay_with_tests(self, broken, originals, finals, infos, baseline, tests) -> None:
        """Redo the chain for records whose tests broke, keeping each step only if the tests still pass as
        well as the original's did."""
        sub = [originals[k] for k in broken]
        # Replay only the steps that survived the syntax pass (the others were reverted already).
        steps = [s for s in self.config.steps if any(s in infos[k]["steps"] for k in broken)]

        def tests_ok(positions, outs):
            ok = [compiles(o) for o in outs]
            runnable = [j for j, good in enumerate(ok) if good]
            scores = self._run_tests([(outs[j], tests[positions[j]]) for j in runnable])
            for j, s in zip(runnable, scores):
                ok[j] = s >= baseline[broken[positions[j]]]
            return ok

        new_codes, new_infos = self._run_chain(sub, steps, tests_ok)
        for pos, k in enumerate(broken):
            finals[k] = new_codes[pos]
            prev = infos[k]
            for step in set(new_infos[pos]["reverted"]) - set(prev["reverted"]):
                self.count(f"reverted.{step}")
            infos[k] = {"steps": new_infos[pos]["steps"],
                        "reverted": sorted(set(prev["reverted"]) | set(new_infos[pos]["reverted"]),
                                           key=self.config.steps.index),
                        "errors": prev["errors"]}
