"""``regenerate_solution``: the study's synthesis technique (Syn), execution-grounded regeneration of solutions.

Study: Kuang et al., "On the Effectiveness of Training Data Optimization for LLM-Based Code Generation"
(arXiv 2512.24570), ``Kuangshiqi/Data-optimization-techniques@f34e24d818:Techniques/Syn/run.py``; reference
notes seed0_techniques.md §5.2 and §9 choice 5. For each record with tests: ask the LLM for a program (one user
message, the study's prompt: "You will be given a question (problem specification) and will generate a correct
Python program that matches the specification. Question: ..."), strip the markdown fence, run it against the
record's tests in the sandbox, and accept the first attempt whose pass ratio reaches ``min_pass_ratio`` (1.0 = all
tests, as the study), up to ``attempts`` (5) attempts.

- accepted: the solution is **replaced** (``on_success: replace``, the study) or a new record ``<id>#syn`` with the
  generated solution is **appended** after the original (``append``); ``stats.syn`` = {status, attempt,
  pass_ratio, prompt_hash, model};
- no attempt passes: the original record is **kept unchanged** (``on_failure: keep``; ``stats.syn.status =
  "kept_original"``) or set aside (``drop``) with the reason. A failing generation is never written to the
  output (the study's code wrote the last failing generation; §9 choice 5);
- every rejected attempt is in the ledger as its own row (id ``<id>#syn-a<k>``, the generated code in ``code``,
  the raw reply, prompt hash and failure in ``detail``), reason e.g. ``regenerate_solution: attempt 2/5
  rejected: 1/3 tests passed (case 2: wrong answer)``;
- records without tests are kept unchanged (``no_tests: keep``, counted) or set aside (``drop``).

Deviations and choices, each one option away: the study's MBPP ``question`` very likely embedded the test asserts
(reference §0.1, inferred, not verified); here the first ``show_tests`` (3) assert cases are appended to the
question as MBPP's own prompt does ("Your code should pass these tests:"); ``show_tests: 0`` sends the question
alone. The study set no temperature (the provider's default, 1.0 for Gemini-2.0-flash); ``temperature: 1.0``
here; with ``temperature: 0`` a single attempt is made (a greedy reply does not change between attempts). The
study's model was Gemini-2.0-flash through OpenRouter; the default here is the embedded SmolLM2-135M, so a recipe
runs offline (point ``backend: openai`` + ``base_url`` at a real model for real data). Attempts run in rounds over
a batch of records (attempt k of every unsolved record together), which changes no outcome.
"""

from __future__ import annotations

import copy
from typing import Literal

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SandboxOpConfig,
    SynthExpander,
    extract_python,
    outcome_reason,
    prompt_hash,
    record_seed,
    user,
)
from codecurate.pipeline.op import Dropped
from codecurate.pipeline.registry import register
from codecurate.records import set_code

STUDY_PROMPT = ("You will be given a question (problem specification) and will generate a correct Python program "
                "that matches the specification.\n\nQuestion: {question}\n\n")


class RegenerateSolutionConfig(LLMOpConfig, SandboxOpConfig):
    attempts: int = 5
    temperature: float = 1.0
    max_tokens: int = 1024
    prompt: str = STUDY_PROMPT  # must contain {question}
    show_tests: int = 3  # assert cases appended to the question (MBPP's prompt); 0 = the question alone
    min_pass_ratio: float = 1.0
    on_success: Literal["replace", "append"] = "replace"
    on_failure: Literal["keep", "drop"] = "keep"
    no_tests: Literal["keep", "drop"] = "keep"


def has_tests(rec: dict) -> bool:
    t = rec.get("tests")
    return bool(t and (t.get("cases") or t.get("kind") == "unittest"))


