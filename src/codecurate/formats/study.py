"""The empirical study's own schema (Kuang et al., arXiv 2512.24570, ``Datasets/<ds>/train_*.jsonl``):
``question``, ``solutions`` (ONE code string, not APPS's JSON list), and ``input_output`` (dict or JSON string
with inputs/outputs/fn_name, APPS and CodeContests) or ``test_list`` (MBPP)."""

from __future__ import annotations

import json

from codecurate.formats.base import Format, io_tests, tests_to_io


class Study(Format):
    name = "study"
    description = "the study's schema: question, solutions (one code string), input_output or test_list"
    keys = ("question", "solutions")

    def raw_id(self, raw, index):
        return str(raw.get("id", raw.get("problem_id", index)))

    def to_record(self, raw, index):
        code = raw.get("solutions") or ""
        if "input_output" in raw:
            tests = io_tests(raw["input_output"])
        elif "test_list" in raw:
            tests = {"kind": "assert", "setup": raw.get("test_setup_code", "") or "", "fn_name": None,
                     "cases": list(raw["test_list"])}
        else:
            tests = None
        return self.make(raw, index, instruction=raw.get("question") or "", response=code, code=code, tests=tests)

    def empty(self):
        return {"question": "", "solutions": ""}

    def set_instruction(self, raw, value, rec):
        raw["question"] = value

    def set_response(self, raw, value, rec):
        raw["solutions"] = value

    def set_code(self, raw, value, rec):
        raw["solutions"] = value

    def set_tests(self, raw, value, rec):
        if value and value.get("kind") == "assert":
            raw["test_list"] = list(value["cases"])
            if value.get("setup"):
                raw["test_setup_code"] = value["setup"]
        else:
            io = tests_to_io(value)
            raw["input_output"] = json.dumps(io) if isinstance(raw.get("input_output"), str) else io
