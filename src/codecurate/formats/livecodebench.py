"""LiveCodeBench code generation (``livecodebench/code_generation_lite``), graded as ``lcb_runner`` grades it.

Reference: LiveCodeBench/LiveCodeBench@28fef95 ``lcb_runner/benchmarks/code_generation.py`` (the schema),
``lcb_runner/evaluation/testing_util.py`` and ``compute_code_generation_metrics.py`` (grading),
``lcb_runner/prompts/code_generation.py`` (prompts), ``lcb_runner/runner/custom_evaluator.py`` (the output file
its custom evaluator reads). Re-implemented here; no code is copied.

Schema (one problem per row): ``question_title``, ``question_content``, ``platform`` (leetcode / atcoder /
codeforces), ``question_id``, ``contest_id``, ``contest_date`` (ISO datetime), ``starter_code``, ``difficulty``,
``public_test_cases`` (JSON string: a list of ``{input, output, testtype}``), ``private_test_cases`` (the same
JSON, or, in the hub files, base64 of zlib of a pickled JSON string; both are read; the pickle is opened with an
unpickler that refuses every class, so only plain strings come out), ``metadata`` (JSON string; ``func_name``
for LeetCode-style functional problems).

Grading (``lcb_tests``), as ``lcb_runner`` does it:
- every test of a problem is graded the same way, chosen as LCB chooses it: ``metadata.func_name`` set ->
  functional, else stdin;
- functional -> ``call`` tests: each input line is one JSON argument, the expected output is JSON; the program is
  preceded by LCB's import prelude (``from string import *`` ... ``sys.setrecursionlimit(50000)``); the method of
  ``Solution()`` (LCB: when the code contains "class Solution") or the module-level function named func_name is
  called; verdict ``compare.lcb_call_equal`` (a returned tuple becomes a list, then ``==``);
- stdin -> ``stdio`` tests run through ``lcb_stdio_program``: LCB's ``clean_if_name`` (a final
  ``if __name__ == '__main__':`` block is inlined) and ``make_function`` (imports hoisted after the prelude, every
  other top-level statement moved into ``def wrapped_function()``), then the function is called with stdin and
  stdout replaced as LCB's ``call_method`` and ``Capturing`` replace them (``sys.stdin`` a stand-in whose
  ``read()``/``readlines()`` return the whole input every time, ``readline()``/``input()`` advance,
  ``buffer.read()`` gives the bytes, ``buffer.readline()`` always the first line; ``open()`` of any file reads
  the input; ``sys.stdout`` a ``StringIO``, so ``sys.stdout.buffer`` does not exist; ``SystemExit`` ends the run
  normally); verdict ``compare.lcb_stdio_equal`` (per line, exact or ``Decimal``-equal tokens);
- ``sys.set_int_max_str_digits(50000)`` as LCB's evaluation process sets it;
- limits (``lcb_limits``): 6 s per test (LCB's ``--timeout`` default), ``(6 + 1) x tests + 5`` s for the whole
  program (LCB's global join timeout), recursion limit 50000, memory 4 GiB (LCB's ``reliability_guard`` comment;
  it passes no cap).
Known differences, all in corner cases: LCB stops at the first failing test (the verdict is the same; we report
every test); output written with ``os.write(1, ...)`` reaches our judge but not LCB's; a program defining both a
module-level function and a ``Solution`` method named func_name gets the function here (LCB: the method).

Prompts (``lcb_chat_messages``, ``lcb_base_prompt``): LCB's generic chat template (system message + "### Question"
/ "### Format" / "### Answer") and its base-model template (one few-shot example from LCB's
``few_shot_examples/generation/{func,stdin}.json``, shipped as package data; stop at "###").
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import zlib
from datetime import datetime
from importlib import resources
from typing import Any

from codecurate.formats.base import Format

LCB_TIMEOUT = 6  # seconds per test: lcb_runner/runner/parser.py --timeout default
LCB_RECURSION_LIMIT = 50000
LCB_MEMORY_MB = 4096
LCB_INT_MAX_STR_DIGITS = 50000  # compute_code_generation_metrics.py: sys.set_int_max_str_digits(50000)
LCB_K = (1, 5)  # pass_k_utils.compute_metrics_from_results default k_list

# LCB's import prelude (testing_util.py ``import_string``): the same statements, in the same order
LCB_IMPORT_STRING = "".join(
    f"from {m} import *\n" for m in ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                                      "random", "statistics", "itertools", "functools", "operator", "io", "sys",
                                      "json", "builtins", "typing")
) + "".join(
    f"import {m}\n" for m in ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
                               "statistics", "itertools", "functools", "operator", "io", "sys", "json")
) + "sys.setrecursionlimit(50000)\n"

_INT_DIGITS = f"import sys\nsys.set_int_max_str_digits({LCB_INT_MAX_STR_DIGITS})\n"
LCB_CALL_PRELUDE = _INT_DIGITS + LCB_IMPORT_STRING

# prompts (lcb_runner/prompts/code_generation.py PromptConstants)
SYSTEM_MESSAGE_GENERIC = ("You are an expert Python programmer. You will be given a question (problem specification) "
                          "and will generate a correct Python program that matches the specification and passes all "
                          "tests.")
FORMATTING_MESSAGE_WITH_STARTER_CODE = ("You will use the following starter code to write the solution to the "
                                        "problem and enclose your code within delimiters.")
FORMATTING_WITHOUT_STARTER_CODE = ("Read the inputs from stdin solve the problem and write the answer to stdout (do "
                                   "not directly test on the sample inputs). Enclose your code within delimiters as "
                                   "follows. Ensure that when the python program runs, it reads the inputs, runs the "
                                   "algorithm and writes output to STDOUT.")
BASE_MODEL_STOP = ["###"]  # lcb_runner/runner/parser.py --stop default

# release_vN: cumulative (files test.jsonl .. testN.jsonl of the hub dataset); vN: only the problems new in vN;
# vA_vB: vA .. vB (the hub loader's version tags; LiveCodeBench README "Dataset Versions")
RELEASES = {
    "release_v1": ("2023-05", "2024-03", 400), "release_v2": ("2023-05", "2024-05", 511),
    "release_v3": ("2023-05", "2024-07", 612), "release_v4": ("2023-05", "2024-09", 713),
    "release_v5": ("2023-05", "2025-01", 880), "release_v6": ("2023-05", "2025-04", 1055),
}
RELEASE_FIELDS = ("release_version", "version_tag", "release", "version")


class LCBError(ValueError):
    """A LiveCodeBench row, release name or date that cannot be used."""


# ---------------------------------------------------------------- test cases
class _NoClassUnpickler(pickle.Unpickler):
    """The hub pickles one JSON *string*; refusing every class means nothing but builtin values is built."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a test-case pickle")