@register
class RegenerateSolution(SynthExpander[RegenerateSolutionConfig]):
    """The study's Syn: up to N LLM attempts per record, the first that passes the record's tests is kept."""

    name = "regenerate_solution"
    Config = RegenerateSolutionConfig
    paper = "the study's Syn (arXiv 2512.24570, Techniques/Syn/run.py); reference §5.2, §9 choice 5"

    def setup(self) -> None:
        if "{question}" not in self.config.prompt:
            raise ValueError("regenerate_solution: `prompt` must contain {question}")
        if self.config.attempts < 1:
            raise ValueError("regenerate_solution: `attempts` must be >= 1")

    def question(self, rec: dict) -> str:
        q = rec.get("instruction") or ""
        t = rec.get("tests") or {}
        n = self.config.show_tests
        if n > 0 and t.get("kind") == "assert" and t.get("cases"):
            shown = "\n".join(str(c) for c in t["cases"][:n])
            q = f"{q}\nYour code should pass these tests:\n\n{shown}"
        elif n > 0 and t.get("kind") == "call" and t.get("fn_name"):
            q = f"{q}\nYour code should define {t['fn_name']}."
        return q

    def synthesize(self, records: list[dict]) -> list[tuple[list[dict], list[Dropped]]]:
        cfg = self.config
        params = self.gen_params()
        n_att = 1 if params.greedy else cfg.attempts
        outs: list[tuple[list[dict], list[Dropped]]] = [([], []) for _ in records]
        pending: list[int] = []
        for i, r in enumerate(records):
            if has_tests(r):
                pending.append(i)
            elif cfg.no_tests == "keep":
                outs[i][0].append(r)
                self.count("syn_no_tests_kept")
            else:
                outs[i][1].append(Dropped(r, "regenerate_solution: record has no tests (no_tests: drop)"))
        for k in range(n_att):
            if not pending:
                break
            prompts = [user(cfg.prompt.format(question=self.question(records[i]))) for i in pending]
            seeds = [record_seed(self.seed, self.name, records[i]["id"], k) for i in pending]
            results = self.generate(prompts, seeds, params, round_key=k)
            codes = [extract_python(r.text) if r.ok else "" for r in results]
            run_idx = [j for j, c in enumerate(codes) if c]
            tested = self.run_tests([(codes[j], records[pending[j]]["tests"]) for j in run_idx])
            outcome = dict(zip(run_idx, tested))
            still = []
            for j, i in enumerate(pending):
                rec, res, code = records[i], results[j], codes[j]
                ph = prompt_hash(prompts[j])
                o = outcome.get(j)
                self.count("syn_attempts")
                if o is not None and o.total and o.pass_ratio + 1e-12 >= cfg.min_pass_ratio:
                    self._accept(rec, code, k + 1, o, ph, outs[i])
                    continue
                if not res.ok:
                    why = f"LLM error: {res.error[:200]}"
                    self.count("syn_rejected_llm_error")
                elif not code:
                    why = "no code in the reply"
                    self.count("syn_rejected_unparsable")
                else:
                    why = outcome_reason(o)
                    self.count("syn_rejected_failed_tests")
                bad = copy.deepcopy(rec)
                bad["id"] = f"{rec['id']}#syn-a{k + 1}"
                set_code(bad, code)
                bad["stats"]["syn"] = {"status": "rejected", "attempt": k + 1, "prompt_hash": ph}
                outs[i][1].append(Dropped(bad, f"regenerate_solution: attempt {k + 1}/{n_att} rejected: {why}",
                                          {"seed_id": rec["id"], "attempt": k + 1, "prompt_hash": ph,
                                           "raw": res.text[:4000], "error": res.error,
                                           "exec": o.to_dict() if o is not None else None}))
                still.append(i)
            pending = still
        for i in pending:  # no attempt passed
            rec = records[i]
            if cfg.on_failure == "keep":
                rec.setdefault("stats", {})["syn"] = {"status": "kept_original", "attempts": n_att}
                outs[i][0].append(rec)
                self.count("syn_kept_original")
            else:
                outs[i][1].append(Dropped(rec, f"regenerate_solution: no passing attempt in {n_att} "
                                               "(on_failure: drop)"))
                self.count("syn_dropped_original")
        return outs

    def _accept(self, rec: dict, code: str, attempt: int, o, ph: str, out) -> None:
        info = {"status": "regenerated", "attempt": attempt, "pass_ratio": float(o.pass_ratio), "prompt_hash": ph,
                "model": self.config.model}
        self.count("syn_accepted")
        if self.config.on_success == "replace":
            rec.setdefault("stats", {})["syn"] = info
            set_code(rec, code)
            out[0].append(rec)
            return
        new = copy.deepcopy(rec)
        new["id"] = f"{rec['id']}#syn"
        set_code(new, code)
        new["stats"]["syn"] = {**info, "seed_id": rec["id"]}
        rec.setdefault("stats", {})["syn"] = {"status": "appended", "new_id": new["id"]}
        out[0].extend([rec, new])
