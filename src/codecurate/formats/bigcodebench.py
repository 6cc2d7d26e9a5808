"""BigCodeBench (``bigcode/bigcodebench``, ``bigcodebench-hard``), graded as ``bigcodebench.evaluate`` grades it.

Reference: bigcode-project/bigcodebench@47eff25 ``bigcodebench/evaluate.py`` (samples, calibration, ground truth,
result files), ``bigcodebench/eval/__init__.py`` (``untrusted_check``/``unsafe_execute``),
``bigcodebench/eval/utils.py`` (``reliability_guard``, ``TIMEOUT_LIMIT``), ``bigcodebench/provider/utility.py``
(prompts, stop words). Re-implemented here; no code is copied.

Fields: ``task_id``, ``complete_prompt`` (imports + signature + docstring), ``instruct_prompt`` (the task in
prose), ``canonical_solution`` (the function body), ``code_prompt`` (imports + signature), ``test`` (a
``unittest.TestCase`` class ``TestCases``), ``entry_point``, ``libs`` (the libraries the task uses, a list or its
``repr``), plus ``doc_struct`` and, in the Hard subset, ``q_idx``, ``question``, ``score``, ``_id``.

Grading (``bcb_tests``): the ``unittest`` test kind of the sandbox: program and ``test`` compiled together as
one module ``__test__`` (``code + "\\n" + test``), registered in ``sys.modules`` so ``mock.patch('__test__.x')``
and ``patch(__name__ + '.x')`` reach the solution, each ``test*`` method of ``TestCases`` one case (a task
passes when every method passes: BCB's status "pass"). The program is
- the canonical solution: ``complete_prompt + "\\n" + canonical_solution`` (BCB's ground truth);
- a generation: its ``solution`` (a full program), or ``complete_prompt + completion``; with calibration (BCB's
  default, ``calibrated=True``) ``code_prompt + "\\n    pass\\n"`` is put in front, so the task's imports are
  there even when the model left them out.
Before the program, a prelude sets what ``reliability_guard`` sets in BCB's worker: ``TZ=UTC`` (+ ``tzset``),
``OMP_NUM_THREADS=1``, ``TF_CPP_MIN_LOG_LEVEL=3``, ``TF_ENABLE_ONEDNN_OPTS=0``, ``builtins.exit = quit = None``.
Limits (``BCB_LIMITS``): BCB gives the whole ``TestCases`` run ``max(240, max(min_time_limit=1, ground-truth
time)) + 1`` seconds (``TIMEOUT_LIMIT=240``) and RLIMIT_AS/RLIMIT_DATA of 30 GiB, RLIMIT_STACK 10 MiB
(``max_as_limit=30*1024``, ``max_data_limit=30*1024``, ``max_stack_limit=10`` MB); here: 241 s for the
program, 240 s per test method, 30 GiB memory (RLIMIT_AS and the memory cgroup; no separate data/stack limit).
Not reproduced: BCB's ``safe_environment`` (logging wrappers around ``os.kill``/``subprocess``, which print
"Intercepted ..." and refuse to kill other processes: the sandbox's own isolation stands in) and
``swallow_io`` (the program's output is captured by the sandbox instead of discarded).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from typing import Any

from codecurate.formats.base import Format

BCB_SPLITS = ("complete", "instruct")
BCB_SUBSETS = ("full", "hard")
BCB_TIMEOUT_LIMIT = 240.0  # bigcodebench/eval/utils.py TIMEOUT_LIMIT
BCB_MIN_TIME_LIMIT = 1.0  # evaluate(min_time_limit=1)
BCB_MEMORY_MB = 30 * 1024  # evaluate(max_as_limit=30*1024, max_data_limit=30*1024) (MB)
BCB_LIMITS = {"timeout_per_test": BCB_TIMEOUT_LIMIT, "timeout_total": BCB_TIMEOUT_LIMIT + 1,
              "memory_mb": BCB_MEMORY_MB}
BCB_GT_PASS_RATE_WARN = 0.99  # evaluate(): "Groundtruth pass rate ... Please be cautious!" below this
BCB_K = (1, 5, 10)  # evaluate(pass_k="1,5,10")
CALIBRATION_SUFFIX = "\n    pass\n"

# bigcodebench/provider/utility.py: EOS + extra_eos_for_direct_completion("bigcodebench")
BCB_STOP = ["<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(",
            "\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "]
INSTRUCTION_PREFIX = ("Please provide a self-contained Python script that solves the following problem in a markdown "
                      "code block:")
RESPONSE_PREFIX = ("Below is a Python script with a self-contained function that solves the problem and passes "
                   "corresponding tests:")

BCB_PRELUDE = ("__import__('os').environ.update({'TZ': 'UTC', 'OMP_NUM_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '3', "
               "'TF_ENABLE_ONEDNN_OPTS': '0'}); __import__('time').tzset(); "
               "__import__('builtins').exit = None; __import__('builtins').quit = None")


class BCBError(ValueError):
    """A BigCodeBench row, split or subset that cannot be used."""


def bcb_libs(row: dict) -> list[str]:
    """The task's ``libs`` (a list, or its ``repr`` as the hub stores it)."""
    libs = row.get("libs") or []
    if isinstance(libs, str):
        try:
            libs = ast.literal_eval(libs)
        except (ValueError, SyntaxError) as e:
            raise BCBError(f"{row.get('task_id')}: libs {libs!r} is not a list") from e
    return [str(x) for x in libs]


