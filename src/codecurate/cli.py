"""The ``codecurate`` command line. Each verb is a thin wrapper over a library function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Optimize training data for code LLMs and prove what the optimization did.")
console = Console()
err = Console(stderr=True)

# Text that comes from data, docstrings or error messages is never read as rich markup: a record holding
# `[/INST]` or a docstring holding `[min, max]` must print as it is. Such text goes through `escape` or `Text`.


def _fail(msg: str, code: int = 2) -> None:
    err.print(Text.assemble(("error:", "bold red"), " ", str(msg)), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _echo_json(obj) -> None:
    """JSON on stdout, unwrapped and uncoloured (rich would wrap it at the terminal width)."""
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _version_callback(value: bool) -> None:
    if value:
        import codecurate

        typer.echo(f"codecurate {codecurate.__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="Print the codecurate version and exit.")) -> None:
    """Optimize training data for code LLMs and prove what the optimization did."""


@app.command()
def run(
    recipe: str = typer.Argument(..., help="Recipe YAML file (or package://recipes/NAME.yaml, a shipped one)."),
    resume: bool = typer.Option(False, "--resume", help="Skip finished stages (same config and input)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Worker processes (default: all cores)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run directory (default: recipe output.dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e",
                                           help="local (process pool) or ray (Ray tasks); default: the recipe's."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Ray cluster to join (default: RAY_ADDRESS, else a local one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout (progress, if "
                                                       "any, goes to stderr)."),
):
    """Run a recipe: read, run every stage, write the run directory and the curated dataset."""
    from codecurate.formats import FormatError
    from codecurate.io import InputError
    from codecurate.pipeline.op import OpError
    from codecurate.pipeline.recipe import Recipe, RecipeError
    from codecurate.pipeline.registry import UnknownOpError
    from codecurate.pipeline.runner import AccountingError, Runner
    from codecurate.records import RecordError

    try:
        rec = Recipe.from_yaml(recipe)
        res = Runner(rec, output=output, workers=workers, resume=resume, progress=not quiet,
                     console=err if as_json else console, executor=executor, ray_address=ray_address).run()
    except (RecipeError, InputError, UnknownOpError, OpError, FormatError, RecordError, AccountingError) as e:
        _fail(str(e))
    if as_json:
        summary = json.loads((res.run_dir / "summary.json").read_text())
        _echo_json({**summary, "run_dir": str(res.run_dir), "output": str(res.output_path)})
        return
    _print_summary(res.run_dir)
    console.print(Text.assemble("curated dataset: ", (str(res.output_path), "bold"), f"  run directory: {res.run_dir}"),
                  highlight=False)


def _print_summary(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    t = Table(title=Text(f"{summary['recipe']}: {summary['records_in']} records in, {summary['records_out']} out"))
    for c in ("stage", "op", "in", "out", "dropped", "created", "seconds", "resumed"):
        t.add_column(c, justify="right" if c in ("in", "out", "dropped", "created", "seconds") else "left")
    for s in summary["stages"]:
        t.add_row(Text(s["stage"]), Text(s["op"]), str(s["in"]), str(s["out"]), str(s["dropped"]), str(s["created"]),
                  f"{s['seconds']:.2f}", "yes" if s["resumed"] else "")
    console.print(t)


# -- ops ---------------------------------------------------------------------------------------------------
def _type_str(ann) -> str:
    """A parameter's type as a user reads it: ``'raise' | 'skip'``, ``list[str] | None``, ``int``."""
    import types
    import typing

    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(types, "UnionType", typing.Union)):
        return " | ".join(_type_str(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(_type_str(a) for a in args)}]" if args else name
    return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")


def _choices(ann) -> list | None:
    """The values a ``Literal`` anywhere in the annotation allows (``Literal[...] | None``, ``list[Literal]``)."""
    import typing

    if typing.get_origin(ann) is typing.Literal:
        return list(typing.get_args(ann))
    out: list = []
    for a in typing.get_args(ann):
        sub = _choices(a)
        if sub:
            out += [x for x in sub if x not in out]
    return out or None


