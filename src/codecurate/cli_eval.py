"""``codecurate eval``: generate with a model and score it on a benchmark, or re-score existing generations.

The lead registers ``eval_command`` on the Typer app (``app.command("eval")(eval_command)``).
"""

from __future__ import annotations

import json
from typing import Any

import typer


def _parse_ks(k: str) -> list[int]:
    try:
        ks = sorted({int(x) for x in k.split(",") if x.strip()})
    except ValueError as e:
        raise typer.BadParameter(f"--k takes comma-separated integers like 1,10,100, got {k!r}") from e
    if not ks or ks[0] < 1:
        raise typer.BadParameter(f"--k values must be >= 1, got {k!r}")
    return ks


def eval_command(
    model: str | None = typer.Argument(None, help="Model: an alias (smollm2-135m, the embedded default), a local "
                                                   "path or an HF hub id; the openai backend: the server's model "
                                                   "name. Same as --model."),
    model_opt: str | None = typer.Option(None, "--model", "-m", help="The model (instead of the argument)."),
    benchmark: str = typer.Option("humaneval", "--benchmark", "-b",
                                  help="humaneval, humaneval+, mbpp, mbpp+, apps, codecontests, livecodebench, "
                                       "bigcodebench, or a records file (humaneval-assert / mbpp-assert: the "
                                       "original in-process asserts, which a hostile program can forge)."),
    benchmark_path: str | None = typer.Option(None, "--benchmark-path",
                                                 help="Local file (or hub id for apps/codecontests). livecodebench: "
                                                      "code_generation_lite rows (default: the bundled 40-problem "
                                                      "release_v1 sample); bigcodebench: the dataset export "
                                                      "(default: the bundled 30-task Hard sample)."),
    split: str | None = typer.Option(None, "--split", help="bigcodebench: complete (default) | instruct; "
                                                            "apps/codecontests: the hub split (default test)."),
    subset: str | None = typer.Option(None, "--subset", help="bigcodebench: hard (default) | full."),
    release: str | None = typer.Option(None, "--release",
                                       help="livecodebench: release_vN (cumulative), vN or vA_vB; needs rows that "
                                            "carry a release_version field (the bundled sample is release_v1)."),
    start_date: str | None = typer.Option(None, "--start-date",
                                          help="livecodebench: keep problems with contest_date >= YYYY-MM-DD."),
    end_date: str | None = typer.Option(None, "--end-date",
                                        help="livecodebench: keep problems with contest_date <= YYYY-MM-DD "
                                             "(midnight, as LCB)."),
    difficulty: str | None = typer.Option(None, "--difficulty", help="APPS difficulties, comma-separated."),
    benchmark_format: str | None = typer.Option(None, "--format",
                                                   help="Format of a records-file benchmark (default: detected)."),
    from_generations: str | None = typer.Option(
        None, "--from-generations", help="Score existing generations (study all_code.json, or JSONL with "
                                         "task_id + code/solution/completion) without a model."),
    backend: str = typer.Option("hf", "--backend", help="hf | vllm | openai"),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (openai backend)."),
    concurrency: int = typer.Option(8, "--concurrency", help="openai backend: requests in flight at once."),
    request_timeout: float = typer.Option(120.0, "--request-timeout",
                                          help="openai backend: seconds per request, body included."),
    max_retries: int = typer.Option(5, "--max-retries",
                                    help="openai backend: retries on 429/5xx/timeouts/resets (backoff with "
                                         "jitter, Retry-After honoured)."),
    rpm: float | None = typer.Option(None, "--rpm", help="openai backend: requests per minute limit."),
    tpm: float | None = typer.Option(None, "--tpm", help="openai backend: tokens per minute limit."),
    llm_cache: bool = typer.Option(True, "--llm-cache/--no-llm-cache",
                                   help="Cache every model call in <run dir>/llm_cache.sqlite (a killed or "
                                        "repeated run pays for no call twice)."),
    n: int = typer.Option(1, "--n", help="Samples per problem (n > 1 needs --temperature > 0)."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p"),
    k: str = typer.Option("1", "--k", help="pass@k values, comma-separated (only k <= n are reported)."),
    prompt: str = typer.Option("auto", "--prompt",
                               help="auto | completion | study | chat | study-chat (auto: chat if the tokenizer "
                                    "has a chat template, else completion)."),
    extract: str = typer.Option("auto", "--extract", help="Code extraction for chat answers: auto | study."),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens"),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts per generate() call."),
    workers: int = typer.Option(2, "--workers", help="Parallel sandbox workers for execution and pylint."),
    output: str = typer.Option("Results", "--output", "-o", help="Results directory."),
    tag: str = typer.Option("default", "--tag", help="Run name: Results/<benchmark>/<model>/<tag>/."),
    model_name: str | None = typer.Option(None, "--model-name", help="Name used in the results path."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N problems."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Keep finished generations in all_code.json."),
    seed: int = typer.Option(0, "--seed"),
    static: bool = typer.Option(True, "--static/--no-static", help="Compute pylint and MI metrics."),
    allow_unisolated: bool = typer.Option(False, "--allow-unisolated",
                                          help="Run generated code even where the sandbox lacks a protection."),
    timeout_per_test: float | None = typer.Option(None, "--timeout-per-test",
                                                  help="Sandbox seconds per test (default: the benchmark's harness: "
                                                       "LiveCodeBench 6, BigCodeBench 240, else 4)."),
    timeout_total: float | None = typer.Option(None, "--timeout-total",
                                               help="Sandbox seconds per program, all tests together (default: the "
                                                    "benchmark's: LiveCodeBench 7 x tests + 5, BigCodeBench 241, "
                                                    "else 10)."),
    memory_mb: int | None = typer.Option(None, "--memory-mb",
                                         help="Memory per program in MiB (default: LiveCodeBench 4096, "
                                              "BigCodeBench 30720, else 2048)."),
    apps_harness: bool = typer.Option(True, "--apps-harness/--no-apps-harness",
                                      help="apps/codecontests: run programs under APPS's testing_util harness "
                                           "(its prelude, code() wrapping, SystemExit ignored; the default) or as "
                                           "real scripts (__main__, real stdin)."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate",
                                   help="bigcodebench: put code_prompt + 'pass' before each solution (BigCodeBench's "
                                        "default)."),
    ground_truth: bool | None = typer.Option(None, "--ground-truth/--no-ground-truth",
                                             help="Run the reference solutions first and report their pass rate "
                                                  "(default: on for bigcodebench)."),
    missing_deps: str = typer.Option("mark", "--missing-deps",
                                     help="Problems needing modules that are not importable here: mark (scored, "
                                          "listed, pass@k also without them) | exclude (not scored)."),
    layouts: str = typer.Option("auto", "--layouts",
                                help="Result files besides the study's: auto (the benchmark's own harness: "
                                     "evalplus for humaneval/mbpp, lcb, bcb; bigcode always) | all | a list of "
                                     "study,evalplus,bigcode,lcb,bcb."),
) -> None:
    """Generate with a model and score it on a benchmark (pass@k, average pass ratio, code smells, MI)."""
    from codecurate.evaluation.runner import EvalError, evaluate
    from codecurate.sandbox import SandboxConfig, SandboxUnavailable

    ks = _parse_ks(k)
    if model is not None and model_opt is not None and model != model_opt:
        raise typer.BadParameter(f"two models given: {model!r} (argument) and {model_opt!r} (--model)")
    model = model or model_opt
    if from_generations is not None and model is not None:
        raise typer.BadParameter("give a model or --from-generations FILE, not both")
    sandbox_kwargs: dict[str, Any] = {"allow_unisolated": allow_unisolated}
    given = {"timeout_per_test": timeout_per_test, "timeout_total": timeout_total, "memory_mb": memory_mb}
    limits = {k: v for k, v in given.items() if v is not None}
    for field_name, v in limits.items():
        if not v > 0:
            raise typer.BadParameter(f"--{field_name.replace('_', '-')} must be > 0, got {v}")
    if missing_deps not in ("mark", "exclude"):
        raise typer.BadParameter(f"--missing-deps must be mark or exclude, got {missing_deps!r}")
    if backend not in ("hf", "vllm", "openai"):
        raise typer.BadParameter(f"--backend must be hf, vllm or openai, got {backend!r}")
    gen_kwargs: dict = {}
    if backend == "openai":
        if model is None:
            raise typer.BadParameter("the openai backend needs the server's model name (--model NAME)")
        gen_kwargs = {"concurrency": concurrency, "timeout": request_timeout, "max_retries": max_retries,
                      "requests_per_minute": rpm, "tokens_per_minute": tpm}
        if base_url:
            gen_kwargs["base_url"] = base_url
    try:
        out = evaluate(
            benchmark, model, backend=backend, from_generations=from_generations, output_dir=output,
            model_name=model_name, tag=tag, n=n, temperature=temperature, top_p=top_p, ks=ks, prompt=prompt,
            extract=extract, max_new_tokens=max_new_tokens, batch_size=batch_size, workers=workers, limit=limit,
            resume=resume, seed=seed, benchmark_path=benchmark_path, difficulty=difficulty,
            benchmark_format=benchmark_format,
            sandbox_config=SandboxConfig(**sandbox_kwargs), static=static, generator_kwargs=gen_kwargs,
            progress=lambda done, total: typer.echo(f"generated {done}/{total}", err=True),
            split=split, subset=subset, release=release, start_date=start_date, end_date=end_date, limits=limits,
            calibrate=calibrate, apps_harness=apps_harness, ground_truth=ground_truth, missing_deps=missing_deps, layouts=layouts,
            log=lambda msg: typer.echo(msg, err=True), llm_cache=None if llm_cache else False,
        )
    except (EvalError, ValueError, SandboxUnavailable) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    typer.echo(json.dumps(summary_for_print(out), indent=2, default=str))


