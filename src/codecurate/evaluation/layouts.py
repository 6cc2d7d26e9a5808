"""Result files in the layouts other harnesses write, next to the study's (all_code.json, results.json,
per_problem.jsonl), so tools that read those harnesses' outputs read codecurate's.

- ``evalplus``: ``eval_results.json`` as ``evalplus.evaluate`` writes it (evalplus/evalplus@26d6d00
  ``evalplus/evaluate.py``): ``{"date", "hash", "eval": {task_id: [{"task_id", "solution", "base_status",
  "plus_status", "base_fail_tests", "plus_fail_tests"}, ...]}, "pass_at_k": {"base": {...}, "plus": {...}}}``;
  statuses "pass" / "fail" / "timeout"; base = the benchmark's base inputs (``meta.n_base_inputs``), plus = the
  rest (``plus_status`` null when there are none, as with ``--base-only``); the failing inputs are all listed
  (evalplus' ``--test-details``); ``hash`` is the md5 of the problems' ids and tests as codecurate loaded them
  (evalplus: the md5 of its dataset file).
- ``bigcode``: ``evaluation_results.json`` (``{"<task>": {"pass@k": ...}, "config": {...}}``) and
  ``generations_<task>.json`` (a list, per problem in benchmark order, of its programs) as
  bigcode-project/bigcode-evaluation-harness@8fc5bae ``main.py`` / ``bigcode_eval/evaluator.py`` write them;
  task names as the harness names its tasks (humaneval, humanevalplus, mbpp, mbppplus, apps-<difficulty>, ...).
- ``lcb``: ``lcb_custom_output.json``, the input of LiveCodeBench's ``lcb_runner.runner.custom_evaluator``
  (``[{"question_id", "code_list"}]``, sorted by question_id; LCB's evaluator wants every problem of the
  release/date window it loads), plus what that evaluator writes from it:
  ``lcb_custom_output_codegeneration_output_eval.json`` (``[metrics, results, metadata]``) and
  ``..._eval_all.json`` (per problem: the row's fields, ``code_list``, ``graded_list``, ``pass@1``,
  ``metadata``), the file ``lcb_runner.evaluation.compute_scores --eval_all_file`` reads. Per-test results use
  LCB's codes (True, -2 wrong answer, -3 time limit, -4 runtime error) and stop at the first failure, as LCB's.
- ``bcb``: ``bcb_samples.jsonl`` (``{"task_id", "solution"}``), ``bcb_samples_eval_results.json`` (``{"date",
  "eval": {task_id: [{"task_id", "solution", "status", "details"}]}}``: status "pass" / "fail" / "timeout",
  details ``{test method: error}`` or ``{"ALL": error}`` when the program did not load; the solution as
  executed, i.e. calibrated) and ``bcb_samples_pass_at_k.json`` (pass@k, model, split, subset, calibrated,
  gt_pass_rate, failed_tasks) as bigcode-project/bigcodebench@47eff25 ``bigcodebench/evaluate.py`` writes them
  for ``--samples bcb_samples.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from datetime import datetime

from codecurate.evaluation.passk import pass_at_k

LAYOUTS = ("study", "evalplus", "bigcode", "lcb", "bcb")
_EVALPLUS_FAMILY = ("humaneval", "humanevalplus", "humanevalplusbase", "mbpp", "mbppplus", "mbppplusbase",
                    "humaneval-assert", "mbpp-assert")


def _source(records: Sequence[dict]) -> str:
    return str(records[0].get("source", "")) if records else ""


def resolve_layouts(layouts: str | Sequence[str], bench_name: str, records: Sequence[dict]) -> list[str]:
    """``auto``: bigcode for every benchmark, plus evalplus for HumanEval/MBPP (and their + variants), lcb for
    LiveCodeBench, bcb for BigCodeBench; ``all``: every layout; or a comma-separated list / sequence."""
    if isinstance(layouts, str):
        names = [x.strip() for x in layouts.split(",") if x.strip()]
    else:
        names = list(layouts)
    if names == ["auto"]:
        out = ["study", "bigcode"]
        if bench_name in _EVALPLUS_FAMILY:
            out.append("evalplus")
        if _source(records) == "livecodebench":
            out.append("lcb")
        if _source(records) == "bigcodebench":
            out.append("bcb")
        return out
    if names == ["all"]:
        return list(LAYOUTS)
    bad = [n for n in names if n not in LAYOUTS]
    if bad:
        raise ValueError(f"unknown result layout(s) {bad}; valid: auto, all, {', '.join(LAYOUTS)}")
    return names


def _dump(path: str, obj, indent: int | None = 2) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, default=str)


def _by_sample(outcomes) -> dict:
    return {(i, j): (oc, prog) for i, j, oc, prog in outcomes}


def _passk_table(ns: list[int], cs: list[int], ks: Sequence[int]) -> dict:
    if not ns:
        return {}
    return {f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in zip(ns, cs)) / len(ns) for k in ks if min(ns) >= k}


# ---------------------------------------------------------------- evalplus
def _segment_status(oc, lo: int, hi: int) -> str:
    res = oc.results[lo:hi]
    if res and all(r is True for r in res):
        return "pass"
    per = oc.per_case[lo:hi]
    if any(p.get("status") == "timeout" for p in per) or (not per and oc.status == "timeout"):
        return "timeout"
    return "fail"


def write_evalplus(out_dir: str, records, programs, outcomes, ks) -> list[str]:
    samples = _by_sample(outcomes)
    ids_tests = json.dumps([[r["id"], r.get("tests")] for r in records], sort_keys=True, default=str)
    res: dict = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"),
                 "hash": hashlib.md5(ids_tests.encode()).hexdigest(), "eval": {}}
    ns, base_c, plus_c, any_plus = [], [], [], False
    for i in sorted(programs):
        rec = records[i]
        cases = rec["tests"].get("cases") or []
        n_base = int(rec.get("meta", {}).get("n_base_inputs") or len(cases))
        n_base = min(n_base, len(cases)) if cases else 0
        has_plus = len(cases) > n_base
        any_plus |= has_plus
        entries = []
        for j, prog in enumerate(programs[i]):
            oc = samples[(i, j)][0]
            inputs = [c.get("input") if isinstance(c, dict) else c for c in cases]
            base_stat = _segment_status(oc, 0, n_base)
            plus_stat = _segment_status(oc, n_base, len(cases)) if has_plus else None
            failed = [k for k, r in enumerate(oc.results) if r is not True]
            entries.append({"task_id": rec["id"], "solution": prog, "base_status": base_stat,
                            "plus_status": plus_stat,
                            "base_fail_tests": [inputs[k] for k in failed if k < n_base] if base_stat != "pass" else [],
                            "plus_fail_tests": [inputs[k] for k in failed if k >= n_base]
                            if has_plus and plus_stat != "pass" else []})
        res["eval"][rec["id"]] = entries
        ns.append(len(entries))
        base_c.append(sum(e["base_status"] == "pass" for e in entries))
        plus_c.append(sum(e["base_status"] == e["plus_status"] == "pass" for e in entries))
    res["pass_at_k"] = {"base": _passk_table(ns, base_c, ks)}
    if any_plus:
        res["pass_at_k"]["plus"] = _passk_table(ns, plus_c, ks)
    _dump(os.path.join(out_dir, "eval_results.json"), res)
    return ["eval_results.json"]


# ---------------------------------------------------------------- bigcode-evaluation-harness
def bigcode_task_name(bench_name: str, records: Sequence[dict]) -> str:
    names = {"humaneval": "humaneval", "humanevalplus": "humanevalplus", "humanevalplusbase": "humanevalplus",
             "mbpp": "mbpp", "mbppplus": "mbppplus", "mbppplusbase": "mbppplus", "humaneval-assert": "humaneval",
             "mbpp-assert": "mbpp", "codecontests": "codecontests"}
    if bench_name in names:
        return names[bench_name]
    if bench_name == "apps":
        levels = sorted({str(r.get("meta", {}).get("difficulty")) for r in records})
        return f"apps-{levels[0]}" if len(levels) == 1 and levels[0] != "None" else "apps"
    return bench_name


def write_bigcode(out_dir: str, bench_name: str, records, programs, results, ks) -> list[str]:
    task = bigcode_task_name(bench_name, records)
    gens = [list(programs.get(i, [])) for i in range(len(records))]
    gen_file = f"generations_{task}.json"
    _dump(os.path.join(out_dir, gen_file), gens, indent=None)
    metrics = {k: v for k, v in results["metrics"].items() if k.startswith("pass@") and "_" not in k}
    settings = results.get("settings") or {}
    config = {"tasks": task, "model": results.get("model"), "n_samples": max((len(g) for g in gens), default=0),
              "temperature": settings.get("temperature"), "top_p": settings.get("top_p"),
              "max_length_generation": settings.get("max_new_tokens"), "prompt": settings.get("prompt"),
              "load_generations_path": results.get("generations_file"), "save_generations_path": gen_file,
              "metric_output_path": "evaluation_results.json", "allow_code_execution": True,
              "evaluated_by": "codecurate", "problems_without_generations": results.get("problems_without_generations")}
    _dump(os.path.join(out_dir, "evaluation_results.json"), {task: metrics, "config": config})
    return ["evaluation_results.json", gen_file]


# ---------------------------------------------------------------- LiveCodeBench
_LCB_CODES = {"wrong_answer": -2, "timeout": -3, "runtime_error": -4, "error": -4, "compile_error": -4}
_LCB_MESSAGES = {-2: "Wrong Answer", -3: "Time Limit Exceeded", -4: "Runtime Error"}


def _lcb_results(oc) -> tuple[list, dict]:
    """LCB's per-test list for one generation (stops at the first failure) and its metadata dict."""
    out: list = []
    if oc.status == "compile_error" or not oc.per_case:
        return [-4], {"error": oc.error, "error_code": -4, "error_message": "Runtime Error"}
    for c in oc.per_case:
        if c.get("status") == "passed":
            out.append(True)
            continue
        code = _LCB_CODES.get(c.get("status"), -4)
        out.append(code)
        meta = {"error_code": code, "error_message": _LCB_MESSAGES[code]}
        if c.get("error"):
            meta["error"] = c["error"]
        if "got" in c:
            meta["output"] = c["got"]
        elif c.get("stdout") is not None and code == -2:
            meta["output"] = c["stdout"][:300]
        return out, meta
    return out, {"execution time": round(sum(float(c.get("seconds") or 0) for c in oc.per_case), 4)}