def decode_test_cases(value: Any, what: str = "test cases") -> list[dict]:
    """A ``public_test_cases``/``private_test_cases`` field as a list of ``{input, output, testtype}``:
    a list, a JSON string, or the hub's compressed form (base64 -> zlib -> pickle -> JSON string)."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [dict(t) for t in value]
    if not isinstance(value, str):
        raise LCBError(f"{what}: expected a JSON string or a list, got {type(value).__name__}")
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        try:
            raw = zlib.decompress(base64.b64decode(value.encode("utf-8"), validate=False))
            payload = _NoClassUnpickler(io.BytesIO(raw)).load()
            data = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
        except Exception as e:  # any failure: say what the field is not
            raise LCBError(f"{what}: neither JSON nor the hub's base64+zlib+pickle encoding ({type(e).__name__}: "
                           f"{e})") from e
    if not isinstance(data, list):
        raise LCBError(f"{what}: decodes to {type(data).__name__}, expected a list of tests")
    return [dict(t) for t in data]


def encode_test_cases(cases: list[dict]) -> str:
    """The hub's compressed encoding of a test list (for tests and for writing such files)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode("ascii")


def _metadata(row: dict) -> dict:
    md = row.get("metadata") or {}
    if isinstance(md, str):
        try:
            md = json.loads(md) if md.strip() else {}
        except json.JSONDecodeError as e:
            raise LCBError(f"problem {row.get('question_id')!r}: metadata is not JSON ({e})") from e
    return md if isinstance(md, dict) else {}


def lcb_limits(n_tests: int, timeout: float = LCB_TIMEOUT) -> dict:
    """Sandbox limits of one problem, as LCB sets them (see the module docstring)."""
    return {"timeout_per_test": float(timeout), "timeout_total": float((timeout + 1) * max(n_tests, 1) + 5),
            "recursion_limit": LCB_RECURSION_LIMIT, "memory_mb": LCB_MEMORY_MB}