def summary_for_print(out) -> dict:
    """What ``eval`` prints: where the results are, the metrics, the counts, and every caveat that changes how
    to read them (problems without generations or excluded, the ground-truth pass rate)."""
    res = out.results
    counts = res["counts"]
    summary = {"out_dir": out.out_dir, **res["metrics"], **counts}
    scored, total = counts["problems"], counts.get("problems_in_benchmark", counts["problems"])
    notes = []
    if counts.get("problems_without_generations"):
        notes.append(f"metrics cover {scored} of {total} problems: {counts['problems_without_generations']} have "
                     "no generation")
    if counts.get("problems_excluded_missing_modules"):
        notes.append(f"{counts['problems_excluded_missing_modules']} problems excluded: modules not importable "
                     "(results.json dependency_report)")
    elif (res.get("dependency_report") or {}).get("tasks_missing_modules"):
        notes.append(f"{res['dependency_report']['tasks_missing_modules']} problems need modules that are not "
                     "importable here (scored; pass@k without them: *_modules_available)")
    gen = res.get("generation")
    if gen:
        summary["generation"] = {k: gen.get(k) for k in ("prompt_tokens", "completion_tokens", "seconds",
                                                         "tokens_per_s", "cache_hits", "cache_misses", "errors")}
        if gen.get("failed_problems"):
            notes.append(f"generation failed for {gen['failed_problems']} problem(s): not scored "
                         f"({gen.get('errors_file')}); rerun to retry them")
    gt = res.get("ground_truth")
    if gt:
        summary["ground_truth_pass_rate"] = gt["pass_rate"]
        if gt["pass_rate"] is not None and gt["pass_rate"] < gt["warn_below"]:
            notes.append(f"ground-truth pass rate {gt['pass_rate']:.3f} < {gt['warn_below']}: reference solutions "
                         "fail here (results.json ground_truth.failed_tasks)")
    if notes:
        summary["notes"] = notes
    summary["result_files"] = res.get("result_files")
    return summary
