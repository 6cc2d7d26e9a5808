"""``codecurate decontam-report DATA``: per-benchmark Test Leakage Indicator (XCoder) and exact-substring hits
of a dataset, without removing anything. The lead's ``cli.py`` registers ``decontam_report_command``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def decontam_report_command(
    data: Path = typer.Argument(..., help="Dataset file (jsonl, json, parquet, .jsonl.gz)."),
    benchmarks: list[str] = typer.Option(
        ["humaneval", "humaneval_plus", "mbpp", "mbpp_plus"], "--benchmark", "-b",
        help="Shipped benchmark to check (repeat): humaneval, humaneval_plus, mbpp, mbpp_plus."),
    extra: list[str] = typer.Option(
        [], "--extra", help="Extra benchmark file as NAME=PATH[:FIELD,FIELD] (fields used for TLI and "
                            "substrings; default prompt). Repeatable."),
    fields: list[str] = typer.Option(["instruction"], "--field", "-f",
                                     help="Training fields compared (XCoder: the user turns)."),
    input_format: Optional[str] = typer.Option(None, "--format", help="Input format (default: detect)."),
    threshold: float = typer.Option(0.05, help="TLI threshold used to count records that would be dropped."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Print per-benchmark TLI (mean over test items of the best match, x100 as XCoder reports it)."""
    from codecurate.cli import _fail
    from codecurate.io import InputError, check_input, read_records

    try:  # a missing input is a one-line error, not a traceback
        check_input(data)
    except InputError as e:
        _fail(str(e))
    from codecurate.ops.decontam.benchmarks_index import BenchmarkSpec
    from codecurate.ops.decontam.decontaminate import decontam_report

    specs = []
    for e in extra:
        if "=" not in e:
            raise typer.BadParameter(f"--extra {e!r}: expected NAME=PATH or NAME=PATH:FIELD,FIELD")
        name, rest = e.split("=", 1)
        path, _, flds = rest.partition(":")
        fl = [f for f in flds.split(",") if f] or ["prompt"]
        specs.append(BenchmarkSpec(name=name, path=path, tli_fields=fl, substring_fields=fl))
    report = decontam_report(read_records(str(data), format=input_format), benchmarks=benchmarks,
                             extra_benchmarks=specs, fields=fields, threshold=threshold)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Benchmark leakage in {data} ({report['records']} records, fields {fields})")
    for col in ("benchmark", "items", "TLI-mean@1 x100", "TLI-max", f"records >= {threshold}",
                "records with verbatim substring", "most leaked item"):
        table.add_column(col)
    for b, r in report["benchmarks"].items():
        top = r["most_leaked"][0] if r["most_leaked"] else None
        table.add_row(b, str(r["test_items"]), f"{r['tli_mean_x100']:.2f}", f"{r['tli_max']:.3f}",
                      str(r["records_over_threshold"]), str(r["records_with_substring"]),
                      f"{top['task_id']} ({top['tli']:.3f}, record {top['record']})" if top else "-")
    Console().print(table)
