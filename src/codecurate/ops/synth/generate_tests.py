"""``generate_tests``: an LLM writes unit tests for each record's task (XCoder's unit-test model, as a generator).

XCoder (Wang et al., arXiv 2409.03810, §3.2 and App. C; selection_algorithms.md §3.3) prompts a unit-test model
with the instruction and the candidate response and asks for a hard-coded test script of 12 cases; the number of
passing cases is the response's quality. Here the model is asked for ``num_tests`` (12) ``assert`` statements that
call the solution's function (its name comes from ``tests.fn_name`` or the last top-level ``def`` of the record's
code); the asserts are parsed (every fenced block, else the bare reply), deduplicated, and an assert that does not
call the function is rejected. The result goes to ``stats.gen_tests`` = {kind: "assert", setup (the reply's
imports), cases, fn_name, prompt_hash, rejected, error} and ``stats.gen_tests_n``; ``test_quality`` runs
candidates against them in the sandbox.

A reply with no valid test keeps the record with ``stats.gen_tests.error`` and the raw reply (``on_invalid:
keep``, counted ``gen_tests_invalid``) or sets it aside with the reason (``drop``).

Deviations: the paper's test script (``test_script()`` printing "Test case i: True/False", cases as (input,
expected) tuples) becomes plain asserts, one case each, so the sandbox's assert runner counts passes per case
and a crash in one case does not hide the others; the paper's model is a fine-tuned LLaMA3-70B (its checkpoint,
``banksy235/XCoder-Unit-Test-Model``, can be served through ``backend: openai``); the prompt is ours.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SynthMixin,
    entry_function,
    parse_assert_tests,
    prompt_hash,
    record_seed,
    user,
)
from codecurate.pipeline.op import Filter
from codecurate.pipeline.registry import register

TESTS_PROMPT = (  # placeholders: {n}, {fn}, {call} (the bare name), {instruction}, {solution}
    "Write {n} unit tests for the following programming task. Each test is one Python assert statement that calls "
    "{fn} with concrete arguments and compares the result with the expected value, for example:\n"
    "assert {call}(...) == ...\nCover typical inputs and edge cases. Output only the assert statements, in one "
    "```python code block.\n\n"
    "Task:\n{instruction}\n{solution}")
SOLUTION_PART = "\nSolution under test:\n```python\n{code}\n```\n"


class GenerateTestsConfig(LLMOpConfig):
    num_tests: int = 12  # XCoder: 12 test cases per sample
    temperature: float = 0.0
    max_tokens: int = 768
    show_solution: bool = True  # XCoder gives the unit-test model the instruction and the response
    prompt: str = TESTS_PROMPT  # placeholders: {n}, {fn}, {call}, {instruction}, {solution}
    on_invalid: Literal["keep", "drop"] = "keep"
    overwrite: bool = False  # regenerate when stats.gen_tests is already there


@register
class GenerateTests(SynthMixin[GenerateTestsConfig], Filter[GenerateTestsConfig]):
    """Generate assert-style unit tests for each record's instruction (XCoder's unit-test model)."""

    name = "generate_tests"
    Config = GenerateTestsConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "model")
    paper = "XCoder (arXiv 2409.03810) §3.2, App. C: unit-test model, 12 cases per sample"

    def _fn(self, rec: dict) -> str | None:
        t = rec.get("tests") or {}
        fn = t.get("fn_name")
        if fn and "(" not in fn and "." not in fn:
            return fn
        return entry_function(rec.get("code") or "")

    def compute(self, records: list[dict]) -> None:
        cfg = self.config
        todo = [r for r in records if cfg.overwrite or "gen_tests" not in (r.get("stats") or {})]
        prompts, seeds = [], []
        for r in todo:
            fn = self._fn(r)
            sol = SOLUTION_PART.format(code=r.get("code") or "") if cfg.show_solution and r.get("code") else ""
            prompts.append(user(cfg.prompt.format(n=cfg.num_tests, fn=f"`{fn}`" if fn else "the solution's function",
                                                  call=fn or "f", instruction=r.get("instruction") or "",
                                                  solution=sol)))
            seeds.append(record_seed(self.seed, self.name, r["id"]))
        results = self.generate(prompts, seeds, self.gen_params())
        for r, p, res in zip(todo, prompts, results):
            fn = self._fn(r)
            info: dict = {"kind": "assert", "setup": "", "cases": [], "fn_name": fn, "prompt_hash": prompt_hash(p),
                          "rejected": 0, "error": None}
            if not res.ok:
                info["error"] = f"LLM error: {res.error[:300]}"
            else:
                cases, setup, rejected = parse_assert_tests(res.text, fn, cfg.num_tests)
                info.update(cases=cases, setup=setup, rejected=rejected)
                if not cases:
                    info["error"] = (f"no assert calling {fn}" if fn else "no assert") + " in the reply"
            if info["error"]:
                info["raw"] = res.text[:4000]
                self.count("gen_tests_invalid")
            else:
                self.count("gen_tests_ok")
                self.count("gen_tests_cases", len(info["cases"]))
            self.count("gen_tests_rejected_asserts", info["rejected"])
            r.setdefault("stats", {})["gen_tests"] = info
            r["stats"]["gen_tests_n"] = len(info["cases"])

    def decide(self, record: dict) -> str | None:
        info = (record.get("stats") or {}).get("gen_tests") or {}
        if info.get("error") and self.config.on_invalid == "drop":
            return f"generate_tests: {info['error']}"
        return None
