"""APPS (``codeparrot/apps``): ``question``, ``solutions`` (JSON string of a list), ``input_output`` (JSON
string: inputs, outputs, optional fn_name for call-based problems), ``starter_code``, ``difficulty``, ``url``.

One record per problem; ``code`` is the first solution, all solutions stay in ``meta``.
"""

from __future__ import annotations

import json

from codecurate.formats.base import Format, io_tests, loads_maybe, tests_to_io


class Apps(Format):
    name = "apps"
    description = "APPS: question, solutions (JSON list string), input_output (JSON string), starter_code"
    keys = ("question", "solutions", "input_output")
    priority = 5

    def matches(self, raw):
        return super().matches(raw) and isinstance(loads_maybe(raw["solutions"] or "[]"), list) and (
            isinstance(raw["solutions"], str) or "problem_id" in raw)

    def raw_id(self, raw, index):
        return str(raw.get("problem_id", index))

    def to_record(self, raw, index):
        sols = loads_maybe(raw.get("solutions") or "[]")
        code = sols[0] if isinstance(sols, list) and sols else ""
        return self.make(raw, index, instruction=raw.get("question") or "", response=code, code=code,
                         tests=io_tests(raw.get("input_output")))

    def empty(self):
        return {"question": "", "solutions": "[]", "input_output": "{}", "starter_code": "", "difficulty": "", "url": ""}

    def set_instruction(self, raw, value, rec):
        raw["question"] = value

    def set_response(self, raw, value, rec):
        self.set_code(raw, value, rec)

    def set_code(self, raw, value, rec):
        was_str = isinstance(raw.get("solutions"), str)
        sols = loads_maybe(raw.get("solutions") or "[]")
        sols = list(sols) if isinstance(sols, list) else []
        if sols:
            sols[0] = value
        else:
            sols = [value]
        raw["solutions"] = json.dumps(sols) if was_str else sols

    def set_tests(self, raw, value, rec):
        io = tests_to_io(value)
        raw["input_output"] = json.dumps(io) if isinstance(raw.get("input_output", ""), str) else io
