"""``self_code_align``: SelfCodeAlign's pipeline: seed snippet -> concepts -> instruction -> k (response, tests)
samples -> execution in the sandbox -> one passing sample kept, sanitized.

SelfCodeAlign (Wei et al., NeurIPS 2024, arXiv 2410.24198; the pipeline behind StarCoder2-15B-Instruct):

1. Seeds: Python functions with a docstring (and here: a ``return``), from the input records' ``code``. With
   ``seed_filter: true`` a seed must parse, define a top-level function with a docstring and a return statement,
   and import nothing in ``forbidden_imports``; benchmark decontamination is the ``decontaminate`` op, run before
   this stage in ``recipes/synth/self_code_align.yaml``. Records that are not valid seeds are kept or set aside
   with the reason (``keep_seed``).
2. S -> C: the model lists the programming concepts the snippet uses ([Concepts]).
3. C -> I: the model writes a new instruction exercising those concepts, for a category (function / class /
   program implementation) and a difficulty (easy / medium / hard) drawn with the record's seed.
4. I -> R: ``k`` samples of a [Response] (reasoning + a ```python solution) and [Tests] (asserts), at
   ``temperature`` (0.7).
5. Execution: every sample's solution runs against its own tests in the sandbox; samples below
   ``min_pass_ratio`` (1.0) are rejected ("failed k/n tests"); SelfCodeAlign reports ~21% of 2.4M responses pass.
6. One passing sample per instruction is kept, drawn with the record's seed; sanitization (as SelfCodeAlign's
   sanitize step): the response must hold code and tests (format), be at most ``max_chars`` long, and define a set of
   function/class names not already kept in this shard (function-name-set uniqueness; global dedup is a later
   ``exact_dedup``/``minhash_dedup`` stage).

Every sample is kept or ledgered: ``unparsable`` (no concepts, no instruction, no code, no tests), ``failed
tests``, ``not chosen`` (another passing sample was kept), ``duplicate function names``, ``too long``, ``LLM
error``. Kept records: id ``<seed id>#sca``, tests = the generated asserts, ``stats.sca`` = {seed_id, concepts,
category, difficulty, sample, passing, k, prompt_hashes}.

Deviations: the prompts are ours (the paper's are few-shot with 21 hand-written examples; here zero-shot with
section headers); the seed miner's static checks are simplified to the three rules above; ``k`` defaults to 10
(set lower on CPU).
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SandboxOpConfig,
    SynthExpander,
    assert_tests,
    extract_python,
    function_names,
    new_record,
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

CONCEPTS_PROMPT = ("Extract the key programming concepts used in the following Python code. Reply with one line: "
                   "[Concepts] followed by a comma-separated list of concepts.\n\n```python\n{snippet}\n```\n")
INSTRUCTION_PROMPT = ("Write a new, self-contained Python programming task that exercises these concepts: {concepts}.\n"
                      "Category: {category}. Difficulty: {difficulty}.\n"
                      "Name the function, class or program to write and its parameters. Reply with only the task "
                      "after the header [Instruction].\n")
RESPONSE_PROMPT = ("{instruction}\n\nAnswer with two sections. [Response]: a brief explanation and the complete "
                   "solution in one ```python code block. [Tests]: assert statements in one ```python code block "
                   "that check the solution.\n")
FORBIDDEN = ["os", "sys", "subprocess", "shutil", "socket", "requests", "urllib", "http", "multiprocessing",
             "threading", "asyncio", "tkinter", "pickle", "ctypes"]


class SelfCodeAlignConfig(LLMOpConfig, SandboxOpConfig):
    seed_field: str = "code"
    seed_filter: bool = True
    forbidden_imports: list[str] = FORBIDDEN
    categories: list[str] = ["function implementation", "class implementation", "program implementation"]  # noqa: RUF012
    difficulties: list[str] = ["easy", "medium", "hard"]  # noqa: RUF012
    k: int = 10
    temperature: float = 0.7  # the I -> R samples
    plan_temperature: float = 0.0  # S -> C and C -> I
    plan_max_tokens: int = 256
    max_tokens: int = 1024
    concepts_prompt: str = CONCEPTS_PROMPT  # {snippet}
    instruction_prompt: str = INSTRUCTION_PROMPT  # {concepts}, {category}, {difficulty}
    response_prompt: str = RESPONSE_PROMPT  # {instruction}
    min_pass_ratio: float = 1.0
    max_chars: int = 6000
    keep_seed: bool = False


def seed_problem(code: str, forbidden: list[str]) -> str | None:
    """Why ``code`` is not a SelfCodeAlign seed, or None."""
    try:
        mod = ast.parse(code or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "does not parse"
    for node in ast.walk(mod):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            if n.split(".")[0] in forbidden:
                return f"imports {n}"
    fns = [n for n in ast.walk(mod) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not fns:
        return "defines no function"
    for f in fns:
        if ast.get_docstring(f) and any(isinstance(x, ast.Return) and x.value is not None for x in ast.walk(f)):
            return None
    return "no function with a docstring and a return"


@register
class SelfCodeAlign(SynthExpander[SelfCodeAlignConfig]):
    """SelfCodeAlign: concepts -> instruction -> k response+tests samples, executed; one passing sample kept."""

    name = "self_code_align"
    Config = SelfCodeAlignConfig
    paper = "SelfCodeAlign (Wei et al., NeurIPS 2024, arXiv 2410.24198)"

    def setup(self) -> None:
        if self.config.k < 1:
            raise ValueError("self_code_align: `k` must be >= 1")

    def _drop(self, rec: dict, suffix: str, why: str, stats: dict, detail: dict, **fields) -> Dropped:
        new = new_record(rec, f"{rec['id']}#sca{suffix}", instruction=fields.get("instruction", ""),
                         response=fields.get("response", ""), code=fields.get("code", ""), tests=fields.get("tests"),
                         stats={"sca": stats})
        self.count("sca_rejected_" + why.split(":")[0].replace(" ", "_"))
        return Dropped(new, f"self_code_align: {why}", detail)

    def synthesize(self, records: list[dict]) -> list[tuple[list[dict], list[Dropped]]]:
        cfg = self.config
        outs: list[tuple[list[dict], list[Dropped]]] = [([], []) for _ in records]
        live = []
        for i, r in enumerate(records):
            code = get_field(r, cfg.seed_field)
            code = code if isinstance(code, str) else ""
            why = seed_problem(code, cfg.forbidden_imports) if cfg.seed_filter else (None if code.strip() else "no code")
            if cfg.keep_seed:
                outs[i][0].append(r)
            else:
                outs[i][1].append(Dropped(copy.copy(r), "self_code_align: seed consumed (keep_seed: false)" if why is None
                                          else f"self_code_align: not a seed ({why})"))
            if why is None:
                live.append(i)
            else:
                self.count("sca_not_a_seed")
        plan = self.gen_params(temperature=cfg.plan_temperature, max_tokens=cfg.plan_max_tokens)
        # S -> C
        cp = [user(cfg.concepts_prompt.format(snippet=get_field(records[i], cfg.seed_field))) for i in live]
        cres = self.generate(cp, [record_seed(self.seed, self.name, records[i]["id"], "concepts") for i in live], plan,
                             round_key="concepts")
        st: dict[int, dict] = {}
        nxt = []
        for i, p, res in zip(live, cp, cres):
            seed_st = st[i] = {"seed_id": records[i]["id"], "prompt_hashes": [prompt_hash(p)]}
            body = sections(res.text, ["Concepts"]).get("concepts", res.text) if res.ok else ""
            concepts = [c.strip(" -*•\t.") for c in body.replace("\n", ",").split(",")]
            concepts = [c for c in concepts if c and len(c) < 80][:8]
            if not concepts:
                why = f"LLM error: {res.error[:160]}" if not res.ok else "unparsable: no concepts in the reply"
                outs[i][1].append(self._drop(records[i], "-c", why, seed_st, {"raw": res.text[:4000]}))
                continue
            rng = record_rng(self.seed, self.name, records[i]["id"], "task")
            seed_st.update(concepts=concepts, category=rng.choice(cfg.categories),
                           difficulty=rng.choice(cfg.difficulties))
            nxt.append(i)
        # C -> I
        ip = [user(cfg.instruction_prompt.format(concepts=", ".join(st[i]["concepts"]), category=st[i]["category"],
                                                 difficulty=st[i]["difficulty"])) for i in nxt]
        ires = self.generate(ip, [record_seed(self.seed, self.name, records[i]["id"], "instruction") for i in nxt], plan,
                             round_key="instruction")
        live = []
        for i, p, res in zip(nxt, ip, ires):
            st[i]["prompt_hashes"].append(prompt_hash(p))
            instr = (sections(res.text, ["Instruction"]).get("instruction") or res.text).strip() if res.ok else ""
            if not instr:
                why = f"LLM error: {res.error[:160]}" if not res.ok else "unparsable: no instruction in the reply"
                outs[i][1].append(self._drop(records[i], "-i", why, st[i], {"raw": res.text[:4000]}))
                continue
            st[i]["instruction"] = instr
            live.append(i)
        # I -> R, k samples each
        rp = [user(cfg.response_prompt.format(instruction=st[i]["instruction"])) for i in live]
        rres = self.generate(rp, [record_seed(self.seed, self.name, records[i]["id"], "response") for i in live],
                             self.gen_params(n=cfg.k), round_key="response")
        samples: list[list[Any]] = []  # (i, j, text, response section, code, tests or None, why)
        for i, p, res in zip(live, rp, rres):
            st[i]["prompt_hashes"].append(prompt_hash(p))
            for j, c in enumerate(res.completions):
                if c.error and not c.text:
                    samples.append([i, j, "", "", "", None, f"LLM error: {c.error[:160]}"])
                    continue
                sec = sections(c.text, ["Response", "Tests"])
                resp = sec.get("response") or c.text
                code = extract_python(resp)
                code, inline, _ = split_asserts(code) if code else ("", [], "")
                cases, setup, _ = parse_assert_tests(sec.get("tests", ""))
                cases = cases or inline
                why = None
                if not code:
                    why = "unparsable: no code in [Response]"
                elif not cases:
                    why = "unparsable: no assert in [Tests]"
                samples.append([i, j, c.text, resp, code, assert_tests(cases, setup) if cases else None, why])
        run = [s for s in samples if s[6] is None]
        for s, o in zip(run, self.run_tests([(s[4], s[5]) for s in run])):
            s.append(o)
            if not (o.total and o.pass_ratio + 1e-12 >= cfg.min_pass_ratio):
                s[6] = f"failed tests: {outcome_reason(o)}"
        by_rec: dict[int, list] = {}
        for s in samples:
            by_rec.setdefault(s[0], []).append(s)
        seen_names: set[frozenset] = set()
        for i in live:
            rec, info = records[i], st[i]
            group = by_rec.get(i, [])
            passing = [s for s in group if s[6] is None]
            info.update(k=cfg.k, passing=len(passing))
            self.count("sca_samples", len(group))
            self.count("sca_samples_passing", len(passing))
            chosen = record_rng(self.seed, self.name, rec["id"], "choose").choice(passing) if passing else None
            if chosen is not None:
                _, j, _, resp, code, tests, _ = chosen[:7]
                names = function_names(code)
                if len(resp) > cfg.max_chars:
                    chosen[6] = f"too long: {len(resp)} chars > {cfg.max_chars}"
                elif names and names in seen_names:
                    chosen[6] = f"duplicate function names: {sorted(names)} already kept in this shard"
                else:
                    seen_names.add(names)
                    kept = new_record(rec, f"{rec['id']}#sca", instruction=info["instruction"], response=resp,
                                      code=code, tests=tests, stats={"sca": {**info, "sample": j}})
                    outs[i][0].append(kept)
                    self.count("sca_kept")
            for s in group:
                if s is chosen and s[6] is None:
                    continue
                why = s[6] or "not chosen: another passing sample of this instruction was kept"
                o = s[7] if len(s) > 7 else None
                outs[i][1].append(self._drop(rec, f"-s{s[1]}", why, {**info, "sample": s[1]},
                                             {"raw": s[2][:4000], "exec": o.to_dict() if o is not None else None},
                                             instruction=info["instruction"], response=s[3], code=s[4], tests=s[5]))
        return outs
