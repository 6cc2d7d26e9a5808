"""``llm_judge``: an LLM rates each instruction-response pair on a rubric, as validated JSON.

AlpaGasus (Chen et al., ICLR 2024, arXiv 2307.08701) asks a strong LLM for an accuracy score per pair and keeps
pairs scoring >= 4.5; ICE-Score (Zhuo, EACL 2024 findings, arXiv 2304.14317) asks for code-specific aspects
(usefulness, functional correctness) with a step-by-step rubric; data-juicer's LLM analysis filter stores per-
dimension scores and filters on them. Here: ``dimensions`` (default correctness, usefulness, readability), each
scored 1-5 with a one-sentence reason, requested as a JSON object and validated against a JSON schema by the LLM
layer (an invalid reply is asked again ``structured_retries`` times with a new seed, then counts as invalid).

Stats: ``judge`` = {dimension: {score, reason}}, ``judge_<dimension>`` (each score), ``judge_score`` (mean of the
dimensions), ``judge_prompt_hash``. Filtering: ``min_score`` on ``filter_on`` (``mean`` or a dimension name);
default none (scores only, for ``xcoder``/``deita``-style ranking or a later stage). An invalid reply sets the
record aside with the raw text in ``stats.judge_raw`` (``on_invalid: drop``, the default: the issue's "retried,
then ledgered with the raw text") or keeps it unscored (``keep``).

Agreement with execution (``agreement: true``): for records that have tests and code, the judge's verdict
(``judge_correctness >= correct_threshold``) is compared with the execution verdict (all tests pass; from
``stats.exec`` when ``execution_filter`` ran before, else run here in the sandbox). Counters ``agree_pass``,
``agree_fail``, ``judge_pass_exec_fail``, ``judge_fail_exec_pass``; ``stats.judge_exec_agree``.

Deviations: AlpaGasus's single 0-5 accuracy score and ICE-Score's 0-4 aspects become 1-5 per-dimension scores in
one JSON reply; the prompt is ours; the judge model defaults to the embedded SmolLM2-135M (a 135M model is no
judge: use ``backend: openai`` with a strong model for real filtering; with it most replies fail the schema).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SandboxOpConfig,
    SynthMixin,
    prompt_hash,
    record_seed,
    user,
)
from codecurate.pipeline.op import Filter
from codecurate.pipeline.registry import register

DIMENSIONS = {
    "correctness": "does the response solve the instruction correctly (functional correctness, ICE-Score)?",
    "usefulness": "is the response helpful and relevant to what the instruction asks (ICE-Score usefulness)?",
    "readability": "is the code clear, idiomatic and reasonably documented?",
}
JUDGE_PROMPT = (
    "You are reviewing a response to a programming instruction. Rate the response on each criterion with an integer "
    "from 1 (very poor) to 5 (excellent) and give a one-sentence reason.\n\nCriteria:\n{criteria}\n\n"
    "Instruction:\n{instruction}\n\nResponse:\n{response}\n\n"
    "Reply with only a JSON object of the form {example}")


class LLMJudgeConfig(LLMOpConfig, SandboxOpConfig):
    dimensions: dict[str, str] = DIMENSIONS
    prompt: str = JUDGE_PROMPT  # placeholders: {criteria}, {instruction}, {response}, {example}
    temperature: float = 0.0
    max_tokens: int = 384
    structured_retries: int = 2
    min_score: float | None = None  # AlpaGasus keeps >= 4.5 (on its 0-5 scale)
    filter_on: str = "mean"  # "mean" or a dimension name
    on_invalid: Literal["keep", "drop"] = "drop"
    agreement: bool = True
    correct_threshold: float = 4.0
    correctness_dimension: str = "correctness"


@register
class LLMJudge(SynthMixin[LLMJudgeConfig], Filter[LLMJudgeConfig]):
    """Rubric scores (1-5 per dimension, with reasons) from an LLM, as validated JSON; filter or rank by them."""

    name = "llm_judge"
    Config = LLMJudgeConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "model", "sandbox")
    paper = "AlpaGasus (arXiv 2307.08701); ICE-Score (arXiv 2304.14317); data-juicer LLM analysis filter"

    def setup(self) -> None:
        cfg = self.config
        if not cfg.dimensions:
            raise ValueError("llm_judge: `dimensions` must name at least one criterion")
        if cfg.filter_on != "mean" and cfg.filter_on not in cfg.dimensions:
            raise ValueError(f"llm_judge: `filter_on` {cfg.filter_on!r} is not 'mean' or one of the dimensions "
                             f"{list(cfg.dimensions)}")
        self.schema = {
            "type": "object",
            "properties": {d: {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                                                 "reason": {"type": "string"}},
                               "required": ["score", "reason"]} for d in cfg.dimensions},
            "required": list(cfg.dimensions)}

    def _prompt(self, rec: dict) -> list[dict]:
        cfg = self.config
        crit = "\n".join(f"- {d}: {desc}" for d, desc in cfg.dimensions.items())
        example = "{" + ", ".join(f'"{d}": {{"score": <1-5>, "reason": "<one sentence>"}}' for d in cfg.dimensions) + "}"
        return user(cfg.prompt.format(criteria=crit, instruction=rec.get("instruction") or "",
                                      response=rec.get("response") or rec.get("code") or "", example=example))

    def compute(self, records: list[dict]) -> None:
        cfg = self.config
        prompts = [self._prompt(r) for r in records]
        seeds = [record_seed(self.seed, self.name, r["id"]) for r in records]
        params = self.gen_params(json_schema=self.schema, schema_in_prompt=False,
                                 structured_retries=cfg.structured_retries)
        results = self.generate(prompts, seeds, params)
        for r, p, res in zip(records, prompts, results):
            st = r.setdefault("stats", {})
            st["judge_prompt_hash"] = prompt_hash(p)
            c = res.completions[0] if res.completions else None
            if c is None or c.parsed is None:
                st["judge"] = None
                st["judge_score"] = None
                st["judge_error"] = (res.error or "no reply")[:300]
                st["judge_raw"] = (c.text if c else "")[:4000]
                self.count("judge_invalid")
                continue
            scores: dict[str, dict[str, Any]] = {
                d: {"score": int(c.parsed[d]["score"]), "reason": str(c.parsed[d]["reason"])[:500]}
                for d in cfg.dimensions}
            st["judge"] = scores
            for d, v in scores.items():
                st[f"judge_{d}"] = v["score"]
            st["judge_score"] = sum(v["score"] for v in scores.values()) / len(scores)
            self.count("judge_ok")
        if cfg.agreement:
            self._agreement(records)

    def _agreement(self, records: list[dict]) -> None:
        cfg = self.config
        dim = cfg.correctness_dimension
        todo = [r for r in records if (r.get("stats") or {}).get(f"judge_{dim}") is not None
                and r.get("code") and (r.get("tests") or {}).get("cases")]
        need = [r for r in todo if not isinstance(r["stats"].get("exec"), dict)]
        outs = dict(zip((r["id"] for r in need), self.run_tests([(r["code"], r["tests"]) for r in need])))
        for r in todo:
            ex = r["stats"].get("exec")
            passed = (ex.get("pass_ratio", 0) >= 1.0) if isinstance(ex, dict) else outs[r["id"]].pass_ratio >= 1.0
            says = r["stats"][f"judge_{dim}"] >= cfg.correct_threshold
            r["stats"]["judge_exec_agree"] = says == passed
            self.count({(True, True): "agree_pass", (False, False): "agree_fail", (True, False): "judge_pass_exec_fail",
                        (False, True): "judge_fail_exec_pass"}[(says, passed)])

    def decide(self, record: dict) -> str | None:
        cfg = self.config
        st = record.get("stats") or {}
        if st.get("judge") is None:
            if cfg.on_invalid == "drop":
                return f"llm_judge: invalid judgement ({st.get('judge_error', '')[:160]})"
            return None
        if cfg.min_score is None:
            return None
        v = st["judge_score"] if cfg.filter_on == "mean" else st[f"judge_{cfg.filter_on}"]
        if v + 1e-12 >= cfg.min_score:
            return None
        worst = min(st["judge"].items(), key=lambda kv: kv[1]["score"])
        return (f"llm_judge: {cfg.filter_on} score {v:.2f} < {cfg.min_score:g} (lowest: {worst[0]} "
                f"{worst[1]['score']}: {worst[1]['reason'][:120]})")