def lcb_tests(row: dict, include_private: bool = True) -> dict:
    """Canonical tests of one problem (public tests first, then private, as ``get_evaluation_sample``)."""
    qid = row.get("question_id")
    cases = decode_test_cases(row.get("public_test_cases"), f"problem {qid!r}: public_test_cases")
    if include_private:
        cases += decode_test_cases(row.get("private_test_cases"), f"problem {qid!r}: private_test_cases")
    fn_name = _metadata(row).get("func_name")
    if fn_name:
        out = []
        for j, t in enumerate(cases):
            try:
                args = [json.loads(line) for line in str(t["input"]).split("\n")]
                expected = json.loads(t["output"])
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise LCBError(f"problem {qid!r} test {j}: functional input/output is not JSON lines ({e})") from e
            out.append({"input": args, "output": expected})
        return {"kind": "call", "setup": "", "fn_name": fn_name, "cases": out, "prelude": LCB_CALL_PRELUDE,
                "compare": "lcb"}
    return {"kind": "stdio", "setup": "", "fn_name": None, "stdio_compare": "lcb", "program_transform": "lcb_stdio",
            "cases": [{"input": str(t.get("input", "")), "output": str(t.get("output", ""))} for t in cases]}


# ---------------------------------------------------------------- the stdin program, as LCB runs it
def _clean_if_name(code: str) -> str:
    """LCB ``clean_if_name``: a *final* ``if __name__ == '__main__':`` block is replaced by its body."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            # ast.unparse takes a list of nodes at run time (LCB's own call); typeshed says one AST
            code = ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - LCB: leave the code as it is
        pass
    return code


def _make_function(code: str) -> str:
    """LCB ``make_function``: prelude, the program's top-level imports, then every other top-level statement as
    the body of ``wrapped_function()``. Code that does not parse is returned unchanged (it then fails)."""
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        body = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        fn = ast.FunctionDef(name="wrapped_function", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                                          kw_defaults=[], defaults=[]),
                             body=body, decorator_list=[], lineno=-1)
        return LCB_IMPORT_STRING + "\n" + ast.unparse(imports) + "\n" + ast.unparse(fn)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001
        return code


# Runs after the module's imports and ``def wrapped_function`` (LCB compiles the module first, then patches
# stdin/stdout/open around the call). Names are private to a function so the program's globals get none.
_LCB_STDIO_HARNESS = '''

def __lcb_call_wrapped_function():
    import io as _io
    import sys as _sys
    from unittest.mock import mock_open as _mock_open, patch as _patch

    inputs = _sys.stdin.read()  # afterwards the real stdin is at its end, as LCB's worker stdin (/dev/null) is
    line_iterator = iter(inputs.split("\\n"))

    class MockBuffer:
        def __init__(self, text):
            self.inputs = text.encode("utf-8")

        def read(self, *args):
            return self.inputs

        def readline(self, *args):
            return self.inputs.split(b"\\n")[0] + b"\\n"

    class MockStdinWithBuffer:
        def __init__(self, text):
            self.inputs = text
            self._stringio = _io.StringIO(text)
            self.buffer = MockBuffer(text)

        def read(self, *args):
            return self.inputs

        def readline(self, *args):
            return self._stringio.readline(*args)

        def readlines(self, *args):
            return self.inputs.split("\\n")

        def __getattr__(self, name):
            return getattr(self._stringio, name)

    captured = _io.StringIO()
    captured.close = lambda x: 1
    real_stdout = _sys.stdout
    _sys.stdout = captured
    try:
        # entered in the order LCB's stacked decorators enter them: the three method patches land on the
        # original stdin object (reached through a name bound earlier, e.g. ``from sys import stdin``)
        with _patch("sys.stdin.read", lambda *a: inputs), _patch("sys.stdin.readlines", lambda *a: inputs.split("\\n")), \\
                _patch("sys.stdin.readline", lambda *a: next(line_iterator)), \\
                _patch("sys.stdin", MockStdinWithBuffer(inputs)), _patch("builtins.open", _mock_open(read_data=inputs)):
            try:
                wrapped_function()
            except SystemExit:
                pass
    finally:
        _sys.stdout = real_stdout
    real_stdout.write(captured.getvalue())
    real_stdout.flush()


__lcb_call_wrapped_function()
'''


def lcb_stdio_program(code: str) -> str:
    """The program the sandbox runs for a stdin problem: the candidate transformed and called as LCB does
    (``clean_if_name``, ``make_function``, ``call_method`` with ``Capturing``)."""
    # the module is named as LCB names it, so a main guard that ``clean_if_name`` left in place does not run
    return "__name__ = 'tmp_sol'\n" + _INT_DIGITS + _make_function(_clean_if_name(code)) + _LCB_STDIO_HARNESS


PROGRAM_TRANSFORMS = {"lcb_stdio": lcb_stdio_program}


def transform_program(code: str, tests: dict | None) -> str:
    """The program to execute for ``code`` under ``tests["program_transform"]`` (none: ``code`` itself)."""
    name = (tests or {}).get("program_transform")
    if not name:
        return code
    if name not in PROGRAM_TRANSFORMS:
        raise LCBError(f"unknown program_transform {name!r}; known: {', '.join(PROGRAM_TRANSFORMS)}")
    return PROGRAM_TRANSFORMS[name](code)


# ---------------------------------------------------------------- prompts
def lcb_question_prompt(row: dict) -> str:
    """LCB's generic question template (``get_generic_question_template_answer``): the user turn for chat models."""
    starter = row.get("starter_code") or ""
    p = f"### Question:\n{row.get('question_content', '')}\n\n"
    if starter:
        p += f"### Format: {FORMATTING_MESSAGE_WITH_STARTER_CODE}\n```python\n{starter}\n```\n\n"
    else:
        p += f"### Format: {FORMATTING_WITHOUT_STARTER_CODE}\n```python\n# YOUR CODE HERE\n```\n\n"
    return p + "### Answer: (use the provided format with backticks)\n\n"


