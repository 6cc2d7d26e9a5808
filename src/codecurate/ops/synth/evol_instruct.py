"""``evol_instruct``: code Evol-Instruct (WizardCoder), with WizardLM's elimination rules and an execution check.

WizardCoder (Luo et al., ICLR 2024, arXiv 2306.08568) §3: Code Evol-Instruct evolves Code Alpaca instructions with
one prompt, "Please increase the difficulty of the given programming test question a bit. You can increase the
difficulty using, but not limited to, the following methods: {method}  {question}", where the method is drawn
from five: add new constraints and requirements (about 10 more words); replace a commonly used requirement with
a less common, more specific one; add more reasoning steps when the problem is solvable in a few logical steps;
provide a piece of erroneous code as a reference to increase misdirection; propose higher time or space
complexity requirements (not too often). The evolved instruction is answered by the same LLM; the evolved data of
every round is merged with the original data (``keep_seed: true``). The code-specific evolution code was never
released (nickrosh/evol-teacher re-implemented it); the prompts here are written from the paper and are ours.

Per record and round (``rounds``, default 3): a method drawn with the record's seed (from ``methods``), the
evolution prompt, then the answer prompt on the evolved instruction. Elimination (WizardLM, Xu et al., arXiv
2304.12244, §3.3 "Elimination Evolving"), each ledgered with its reason:

1. ``no change``: the evolved instruction is the original (normalised text equal, or a difflib ratio >=
   ``no_change_similarity``; WizardLM asks ChatGPT whether the two are equal);
2. ``copied prompt``: the evolved instruction copies words of the evolving prompt ("#Rewritten Prompt#", "given
   prompt", "increase the difficulty", ...);
3. ``failed generation``: the answer is empty, only punctuation and stop words, or contains "sorry" and is
   shorter than 80 words; an LLM error;
4. (ours) ``no code``: the answer has no Python code (``require_code``); ``did not run``: the code does not load
   and run to completion in the sandbox (a syntax error, an import that does not exist, an exception at top
   level, a timeout).

A failed evolution does not end the lineage: as WizardLM puts a failed instruction back into the pool, the next
round evolves the last surviving instruction again (with a new method draw). Kept records: id
``<seed id>#evol<round>``, ``stats.evol`` = {seed_id, round, method, parent_id, prompt_hashes}.
"""

from __future__ import annotations

import difflib
import re
import string

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SandboxOpConfig,
    SynthExpander,
    extract_python,
    new_record,
    norm_text,
    program_reason,
    prompt_hash,
    record_rng,
    record_seed,
    user,
)
from codecurate.pipeline.op import Dropped
from codecurate.pipeline.registry import register

METHODS = {
    "constraints": "Add new constraints and requirements to the original problem, adding approximately 10 "
                   "additional words.",
    "less_common": "Replace a commonly used requirement in the programming task with a less common and more "
                   "specific one.",
    "reasoning": "If the original problem can be solved with only a few logical steps, add more reasoning steps.",
    "erroneous_code": "Provide a piece of erroneous code as a reference to increase misdirection.",
    "complexity": "Propose higher time or space complexity requirements, but please refrain from doing so "
                  "frequently.",
}
EVOL_PROMPT = ("Please increase the difficulty of the given programming test question a bit.\n\n"
               "You can increase the difficulty using, but not limited to, the following method:\n{method}\n\n"
               "Reply with only the new question.\n\nQuestion:\n{question}\n")
ANSWER_PROMPT = "{instruction}\n\nWrite the solution in Python, in a ```python code block."
COPIED = ("#rewritten prompt#", "#given prompt#", "rewritten prompt", "given prompt", "increase the difficulty",
          "following method", "the difficulty of the given")
STOP_WORDS = frozenset(["a", "an", "the", "and", "or", "but", "if", "then", "else", "of", "to", "in", "on", "at", "by", "for", "with", "is", "are", "was", "were", "be", "been", "it", "this", "that", "these", "those", "as", "from", "so", "not", "no", "yes", "i", "you", "he", "she", "we", "they", "my", "your"])


class EvolInstructConfig(LLMOpConfig, SandboxOpConfig):
    rounds: int = 3
    methods: list[str] = list(METHODS)  # noqa: RUF012 - a pydantic field
    method_texts: dict[str, str] = METHODS
    evol_prompt: str = EVOL_PROMPT  # placeholders: {method}, {question}
    answer_prompt: str = ANSWER_PROMPT  # placeholder: {instruction}
    temperature: float = 1.0
    max_tokens: int = 1024
    evol_max_tokens: int = 384
    no_change_similarity: float = 0.95
    require_code: bool = True
    execute: bool = True
    keep_seed: bool = True


def _failed_generation(ans: str) -> str | None:
    words = ans.split()
    if not ans.strip():
        return "empty answer"
    if "sorry" in ans.lower() and len(words) < 80:
        return "the answer apologises (contains 'sorry', under 80 words)"
    toks = [w.strip(string.punctuation).lower() for w in words]
    if all(not t or t in STOP_WORDS for t in toks):
        return "the answer is only punctuation and stop words"
    return None


