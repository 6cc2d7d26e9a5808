"""``evaluate``: generate with a model (or read existing generations), execute them in the sandbox, and score.

Output layout, as the study's (`Results/<dataset>/<model>/<tech>/`):

    <output>/<benchmark>/<model>/<tag>/
        all_code.json     one JSON object per line, the study's format {"id": "<idx>_<j>", "code": ...} plus
                          "task_id" and "raw" (the model's text); idx = problem position in the benchmark order,
                          j = sample number. Appended and flushed problem by problem while generating, so a killed
                          run resumes without regenerating finished problems.
        run_config.json   the generation settings; resuming with different settings is refused
        results.json      every metric (below), settings, versions
        per_problem.jsonl one line per problem: n, c, pass@k, pass ratios, statuses, static metrics per sample

Metrics (the study's definitions, reference/seed0_techniques.md §6.1 and §9 choice 6):
- ``pass@k``: unbiased estimator (``passk.py``); a sample is correct when every test passes.
- ``avg_pass_ratio``: mean over problems of (passed test inputs / number of test inputs); with n > 1 the best
  sample of a problem counts, as in the study. Compile errors, runtime errors and timeouts count as failures.
- ``code_smell_score`` + ``smell_counts``: pylint rating and messages by category (``static_metrics.py``),
  averaged over samples; unrated programs score 0.0 as in the study.
- ``maintainability_index``: radon MI of each program (syntax error -> 0), averaged over samples.
- counts of samples that passed / failed / had a compile error / timed out / errored.
Static metrics are computed on the program as stored in all_code.json (the study's "code").
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from codecurate.evaluation.benchmarks import benchmark_slug, load_benchmark
from codecurate.evaluation.passk import aggregate_pass_at_k, pass_at_k
from codecurate.evaluation.static_metrics import (
    maintainability_indices,
    pylint_scores,
    pylint_version,
    radon_version,
    summarize_pylint,
)

_STUDY_ID = re.compile(r"^(\d+)_(\d+)$")


class EvalError(ValueError):
    """Bad evaluation input: a generations file, a resume conflict, a missing model."""


@dataclass
class RunSettings:
    """What determines the generations; a resumed run must match."""

    benchmark: str
    model: str
    backend: str
    prompt: str
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    extract: str = "auto"
    seed: int | None = 0


@dataclass
class EvalOutput:
    out_dir: str
    results: dict
    per_problem: list[dict] = field(default_factory=list)


def model_slug(model: str) -> str:
    base = model.rstrip("/").split("/")[-1] if model else "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base) or "model"


# ---------------------------------------------------------------- generations on disk
def read_all_code(path: str, repair: bool = False) -> list[dict]:
    """Lines of an all_code.json file. A last line cut off by a kill is dropped (and removed when ``repair``)."""
    if not os.path.exists(path):
        return []
    rows, good_bytes = [], 0
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        end = pos + len(raw) + 1
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError as e:
                if end >= len(data):  # only the final line may be partial
                    break
                raise EvalError(f"{path}:{lineno}: not valid JSON ({e})") from e
        good_bytes = min(end, len(data))
        pos = end
    if repair and good_bytes < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
    return rows


def _group_by_problem(rows: Sequence[dict], path: str) -> dict[int, list[dict]]:
    by_idx: dict[int, list[dict]] = {}
    for row in rows:
        m = _STUDY_ID.match(str(row.get("id", "")))
        if not m:
            raise EvalError(f"{path}: generation id {row.get('id')!r} is not of the form '<idx>_<j>'")
        by_idx.setdefault(int(m.group(1)), []).append(row)
    for samples in by_idx.values():
        samples.sort(key=lambda r: int(cast(re.Match, _STUDY_ID.match(r["id"])).group(2)))  # every id matched above
    return by_idx


def load_generations(path: str, records: Sequence[dict], skip_unknown: bool = False) -> dict[int, list[str]]:
    """Programs per problem index from a generations file.

    Accepted line formats (JSONL, or a JSON list of the same objects):
    - the study's all_code.json: {"id": "<idx>_<j>", "code": ...} (idx = position in the benchmark order);
    - {"task_id": ..., "code" | "solution": full program} (evalplus samples);
    - {"task_id": ..., "completion": text} (human-eval samples; the program is the prompt prefix + completion);
    - {"question_id": ..., "code_list": [program, ...]} (LiveCodeBench's custom-evaluator file; also
      {"task_id", "code_list"}): one generation per list item.
    BigCodeBench samples ({"task_id", "solution"} or {"task_id", "completion"}) are the second and third forms.
    ``skip_unknown`` drops generations of problems not in ``records`` (e.g. past ``--limit``) instead of failing.
    """
    if not os.path.exists(path):
        raise EvalError(f"generations file not found: {path}")
    with open(path, encoding="utf-8") as f:
        head = f.read(1)
    if head == "[":
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    else:
        rows = read_all_code(path)
    index = {r["id"]: i for i, r in enumerate(records)}
    out: dict[int, list[str]] = {}
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise EvalError(f"{path}: item {n} is {type(row).__name__}, expected an object")
        if "question_id" in row and "task_id" not in row:
            row = dict(row, task_id=row["question_id"])
        if "task_id" in row:
            tid = str(row["task_id"])
            if tid not in index:
                if skip_unknown:
                    continue
                raise EvalError(f"{path}: item {n}: task_id {tid!r} is not in the benchmark (e.g. {records[0]['id']!r})")
            idx = index[tid]
        elif sm := _STUDY_ID.match(str(row.get("id", ""))):
            idx = int(sm.group(1))
            if idx >= len(records):
                if skip_unknown:
                    continue
                raise EvalError(f"{path}: item {n}: id {row['id']!r} is past the benchmark's {len(records)} problems")
        else:
            raise EvalError(f"{path}: item {n} has neither 'task_id' nor an '<idx>_<j>' id")
        if isinstance(row.get("code_list"), list):
            for program in row["code_list"]:
                out.setdefault(idx, []).append(program if isinstance(program, str) else "")
            continue
        if "code" in row:
            program = row["code"]
        elif "solution" in row:
            program = row["solution"]
        elif "completion" in row:
            program = (records[idx].get("meta", {}).get("program_prefix") or "") + row["completion"]
        else:
            raise EvalError(f"{path}: item {n} has no 'code', 'solution' or 'completion'")
        out.setdefault(idx, []).append(program or "")
    if not out:
        raise EvalError(f"{path}: no generations")
    return out


def _check_settings(out_dir: str, settings: RunSettings, resume: bool) -> None:
    path = os.path.join(out_dir, "run_config.json")
    if resume and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        diff = {k: (old.get(k), v) for k, v in asdict(settings).items() if old.get(k) != v}
        if diff:
            raise EvalError(
                f"{out_dir} holds generations made with other settings {diff} (old, new); "
                "use another --tag, or --no-resume to start over"
            )
    with open(path, "w", encoding="utf-8") as f:
        json.dump(asdict(settings), f, indent=2)


def generate_all(records: Sequence[dict], llm, settings: RunSettings, all_code_path: str, *,
                 resume: bool = True, batch_size: int = 8, progress=None,
                 errors_path: str | None = None) -> dict[int, list[str]]:
    """Generate ``settings.n`` programs per problem through the LLM layer (``llm``: a
    ``codecurate.models.llm.LLM``), appending each finished problem to ``all_code_path``.

    A problem whose generation failed (a server that stayed down, a per-record error) is not written to
    all_code.json: its error goes to ``errors_path`` (JSONL) and a resumed run asks again (samples that did
    succeed come back from the LLM cache). Prompts are sent ``max(batch_size, llm.concurrency)`` at a time: the
    HF backend batches them (length-sorted), the HTTP backend sends them concurrently."""
    from codecurate.models.generate import build_prompt, program_from_output
    from codecurate.models.llm import GenParams

    if not resume and os.path.exists(all_code_path):
        os.remove(all_code_path)
    done = {i: s for i, s in _group_by_problem(read_all_code(all_code_path, repair=True), all_code_path).items()
            if len(s) >= settings.n} if resume else {}
    if resume and os.path.exists(all_code_path):
        # keep only complete problems so the file never holds a problem twice
        keep = [r for i in sorted(done) for r in done[i][: settings.n]]
        with open(all_code_path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in keep)
    pending = [i for i in range(len(records)) if i not in done]
    prompts = {i: build_prompt(records[i], settings.prompt) for i in pending}
    # group problems that share stop sequences (one benchmark usually has one set)
    groups: dict[tuple, list[int]] = {}
    for i in pending:
        groups.setdefault(tuple(prompts[i][1]), []).append(i)
    chunk_size = max(1, batch_size, int(getattr(llm, "concurrency", 1) or 1))
    errors: list[dict] = []
    with open(all_code_path, "a", encoding="utf-8") as out:
        for stop, idxs in groups.items():
            params = GenParams(n=settings.n, temperature=settings.temperature, top_p=settings.top_p,
                               max_tokens=settings.max_new_tokens, stop=stop, seed=settings.seed)
            for start in range(0, len(idxs), chunk_size):
                chunk = idxs[start:start + chunk_size]
                results = llm.generate([prompts[i][0] for i in chunk], params)
                for i, res in zip(chunk, results):
                    if res.error is not None:
                        errors.append({"idx": i, "task_id": records[i]["id"], "error": res.error})
                        continue
                    lines = [
                        {"id": f"{i}_{j}", "task_id": records[i]["id"], "code":
                         program_from_output(records[i], t, settings.prompt, settings.extract), "raw": t}
                        for j, t in enumerate(res.texts)
                    ]
                    out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines))
                    done[i] = lines
                out.flush()
                os.fsync(out.fileno())
                if progress:
                    progress(len(done), len(records))
    if errors_path is not None:
        if errors:
            with open(errors_path, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
        elif os.path.exists(errors_path):
            os.remove(errors_path)
    return {i: [r["code"] for r in s[: settings.n]] for i, s in done.items()}


# ---------------------------------------------------------------- scoring
def _reference_for(record: dict) -> str | None:
    tests = record.get("tests") or {}
    if tests.get("kind") != "call":
        return None
    if any(isinstance(c, dict) and c.get("output") is None and "output_expr" not in c
           for c in tests.get("cases", [])):
        ref = record.get("meta", {}).get("reference_code") or record.get("code")
        if not ref:
            raise EvalError(f"problem {record['id']!r} has cases without expected output and no reference code")
        return ref
    return None


LIMIT_FIELDS = ("timeout_per_test", "timeout_total", "memory_mb", "recursion_limit")


def explicit_limits(sandbox_config=None, limits: dict | None = None) -> dict:
    """The limits a user chose: ``limits`` plus every limit field of ``sandbox_config`` that differs from the
    SandboxConfig default. These win over a benchmark's own limits (``meta.sandbox_limits``)."""
    from codecurate.sandbox import SandboxConfig

    out = {}
    if sandbox_config is not None:
        default = SandboxConfig()
        out = {f: getattr(sandbox_config, f) for f in LIMIT_FIELDS
               if getattr(sandbox_config, f) != getattr(default, f)}
    out.update({k: v for k, v in (limits or {}).items() if v is not None})
    unknown = set(out) - set(LIMIT_FIELDS)
    if unknown:
        raise EvalError(f"unknown sandbox limit(s) {sorted(unknown)}; valid: {', '.join(LIMIT_FIELDS)}")
    return out


