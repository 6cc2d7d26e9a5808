"""The canonical record every format adapter produces and every operator consumes.

A record is a plain ``dict`` so any executor (local processes, Ray) can carry it:

    id           str   stable identifier, unique within a dataset
    instruction  str   the full task text
    response     str   the full answer text (markdown allowed)
    code         str   the primary code (extracted or given); "" when none
    language     str   default "python"
    tests        dict | None   {"kind": "assert"|"stdio"|"call"|"unittest", "setup": str,
                                "cases": [...], "fn_name": str | None, optional "harness": "apps"}
    source       str   the format/dataset the record came from (adapter name)
    meta         dict  every original field, so writing back is lossless
    stats        dict  what operators computed (stats["ifd"], stats["tli"], ...)

Test cases by kind:
    assert  each case is a string of Python statements (``assert f(1) == 2``)
            run after ``setup`` and the candidate code;
    stdio   each case is {"input": str, "output": str};
    call    each case is {"input": [positional args], "output": expected} (or "input_expr": source of
            (args, kwargs) built in the sandbox, "output_expr": a Python literal, "check": a host-side rule,
            see sandbox/assert_convert.py);
    unittest  BigCodeBench: "test_code" defines a unittest.TestCase class ("test_class", default TestCases);
            each case is a test method name; program and tests run as one importable module;
            ``fn_name`` names the function (or ``Solution().method``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

CANONICAL_FIELDS = ("id", "instruction", "response", "code", "language", "tests", "source", "meta", "stats")
TEXT_FIELDS = ("instruction", "response", "code")


class Tests(BaseModel):
    """Validated view of ``record["tests"]``."""

    kind: Literal["assert", "stdio", "call", "unittest"]
    setup: str = ""
    cases: list[Any] = Field(default_factory=list)
    fn_name: str | None = None


class RecordError(ValueError):
    """A record is missing a required field or has one of the wrong type."""


def make_record(
    id: str,
    instruction: str = "",
    response: str = "",
    code: str = "",
    language: str = "python",
    tests: dict | None = None,
    source: str = "",
    meta: dict | None = None,
    stats: dict | None = None,
) -> dict:
    return {
        "id": str(id),
        "instruction": instruction or "",
        "response": response or "",
        "code": code or "",
        "language": language or "python",
        "tests": tests,
        "source": source,
        "meta": meta if meta is not None else {},
        "stats": stats if stats is not None else {},
    }


def validate_record(rec: Any, where: str = "") -> dict:
    """Check a record has the canonical shape; raise RecordError naming the field and id."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}record is {type(rec).__name__}, expected a dict")
    rid = rec.get("id")
    if rid is None or rid == "":
        raise RecordError(f"{where}record is missing required field 'id'")
    for f in ("instruction", "response", "code", "language", "source"):
        if f not in rec:
            raise RecordError(f"{where}record {rid!r} is missing required field {f!r}")
        if not isinstance(rec[f], str):
            raise RecordError(f"{where}record {rid!r}: field {f!r} must be str, got {type(rec[f]).__name__}")
    for f in ("meta", "stats"):
        if not isinstance(rec.get(f), dict):
            raise RecordError(f"{where}record {rid!r}: field {f!r} must be a dict")
    if rec.get("tests") is not None:
        try:
            Tests.model_validate(rec["tests"])
        except Exception as e:  # pydantic's message names the bad key
            raise RecordError(f"{where}record {rid!r}: invalid 'tests': {e}") from e
    return rec


def get_field(rec: dict, field: str) -> Any:
    """Read a field by recipe name: a canonical key, ``meta.<key>`` or ``stats.<key>`` (dotted paths)."""
    if "." in field:
        head, *rest = field.split(".")
        cur: Any = rec.get(head)
        for part in rest:
            if isinstance(cur, dict):
                cur = cur.get(part)
            elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                return None
        return cur
    return rec.get(field)


def field_text(rec: dict, field: str) -> str:
    """A field as text ("" when absent); non-strings are JSON-ish stringified."""
    v = get_field(rec, field)
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


def set_code(rec: dict, new_code: str) -> dict:
    """Replace a record's code and keep ``response`` consistent with it.

    If the response contains the old code (as its primary markdown block or verbatim), that occurrence is
    replaced; if the response *is* the code, it becomes the new code.
    """
    from codecurate.code.extract import replace_primary_code

    old = rec.get("code", "")
    resp = rec.get("response", "")
    if resp.strip() == old.strip() or not resp:
        rec["response"] = new_code
    else:
        rec["response"] = replace_primary_code(resp, old, new_code)
    rec["code"] = new_code
    return rec