def write_lcb(out_dir: str, records, programs, outcomes, ks) -> list[str]:
    samples = _by_sample(outcomes)
    order = sorted(programs, key=lambda i: str(records[i]["id"]))
    custom = [{"question_id": records[i]["id"], "code_list": list(programs[i])} for i in order]
    _dump(os.path.join(out_dir, "lcb_custom_output.json"), custom, indent=4)
    eval_all, results, metadata, ns, cs = [], {}, [], [], []
    fields = ("question_title", "question_content", "platform", "question_id", "contest_id", "contest_date",
              "starter_code", "difficulty")
    for k, i in enumerate(order):
        meta = records[i].get("meta", {})
        per = [_lcb_results(samples[(i, j)][0]) for j in range(len(programs[i]))]
        graded = [bool(r) and all((x is True) or (not isinstance(x, bool) and x > 0) for x in r) for r, _ in per]
        row = {f: meta.get(f) for f in fields}
        row["question_id"] = records[i]["id"]
        row.update(output_list=list(programs[i]), code_list=list(programs[i]), graded_list=graded,
                   **{"pass@1": graded.count(True) / len(graded) if graded else 0.0},
                   metadata=[json.dumps(m) for _, m in per])
        eval_all.append(row)
        results[k] = [r for r, _ in per]
        metadata.append([json.dumps(m) for _, m in per])
        ns.append(len(graded))
        cs.append(sum(graded))
    metrics = _passk_table(ns, cs, ks)
    metrics["detail"] = {f"pass@{kk}": {str(k): pass_at_k(n, c, kk) for k, (n, c) in enumerate(zip(ns, cs))}
                         for kk in ks if ns and min(ns) >= kk}
    base = "lcb_custom_output_codegeneration_output"
    _dump(os.path.join(out_dir, base + "_eval.json"), [metrics, results, metadata], indent=4)
    _dump(os.path.join(out_dir, base + "_eval_all.json"), eval_all, indent=4)
    return ["lcb_custom_output.json", base + "_eval.json", base + "_eval_all.json"]