def record_config(record: dict, base, explicit: dict):
    """The SandboxConfig for one problem: ``base``, then the benchmark's limits (LiveCodeBench: 6 s per test and
    its global timeout; BigCodeBench: 240 s, 30 GiB), then the user's explicit limits."""
    import dataclasses

    limits = {k: v for k, v in (record.get("meta", {}).get("sandbox_limits") or {}).items() if k in LIMIT_FIELDS}
    limits.update(explicit)
    if not limits:
        return base
    return dataclasses.replace(base, **{k: (int(v) if k in ("memory_mb", "recursion_limit") else float(v))
                                        for k, v in limits.items()})


def executed_program(record: dict, code: str, calibrate: bool = True) -> str:
    """What the sandbox runs for a generation: BigCodeBench's calibration prefix (``meta.calibration_prefix``,
    with ``calibrate``), then the benchmark's program transform (``tests.program_transform``: LiveCodeBench's
    stdin harness)."""
    prefix = record.get("meta", {}).get("calibration_prefix")
    if calibrate and prefix:
        code = prefix + code
    return code  # the benchmark's program transform is applied by run_tests (tests.program_transform)


def failure_reason(outcome) -> str | None:
    """Why a program did not pass, in one line: the first failing test's status and error (or what it printed
    / returned), or the program-level error."""
    if outcome.status == "passed" and outcome.passed == outcome.total:
        return None
    if outcome.status == "compile_error" or (outcome.error and not outcome.per_case):
        return f"{outcome.status}: {outcome.error}"[:500]
    for i, c in enumerate(outcome.per_case):
        st = c.get("status")
        if st == "passed":
            continue
        msg = f"test {i}: {st}"
        if c.get("error"):
            msg += f": {c['error']}"
        elif "got" in c:
            msg += f" (got {c['got']})"
        elif st == "wrong_answer" and c.get("stdout") is not None:
            msg += f" (printed {c['stdout'][:120]!r})"
        return msg[:500]
    return f"{outcome.status}: {outcome.error}"[:500] if outcome.error else outcome.status


