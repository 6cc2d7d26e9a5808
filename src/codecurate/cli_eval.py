"""``codecurate eval``: generate with a model and score it on a benchmark, or re-score existing generations.

The lead registers ``eval_command`` on the Typer app (``app.command("eval")(eval_command)``).
"""

from __future__ import annotations

import json

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
    model: str | None = typer.Argument(None, help="Model path or HF hub id (omit with --from-generations)."),
    benchmark: str = typer.Option("humaneval", "--benchmark", "-b",
                                  help="humaneval, humaneval+, mbpp, mbpp+, apps, codecontests, or a records file "
                                       "(humaneval-assert / mbpp-assert: the original in-process asserts, which a "
                                       "hostile program can forge)."),
    benchmark_path: str | None = typer.Option(None, "--benchmark-path",
                                                 help="Local file or hub id for apps/codecontests."),
    difficulty: str | None = typer.Option(None, "--difficulty", help="APPS difficulties, comma-separated."),
    benchmark_format: str | None = typer.Option(None, "--format",
                                                   help="Format of a records-file benchmark (default: detected)."),
    from_generations: str | None = typer.Option(
        None, "--from-generations", help="Score existing generations (study all_code.json, or JSONL with "
                                         "task_id + code/solution/completion) without a model."),
    backend: str = typer.Option("hf", "--backend", help="hf | vllm | openai"),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (openai backend)."),
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
    timeout_per_test: float | None = typer.Option(None, "--timeout-per-test", help="Sandbox seconds per test."),
) -> None:
    """Generate with a model and score it on a benchmark (pass@k, average pass ratio, code smells, MI)."""
    from codecurate.evaluation.runner import EvalError, evaluate
    from codecurate.sandbox import SandboxConfig, SandboxUnavailable

    ks = _parse_ks(k)
    if model is None and from_generations is None:
        raise typer.BadParameter("give a MODEL or --from-generations FILE")
    sandbox_kwargs = {"allow_unisolated": allow_unisolated}
    if timeout_per_test is not None:
        sandbox_kwargs["timeout_per_test"] = timeout_per_test
    gen_kwargs = {"base_url": base_url} if backend == "openai" and base_url else {}
    try:
        out = evaluate(
            benchmark, model, backend=backend, from_generations=from_generations, output_dir=output,
            model_name=model_name, tag=tag, n=n, temperature=temperature, top_p=top_p, ks=ks, prompt=prompt,
            extract=extract, max_new_tokens=max_new_tokens, batch_size=batch_size, workers=workers, limit=limit,
            resume=resume, seed=seed, benchmark_path=benchmark_path, difficulty=difficulty,
            benchmark_format=benchmark_format,
            sandbox_config=SandboxConfig(**sandbox_kwargs), static=static, generator_kwargs=gen_kwargs,
            progress=lambda done, total: typer.echo(f"generated {done}/{total}", err=True),
        )
    except (EvalError, ValueError, SandboxUnavailable) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    typer.echo(json.dumps({"out_dir": out.out_dir, **out.results["metrics"], **out.results["counts"]}, indent=2,
                          default=str))
