"""CodeContests (Li et al. 2022, ``deepmind/code_contests``): ``name``, ``description``, ``public_tests`` /
``private_tests`` / ``generated_tests`` ({input: [...], output: [...]}), ``solutions`` ({language: [int],
solution: [str]}, language 1 = PYTHON 2, 3 = PYTHON3). Also the merged-tests variant
(``tests = {inputs, outputs}``) of the DeepCoder/rllm copy. Tests are stdin/stdout; code is the first
Python 3 (else Python 2) solution."""

from __future__ import annotations

from codecurate.formats.base import Format

_SPLITS = ("public_tests", "private_tests", "generated_tests")
_PY = (3, 1)


def _py_solution(raw):
    sols = raw.get("solutions")
    if not isinstance(sols, dict):
        return None, ""
    langs, codes = sols.get("language") or [], sols.get("solution") or []
    for want in _PY:
        for i, (lang, code) in enumerate(zip(langs, codes)):
            if lang == want:
                return i, code
    return None, ""


class CodeContests(Format):
    name = "codecontests"
    description = "CodeContests: description, public/private/generated tests, solutions by language"
    keys = ("description",)
    priority = 4

    def matches(self, raw):
        return "description" in raw and ("public_tests" in raw or isinstance(raw.get("tests"), dict))

    def raw_id(self, raw, index):
        return str(raw.get("name", index))

    def to_record(self, raw, index):
        cases = []
        if isinstance(raw.get("tests"), dict):
            t = raw["tests"]
            cases = [{"input": i, "output": o} for i, o in zip(t.get("inputs", []), t.get("outputs", []))]
        for split in _SPLITS:
            t = raw.get(split) or {}
            cases += [{"input": i, "output": o} for i, o in zip(t.get("input", []), t.get("output", []))]
        _, code = _py_solution(raw)
        tests = {"kind": "stdio", "setup": "", "fn_name": None, "harness": "apps", "cases": cases} if cases else None
        return self.make(raw, index, instruction=raw.get("description") or "", response=code, code=code, tests=tests)

    def empty(self):
        return {"name": "", "description": "", "public_tests": {"input": [], "output": []},
                "solutions": {"language": [], "solution": []}}

    def set_instruction(self, raw, value, rec):
        raw["description"] = value

    def set_response(self, raw, value, rec):
        self.set_code(raw, value, rec)

    def set_code(self, raw, value, rec):
        sols = raw.setdefault("solutions", {"language": [], "solution": []})
        i, _ = _py_solution(raw)
        if i is None:
            sols["language"] = [3] + list(sols.get("language", []))
            sols["solution"] = [value] + list(sols.get("solution", []))
        else:
            sols["solution"][i] = value

    def set_tests(self, raw, value, rec):
        cases = (value or {}).get("cases", [])
        ins, outs = [c["input"] for c in cases], [c["output"] for c in cases]
        if isinstance(raw.get("tests"), dict) or not any(s in raw for s in _SPLITS):
            raw["tests"] = {"inputs": ins, "outputs": outs}
        else:
            raw["public_tests"] = {"input": ins, "output": outs}
            for s in _SPLITS[1:]:
                if s in raw:
                    raw[s] = {"input": [], "output": []}