def _run_jobs(items: list[tuple], workers: int) -> list:
    """``run_tests`` over (program, tests, reference, config, stdio_compare) items, each with its own config,
    in parallel threads (each program is its own sandboxed process); an item that fails to run becomes an
    ``error`` outcome. A missing sandbox protection is raised, not turned into errors."""
    from concurrent.futures import ThreadPoolExecutor

    from codecurate.sandbox import SandboxUnavailable, TestOutcome, run_tests

    def one(item):
        code, tests, ref, cfg, mode = item
        try:
            return run_tests(code, tests, cfg, ref, mode)
        except SandboxUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - one bad program never costs the batch its verdicts
            n = len(tests.get("cases") or []) if isinstance(tests, dict) else 0
            err = f"{type(e).__name__}: {e}"
            return TestOutcome("error", [-1] * n, 0, n, 0.0, [{"status": "error", "error": err}] * n, 0.0, err)

    if workers <= 1 or len(items) <= 1:
        return [one(it) for it in items]
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(one, items))


def score_programs(records: Sequence[dict], programs: dict[int, list[str]], *, ks: Sequence[int] = (1,),
                   workers: int = 2, sandbox_config=None, static: bool = True, limits: dict | None = None,
                   calibrate: bool = True, outcomes_out: list | None = None) -> tuple[dict, list[dict]]:
    """Execute every program against its problem's tests and compute all metrics.

    Each problem runs under its benchmark's limits (``meta.sandbox_limits``) unless the user set them
    (``limits``, or fields of ``sandbox_config`` that differ from the defaults), with its stdio comparison
    (``tests.stdio_compare``, default APPS's) and program transform (``executed_program``). Every sample that
    fails carries ``reason`` (``failure_reason``). ``outcomes_out``: receives (idx, j, TestOutcome, program run)."""
    from codecurate.sandbox import SandboxConfig

    base = sandbox_config or SandboxConfig()
    explicit = explicit_limits(sandbox_config, limits)
    order = sorted(programs)
    items, owners = [], []
    for i in order:
        rec = records[i]
        ref = _reference_for(rec)
        cfg = record_config(rec, base, explicit)
        mode = (rec.get("tests") or {}).get("stdio_compare") or "apps"
        for j, code in enumerate(programs[i]):
            items.append((executed_program(rec, code or "", calibrate), rec["tests"], ref, cfg, mode))
            owners.append((i, j))
    t0 = time.perf_counter()
    outcomes = _run_jobs(items, workers)
    exec_seconds = time.perf_counter() - t0
    if outcomes_out is not None:
        outcomes_out.extend((i, j, oc, it[0]) for (i, j), oc, it in zip(owners, outcomes, items))

    codes = [programs[i][j] or "" for i, j in owners]
    t1 = time.perf_counter()
    lint = pylint_scores(codes, workers=workers) if static else []
    mi_results = maintainability_indices(codes, workers=workers) if static else []
    mis = [m.value for m in mi_results]
    static_seconds = time.perf_counter() - t1

    per_problem: dict[int, dict] = {}
    status_counts: dict[str, int] = {}
    for s, ((i, j), oc) in enumerate(zip(owners, outcomes)):
        rec = records[i]
        n_inputs = len(oc.results) or len(rec["tests"]["cases"])
        passed_cases = sum(1 for r in oc.results if r is True)
        ratio = passed_cases / n_inputs if n_inputs else 0.0
        correct = oc.status == "passed" and passed_cases == n_inputs
        status_counts[oc.status] = status_counts.get(oc.status, 0) + 1
        sample = {"j": j, "status": oc.status, "correct": correct, "passed": passed_cases, "total": n_inputs,
                  "pass_ratio": ratio, "seconds": round(float(oc.seconds), 4)}
        if n_inputs <= 50:
            sample["results"] = list(oc.results)
        if getattr(oc, "error", None):
            sample["error"] = str(oc.error)[:500]
        if not correct:
            sample["reason"] = failure_reason(oc)
        if static:
            if getattr(lint[s], "error", None):
                sample["pylint_error"] = lint[s].error
            if mi_results[s].error:
                sample["mi_error"] = mi_results[s].error
            sample.update(pylint_score=lint[s].score, pylint_rated=lint[s].rated, smells=lint[s].counts,
                          mi=mis[s])
        p = per_problem.setdefault(i, {"idx": i, "task_id": rec["id"], "samples": []})
        p["samples"].append(sample)

    rows = []
    for i in order:
        p = per_problem[i]
        n = len(p["samples"])
        c = sum(1 for s in p["samples"] if s["correct"])
        p.update(n=n, c=c, pass_ratio=max(s["pass_ratio"] for s in p["samples"]),
                 **{f"pass@{k}": pass_at_k(n, c, k) for k in ks if k <= n})
        rows.append(p)

    n_samples = len(outcomes)
    metrics: dict[str, Any] = aggregate_pass_at_k([r["n"] for r in rows], [r["c"] for r in rows], ks)
    skipped = [k for k in ks if f"pass@{k}" not in metrics]
    metrics["avg_pass_ratio"] = sum(r["pass_ratio"] for r in rows) / len(rows) if rows else None
    metrics["avg_pass_ratio_all_samples"] = (
        sum(s["pass_ratio"] for r in rows for s in r["samples"]) / n_samples if n_samples else None
    )
    if static:
        metrics.update(summarize_pylint(lint))
        metrics["maintainability_index"] = sum(mis) / len(mis) if mis else None
    counts = {
        "problems": len(rows), "samples": n_samples,
        "correct_samples": sum(1 for r in rows for s in r["samples"] if s["correct"]),
        "solved_problems": sum(1 for r in rows if r["c"] > 0),
        "compile_errors": status_counts.get("compile_error", 0), "timeouts": status_counts.get("timeout", 0),
        "runtime_errors": status_counts.get("error", 0), "failed": status_counts.get("failed", 0),
        "status": status_counts,
    }
    summary = {"metrics": metrics, "counts": counts, "pass_at_k_skipped": skipped,
               "timing": {"execution_seconds": round(exec_seconds, 3), "static_seconds": round(static_seconds, 3)}}
    return summary, rows