def _top_imports(src: str) -> list[str]:
    import warnings

    try:
        with warnings.catch_warnings():  # BigCodeBench test sources have invalid escapes ("\W" in a str)
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(src)
    except SyntaxError:
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module.split(".")[0]]
        out += [n for n in names if n not in out]
    return out


def required_modules(row: dict) -> list[str]:
    """Top-level modules the task needs: its ``libs`` and what its prompt, canonical solution and tests import."""
    mods = bcb_libs(row)
    for src in (row.get("complete_prompt") or "", row.get("canonical_solution") or "", row.get("test") or ""):
        mods += [m for m in _top_imports(src) if m not in mods]
    return mods


def missing_modules(modules: list[str], python: str | None = None) -> list[str]:
    """Which of ``modules`` cannot be imported by ``python`` (default: this interpreter), found with
    ``importlib.util.find_spec`` (nothing is imported). Another interpreter is asked in a subprocess."""
    modules = sorted(set(modules))
    if not modules:
        return []
    if python and python != sys.executable:
        code = ("import importlib.util, json, sys; ms = json.loads(sys.argv[1]); "
                "print(json.dumps([m for m in ms if importlib.util.find_spec(m) is None]))")
        out = subprocess.run([python, "-I", "-c", code, json.dumps(modules)], capture_output=True, text=True,
                             timeout=60, check=True)
        return json.loads(out.stdout)
    missing = []
    for m in modules:
        try:
            found = importlib.util.find_spec(m) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(m)
    return missing


def bcb_tests(row: dict) -> dict:
    from codecurate.sandbox.runner import unittest_methods

    test = row.get("test") or ""
    try:
        cases = unittest_methods(test, "TestCases")
    except ValueError as e:
        raise BCBError(f"{row.get('task_id')}: {e}") from e
    return {"kind": "unittest", "setup": "", "fn_name": None, "test_code": test, "test_class": "TestCases",
            "module_name": "__test__", "cases": cases, "prelude": BCB_PRELUDE}


def ground_truth_program(row: dict) -> str:
    """BCB's ground truth: ``complete_prompt + "\\n" + canonical_solution``."""
    return (row.get("complete_prompt") or "") + "\n" + (row.get("canonical_solution") or "")


def calibrate(program: str, code_prompt: str) -> str:
    """BCB's calibration: ``code_prompt + "\\n    pass\\n" + solution``."""
    return code_prompt + CALIBRATION_SUFFIX + program


def bcb_chat_prompt(row: dict, split: str) -> str:
    """BCB's user turn for chat models (``make_raw_chat_prompt``; the response prefix it prefills is in meta)."""
    prompt = (row.get(f"{split}_prompt") or "").strip()
    if split == "complete":
        return f"{INSTRUCTION_PREFIX}\n```\n{prompt}\n```\n"
    return f"{INSTRUCTION_PREFIX}\n{prompt}\n"


