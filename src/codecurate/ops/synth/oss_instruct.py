"""``oss_instruct``: Magicoder's OSS-Instruct (seed snippet -> problem + solution), plus execution.

Magicoder (Wei et al., ICML 2024, arXiv 2312.02120) §2.1: from each seed document take 1-15 random consecutive
lines as the snippet and prompt the LLM "to gain inspiration from the snippet" and write a self-contained
[Problem Description] and a correct [Solution]; greedy decoding; the problems are then decontaminated. Here the
seed documents are the input records' ``code`` (``seed_field``), the span is drawn with the record's own seed, and
``n_per_seed`` problems come from each snippet (one in Magicoder).

The execution step (not in Magicoder, which executes nothing): the prompt also asks for a [Tests] section of
``assert`` statements; the solution runs against them in the sandbox and a generated record is kept only if at
least ``min_pass_ratio`` (1.0) of its tests pass. Every generation is kept or ledgered with its reason:
``unparsable`` (no problem or no code), ``no tests`` (verification on, no assert in the reply), ``failed k/n
tests``, ``duplicate`` (the same problem text already generated in this shard; use ``exact_dedup`` /
``minhash_dedup`` after this stage for global dedup), ``LLM error``. ``verify: false`` is Magicoder as
published: the solution is only parsed, nothing runs (``stats.oss.verified = false``).

Kept records: id ``<seed id>#oss<k>``, instruction = the problem, response = the solution section, code = its
code, tests = the generated asserts (kind assert), ``stats.oss`` = {seed_id, snippet, span, prompt_hash, pass
ratio}. The seed record is kept (``keep_seed: true``) or set aside with reason ``oss_instruct: seed consumed``
(``false``, the default: Magicoder's seeds are raw code, not training pairs).

Deviations: the prompt is ours (written from the paper's description, with the [Tests] section added); seeds are
the input's code rather than The Stack documents; Magicoder's decontamination is the separate ``decontaminate``
op.
"""

from __future__ import annotations

import copy

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SandboxOpConfig,
    SynthExpander,
    assert_tests,
    extract_python,
    new_record,
    norm_text,
    outcome_reason,
    parse_assert_tests,
    prompt_hash,
    record_rng,
    record_seed,
    sections,
    split_asserts,
    user,
)
from codecurate.pipeline.op import Dropped
from codecurate.pipeline.registry import register
from codecurate.records import get_field

OSS_PROMPT = (
    "You are exceptionally skilled at writing programming problems and their solutions. Take inspiration from the "
    "random code snippet below to write a new, high-quality Python programming problem.\n\n"
    "Code snippet for inspiration:\n```\n{snippet}\n```\n\n"
    "Write three sections with these exact headers:\n"
    "[Problem Description]\nA completely self-contained problem statement: give all the context, names and "
    "signatures needed to solve it; assume only common programming knowledge.\n"
    "[Solution]\nA correct Python solution in one ```python code block.\n"
    "[Tests]\nA few Python assert statements, in one ```python code block, that the solution passes.\n")


class OSSInstructConfig(LLMOpConfig, SandboxOpConfig):
    seed_field: str = "code"
    min_lines: int = 1  # Magicoder: 1-15 consecutive lines
    max_lines: int = 15
    n_per_seed: int = 1
    temperature: float = 0.0  # Magicoder: greedy
    max_tokens: int = 1024
    prompt: str = OSS_PROMPT  # placeholder: {snippet}
    verify: bool = True
    min_pass_ratio: float = 1.0
    keep_seed: bool = False