def ground_truth_check(records: Sequence[dict], *, workers: int = 2, sandbox_config=None,
                       limits: dict | None = None, missing: dict[int, list[str]] | None = None) -> dict:
    """Run each problem's reference program (``meta.reference_program``, else ``code``) as a generation, before
    scoring (BigCodeBench's ``get_groundtruth``): the pass rate and, per failing task, why (with the modules it
    needs that are not importable, when known)."""
    idx = [i for i, r in enumerate(records) if (r.get("meta", {}).get("reference_program") or r.get("code"))]
    progs = {i: [records[i].get("meta", {}).get("reference_program") or records[i]["code"]] for i in idx}
    t0 = time.perf_counter()
    _, rows = score_programs(records, progs, ks=(1,), workers=workers, sandbox_config=sandbox_config,
                             static=False, limits=limits, calibrate=False)
    failed = {}
    for r in rows:
        if r["c"] == 0:
            why = r["samples"][0].get("reason")
            if missing and missing.get(r["idx"]):
                why = f"missing module(s) {', '.join(missing[r['idx']])}; {why}"
            failed[r["task_id"]] = why
    n = len(rows)
    return {"pass_rate": (n - len(failed)) / n if n else None, "tasks": n, "passed": n - len(failed),
            "failed_tasks": failed, "warn_below": 0.99, "seconds": round(time.perf_counter() - t0, 3)}


