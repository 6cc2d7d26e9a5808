"""Format adapter base: raw source dict <-> canonical record, lossless in both directions.

Reading keeps every original field in ``record["meta"]``. Writing a record back starts from those original
fields and writes only the canonical fields an op actually changed (compared with what reading the
original would give), so an unchanged record round-trips to exactly its original dict, and a refactored
one changes only where its code lives in that format.
"""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from codecurate.code.extract import extract_code, replace_primary_code
from codecurate.records import make_record

EDITABLE = ("instruction", "response", "code", "tests")


def loads_maybe(v: Any) -> Any:
    """APPS-style fields hold JSON *strings*; the study's hold either a dict or a JSON string."""
    if isinstance(v, str):
        s = v.strip()
        if s[:1] in "[{":
            try:
                return json.loads(s)
            except ValueError:
                return v
    return v


def tests_field(v: Any) -> dict | None:
    """A ``tests`` column as read: a dict, None, or the JSON text the training formats write (``"null"`` too)."""
    if isinstance(v, str):
        try:
            v = json.loads(v) if v.strip() else None
        except ValueError as e:
            raise ValueError(f"'tests' is a string but not JSON: {e}") from e
    return v


def tests_to_column(raw: dict, value: dict | None) -> Any:
    """Write tests back in the column's own form: JSON text if the row held JSON text, else the object."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if isinstance(raw.get("tests"), str) else value


def lines_to_text(v: Any) -> str:
    """APPS stdin/stdout values are strings or lists of lines."""
    if isinstance(v, list):
        return "\n".join(str(x) for x in v)
    return "" if v is None else str(v)


def io_tests(io: Any) -> dict | None:
    """APPS / study ``input_output`` ({inputs, outputs, fn_name?}) -> canonical tests, run with APPS's harness
    (``sandbox/apps.py``: its import prelude, ``code()`` wrapping, SystemExit ignored)."""
    io = loads_maybe(io)
    if not isinstance(io, dict) or "inputs" not in io:
        return None
    ins, outs = io.get("inputs") or [], io.get("outputs") or []
    fn = io.get("fn_name")
    if fn:
        return {"kind": "call", "setup": "", "fn_name": fn, "harness": "apps",
                "cases": [{"input": i, "output": o} for i, o in zip(ins, outs)]}
    return {"kind": "stdio", "setup": "", "fn_name": None, "harness": "apps",
            "cases": [{"input": lines_to_text(i), "output": lines_to_text(o)} for i, o in zip(ins, outs)]}


def tests_to_io(tests: dict | None) -> dict:
    tests = tests or {"cases": []}
    io: dict = {"inputs": [c.get("input") for c in tests["cases"] if isinstance(c, dict)],
                "outputs": [c.get("output") for c in tests["cases"] if isinstance(c, dict)]}
    if tests.get("fn_name"):
        io["fn_name"] = tests["fn_name"]
    return io


class Format:
    """One source format. Subclasses define ``keys`` for detection, ``to_record`` and the setters."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Detection: a raw dict matches when it has all of ``keys``; ``priority`` breaks ties (higher first).
    keys: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 0

    def matches(self, raw: dict) -> bool:
        return all(k in raw for k in self.keys)

    def raw_id(self, raw: dict, index: int) -> str:
        return str(index)

    def to_record(self, raw: dict, index: int) -> dict:  # pragma: no cover - per format
        raise TypeError(f"format {self.name} defines no reader")

    def empty(self) -> dict:
        """Template of a raw dict when writing a record that came from another format."""
        return {}

    # setters: write one canonical field into a raw dict of this format
    def set_instruction(self, raw: dict, value: str, rec: dict) -> None:
        raise TypeError(f"format {self.name} cannot store an instruction")

    def set_response(self, raw: dict, value: str, rec: dict) -> None:
        raise TypeError(f"format {self.name} cannot store a response")

    def set_code(self, raw: dict, value: str, rec: dict) -> None:
        """Default: code lives inside the response (markdown); handled by ``from_record``."""

    def set_tests(self, raw: dict, value: dict | None, rec: dict) -> None:
        raw["tests"] = value

    # -- generic parts ---------------------------------------------------------------------------------
    def make(self, raw: dict, index: int, **fields) -> dict:
        rec = make_record(id=self.raw_id(raw, index), source=self.name, meta=raw, **fields)
        if not rec["code"] and rec["response"]:
            rec["code"], lang = extract_code(rec["response"])
            if lang:
                rec["language"] = lang
        return rec

    def from_record(self, rec: dict) -> dict:
        same = rec.get("source") == self.name and isinstance(rec.get("meta"), dict) and rec["meta"]
        if same:
            raw = copy.deepcopy(rec["meta"])
            base = self.to_record(rec["meta"], 0)
        else:
            raw = self.empty()
            base = {"instruction": None, "response": None, "code": None, "tests": None}
        changed = {f for f in EDITABLE if rec.get(f) != base.get(f)}
        if not same:
            changed = {f for f in EDITABLE if rec.get(f) not in (None, "")}
        if "instruction" in changed:
            self.set_instruction(raw, rec["instruction"], rec)
        if "response" in changed:
            self.set_response(raw, rec["response"], rec)
        if "code" in changed:
            if "response" not in changed and self._code_in_response():
                if same and base.get("response"):
                    self.set_response(raw, replace_primary_code(rec["response"], base["code"], rec["code"]), rec)
                elif not same:
                    self.set_response(raw, rec["code"], rec)
            self.set_code(raw, rec["code"], rec)
        if "tests" in changed and (rec.get("tests") is not None or same):
            self.set_tests(raw, rec.get("tests"), rec)
        return raw

    def _code_in_response(self) -> bool:
        return type(self).set_code is Format.set_code
