"""Alpaca: ``instruction`` / ``input`` / ``output`` (Code Alpaca, Evol-Instruct-Code, many others)."""

from __future__ import annotations

from codecurate.formats.base import Format


class Alpaca(Format):
    name = "alpaca"
    description = "instruction / input / output (Code Alpaca, Evol-Instruct)"
    keys = ("instruction", "output")

    def raw_id(self, raw, index):
        return str(raw.get("id", index))

    def to_record(self, raw, index):
        instr = raw.get("instruction") or ""
        if raw.get("input"):
            instr = f"{instr}\n\n{raw['input']}"
        return self.make(raw, index, instruction=instr, response=raw.get("output") or "", tests=raw.get("tests"))

    def empty(self):
        return {"instruction": "", "input": "", "output": ""}

    def set_instruction(self, raw, value, rec):
        raw["instruction"] = value
        if "input" in raw:
            raw["input"] = ""

    def set_response(self, raw, value, rec):
        raw["output"] = value