def dependency_report(records: Sequence[dict], python: str | None = None) -> tuple[dict, dict[int, list[str]]]:
    """Which problems need modules the sandbox's interpreter cannot import (``meta.required_modules``, checked
    with ``importlib.util.find_spec``, nothing imported). Returns (report, {problem index: missing modules})."""
    from codecurate.formats.bigcodebench import missing_modules

    needed = {i: r["meta"]["required_modules"] for i, r in enumerate(records)
              if r.get("meta", {}).get("required_modules")}
    if not needed:
        return {}, {}
    gone = set(missing_modules(sorted({m for ms in needed.values() for m in ms}), python))
    per = {i: [m for m in ms if m in gone] for i, ms in needed.items()}
    per = {i: ms for i, ms in per.items() if ms}
    by_module: dict[str, list[str]] = {}
    for i, ms in per.items():
        for m in ms:
            by_module.setdefault(m, []).append(records[i]["id"])
    report = {"checked_tasks": len(needed), "tasks_missing_modules": len(per),
              "missing_modules": {m: len(t) for m, t in sorted(by_module.items())},
              "tasks": {records[i]["id"]: ms for i, ms in sorted(per.items())},
              "interpreter": python or sys.executable,
              "how": "importlib.util.find_spec on each top-level module of libs + the task's imports"}
    return report, per