# ---------------------------------------------------------------- BigCodeBench
def _bcb_status(oc) -> str:
    if oc.status == "passed" and oc.passed == oc.total:
        return "pass"
    return "timeout" if oc.status == "timeout" else "fail"


def _bcb_details(oc, methods: list) -> dict:
    if oc.status == "compile_error" or (oc.error and not oc.per_case):
        return {"ALL": str(oc.error)}
    out = {}
    for name, c in zip(methods, oc.per_case):
        if c.get("status") != "passed":
            out[str(name)] = c.get("error") or c.get("status")
    return out


def write_bcb(out_dir: str, records, programs, outcomes, results, ks) -> list[str]:
    samples = _by_sample(outcomes)
    with open(os.path.join(out_dir, "bcb_samples.jsonl"), "w", encoding="utf-8") as f:
        for i in sorted(programs):
            for prog in programs[i]:
                f.write(json.dumps({"task_id": records[i]["id"], "solution": prog}, ensure_ascii=False) + "\n")
    ev: dict = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "eval": {}}
    ns, cs = [], []
    for i in sorted(programs):
        methods = records[i]["tests"].get("cases") or []
        entries = []
        for j in range(len(programs[i])):
            oc, executed = samples[(i, j)]
            entries.append({"task_id": records[i]["id"], "solution": executed, "status": _bcb_status(oc),
                            "details": _bcb_details(oc, methods)})
        ev["eval"][records[i]["id"]] = entries
        ns.append(len(entries))
        cs.append(sum(e["status"] == "pass" for e in entries))
    _dump(os.path.join(out_dir, "bcb_samples_eval_results.json"), ev)
    meta0 = records[0].get("meta", {}) if records else {}
    gt = results.get("ground_truth") or {}
    pak = _passk_table(ns, cs, ks)
    pak.update(model=results.get("model"), split=meta0.get("split"), subset=meta0.get("subset"),
               calibrated=(results.get("benchmark_options") or {}).get("calibrated", True),
               gt_pass_rate=gt.get("pass_rate"), failed_tasks=sorted(gt.get("failed_tasks") or []))
    _dump(os.path.join(out_dir, "bcb_samples_pass_at_k.json"), pak)
    return ["bcb_samples.jsonl", "bcb_samples_eval_results.json", "bcb_samples_pass_at_k.json"]


def write_layouts(layouts: Sequence[str], out_dir: str, *, records, programs, rows, outcomes, results,
                  ks) -> list[str]:
    """Write the requested layouts (the study's files are written by ``evaluate`` itself); returns the file
    names written. ``programs``: as generated (uncalibrated); ``outcomes``: (idx, j, TestOutcome, program
    executed) from ``score_programs``; problems excluded from scoring are left out."""
    scored = {r["idx"] for r in rows}
    progs = {i: p for i, p in programs.items() if i in scored}
    written: list[str] = []
    for name in layouts:
        if name == "study":
            continue
        if name == "evalplus":
            written += write_evalplus(out_dir, records, progs, outcomes, ks)
        elif name == "bigcode":
            written += write_bigcode(out_dir, results["benchmark"], records, progs, results, ks)
        elif name == "lcb":
            written += write_lcb(out_dir, records, progs, outcomes, ks)
        elif name == "bcb":
            written += write_bcb(out_dir, records, progs, outcomes, results, ks)
    return written