def _config_comments(config_cls) -> dict[str, str]:
    """Parameter descriptions written as comments in the op's Config source: the comment on the field's own
    line(s), else a docstring right after it, else the comment lines right above it. Base classes first, so a
    subclass's text wins."""
    import ast
    import inspect
    import io
    import textwrap
    import tokenize

    from pydantic import BaseModel

    out: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            src = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        try:
            cls_node = ast.parse(src).body[0]
            if not isinstance(cls_node, ast.ClassDef):
                continue
            body = cls_node.body
            comments: dict[int, str] = {}
            for tok in tokenize.generate_tokens(io.StringIO(src).readline):
                if tok.type == tokenize.COMMENT:
                    comments[tok.start[0]] = tok.string.lstrip("#").strip()
        except (SyntaxError, tokenize.TokenError, IndexError, AttributeError):
            continue
        lines = src.splitlines()
        for j, node in enumerate(body):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            own = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
            text = " ".join(own)
            nxt = body[j + 1] if j + 1 < len(body) else None
            if not text and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                    and isinstance(nxt.value.value, str):
                text = " ".join(nxt.value.value.split())
            if not text:
                above: list[str] = []
                n = node.lineno - 1
                while n >= 1 and n in comments and lines[n - 1].lstrip().startswith("#"):
                    above.insert(0, comments[n])
                    n -= 1
                text = " ".join(above)
            if text:
                out[node.target.id] = text
    return out


def _doc_sentence(name: str, docs: list[str], limit: int = 240) -> str:
    """The first sentence of ``docs`` that names the parameter as ``name`` (or ``name: value``)."""
    import inspect
    import re

    pat = re.compile(r"``%s(?::[^`]*)?``" % re.escape(name))
    for doc in docs:
        parts = re.split(r"(?<=[.;])\s+(?=[A-Z`(])|\n\s*\n|\n\s*[-*]\s+", inspect.cleandoc(doc or ""))
        for part in parts:
            text = " ".join(part.split())
            if pat.search(text):
                return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."
    return ""


def op_parameters(cls) -> list[dict]:
    """Each parameter of an op: name, type, choices (Literal values), default, required, description: the
    field's ``description``, else the comment next to it in the Config source, else the first sentence of the
    config's, the op's or its module's docstring that names it (``name``)."""
    import inspect

    comments = _config_comments(cls.Config)
    docs = [k.__doc__ for k in cls.Config.__mro__ if k.__dict__.get("__doc__") and k.__module__.startswith("codecurate")
            and k.__name__ not in ("OpConfig", "FieldsConfig")]
    docs += [cls.__doc__ or "", inspect.getmodule(cls).__doc__ or ""]
    params = []
    for fname, f in cls.Config.model_fields.items():
        required = f.is_required()
        params.append({"name": fname, "type": _type_str(f.annotation), "choices": _choices(f.annotation),
                       "required": required, "default": None if required else f.get_default(call_default_factory=True),
                       "description": f.description or comments.get(fname) or _doc_sentence(fname, docs)})
    return params


def _op_docs(cls) -> list[str]:
    """The class docstring and the module docstring, each once (one is often a copy or part of the other)."""
    import inspect
    import re

    norm = lambda t: re.sub(r"\s+", " ", t).strip()  # noqa: E731
    docs = [inspect.cleandoc(cls.__doc__ or ""), inspect.cleandoc(inspect.getmodule(cls).__doc__ or "")]
    out: list[str] = []
    for d in docs:
        if not d.strip():
            continue
        if any(norm(d) in norm(o) for o in out):
            continue
        out = [o for o in out if norm(o) not in norm(d)] + [d]
    return out