def bcb_record(row: dict, split: str = "complete", subset: str = "hard", source: str = "bigcodebench") -> dict:
    """One task as a canonical benchmark record; ``code`` is the ground-truth program."""
    from codecurate.records import make_record

    if split not in BCB_SPLITS:
        raise BCBError(f"unknown BigCodeBench split {split!r}; valid: {', '.join(BCB_SPLITS)}")
    tid = row.get("task_id")
    if not tid:
        raise BCBError("a BigCodeBench row has no task_id")
    missing = [f for f in ("complete_prompt", "code_prompt", "test", "entry_point") if not row.get(f)]
    if missing:
        raise BCBError(f"{tid}: missing field(s) {', '.join(missing)}")
    prompt = row.get(f"{split}_prompt") or ""
    meta = {k: v for k, v in row.items()}
    meta.update(split=split, subset=subset, completion_prompt=prompt,
                program_prefix=row["complete_prompt"] if split == "complete" else "", stop=list(BCB_STOP),
                chat_messages=[{"role": "user", "content": bcb_chat_prompt(row, split)}],
                response_prefix=RESPONSE_PREFIX, calibration_prefix=row["code_prompt"] + CALIBRATION_SUFFIX,
                reference_program=ground_truth_program(row), libs=bcb_libs(row),
                required_modules=required_modules(row), sandbox_limits=dict(BCB_LIMITS), ground_truth_check=True)
    return make_record(id=str(tid), instruction=prompt, code=ground_truth_program(row), tests=bcb_tests(row),
                       source=source, meta=meta)


class BigCodeBench(Format):
    name = "bigcodebench"
    description = ("BigCodeBench: task_id, complete_prompt, instruct_prompt, canonical_solution, code_prompt, test "
                   "(unittest TestCases), entry_point, libs")
    keys = ("task_id", "complete_prompt", "canonical_solution", "code_prompt", "test", "entry_point")
    priority = 6

    def raw_id(self, raw, index):
        return str(raw.get("task_id", index))

    def to_record(self, raw, index):
        """The complete split's view (instruction = ``complete_prompt``, code = the ground-truth program)."""
        return self.make(raw, index, instruction=raw.get("complete_prompt") or "", response="",
                         code=ground_truth_program(raw), tests=bcb_tests(raw))

    def empty(self):
        return {"task_id": "", "complete_prompt": "", "instruct_prompt": "", "canonical_solution": "",
                "code_prompt": "", "test": "", "entry_point": "task_func", "libs": "[]"}

    def set_instruction(self, raw, value, rec):
        raw["complete_prompt"] = value

    def set_response(self, raw, value, rec):
        self.set_code(raw, value, rec)

    def set_code(self, raw, value, rec):
        """A whole program is stored as the canonical solution after the (unchanged) complete prompt when it
        starts with it, else as a solution of its own (``solution``), as BCB samples hold full programs."""
        prefix = (raw.get("complete_prompt") or "") + "\n"
        if value.startswith(prefix):
            raw["canonical_solution"] = value[len(prefix):]
        else:
            raw["solution"] = value

    def set_tests(self, raw, value, rec):
        if value and value.get("test_code") is not None:
            raw["test"] = value["test_code"]


def read_bcb_file(path: str) -> list[dict]:
    """Rows of a BigCodeBench file: a JSON object keyed by task_id (as the Hard sample), a JSON list, JSONL
    (the hub export) or parquet."""
    import os

    if not os.path.exists(path):
        raise BCBError(f"BigCodeBench file not found: {path}")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            head = f.read(1)
            while head.isspace():
                head = f.read(1)
        if head == "{":
            with open(path, encoding="utf-8") as f:
                try:
                    data: Any = json.load(f)
                except json.JSONDecodeError:
                    data = None
            if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
                return [dict(v, task_id=v.get("task_id", k)) for k, v in data.items()]
    from codecurate.io import InputError, read_rows

    try:
        return read_rows(path)
    except InputError as e:
        raise BCBError(str(e)) from e
