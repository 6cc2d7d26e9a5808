"""``wavecoder``: WaveCoder's LLM generator + discriminator over raw code, for its four tasks.

WaveCoder (Yu et al., ACL 2024, arXiv 2312.14187; ``microsoft/WaveCoder@64e5ef634e``; reference notes
seed0_techniques.md §5.1):

1. Raw code collection: a diverse coreset of raw code by KCenterGreedy over embeddings. That is the
   ``kcenter_greedy`` op, run before this stage in ``recipes/synth/wavecoder.yaml`` (the repo's save loop wrote the
   first N texts instead of the selected ones; the op keeps the selected ones).
2. Generator: the LLM turns a raw code into an instruction instance with four keys, ``Task name``,
   ``Instruction``, ``Information``, ``Solution``, following rules (the solution addresses the instruction and the
   information; the instruction is 1-2 sentences; the code imports what it needs; the logic is not buried in
   complex, poorly documented functions), shown one good example and one bad example with its analysis (the
   repo's ``--sample_size 1``; its bad-example sampler indexed a string, a bug: here one whole bad case).
3. Rule-based filter (the repo's ``extract_message``): reject when the four keys do not parse exactly once, more
   than one field is ``<noinput>``, the instruction is not 1-2 sentences, or the information has more than 2
   sentences; an empty / "none" / "no additional information" information becomes ``<noinput>``.
4. Discriminator: the LLM answers a checklist, each item ``<answer: yes|no, reason>`` (the instruction names the
   language; the solution is relevant to the instruction and information; the solution is only code and in-code
   comments; the logic is not buried; the libraries are imported), ending ``- Overall answer: yes|no`` and
   ``- reasons:``; the candidate is kept unless the overall answer is "no". Each judged case with its analysis
   joins the good or bad example pool, so later prompts show it (the generator-discriminator loop).
5. Tasks: code generation, summarization, translation, repair (the repo ships only the generation prompt; the
   other three prompts are ours, from the paper's description). ``task_choice: random`` draws one task per seed
   with the record's seed; ``all`` makes one instance per task.

Execution (ours): where the solution is Python code (generation, repair), it must load and run to completion in
the sandbox (no tests exist to run); summarization answers are prose and translation answers are in
``translate_to`` (Java by default), so they are judged by the discriminator only (``stats.wavecoder.executed:
false`` says so). Every generated instance is kept or ledgered: ``rule filter: ...``, ``discriminator: no
(...)``, ``did not run: ...``, ``LLM error``.

Deviations: the example pools start from built-in examples (one good, one bad per task, ours) and live per shard:
a resumed run re-processes its unfinished shard from the same starting pool, so the output does not depend on
where a run was killed (the repo's pools grow over the whole run, written as files); prompts are ours; the models
(GPT-3.5/4 in the paper) default to the embedded SmolLM2-135M.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from codecurate.ops.synth._common import (
    LLMOpConfig,
    SandboxOpConfig,
    SynthExpander,
    extract_python,
    new_record,
    program_reason,
    prompt_hash,
    record_rng,
    record_seed,
    user,
)
from codecurate.pipeline.op import Dropped
from codecurate.pipeline.registry import register
from codecurate.records import get_field

TASKS = {
    "code_generation": "code generation: the instruction asks for a program or function; the solution is the code",
    "code_summarization": "code summarization: the instruction asks to summarize what the code in the information "
                          "does; the solution is a short natural-language summary",
    "code_translation": "code translation: the instruction asks to translate the code in the information into "
                        "{lang}; the solution is the {lang} code",
    "code_repair": "code repair: the information holds a copy of the code with one bug introduced; the instruction "
                   "asks to find and fix it; the solution is the corrected Python code",
}
GOOD = {
    "code_generation": ("Task name: sum of even numbers\nInstruction: Write a Python function that returns the sum "
                        "of the even numbers in a list.\nInformation: <noinput>\nSolution: def sum_even(xs):\n"
                        "    # keep the even values and add them up\n    return sum(x for x in xs if x % 2 == 0)"),
    "code_summarization": ("Task name: explain a function\nInstruction: Summarize what this Python function does.\n"
                           "Information: def f(s):\n    return s == s[::-1]\nSolution: It returns True when the "
                           "string reads the same forwards and backwards, i.e. it is a palindrome."),
    "code_translation": ("Task name: translate max\nInstruction: Translate this Python function into Java.\n"
                         "Information: def biggest(a, b):\n    return a if a > b else b\nSolution: static int "
                         "biggest(int a, int b) { return a > b ? a : b; }"),
    "code_repair": ("Task name: fix factorial\nInstruction: Fix the bug in this Python function.\nInformation: def "
                    "fact(n):\n    r = 0\n    for i in range(1, n + 1):\n        r *= i\n    return r\nSolution: def "
                    "fact(n):\n    r = 1  # the product must start at 1, not 0\n    for i in range(1, n + 1):\n"
                    "        r *= i\n    return r"),
}
BAD = (("Task name: code\nInstruction: Here is some code. It does things. Please look at it and tell me about it "
        "and also improve it.\nInformation: <noinput>\nSolution: <noinput>"),
       ("Analysis: the instruction is three vague sentences, names no language, and both the information and the "
        "solution are empty, so the instance teaches nothing."))
GEN_PROMPT = (
    "You turn raw code into one instruction-tuning instance for this task type: {task}.\n"
    "Rules: the solution must address the instruction and the information; the instruction is one or two "
    "sentences; code in the solution imports the libraries it needs; do not bury the logic in complex, poorly "
    "documented functions. Write <noinput> for an empty field.\n\n"
    "Here is a good example:\n{good}\n\n"
    "Here is a bad example, do not generate data like this:\n{bad}\n\n"
    "Reply with exactly four lines starting with \"Task name:\", \"Instruction:\", \"Information:\" and "
    "\"Solution:\" (the information and solution may span several lines).\n\nInput:\n{code}\n\nOutput:\n")
DIS_PROMPT = (
    "Check this instruction-tuning instance step by step. Answer each question as <answer: yes|no, reason>.\n"
    "1. Does the instruction name the programming language?\n"
    "2. Is the solution relevant to the instruction and the information?\n"
    "3. Does the solution contain only code and in-code comments (no prose outside the code)?\n"
    "4. Is the algorithmic logic clear rather than buried in complex, poorly documented functions?\n"
    "5. Are the required libraries imported?\n"
    "End with the two lines \"- Overall answer: yes|no\" and \"- reasons: ...\".\n\n"
    "Here are bad examples:\n{bad}\n\nInstance:\n{instance}\n\nAnalysis:\n")
KEYS = ("task name", "instruction", "information", "solution")
_KEY = re.compile(r"^[ \t]*\**[ \t]*(task name|instruction|information|solution)[ \t]*\**[ \t]*:", re.IGNORECASE | re.MULTILINE)
_SENT = re.compile(r"[.!?](?:\s|$)")


def parse_instance(text: str) -> tuple[dict | None, str | None]:
    """The four keys of a generator reply, or (None, why) as the repo's rule-based filter rejects it."""
    marks = [(m.start(), m.end(), m.group(1).lower()) for m in _KEY.finditer(text or "")]
    names = [k for _, _, k in marks]
    for k in KEYS:
        if names.count(k) != 1:
            return None, f"key {k!r} appears {names.count(k)} times (needs exactly once)"
    out = {}
    for j, (s, e, k) in enumerate(marks):
        out[k] = text[e:marks[j + 1][0] if j + 1 < len(marks) else len(text)].strip()
    info = out["information"]
    if not info or info.lower().strip(" .") in ("none", "n/a") or info.lower().startswith("no additional information"):
        out["information"] = info = "<noinput>"
    if sum(1 for k in KEYS if out[k] in ("", "<noinput>")) > 1:
        return None, "more than one field is <noinput>"
    n_sent = len(_SENT.findall(out["instruction"].strip() + " "))
    if not 1 <= max(n_sent, 1 if out["instruction"].strip() else 0) <= 2:
        return None, f"the instruction has {n_sent} sentences (needs 1-2)"
    if info != "<noinput>" and not _looks_like_code(info) and len(_SENT.findall(info + " ")) > 2:
        return None, "the information has more than 2 sentences"
    return out, None


