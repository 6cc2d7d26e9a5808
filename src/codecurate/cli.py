"""The ``codecurate`` command line. Each verb is a thin wrapper over a library function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Optimize training data for code LLMs and prove what the optimization did.")
console = Console()
err = Console(stderr=True)


def _fail(msg: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {msg}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML file."),
    resume: bool = typer.Option(False, "--resume", help="Skip finished stages (same config and input)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Worker processes (default: all cores)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run directory (default: recipe output.dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e",
                                           help="local (process pool) or ray (Ray tasks); default: the recipe's."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Ray cluster to join (default: RAY_ADDRESS, else a local one)."),
):
    """Run a recipe: read, run every stage, write the run directory and the curated dataset."""
    from codecurate.io import InputError
    from codecurate.pipeline.op import OpError
    from codecurate.pipeline.recipe import Recipe, RecipeError
    from codecurate.pipeline.registry import UnknownOpError
    from codecurate.pipeline.runner import Runner

    try:
        rec = Recipe.from_yaml(recipe)
        res = Runner(rec, output=output, workers=workers, resume=resume, progress=not quiet, console=console,
                     executor=executor, ray_address=ray_address).run()
    except (RecipeError, InputError, UnknownOpError, OpError) as e:
        _fail(str(e))
    _print_summary(res.run_dir)
    console.print(f"curated dataset: [bold]{res.output_path}[/]  run directory: {res.run_dir}")


def _print_summary(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    t = Table(title=f"{summary['recipe']}: {summary['records_in']} records in, {summary['records_out']} out")
    for c in ("stage", "op", "in", "out", "dropped", "created", "seconds", "resumed"):
        t.add_column(c, justify="right" if c in ("in", "out", "dropped", "created", "seconds") else "left")
    for s in summary["stages"]:
        t.add_row(s["stage"], s["op"], str(s["in"]), str(s["out"]), str(s["dropped"]), str(s["created"]),
                  f"{s['seconds']:.2f}", "yes" if s["resumed"] else "")
    console.print(t)


@app.command()
def ops(name: Optional[str] = typer.Argument(None, help="Show one operator's parameters.")):
    """List operators, or show one with its parameters, defaults and paper."""
    from codecurate.pipeline.registry import UnknownOpError, all_ops, get_op

    if name is None:
        t = Table(title="operators")
        for c in ("name", "kind", "needs", "summary"):
            t.add_column(c)
        for n, cls in all_ops().items():
            doc = (cls.__doc__ or "").strip().splitlines()
            t.add_row(n, cls.kind, ",".join(cls.needs), doc[0] if doc else "")
        console.print(t)
        return
    try:
        cls = get_op(name)
    except UnknownOpError as e:
        _fail(str(e))
    import inspect

    console.print(f"[bold]{cls.name}[/] ({cls.kind}; needs {', '.join(cls.needs)})")
    mod_doc = inspect.getmodule(cls).__doc__ or ""
    console.print((cls.__doc__ or "").strip())
    if mod_doc.strip():
        console.print(mod_doc.strip(), highlight=False)
    if cls.paper:
        console.print(f"paper: {cls.paper}", highlight=False)
    t = Table(title="parameters")
    for c in ("name", "type", "default", "description"):
        t.add_column(c)
    for fname, f in cls.Config.model_fields.items():
        ann = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
        default = "(required)" if f.is_required() else repr(f.get_default(call_default_factory=True))
        t.add_row(fname, ann, default, f.description or "")
    console.print(t)


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="A run directory written by `codecurate run`."),
    samples: int = typer.Option(3, "--samples", "-n", help="Dropped records to show per stage."),
    stage: Optional[str] = typer.Option(None, "--stage", help="Only this stage."),
):
    """Stats per stage, top drop reasons, and a sample of dropped records."""
    from codecurate.pipeline import shards as sh

    if not (run_dir / "summary.json").exists():
        _fail(f"{run_dir}: not a finished run directory (no summary.json)")
    _print_summary(run_dir)
    seen_numeric: set[str] = set()
    for d in sorted((run_dir / "stages").iterdir()):
        name = d.name.split("_", 1)[1]
        if stage and name != stage:
            continue
        stats = json.loads((d / "stats.json").read_text()) if (d / "stats.json").exists() else {}
        reasons = stats.get("reasons") or {}
        numeric = {k: v for k, v in (stats.get("numeric") or {}).items() if k not in seen_numeric}
        seen_numeric |= set(stats.get("numeric") or {})
        if not reasons and not stats.get("counters") and not numeric:
            continue
        console.rule(f"[bold]{d.name}")
        if reasons:
            t = Table(title="top drop reasons")
            t.add_column("reason")
            t.add_column("records", justify="right")
            for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:10]:
                t.add_row(r, str(n))
            console.print(t)
        if stats.get("counters"):
            console.print("counters: " + ", ".join(f"{k}={v}" for k, v in stats["counters"].items()), highlight=False)
        for k, v in numeric.items():
            console.print(f"stats.{k}: n={v['count']} mean={v['mean']:.4g} min={v['min']:.4g} max={v['max']:.4g}",
                          highlight=False)
        ledgers = sorted(d.glob("ledger-*.parquet"))
        if ledgers and samples:
            for e in sh.read_ledger(ledgers[:1])[:samples]:
                rec = e["record"]
                text = (rec.get("instruction") or rec.get("raw") or "")[:160].replace("\n", " ")
                console.print(f"  dropped [bold]{e['id']}[/]: {e['reason']}\n    {text}", highlight=False)


@app.command()
def convert(
    src: Path = typer.Argument(..., help="Input file (or hub id)."),
    dst: Path = typer.Argument(..., help="Output file: .jsonl, .jsonl.gz, .json or .parquet."),
    to: str = typer.Option("codecurate", "--to", help="Output format name, 'same', or 'codecurate' (canonical)."),
    from_format: Optional[str] = typer.Option(None, "--from", help="Force the input format (default: detect)."),
):
    """Convert a dataset between formats (through canonical records)."""
    from codecurate.formats import FORMATS, FormatError
    from codecurate.io import InputError, read_records, write_records

    if to not in FORMATS and to != "same":
        _fail(f"unknown format {to!r}; valid: {', '.join(FORMATS)}, same")
    try:
        n = write_records(read_records(str(src), format=from_format), dst, format=to)
    except (InputError, FormatError, TypeError) as e:
        _fail(str(e))
    console.print(f"wrote {n} records to {dst} ({to})")


@app.command("formats")
def formats_cmd():
    """List the supported dataset formats."""
    from codecurate.formats import FORMATS

    t = Table(title="formats")
    t.add_column("name")
    t.add_column("what")
    for n, f in FORMATS.items():
        t.add_row(n, f.description)
    console.print(t)


# Verbs that live in their own modules (each imports its heavy dependencies lazily, inside the command).
from codecurate.cli_decontam import decontam_report_command  # noqa: E402
from codecurate.cli_eval import eval_command  # noqa: E402
from codecurate.cli_train import train_command  # noqa: E402

app.command("eval")(eval_command)
app.command("train")(train_command)
app.command("decontam-report")(decontam_report_command)


if __name__ == "__main__":  # pragma: no cover
    app()