def lcb_chat_messages(row: dict) -> list[dict]:
    """LCB's chat prompt for OpenAI-style chat models: system message + the generic question template."""
    return [{"role": "system", "content": SYSTEM_MESSAGE_GENERIC}, {"role": "user", "content": lcb_question_prompt(row)}]


_FEW_SHOT: dict[str, list] = {}


def _few_shot(kind: str) -> dict:
    if kind not in _FEW_SHOT:
        path = resources.files("codecurate") / "data" / "benchmarks" / "lcb_few_shot" / f"{kind}.json"
        _FEW_SHOT[kind] = json.loads(path.read_text(encoding="utf-8"))
    return _FEW_SHOT[kind][0]


def lcb_base_prompt(row: dict) -> str:
    """LCB's base-model prompt (``get_base_model_question_template_answer``): one solved example (functional or
    stdin, by whether the problem has starter code), then the question; the model continues after
    "### Answer\\n\\n" and is stopped at "###"."""
    starter = row.get("starter_code") or ""
    ex = _few_shot("func" if starter else "stdin")

    def block(question: str, sample_code: str, answer: str) -> str:
        p = "### Question\n" + question + "\n\n"
        if starter:
            p += "### Starter Code\n" + sample_code + "\n\n"
        p += "### Answer\n\n" + answer
        return p + ("\n\n" if answer else "")

    return block(ex["question"], ex.get("sample_code", ""), ex["answer"]) + block(row.get("question_content", ""), starter, "")


# ---------------------------------------------------------------- dates and releases
def contest_datetime(row: dict) -> datetime:
    value = row.get("contest_date")
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError) as e:
        raise LCBError(f"problem {row.get('question_id')!r}: contest_date {value!r} is not an ISO date") from e


def parse_date(value: str, what: str) -> datetime:
    """A ``YYYY-MM-DD`` window bound, read as LCB reads ``--start_date``/``--end_date`` (midnight)."""
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError) as e:
        raise LCBError(f"{what} {value!r} is not a date of the form YYYY-MM-DD") from e


def filter_by_date(rows: list[dict], start_date: str | None = None, end_date: str | None = None) -> list[dict]:
    """LCB's window (``load_code_generation_dataset``): ``start <= contest_date <= end``, both bounds at midnight,
    so ``--end-date 2024-01-31`` keeps problems dated 2024-01-31T00:00:00 (the hub's dates all are) and none
    later that day."""
    if start_date:
        lo = parse_date(start_date, "--start-date")
        rows = [r for r in rows if lo <= contest_datetime(r)]
    if end_date:
        hi = parse_date(end_date, "--end-date")
        rows = [r for r in rows if contest_datetime(r) <= hi]
    return rows


def _release_number(tag: str) -> int:
    tag = str(tag).strip().lower()
    for prefix in ("release_v", "v"):
        if tag.startswith(prefix) and tag[len(prefix):].isdigit():
            return int(tag[len(prefix):])
    raise LCBError(f"release {tag!r} is not of the form release_vN, vN or vA_vB")


def release_range(release: str) -> tuple[int, int]:
    """The version numbers a release tag covers: ``release_vN`` -> 1..N, ``vN`` -> N..N, ``vA_vB`` -> A..B.
    ``release_latest`` covers everything."""
    tag = release.strip().lower()
    if tag == "release_latest":
        return 1, 10**9
    if tag.startswith("v") and "_v" in tag:
        a, b = tag.split("_", 1)
        return _release_number(a), _release_number(b)
    if tag.startswith("release_v"):
        return 1, _release_number(tag)
    return _release_number(tag), _release_number(tag)