@app.command()
def ops(name: Optional[str] = typer.Argument(None, help="Show one operator's parameters."),
        as_json: bool = typer.Option(False, "--json", help="Print as JSON.")):
    """List operators, or show one with its parameters, defaults and paper."""
    from codecurate.pipeline.registry import UnknownOpError, all_ops, get_op

    if name is None:
        rows: list[dict[str, Any]] = []
        for n, cls in all_ops().items():
            doc = (cls.__doc__ or "").strip().splitlines()
            rows.append({"name": n, "kind": cls.kind, "needs": list(cls.needs), "version": cls.version,
                         "summary": doc[0].strip() if doc else ""})
        if as_json:
            _echo_json(rows)
            return
        t = Table(title="operators")
        for c in ("name", "kind", "needs", "summary"):
            t.add_column(c)
        for r in rows:
            t.add_row(Text(r["name"]), r["kind"], Text(",".join(r["needs"])), Text(r["summary"]))
        console.print(t)
        return
    try:
        cls = get_op(name)
    except UnknownOpError as e:
        _fail(str(e))
    params = op_parameters(cls)
    docs = _op_docs(cls)
    if as_json:
        _echo_json({"name": cls.name, "kind": cls.kind, "needs": list(cls.needs), "version": cls.version,
                    "paper": cls.paper, "doc": "\n\n".join(docs), "parameters": params})
        return
    console.print(Text.assemble((cls.name, "bold"), f" ({cls.kind}; needs {', '.join(cls.needs)}; "
                                                   f"version {cls.version})"), highlight=False)
    for d in docs:  # docstrings are wrapped at ~115 columns already: let the terminal fold what is wider
        console.print(Text(d), highlight=False, soft_wrap=True)
    if cls.paper:
        console.print(Text(f"paper: {cls.paper}"), highlight=False)
    t = Table(title="parameters")
    for c in ("name", "type", "default", "description"):
        t.add_column(c)
    for p in params:
        default = "(required)" if p["required"] else repr(p["default"])
        t.add_row(Text(p["name"]), Text(p["type"]), Text(default), Text(p["description"]))
    console.print(t)


# -- show --------------------------------------------------------------------------------------------------
def _stage_dirs(run_dir: Path, stage: str | None) -> list[Path]:
    """The run's stage directories, or the one ``stage`` names (``exact_dedup`` or ``04_exact_dedup``)."""
    dirs = sorted(p for p in (run_dir / "stages").iterdir() if p.is_dir()) if (run_dir / "stages").is_dir() else []
    if stage is None:
        return dirs
    hit = [d for d in dirs if stage in (d.name, d.name.split("_", 1)[-1])]
    if not hit:
        valid = ", ".join(f"{d.name.split('_', 1)[-1]} ({d.name})" for d in dirs)
        _fail(f"{run_dir}: no stage {stage!r}; valid stages: {valid}")
    return hit


