"""``codecurate study STUDY.yaml``: datasets x technique chains x models -> optimize -> train -> evaluate -> table."""

from __future__ import annotations

import json

import typer


def study_command(
    study: str = typer.Argument(..., help="A study file (see studies/mbpp_smoke.yaml)."),
    output: str | None = typer.Option(None, "--output", "-o", help="Study directory (default: the file's `output`, "
                                                                   "else runs/studies/<name>)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and table as JSON."),
) -> None:
    """Run every cell (dataset x chain x model): optimize the data, fine-tune, pick the checkpoint on the
    validation split, evaluate on the test split; write results.md/.csv/.html/.json. Resumable: rerun the same
    command after a crash and finished steps, trainings and cells are reused."""
    from rich.console import Console
    from rich.markup import escape

    from codecurate.study import StudyError, load_study, run_study

    err = Console(stderr=True)
    try:
        spec = load_study(study)
    except StudyError as e:
        err.print(f"error: {escape(str(e))}", markup=True)
        raise typer.Exit(code=2) from e
    res = run_study(spec, output=output, log=lambda m: err.print(m, markup=False, highlight=False))
    if as_json:
        typer.echo(json.dumps({"summary": res["summary"], "table": res["table"]}, indent=2, default=str))
    else:
        s = res["summary"]
        typer.echo((s and open(s["table"], encoding="utf-8").read()) or "")
        typer.echo(f"cells: {s['cells']} ({s['cells_run']} run, {s['cells_reused']} reused, {s['cells_failed']} "
                   f"failed); table: {s['table']}")
    if res["summary"]["cells_failed"]:
        raise typer.Exit(code=1)
