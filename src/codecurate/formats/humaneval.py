"""HumanEval (Chen et al. 2021) and EvalPlus (HumanEval+ / MBPP+, Liu et al. 2023).

HumanEval: ``task_id``, ``prompt``, ``entry_point``, ``canonical_solution`` (the body), ``test`` (defines
``check(candidate)``). Canonical code = prompt + canonical_solution; tests = assert kind with setup = ``test``
and the single case ``check(<entry_point>)``.

EvalPlus adds ``base_input``, ``plus_input``, ``atol`` (MBPP+: ``canonical_solution`` is the whole program,
``assertion``). Tests = call kind on every base and plus input with output None: expected outputs come from
running the canonical solution, as EvalPlus does.
"""

from __future__ import annotations

from codecurate.formats.base import Format


def _full_code(raw):
    sol = raw.get("canonical_solution") or ""
    ep = raw.get("entry_point") or ""
    if ep and f"def {ep}" in sol:
        return sol
    return (raw.get("prompt") or "") + sol


def _set_solution(raw, value):
    prompt = raw.get("prompt") or ""
    ep = raw.get("entry_point") or ""
    if prompt and value.startswith(prompt) and f"def {ep}" not in (raw.get("canonical_solution") or ""):
        raw["canonical_solution"] = value[len(prompt):]
    else:
        raw["canonical_solution"] = value


class HumanEval(Format):
    name = "humaneval"
    description = "HumanEval: task_id, prompt, entry_point, canonical_solution, test"
    keys = ("task_id", "prompt", "entry_point", "test")
    priority = 5

    def raw_id(self, raw, index):
        return str(raw.get("task_id", index))

    def to_record(self, raw, index):
        tests = {"kind": "assert", "setup": raw.get("test") or "", "fn_name": raw.get("entry_point"),
                 "cases": [f"check({raw.get('entry_point')})"]}
        return self.make(raw, index, instruction=raw.get("prompt") or "", response=_full_code(raw),
                         code=_full_code(raw), tests=tests)

    def empty(self):
        return {"task_id": "", "prompt": "", "entry_point": "", "canonical_solution": "", "test": ""}

    def set_instruction(self, raw, value, rec):
        raw["prompt"] = value

    def set_response(self, raw, value, rec):
        _set_solution(raw, value)

    def set_code(self, raw, value, rec):
        _set_solution(raw, value)

    def set_tests(self, raw, value, rec):
        if value and value.get("kind") == "assert":
            raw["test"] = value.get("setup", "")


class EvalPlus(HumanEval):
    name = "evalplus"
    description = "EvalPlus HumanEval+/MBPP+: prompt, entry_point, canonical_solution, base_input, plus_input, atol"
    keys = ("task_id", "prompt", "entry_point", "base_input")
    priority = 6

    def to_record(self, raw, index):
        inputs = list(raw.get("base_input") or []) + list(raw.get("plus_input") or [])
        tests = {"kind": "call", "setup": "", "fn_name": raw.get("entry_point"), "atol": raw.get("atol") or 0,
                 "cases": [{"input": x, "output": None} for x in inputs]}
        return self.make(raw, index, instruction=raw.get("prompt") or "", response=_full_code(raw),
                         code=_full_code(raw), tests=tests)

    def set_tests(self, raw, value, rec):
        n_base = len(raw.get("base_input") or [])
        ins = [c["input"] for c in (value or {}).get("cases", [])]
        raw["base_input"], raw["plus_input"] = ins[:n_base], ins[n_base:]
