"""LeetCode / Codeforces problem files of the rllm (DeepCoder) release.

``leetcode``: ``problem`` (statement with the ``class Solution`` starter), ``solutions`` (one Python string),
``tests = {"functional": "def check(candidate): ...\\ncheck(Solution().method)"}`` -> assert tests whose single
case is that script; ``tests["prelude"]`` carries what the LeetCode judge provides implicitly (typing, collections,
ListNode/TreeNode and the list_node/tree_node helpers), run before the solution.
``codeforces``: ``problem`` and ``tests`` = [{input, output}] -> stdin/stdout tests; no solution.
"""

from __future__ import annotations

from codecurate.formats.base import Format
from codecurate.formats.leetcode_prelude import LEETCODE_PRELUDE


class _ProblemSolutions(Format):
    """rllm files: the statement is ``problem``, the (single) solution ``solutions``."""

    def set_instruction(self, raw, value, rec):
        raw["problem"] = value

    def set_response(self, raw, value, rec):
        raw["solutions"] = value

    def set_code(self, raw, value, rec):
        raw["solutions"] = value


class LeetCode(_ProblemSolutions):
    name = "leetcode"
    description = "LeetCode (rllm): problem, solutions (string), tests.functional (check script)"
    keys = ("problem", "tests")
    priority = 3

    def matches(self, raw):
        return super().matches(raw) and isinstance(raw["tests"], dict) and "functional" in raw["tests"]

    def raw_id(self, raw, index):
        return str(raw.get("id", index))

    def to_record(self, raw, index):
        code = raw.get("solutions") or ""
        if isinstance(code, list):
            code = code[0] if code else ""
        tests = {"kind": "assert", "setup": "", "fn_name": None, "cases": [raw["tests"]["functional"]],
                 "prelude": LEETCODE_PRELUDE}
        return self.make(raw, index, instruction=raw.get("problem") or "", response=code, code=code, tests=tests)

    def empty(self):
        return {"problem": "", "solutions": "", "tests": {"functional": ""}}

    def set_tests(self, raw, value, rec):
        cases = (value or {}).get("cases") or [""]
        raw["tests"] = {"functional": "\n\n".join(c for c in cases if isinstance(c, str))}


class Codeforces(_ProblemSolutions):
    name = "codeforces"
    description = "Codeforces (rllm/DeepCoder): problem, tests = [{input, output}]"
    keys = ("problem", "tests")
    priority = 2

    def matches(self, raw):
        return super().matches(raw) and isinstance(raw["tests"], list)

    def to_record(self, raw, index):
        cases = [{"input": t.get("input", ""), "output": t.get("output", "")} for t in raw.get("tests") or []]
        tests = {"kind": "stdio", "setup": "", "fn_name": None, "cases": cases}
        code = raw.get("solutions") or ""
        return self.make(raw, index, instruction=raw.get("problem") or "", response=code, code=code, tests=tests)

    def empty(self):
        return {"problem": "", "tests": []}

    def set_tests(self, raw, value, rec):
        raw["tests"] = [{"input": c["input"], "output": c["output"]} for c in (value or {}).get("cases", [])]