def _looks_like_code(s: str) -> bool:
    return "\n" in s.strip() or "(" in s and ")" in s and ("def " in s or "=" in s or ";" in s)


class WaveCoderConfig(LLMOpConfig, SandboxOpConfig):
    seed_field: str = "code"
    tasks: list[str] = list(TASKS)  # noqa: RUF012 - a pydantic field
    task_choice: Literal["random", "all"] = "random"
    translate_to: str = "Java"
    temperature: float = 0.0
    max_tokens: int = 800  # the repo's gen_max_token
    discriminator_max_tokens: int = 400
    gen_prompt: str = GEN_PROMPT  # {task}, {good}, {bad}, {code}
    dis_prompt: str = DIS_PROMPT  # {bad}, {instance}
    pool_size: int = 20  # judged cases remembered per task and kind (good / bad)
    execute: bool = True
    keep_seed: bool = False


@register
class WaveCoder(SynthExpander[WaveCoderConfig]):
    """WaveCoder: generator (4 keys, few-shot good/bad examples) -> rule filter -> LLM discriminator, 4 tasks."""

    name = "wavecoder"
    Config = WaveCoderConfig
    paper = "WaveCoder (Yu et al., ACL 2024, arXiv 2312.14187); microsoft/WaveCoder@64e5ef634e"

    def setup(self) -> None:
        bad = [t for t in self.config.tasks if t not in TASKS]
        if bad or not self.config.tasks:
            raise ValueError(f"wavecoder: unknown task(s) {bad}; valid: {list(TASKS)}")

    def synthesize(self, records: list[dict]) -> list[tuple[list[dict], list[Dropped]]]:
        cfg = self.config
        lang = cfg.translate_to
        good = {t: [GOOD[t]] for t in TASKS}
        badp = {t: [BAD] for t in TASKS}
        outs: list[tuple[list[dict], list[Dropped]]] = [([], []) for _ in records]
        jobs = []  # (record index, task)
        for i, r in enumerate(records):
            code = get_field(r, cfg.seed_field)
            has = isinstance(code, str) and code.strip()
            if cfg.keep_seed:
                outs[i][0].append(r)
            else:
                outs[i][1].append(Dropped(copy.copy(r), "wavecoder: seed consumed (keep_seed: false)" if has
                                          else "wavecoder: seed has no code"))
            if not has:
                continue
            tasks = cfg.tasks if cfg.task_choice == "all" else \
                [record_rng(self.seed, self.name, r["id"], "task").choice(cfg.tasks)]
            jobs += [(i, t) for t in tasks]
        # one record at a time through generator and discriminator would serialize the LLM; instead the batch goes
        # through in waves of one job per task, so each wave's prompts show the pools as judged so far
        waves: list[list[tuple[int, str]]] = []
        per_task: dict[str, list] = {}
        for j in jobs:
            per_task.setdefault(j[1], []).append(j)
        depth = max((len(v) for v in per_task.values()), default=0)
        wave_size = max(1, cfg.batch_size)
        flat = [per_task[t][d] for d in range(depth) for t in TASKS if t in per_task and d < len(per_task[t])]
        for s in range(0, len(flat), wave_size):
            waves.append(flat[s:s + wave_size])
        for w, wave in enumerate(waves):
            gp = []
            for i, t in wave:
                rng = record_rng(self.seed, self.name, records[i]["id"], t, "shots")
                g = rng.choice(good[t])
                b = rng.choice(badp[t])
                gp.append(user(cfg.gen_prompt.format(task=TASKS[t].format(lang=lang), good=g, bad=f"{b[0]}\n{b[1]}",
                                                     code=get_field(records[i], cfg.seed_field))))
            gres = self.generate(gp, [record_seed(self.seed, self.name, records[i]["id"], t, "gen") for i, t in wave],
                                 self.gen_params(), round_key=("gen", w))
            cands = []
            for (i, t), p, res in zip(wave, gp, gres):
                inst, why = (None, f"LLM error: {res.error[:160]}") if not res.ok else parse_instance(res.text)
                if inst is None and res.ok:
                    why = f"rule filter: {why}"
                cands.append({"i": i, "task": t, "inst": inst, "why": why, "raw": res.text, "gen_hash": prompt_hash(p)})
            live = [c for c in cands if c["why"] is None]
            dp = []
            for c in live:
                inst = c["inst"]
                c["text"] = "\n".join(f"{k.capitalize()}: {inst[k]}" for k in KEYS)
                bads = "\n\n".join(f"{b[0]}\n{b[1]}" for b in badp[c["task"]][-1:])
                dp.append(user(cfg.dis_prompt.format(bad=bads, instance=c["text"])))
            dres = self.generate(dp, [record_seed(self.seed, self.name, records[c["i"]]["id"], c["task"], "dis")
                                      for c in live], self.gen_params(max_tokens=cfg.discriminator_max_tokens),
                                 round_key=("dis", w))
            for c, p, res in zip(live, dp, dres):
                c["dis_hash"] = prompt_hash(p)
                if not res.ok:
                    c["why"] = f"LLM error: {res.error[:160]}"
                    continue
                m = re.findall(r"overall answer\s*:?\s*\**\s*(yes|no)", res.text, re.IGNORECASE)
                c["overall"] = m[-1].lower() if m else None
                c["analysis"] = res.text[:2000]
                if c["overall"] is None:
                    self.count("discriminator_no_overall_answer")
                if c["overall"] == "no":
                    reason = re.search(r"reasons?\s*:\s*(.+)", res.text, re.IGNORECASE)
                    c["why"] = "discriminator: no" + (f" ({reason.group(1).strip()[:160]})" if reason else "")
                pool: dict[str, list[Any]] = good if c["why"] is None else badp
                entry = c["text"] if c["why"] is None else (c["text"], "Analysis: " + res.text.strip()[:600])
                pool[c["task"]] = (pool[c["task"]] + [entry])[-cfg.pool_size:]
            run = [c for c in live if c["why"] is None and cfg.execute and c["task"] in ("code_generation", "code_repair")]
            for c in run:
                c["code"] = extract_python(c["inst"]["solution"]) or (c["inst"]["solution"]
                                                                      if _parses(c["inst"]["solution"]) else "")
                if not c["code"]:
                    c["why"] = "no code: the solution has no Python code"
            run = [c for c in run if c["why"] is None]
            for c, pr in zip(run, self.run_programs([c["code"] for c in run])):
                c["ran"] = True
                if (why := program_reason(pr)) is not None:
                    c["why"] = f"did not run: {why}"
            for c in cands:
                i, rec, inst = c["i"], records[c["i"]], c["inst"] or {}
                instr = inst.get("instruction", "")
                if inst.get("information") not in (None, "", "<noinput>"):
                    instr = f"{instr}\n\n{inst['information']}"
                code = c.get("code") or (extract_python(inst.get("solution", "")) if c["task"] != "code_summarization"
                                         else "")
                info = {"seed_id": rec["id"], "task": c["task"], "task_name": inst.get("task name"),
                        "prompt_hashes": [c["gen_hash"], c.get("dis_hash")], "overall": c.get("overall"),
                        "analysis": c.get("analysis"), "executed": bool(c.get("ran"))}
                new = new_record(rec, f"{rec['id']}#wc-{c['task']}", instruction=instr,
                                 response=inst.get("solution", ""), code=code, tests=None, stats={"wavecoder": info})
                if c["task"] == "code_translation":
                    new["language"] = lang.lower()
                    new["code"] = _any_code(inst.get("solution", ""))
                if c["why"] is None:
                    outs[i][0].append(new)
                    self.count(f"wavecoder_kept_{c['task']}")
                else:
                    outs[i][1].append(Dropped(new, f"wavecoder: {c['why']}", {"seed_id": rec["id"], "task": c["task"],
                                                                            "raw": c["raw"][:4000]}))
                    self.count("wavecoder_rejected_" + c["why"].split(":")[0].replace(" ", "_"))
        return outs


def _parses(s: str) -> bool:
    from codecurate.code.extract import parses_as_python

    return parses_as_python(s)


def _any_code(text: str) -> str:
    from codecurate.code.extract import code_blocks

    b = code_blocks(text or "")
    return max(b, key=lambda x: len(x[0]))[0] if b else (text or "").strip()
