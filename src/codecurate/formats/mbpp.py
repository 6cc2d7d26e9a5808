"""MBPP (Austin et al. 2021): ``task_id``, ``text``, ``code``, ``test_list``, ``test_setup_code``,
``challenge_test_list``; and the sanitized config (``prompt``, ``test_imports``, ``source_file``)."""

from __future__ import annotations

from codecurate.formats.base import Format


class Mbpp(Format):
    name = "mbpp"
    description = "MBPP full (text/code/test_list/test_setup_code) or sanitized (prompt/code/test_imports)"
    keys = ("task_id", "code", "test_list")
    priority = 5

    def raw_id(self, raw, index):
        return str(raw.get("task_id", index))

    def _text_key(self, raw):
        return "prompt" if "prompt" in raw and "text" not in raw else "text"

    def to_record(self, raw, index):
        setup = raw.get("test_setup_code") or ""
        if raw.get("test_imports"):
            setup = "\n".join(raw["test_imports"]) + ("\n" + setup if setup else "")
        tests = {"kind": "assert", "setup": setup, "fn_name": None, "cases": list(raw.get("test_list") or [])}
        code = raw.get("code") or ""
        return self.make(raw, index, instruction=raw.get(self._text_key(raw)) or "", response=code, code=code,
                         tests=tests)

    def empty(self):
        return {"task_id": None, "text": "", "code": "", "test_list": [], "test_setup_code": "", "challenge_test_list": []}

    def set_instruction(self, raw, value, rec):
        raw[self._text_key(raw)] = value

    def set_response(self, raw, value, rec):
        raw["code"] = value

    def set_code(self, raw, value, rec):
        raw["code"] = value

    def set_tests(self, raw, value, rec):
        value = value or {"cases": [], "setup": ""}
        raw["test_list"] = [c for c in value["cases"] if isinstance(c, str)]
        if "test_imports" not in raw:
            raw["test_setup_code"] = value.get("setup", "")
