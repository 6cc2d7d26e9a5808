"""``codecurate analyze DATA [DATA2 ...]`` and ``codecurate report RUN_DIR``. The lead's ``cli.py`` registers
``analyze_command`` and ``report_command``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def analyze_command(
    data: list[str] = typer.Argument(..., help="Datasets: files (any supported format), run directories (their "
                                               "output) or stage directories (runs/NAME/stages/03_length)."),
    output: Path = typer.Option(Path("analysis"), "--output", "-o", help="Folder for analysis.json and report.html."),
    name: list[str] = typer.Option([], "--name", "-n", help="Label of each dataset, in order (repeat)."),
    input_format: Optional[str] = typer.Option(None, "--format", help="Input format (default: detect)."),
    no_embed: bool = typer.Option(False, "--no-embed", help="Skip embeddings (diversity, task types, math/general "
                                                             "domains, map)."),
    no_contamination: bool = typer.Option(False, "--no-contamination", help="Skip benchmark contamination."),
    no_near_dup: bool = typer.Option(False, "--no-near-dup", help="Skip the near-duplicate rate."),
    no_static: bool = typer.Option(False, "--no-static", help="Skip ruff on the code sample."),
    benchmark: list[str] = typer.Option([], "--benchmark", "-b", help="Benchmark for contamination (repeat; "
                                                                      "default: every shipped one)."),
    code_sample: int = typer.Option(5000, "--code-sample", help="Records per dataset (seeded sample) for radon "
                                                                "and ruff."),
    map_points: int = typer.Option(1500, "--map-points", help="Points per dataset on the embedding map."),
    complexity_model: Optional[str] = typer.Option(None, "--complexity-model",
                                                   help="Complexity scorer model (path or hub id), e.g. "
                                                        "hkust-nlp/deita-complexity-scorer; scores a sample."),
    complexity_sample: int = typer.Option(500, "--complexity-sample", help="Instructions per dataset for the "
                                                                           "complexity scorer."),
    embed_model: str = typer.Option("all-MiniLM-L6-v2", "--embed-model", help="Sentence embedding model."),
    seed: int = typer.Option(42, "--seed", help="Seed of every sample."),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis JSON on stdout."),
) -> None:
    """What is in the data: sizes, lengths, languages, domains, diversity, complexity, task types,
    contamination, near-duplicates, static findings, tests; one HTML report with the datasets side by side."""
    from codecurate.analysis import AnalysisError, AnalyzeOptions, analyze, write_analysis
    from codecurate.cli import _fail
    from codecurate.io import InputError, check_input

    for d in data:
        if not Path(d).is_dir():
            try:
                check_input(d)
            except InputError as e:
                _fail(str(e))
    opts = AnalyzeOptions(embeddings=not no_embed, contamination=not no_contamination, near_dup=not no_near_dup,
                          static=not no_static, benchmarks=list(benchmark) or None, code_sample=code_sample,
                          map_points=map_points, complexity_model=complexity_model,
                          complexity_sample=complexity_sample, embed_model=embed_model, seed=seed)
    try:
        result = analyze(list(data), names=list(name) or None, options=opts, format=input_format)
    except AnalysisError as e:
        _fail(str(e))
    jp, hp = write_analysis(result, output)
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=str))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    con = Console()
    t = Table(title="analysis")
    for c in ("dataset", "records", "code", "diversity", "algorithmic", "near-dups", "with tests"):
        t.add_column(c, justify="left" if c == "dataset" else "right")
    for d in result["datasets"]:
        f = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
        t.add_row(Text(d["name"]), f"{d['records']:,}", f(d["domain"]["fractions"].get("code")),
                  "-" if not d["diversity"] else f"{d['diversity']['mean']:.4f}",
                  f((d["task_types"] or {}).get("algorithmic_share")), f((d["near_duplicates"] or {}).get("rate")),
                  f(d["tests"]["coverage"]))
    con.print(t)
    con.print(Text.assemble("report: ", (str(hp), "bold"), f"  json: {jp}"), highlight=False)


def report_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `codecurate run`."),
    basic: bool = typer.Option(False, "--basic", help="Model-free report (what `codecurate run` writes): no "
                                                      "embeddings, contamination, near-duplicates or map."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for report.html/report.json "
                                                                       "(default: the run directory)."),
) -> None:
    """The run's report: funnel, drop reasons with ledger examples, before/after distributions, selection map,
    augmentation/synthesis yield, costs; writes RUN_DIR/report.html and report.json."""
    from codecurate.analysis import AnalysisError, write_run_report
    from codecurate.cli import _fail

    if not (run_dir / "summary.json").exists():
        _fail(f"{run_dir}: not a finished run directory (no summary.json)")
    try:
        hp = write_run_report(run_dir, "basic" if basic else "full", output=output)
    except AnalysisError as e:
        _fail(str(e))
    from rich.console import Console
    from rich.text import Text

    Console().print(Text.assemble("report: ", (str(hp), "bold")), highlight=False)