@register
class OSSInstruct(SynthExpander[OSSInstructConfig]):
    """Magicoder OSS-Instruct: random 1-15-line snippets of the input's code inspire new problems + solutions;
    solutions are run against generated asserts in the sandbox."""

    name = "oss_instruct"
    Config = OSSInstructConfig
    paper = "Magicoder OSS-Instruct (Wei et al., arXiv 2312.02120) §2.1; execution step ours"

    def setup(self) -> None:
        c = self.config
        if not 1 <= c.min_lines <= c.max_lines:
            raise ValueError("oss_instruct: need 1 <= min_lines <= max_lines")
        if "{snippet}" not in c.prompt:
            raise ValueError("oss_instruct: `prompt` must contain {snippet}")

    def snippet(self, rec: dict, k: int) -> tuple[str, tuple[int, int]] | None:
        text = get_field(rec, self.config.seed_field)
        lines = [ln for ln in (text if isinstance(text, str) else "").splitlines()]
        if not any(ln.strip() for ln in lines):
            return None
        rng = record_rng(self.seed, self.name, rec["id"], "span", k)
        n = rng.randint(self.config.min_lines, self.config.max_lines)
        n = min(n, len(lines))
        start = rng.randint(0, len(lines) - n)
        return "\n".join(lines[start:start + n]), (start, start + n)

    def synthesize(self, records: list[dict]) -> list[tuple[list[dict], list[Dropped]]]:
        cfg = self.config
        outs: list[tuple[list[dict], list[Dropped]]] = [([], []) for _ in records]
        jobs = []  # (record index, k, snippet, span, prompt)
        for i, r in enumerate(records):
            for k in range(cfg.n_per_seed):
                snip = self.snippet(r, k)
                if snip is None:
                    continue
                jobs.append((i, k, snip[0], snip[1], user(cfg.prompt.format(snippet=snip[0]))))
        results = self.generate([j[4] for j in jobs], [record_seed(self.seed, self.name, records[j[0]]["id"], j[1])
                                                       for j in jobs], self.gen_params())
        cands = []  # (job, result, problem, solution text, code, tests or None, why-rejected)
        for job, res in zip(jobs, results):
            i, k, sn, span, p = job
            problem = solution = code = ""
            tests, why = None, None
            if not res.ok:
                why = f"LLM error: {res.error[:200]}"
            else:
                sec = sections(res.text, ["Problem Description", "Problem", "Solution", "Tests"])
                problem = (sec.get("problem description") or sec.get("problem") or "").strip()
                solution = (sec.get("solution") or "").strip()
                code = extract_python(solution)
                code, inline, _ = split_asserts(code) if code else ("", [], "")
                cases, setup, _ = parse_assert_tests(sec.get("tests", ""))
                cases = cases or inline
                if cases:
                    tests = assert_tests(cases, setup)
                if not problem or not code:
                    why = "unparsable: " + ("no [Problem Description]" if not problem else "no code in [Solution]")
                elif cfg.verify and not cases:
                    why = "no tests: no assert in [Tests] (verify: true)"
            cands.append([job, res, problem, solution, code, tests, why])
        to_run = [c for c in cands if c[6] is None and cfg.verify]
        for c, o in zip(to_run, self.run_tests([(c[4], c[5]) for c in to_run])):
            c.append(o)
            if not (o.total and o.pass_ratio + 1e-12 >= cfg.min_pass_ratio):
                c[6] = f"failed tests: {outcome_reason(o)}"
        seen: set[str] = set()
        for c in cands:
            (i, k, sn, span, p), res, problem, solution, code, tests, why = c[:7]
            o = c[7] if len(c) > 7 else None
            rec = records[i]
            key = norm_text(problem)
            if why is None and key in seen:
                why = "duplicate: the same problem was already generated in this shard"
            info = {"seed_id": rec["id"], "snippet": sn, "span": list(span), "prompt_hash": prompt_hash(p),
                    "verified": bool(cfg.verify), "pass_ratio": float(o.pass_ratio) if o is not None else None}
            new = new_record(rec, f"{rec['id']}#oss{k}", instruction=problem, response=solution or res.text,
                             code=code, tests=tests, stats={"oss": info})
            if why is None:
                seen.add(key)
                outs[i][0].append(new)
                self.count("oss_kept")
            else:
                outs[i][1].append(Dropped(new, f"oss_instruct: {why}",
                                          {"seed_id": rec["id"], "prompt_hash": info["prompt_hash"],
                                           "raw": res.text[:4000], "exec": o.to_dict() if o is not None else None}))
                self.count("oss_rejected_" + why.split(":")[0].replace(" ", "_").lower())
        used = {j[0] for j in jobs}
        for i, r in enumerate(records):
            if cfg.keep_seed:
                outs[i][0].insert(0, r)
            elif i in used:
                outs[i][1].insert(0, Dropped(copy.copy(r), "oss_instruct: seed consumed (keep_seed: false)"))
            else:
                outs[i][1].insert(0, Dropped(copy.copy(r), f"oss_instruct: seed has no {cfg.seed_field} to draw a "
                                                           "snippet from"))
                self.count("oss_seed_without_code")
        return outs