def row_release(row: dict) -> int | None:
    for f in RELEASE_FIELDS:
        if row.get(f):
            return _release_number(row[f])
    return None


def filter_by_release(rows: list[dict], release: str) -> list[dict]:
    """Keep the problems of ``release``. The hub rows carry no version (the hub loader picks files by
    version_tag); codecurate reads a ``release_version`` (or ``version_tag``/``release``/``version``) field
    naming the release a problem first appeared in (``v2`` or ``release_v2``). Rows without it are refused,
    with the release's date window as the way out."""
    lo, hi = release_range(release)
    tagged = [row_release(r) for r in rows]
    if any(t is None for t in tagged):
        window = RELEASES.get(release.strip().lower())
        hint = (f" ({release} covers problems of {window[0]} .. {window[1]}, {window[2]} problems)" if window else "")
        raise LCBError(f"--release {release}: the problems carry no release field ({'/'.join(RELEASE_FIELDS)}); "
                       f"pass a file of that release (e.g. the hub's version_tag={release}) without --release, or "
                       f"select by --start-date/--end-date{hint}")
    return [r for r, t in zip(rows, tagged) if t is not None and lo <= t <= hi]  # (None raised above)


# ---------------------------------------------------------------- records
def lcb_record(row: dict, source: str = "livecodebench", include_private: bool = True) -> dict:
    """One LiveCodeBench problem as a canonical benchmark record (see ``benchmarks.py`` for the meta keys)."""
    from codecurate.records import make_record

    qid = row.get("question_id")
    if qid in (None, ""):
        raise LCBError("a LiveCodeBench row has no question_id")
    tests = lcb_tests(row, include_private)
    starter = row.get("starter_code") or ""
    instruction = (row.get("question_content") or "") + (f"\n\n{starter}" if starter.strip() else "")
    meta = {k: v for k, v in row.items() if k not in ("public_test_cases", "private_test_cases")}
    meta.update(completion_prompt=lcb_base_prompt(row), program_prefix="", stop=list(BASE_MODEL_STOP),
                chat_messages=lcb_chat_messages(row), system_prompt=SYSTEM_MESSAGE_GENERIC,
                sandbox_limits=lcb_limits(len(tests["cases"])), n_tests=len(tests["cases"]),
                grading="functional" if tests["kind"] == "call" else "stdin")
    return make_record(id=str(qid), instruction=instruction, code=row.get("code") or "", tests=tests, source=source,
                       meta=meta)


class LiveCodeBench(Format):
    name = "livecodebench"
    description = ("LiveCodeBench code_generation_lite: question_content, starter_code, public/private_test_cases "
                   "(JSON or the hub's compressed encoding), metadata.func_name, contest_date")
    keys = ("question_id", "question_content", "public_test_cases")
    priority = 6

    def raw_id(self, raw, index):
        return str(raw.get("question_id", index))

    def to_record(self, raw, index):
        """The problem with its tests (meta: the row as read, so writing back is lossless); ``evaluation``'s
        ``--benchmark livecodebench`` adds the prompts and LCB's limits (``lcb_record``)."""
        rec = lcb_record(raw)
        code = raw.get("code") or ""
        return self.make(raw, index, instruction=rec["instruction"], response=code, code=code, tests=rec["tests"])

    def empty(self):
        return {"question_title": "", "question_content": "", "platform": "", "question_id": "", "contest_id": "",
                "contest_date": "", "starter_code": "", "difficulty": "", "public_test_cases": "[]",
                "private_test_cases": "[]", "metadata": "{}"}

    def set_instruction(self, raw, value, rec):
        raw["question_content"] = value

    def set_response(self, raw, value, rec):
        raw["code"] = value

    def set_code(self, raw, value, rec):
        raw["code"] = value

    def set_tests(self, raw, value, rec):
        """Tests are written as the public list (JSON string); the private field is emptied so no test counts
        twice."""
        value = value or {"cases": []}
        functional = value.get("kind") == "call"
        out = []
        for c in value.get("cases") or []:
            if functional:
                out.append({"input": "\n".join(json.dumps(a) for a in c["input"]), "output": json.dumps(c["output"]),
                            "testtype": "functional"})
            else:
                out.append({"input": c["input"], "output": c["output"], "testtype": "stdin"})
        raw["public_test_cases"] = json.dumps(out)
        raw["private_test_cases"] = "[]"
        if functional and value.get("fn_name"):
            md = _metadata(raw)
            md["func_name"] = value["fn_name"]
            raw["metadata"] = json.dumps(md)