def _sample_text(rec: dict) -> str:
    return (rec.get("instruction") or rec.get("raw") or "")[:160].replace("\n", " ")


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="A run directory written by `codecurate run`."),
    samples: int = typer.Option(3, "--samples", "-n", help="Dropped records to show per stage."),
    stage: Optional[str] = typer.Option(None, "--stage",
                                        help="Only this stage: its name (exact_dedup) or directory (04_exact_dedup)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary, each stage's stats and the dropped "
                                                       "samples as JSON."),
):
    """Stats per stage, top drop reasons, and a sample of dropped records."""
    from codecurate.pipeline import shards as sh

    if not (run_dir / "summary.json").exists():
        _fail(f"{run_dir}: not a finished run directory (no summary.json)")
    dirs = _stage_dirs(run_dir, stage)

    def dropped_samples(d: Path) -> list[dict]:
        ledgers = sorted(d.glob("ledger-*.parquet"))
        return sh.read_ledger(ledgers[:1])[:samples] if ledgers and samples > 0 else []

    if as_json:
        out = {"run_dir": str(run_dir), "summary": json.loads((run_dir / "summary.json").read_text()), "stages": []}
        for d in dirs:
            stats = json.loads((d / "stats.json").read_text()) if (d / "stats.json").exists() else {}
            out["stages"].append({
                "dir": d.name, "stage": d.name.split("_", 1)[-1], "stats": stats,
                "dropped_samples": [{"id": e["id"], "reason": e["reason"], "detail": e.get("detail"),
                                     "text": _sample_text(e["record"])} for e in dropped_samples(d)]})
        _echo_json(out)
        return
    _print_summary(run_dir)
    seen_numeric: set[str] = set()
    for d in dirs:
        stats = json.loads((d / "stats.json").read_text()) if (d / "stats.json").exists() else {}
        reasons = stats.get("reasons") or {}
        numeric = {k: v for k, v in (stats.get("numeric") or {}).items() if k not in seen_numeric}
        seen_numeric |= set(stats.get("numeric") or {})
        if not reasons and not stats.get("counters") and not numeric and stage is None:
            continue
        console.rule(Text(d.name, style="bold"))
        if not reasons and not stats.get("counters") and not numeric:
            console.print("no records dropped, no counters, no numeric stats", highlight=False)
        if reasons:
            t = Table(title="top drop reasons")
            t.add_column("reason")
            t.add_column("records", justify="right")
            for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:10]:
                t.add_row(Text(r), str(n))
            console.print(t)
        if stats.get("counters"):
            console.print(Text("counters: " + ", ".join(f"{k}={v}" for k, v in stats["counters"].items())),
                          highlight=False)
        for k, v in numeric.items():
            console.print(Text(f"stats.{k}: n={v['count']} mean={v['mean']:.4g} min={v['min']:.4g} "
                               f"max={v['max']:.4g}"), highlight=False)
        for e in dropped_samples(d):
            console.print(Text.assemble("  dropped ", (str(e["id"]), "bold"), f": {e['reason']}\n    ",
                                        _sample_text(e["record"])), highlight=False)


@app.command()
def convert(
    src: Path = typer.Argument(..., help="Input file (or hub id)."),
    dst: Path = typer.Argument(..., help="Output file: .jsonl, .jsonl.gz, .json or .parquet."),
    to: str = typer.Option("codecurate", "--to", help="Output format name, 'same', or 'codecurate' (canonical); "
                                                      "messages, sharegpt and alpaca write training rows."),
    from_format: Optional[str] = typer.Option(None, "--from", help="Force the input format (default: detect)."),
):
    """Convert a dataset between formats (through canonical records)."""
    from codecurate.formats import FORMATS, FormatError
    from codecurate.io import InputError, read_records, write_records
    from codecurate.records import RecordError

    if to not in FORMATS and to != "same":
        _fail(f"unknown format {to!r}; valid: {', '.join(FORMATS)}, same")
    try:
        n = write_records(read_records(str(src), format=from_format), dst, format=to)
    except (InputError, FormatError, RecordError, TypeError) as e:
        _fail(str(e))
    console.print(Text(f"wrote {n} records to {dst} ({to})"), highlight=False)


@app.command("formats")
def formats_cmd():
    """List the supported dataset formats."""
    from codecurate.formats import FORMATS

    t = Table(title="formats")
    t.add_column("name")
    t.add_column("what")
    for n, f in FORMATS.items():
        t.add_row(Text(n), Text(f.description))
    console.print(t)


# Verbs that live in their own modules (each imports its heavy dependencies lazily, inside the command).
from codecurate.cli_analyze import analyze_command, report_command  # noqa: E402
from codecurate.cli_decontam import decontam_report_command  # noqa: E402
from codecurate.cli_eval import eval_command  # noqa: E402
from codecurate.cli_study import study_command  # noqa: E402
from codecurate.cli_train import train_command  # noqa: E402

app.command("eval")(eval_command)
app.command("train")(train_command)
app.command("decontam-report")(decontam_report_command)
app.command("analyze")(analyze_command)
app.command("report")(report_command)
app.command("study")(study_command)


if __name__ == "__main__":  # pragma: no cover
    app()