@register
class EvolInstruct(SynthExpander[EvolInstructConfig]):
    """Code Evol-Instruct: rounds of in-depth evolution (5 methods), answers, elimination, execution."""

    name = "evol_instruct"
    Config = EvolInstructConfig
    paper = "WizardCoder Code Evol-Instruct (arXiv 2306.08568) §3; WizardLM elimination (arXiv 2304.12244) §3.3"

    def setup(self) -> None:
        c = self.config
        bad = [m for m in c.methods if m not in c.method_texts]
        if bad or not c.methods:
            raise ValueError(f"evol_instruct: unknown method(s) {bad}; valid: {sorted(c.method_texts)}")
        if c.rounds < 1:
            raise ValueError("evol_instruct: `rounds` must be >= 1")

    def _eliminated(self, parent: str, evolved: str) -> str | None:
        e = evolved.strip()
        if not e:
            return "failed generation: empty evolved instruction"
        low = e.lower()
        for phrase in COPIED:
            if phrase in low:
                return f"copied prompt: the evolved instruction contains {phrase!r}"
        a, b = norm_text(parent), norm_text(e)
        if a == b:
            return "no change: the evolved instruction equals its parent"
        ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
        if ratio >= self.config.no_change_similarity:
            return f"no change: similarity {ratio:.3f} to its parent >= {self.config.no_change_similarity:g}"
        return None

    def synthesize(self, records: list[dict]) -> list[tuple[list[dict], list[Dropped]]]:
        cfg = self.config
        outs: list[tuple[list[dict], list[Dropped]]] = [([r] if cfg.keep_seed else [], []) for r in records]
        if not cfg.keep_seed:
            for i, r in enumerate(records):
                outs[i][1].append(Dropped(r, "evol_instruct: seed consumed (keep_seed: false)"))
        current = {i: (r.get("instruction") or "", r["id"]) for i, r in enumerate(records) if (r.get("instruction") or "").strip()}
        evo_params = self.gen_params(max_tokens=cfg.evol_max_tokens)
        ans_params = self.gen_params()
        for rnd in range(1, cfg.rounds + 1):
            idx = sorted(current)
            if not idx:
                break
            methods = {i: record_rng(self.seed, self.name, records[i]["id"], "method", rnd).choice(cfg.methods)
                       for i in idx}
            ep = [user(cfg.evol_prompt.format(method=cfg.method_texts[methods[i]], question=current[i][0])) for i in idx]
            evolved = self.generate(ep, [record_seed(self.seed, self.name, records[i]["id"], "evol", rnd) for i in idx],
                                    evo_params, round_key=("evol", rnd))
            cand = {}
            for j, i in enumerate(idx):
                text = _strip_label(evolved[j].text) if evolved[j].ok else ""
                why = (f"failed generation: LLM error: {evolved[j].error[:160]}" if not evolved[j].ok
                       else self._eliminated(current[i][0], text))
                cand[i] = {"instruction": text, "why": why, "method": methods[i], "evol_hash": prompt_hash(ep[j]),
                           "raw": evolved[j].text}
            live = [i for i in idx if cand[i]["why"] is None]
            ap = [user(cfg.answer_prompt.format(instruction=cand[i]["instruction"])) for i in live]
            answers = self.generate(ap, [record_seed(self.seed, self.name, records[i]["id"], "answer", rnd) for i in live],
                                    ans_params, round_key=("answer", rnd))
            for j, i in enumerate(live):
                a = answers[j]
                c = cand[i]
                c["answer"], c["answer_hash"] = a.text, prompt_hash(ap[j])
                c["code"] = extract_python(a.text) if a.ok else ""
                if not a.ok:
                    c["why"] = f"failed generation: LLM error: {a.error[:160]}"
                elif (fg := _failed_generation(a.text)) is not None:
                    c["why"] = f"failed generation: {fg}"
                elif cfg.require_code and not c["code"]:
                    c["why"] = "no code: the answer has no Python code block"
            run = [i for i in live if cand[i]["why"] is None and cand[i]["code"] and cfg.execute]
            for i, p in zip(run, self.run_programs([cand[i]["code"] for i in run])):
                if (pr := program_reason(p)) is not None:
                    cand[i]["why"] = f"did not run: {pr}"
                cand[i]["ran"] = True
            for i in idx:
                c, rec = cand[i], records[i]
                info = {"seed_id": rec["id"], "parent_id": current[i][1], "round": rnd, "method": c["method"],
                        "prompt_hashes": [c["evol_hash"], c.get("answer_hash")], "executed": bool(c.get("ran"))}
                new = new_record(rec, f"{rec['id']}#evol{rnd}", instruction=c["instruction"],
                                 response=c.get("answer", ""), code=c.get("code", ""), tests=None, stats={"evol": info})
                if c["why"] is None:
                    outs[i][0].append(new)
                    current[i] = (c["instruction"], new["id"])
                    self.count("evol_kept")
                else:
                    outs[i][1].append(Dropped(new, f"evol_instruct: round {rnd} eliminated: {c['why']}",
                                              {"seed_id": rec["id"], "round": rnd, "method": c["method"],
                                               "prompt_hash": c["evol_hash"], "raw": c["raw"][:4000],
                                               "answer": c.get("answer", "")[:4000]}))
                    self.count("evol_eliminated_" + c["why"].split(":")[0].replace(" ", "_"))
        return outs


def _strip_label(text: str) -> str:
    """Drop a leading "New question:" label (a copied "#Rewritten Prompt#" is left for elimination rule 2)."""
    t = (text or "").strip()
    return re.sub(r"^(?:new|evolved)\s+(?:question|problem)\s*:\s*", "", t, flags=re.IGNORECASE).strip()