def _versions(backend: str | None) -> dict:
    v: dict[str, str | None] = {"python": platform.python_version(), "pylint": pylint_version(),
                                "radon": radon_version()}
    try:
        from importlib.metadata import version

        v["codecurate"] = version("codecurate")
    except Exception:  # not installed as a distribution (source checkout)
        v["codecurate"] = None
    if backend in ("hf", "vllm"):
        import transformers

        v["transformers"] = transformers.__version__
    return v


def _say(log, msg: str) -> None:
    (log or (lambda m: print(m, file=sys.stderr)))(msg)


def evaluate(
    benchmark: str | Sequence[dict], model: str | None = None, *, generator=None, backend: str = "hf",
    from_generations: str | None = None, output_dir: str = "Results", model_name: str | None = None,
    tag: str = "default", n: int = 1, temperature: float = 0.0, top_p: float = 1.0, ks: Sequence[int] = (1,),
    prompt: str = "auto", extract: str = "auto", max_new_tokens: int = 1024, batch_size: int = 8,
    workers: int = 2, limit: int | None = None, resume: bool = True, seed: int | None = 0,
    benchmark_path: str | None = None, difficulty: str | None = None, benchmark_format: str | None = None,
    sandbox_config=None, static: bool = True,
    generator_kwargs: dict | None = None, progress=None,
    split: str | None = None, subset: str | None = None, release: str | None = None, start_date: str | None = None,
    end_date: str | None = None, limits: dict | None = None, calibrate: bool = True,
    ground_truth: bool | None = None, missing_deps: str = "mark", layouts: str | Sequence[str] = "auto",
    log=None, apps_harness: bool = True, llm_cache: str | bool | None = None, results_name: str | None = None,
) -> EvalOutput:
    """Generate (or load) programs for a benchmark and score them; writes the Results/ layout described above.

    ``benchmark`` is a name (``load_benchmark``) or a list of canonical records. Give ``model`` (+ ``backend``),
    a ready ``generator`` (a ``codecurate.models.llm.LLM``), or ``from_generations`` (a file of existing
    generations; no model needed). With none of them the embedded ``smollm2-135m`` generates. Generation goes
    through the LLM layer with its SQLite call cache at ``llm_cache`` (default ``<out_dir>/llm_cache.sqlite``;
    False: none), so a killed run pays for no finished call twice; ``results.json["generation"]`` has the
    prompt/completion tokens, seconds, tokens/s, cache hits and errors.

    Benchmark options: ``split``/``subset`` (BigCodeBench complete|instruct, hard|full), ``release``,
    ``start_date``, ``end_date`` (LiveCodeBench). ``limits``: sandbox limits the user chose
    (timeout_per_test, timeout_total, memory_mb, recursion_limit), over the benchmark's own. ``calibrate``:
    BigCodeBench's calibration (its default). ``ground_truth``: run the reference programs first and report
    their pass rate (None: on for benchmarks that ask for it, BigCodeBench). ``missing_deps``: problems whose
    required modules are not importable are ``mark``ed (scored, listed, and pass@k also given without them)
    or ``exclude``d (not scored). ``layouts``: result files besides the study's ("auto": those the
    benchmark's own harness writes; or a list of study, evalplus, bigcode, lcb, bcb; see ``layouts.py``).
    ``log``: where warnings go (default stderr). ``apps_harness=False``: APPS/CodeContests programs run as
    real scripts instead of under APPS's harness (``sandbox/apps.py``; the fixes listed in the README).
    """
    from codecurate.evaluation import layouts as layout_writers

    if missing_deps not in ("mark", "exclude"):
        raise EvalError(f"missing_deps must be 'mark' or 'exclude', got {missing_deps!r}")
    if isinstance(benchmark, str):
        records = load_benchmark(benchmark, path=benchmark_path, difficulty=difficulty, limit=limit,
                                 format=benchmark_format, split=split or "test", subset=subset, release=release,
                                 start_date=start_date, end_date=end_date)
        bench_name = benchmark_slug(benchmark)
        if bench_name == "bigcodebench" and (split == "instruct" or (subset or "hard") != "hard"):
            bench_name = f"bigcodebench-{split or 'complete'}-{subset or 'hard'}"
    else:
        records = list(benchmark)[:limit] if limit else list(benchmark)
        bench_name = "custom"
    if not apps_harness:
        records = [dict(r, tests={k: v for k, v in r["tests"].items() if k != "harness"})
                   if (r.get("tests") or {}).get("harness") == "apps" else r for r in records]
    if not records:
        raise EvalError("the benchmark has no problems")
    if from_generations is None and model is None and generator is None:
        from codecurate.models.llm import DEFAULT_MODEL

        model = DEFAULT_MODEL
        _say(log, f"no model named: generating with the embedded {DEFAULT_MODEL} (SmolLM2-135M-Instruct, offline)")
    name = model_name or model_slug(model or (os.path.splitext(os.path.basename(from_generations))[0]
                                              if from_generations else "model"))
    # results_name: the benchmark level of the path (the study's layout puts the dataset there; "" = none)
    out_dir = os.path.join(output_dir, *( [results_name] if results_name else [] if results_name == "" else
                                          [bench_name]), name, tag)
    os.makedirs(out_dir, exist_ok=True)
    all_code_path = os.path.join(out_dir, "all_code.json")
    t0 = time.perf_counter()
    settings: RunSettings | None = None
    gen_stats: dict | None = None

    # which problems need modules this machine cannot import (BigCodeBench): listed, then marked or excluded
    python = getattr(sandbox_config, "python", None) if sandbox_config is not None else None
    deps, missing = dependency_report(records, python)
    if deps.get("tasks_missing_modules"):
        _say(log, f"warning: {deps['tasks_missing_modules']} of {deps['checked_tasks']} problems need modules that "
                  f"are not importable here ({', '.join(deps['missing_modules'])}); they are "
                  f"{'excluded' if missing_deps == 'exclude' else 'scored and marked'} (results.json: "
                  "dependency_report)")

    if from_generations is not None:
        programs = load_generations(from_generations, records, skip_unknown=limit is not None)
        if os.path.abspath(from_generations) != os.path.abspath(all_code_path):
            with open(all_code_path, "w", encoding="utf-8") as f:
                for i in sorted(programs):
                    f.writelines(json.dumps({"id": f"{i}_{j}", "task_id": records[i]["id"], "code": code},
                                           ensure_ascii=False) + "\n" for j, code in enumerate(programs[i]))
        gen_seconds = 0.0
    else:
        from codecurate.models.generate import has_chat_template, make_llm

        if generator is None:
            kw = dict(generator_kwargs or {})
            if llm_cache is not False:
                kw.setdefault("cache", llm_cache or os.path.join(out_dir, "llm_cache.sqlite"))
            if backend == "hf":
                kw.setdefault("batch_size", batch_size)
            try:
                generator = make_llm(backend, model, **kw)
            except Exception as e:
                from codecurate.models.llm import LLMError

                if isinstance(e, LLMError):
                    raise EvalError(str(e)) from e
                raise
            owns_llm = True
        else:
            owns_llm = False
        preset = prompt
        if preset == "auto":
            preset = "chat" if has_chat_template(generator) else "completion"
        backend_name = getattr(generator, "backend", backend)
        model_label = model if model else getattr(generator, "model_id", "generator")
        settings = RunSettings(benchmark=bench_name, model=model_label,
                               backend=backend_name, prompt=preset, n=n, temperature=temperature, top_p=top_p,
                               max_new_tokens=max_new_tokens, extract=extract, seed=seed)
        if n > 1 and temperature == 0:
            raise EvalError("n > 1 samples need temperature > 0 (greedy decoding gives n identical samples)")
        _check_settings(out_dir, settings, resume)
        before = generator.stats.as_dict()
        g0 = time.perf_counter()
        errors_path = os.path.join(out_dir, "generation_errors.jsonl")
        try:
            programs = generate_all(records, generator, settings, all_code_path, resume=resume,
                                    batch_size=batch_size, progress=progress, errors_path=errors_path)
        finally:
            if owns_llm:
                generator.close()
        gen_seconds = time.perf_counter() - g0
        after = generator.stats.as_dict()
        gen_stats = {k: round(after[k] - before.get(k, 0), 3) for k in after if k != "tokens_per_s"}
        gen_stats["tokens_per_s"] = (round(gen_stats["completion_tokens"] / gen_stats["seconds"], 2)
                                     if gen_stats.get("seconds") else 0.0)
        gen_stats["load_seconds"] = round(getattr(generator, "load_seconds", 0.0) or 0.0, 3)
        n_err = 0
        if os.path.exists(errors_path):
            with open(errors_path, encoding="utf-8") as f:
                errs = [json.loads(x) for x in f if x.strip()]
            n_err = len(errs)
            gen_stats["failed_problems"] = n_err
            gen_stats["errors_file"] = "generation_errors.jsonl"
            _say(log, f"warning: generation failed for {n_err} problem(s) (first: {errs[0]['task_id']}: "
                      f"{errs[0]['error'][:300]}); they are not scored; rerun to retry them")
            if not programs:
                raise EvalError(f"generation failed for every problem; first error: {errs[0]['error'][:500]} "
                                f"({errors_path})")
        gen_stats["cache"] = (str(getattr(generator.cache, "path", "")) or None) if generator.cache else None

    excluded = sorted(i for i in missing if i in programs) if missing_deps == "exclude" else []
    scored = {i: p for i, p in programs.items() if i not in set(excluded)}
    if not scored:
        raise EvalError("no problem is left to score (all excluded or without generations)")

    gt = None
    want_gt = ground_truth if ground_truth is not None else any(r.get("meta", {}).get("ground_truth_check")
                                                                 for r in records)
    if want_gt:
        gt_idx = sorted(scored)
        sub = [records[i] for i in gt_idx]
        gt = ground_truth_check(sub, workers=workers, sandbox_config=sandbox_config, limits=limits,
                                missing={k: missing[i] for k, i in enumerate(gt_idx) if i in missing})
        level = "warning: " if gt["pass_rate"] is not None and gt["pass_rate"] < gt["warn_below"] else ""
        _say(log, f"{level}ground-truth pass rate {gt['pass_rate']:.3f} ({gt['passed']}/{gt['tasks']} reference "
                  f"solutions pass)" + (f"; below {gt['warn_below']}: the environment fails tasks a correct "
                                        f"solution passes, scores are lower than the harness's own"
                                        if level else ""))
        for tid, why in list(gt["failed_tasks"].items())[:20]:
            _say(log, f"  ground truth fails {tid}: {why}")

    outcomes: list = []
    summary, rows = score_programs(records, scored, ks=ks, workers=workers, sandbox_config=sandbox_config,
                                   static=static, limits=limits, calibrate=calibrate, outcomes_out=outcomes)
    for r in rows:
        if r["idx"] in missing:
            r["missing_modules"] = missing[r["idx"]]
    without = len(records) - len(programs)
    summary["counts"].update(problems_in_benchmark=len(records), problems_without_generations=without,
                             problems_excluded_missing_modules=len(excluded))
    if deps and missing and missing_deps == "mark":
        ok_rows = [r for r in rows if r["idx"] not in missing]
        if ok_rows:
            extra = aggregate_pass_at_k([r["n"] for r in ok_rows], [r["c"] for r in ok_rows], ks)
            summary["metrics"].update({f"{k}_modules_available": v for k, v in extra.items()})
    if without:
        _say(log, f"warning: {without} of {len(records)} problems have no generation; metrics cover the "
                  f"{len(programs)} that do")
    results = {
        "benchmark": bench_name, "model": name, "tag": tag,
        "source": "generations file" if from_generations else "model",
        "generations_file": os.path.abspath(from_generations) if from_generations else None,
        "settings": asdict(settings) if settings else None,
        "problems_in_benchmark": len(records), "problems_without_generations": without,
        **summary,
        "benchmark_options": {k: v for k, v in {"split": split, "subset": subset, "release": release,
                                                "start_date": start_date, "end_date": end_date,
                                                "calibrated": calibrate if any(r.get("meta", {}).get(
                                                    "calibration_prefix") for r in records) else None,
                                                "limits": explicit_limits(sandbox_config, limits) or None,
                                                "missing_deps": missing_deps if deps else None}.items()
                              if v is not None},
        "static_metrics": {"pylint_config": "pylint defaults (empty rcfile)", "unrated_score": 0.0,
                           "mi": "radon mi_visit(code, multi=True); error -> 0", "on": "program in all_code.json"},
        "versions": _versions(None if from_generations else (settings.backend if settings else backend)),
    }
    if deps:
        results["dependency_report"] = dict(deps, excluded=[records[i]["id"] for i in excluded])
    if gt is not None:
        results["ground_truth"] = gt
    results["timing"]["generation_seconds"] = round(gen_seconds, 3)
    if gen_stats is not None:
        results["generation"] = gen_stats
    with open(os.path.join(out_dir, "per_problem.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    written = layout_writers.write_layouts(
        layout_writers.resolve_layouts(layouts, bench_name, records), out_dir, records=records, programs=programs,
        rows=rows, outcomes=outcomes, results=results, ks=ks)
    results["result_files"] = sorted(["all_code.json", "results.json", "per_problem.jsonl"] + written)
    results["timing"]["total_seconds"] = round(time.perf_counter() - t0, 3)
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, default=str)
    return EvalOutput(out_dir=out_dir, results=results, per_problem=rows)
