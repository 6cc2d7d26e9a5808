"""Alpaca: ``instruction`` / ``input`` / ``output`` (Code Alpaca, Evol-Instruct-Code, many others).

Many Alpaca-style files carry the answer twice: ``output`` plus a ``response`` (or ``answer``, ``completion``)
column holding the same text, or a ``prompt``/``text`` column with the whole formatted example
(``### Response:\\n{output}``). ``output`` is the response that ops read and rewrite; on writing back, every
other string column that held the original output (equal to it, or containing it verbatim once, for outputs of
at least 20 characters) gets the same rewrite, so a curated row never disagrees with itself. A column that
held different text is not a copy and is written back unchanged.
"""

from __future__ import annotations

from codecurate.formats.base import Format, tests_field, tests_to_column

_OWN = ("instruction", "input", "output", "id", "tests")
MIN_EMBEDDED = 20  # shorter outputs are not searched for inside other columns (too likely to match by chance)


class Alpaca(Format):
    name = "alpaca"
    description = "instruction / input / output (Code Alpaca, Evol-Instruct; write: training rows)"
    keys = ("instruction", "output")

    def raw_id(self, raw, index):
        return str(raw.get("id", index))

    def to_record(self, raw, index):
        instr = raw.get("instruction") or ""
        if raw.get("input"):
            instr = f"{instr}\n\n{raw['input']}"
        return self.make(raw, index, instruction=instr, response=raw.get("output") or "",
                         tests=tests_field(raw.get("tests")))

    def empty(self):
        return {"instruction": "", "input": "", "output": ""}

    def set_instruction(self, raw, value, rec):
        raw["instruction"] = value
        if "input" in raw:
            raw["input"] = ""

    def set_response(self, raw, value, rec):
        raw["output"] = value

    def set_tests(self, raw, value, rec):
        raw["tests"] = tests_to_column(raw, value)

    def from_record(self, rec):
        raw = super().from_record(rec)
        meta = rec.get("meta")
        if rec.get("source") != self.name or not isinstance(meta, dict):
            return raw
        old, new = meta.get("output"), raw.get("output")
        if not isinstance(old, str) or not old or new == old:
            return raw
        for k, v in meta.items():  # copies of the output in other columns follow the rewrite
            if k in _OWN or not isinstance(v, str) or raw.get(k) != v:
                continue
            if v == old:
                raw[k] = new
            elif len(old) >= MIN_EMBEDDED and v.count(old) == 1:
                raw[k] = v.replace(old, new, 1)
        return raw
