"""``codecurate decontam-report DATA``: what ``decontaminate`` would remove from a dataset, per detector and per
benchmark, with the closest benchmark items of each flagged record, plus XCoder's per-benchmark Test Leakage
Indicator; removes nothing. The lead's ``cli.py`` registers ``decontam_report_command``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def decontam_report_command(
    data: Path = typer.Argument(..., help="Dataset file (jsonl, json, parquet, .jsonl.gz)."),
    benchmarks: list[str] = typer.Option(
        ["humaneval", "humaneval_plus", "mbpp", "mbpp_plus", "livecodebench", "bigcodebench"], "--benchmark", "-b",
        help="Shipped benchmark to check (repeat): humaneval, humaneval_plus, mbpp, mbpp_plus, livecodebench "
             "(40-problem sample), bigcodebench (30-task Hard sample)."),
    extra: list[str] = typer.Option(
        [], "--extra", help="Extra benchmark file as NAME=PATH[:FIELD,FIELD] (fields used for TLI, substrings and "
                            "embeddings; default prompt), or NAME=PATH@PRESET with PRESET one of apps, code_contests, "
                            "livecodebench, bigcodebench, humaneval, mbpp. Repeatable."),
    fields: list[str] = typer.Option(["instruction"], "--field", "-f",
                                     help="Training fields compared (XCoder: the user turns)."),
    detectors: list[str] = typer.Option(["substring", "tli", "semantic"], "--detector", "-d",
                                        help="Detectors to run (repeat): substring, tli, semantic."),
    input_format: Optional[str] = typer.Option(None, "--format", help="Input format (default: detect)."),
    threshold: float = typer.Option(0.05, help="Faithful TLI threshold for XCoder's per-benchmark counts."),
    tli_mode: str = typer.Option("discounted", help="TLI detector: discounted (default) or faithful."),
    semantic_decision: str = typer.Option("calibrated", help="Semantic detector: calibrated (score from cosine, "
                                                             "margin and hubness; default) or threshold (cosine)."),
    semantic_threshold: Optional[float] = typer.Option(None, help="Cosine threshold of --semantic-decision "
                                                                  "threshold (default: decontaminate's)."),
    closest: int = typer.Option(3, "--closest", help="Closest benchmark items listed per record."),
    max_flagged: int = typer.Option(200, "--max-flagged", help="Flagged records listed in the report (0 = all)."),
    per_record: Optional[Path] = typer.Option(None, "--per-record",
                                              help="Write every record's closest items and detector hits as JSONL."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Per-detector hit counts, closest benchmark items per flagged record, and per-benchmark TLI-mean (x100, as
    XCoder reports it)."""
    from codecurate.cli import _fail
    from codecurate.io import InputError, check_input, read_records

    try:  # a missing input is a one-line error, not a traceback
        check_input(data)
    except InputError as err:
        _fail(str(err))
    from codecurate.ops.decontam.benchmarks_index import PRESETS, BenchmarkSpec
    from codecurate.ops.decontam.decontaminate import DETECTORS, decontam_report

    bad = [d for d in detectors if d not in DETECTORS]
    if bad:
        raise typer.BadParameter(f"--detector {bad[0]!r}: valid: {', '.join(DETECTORS)}")
    specs: list[BenchmarkSpec | dict] = []
    for e in extra:
        if "=" not in e:
            raise typer.BadParameter(f"--extra {e!r}: expected NAME=PATH, NAME=PATH:FIELD,FIELD or NAME=PATH@PRESET")
        name, rest = e.split("=", 1)
        if "@" in rest:
            path, preset = rest.rsplit("@", 1)
            if preset not in PRESETS:
                raise typer.BadParameter(f"--extra {e!r}: unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
            specs.append(BenchmarkSpec.model_validate({"name": name, "path": path, "preset": preset}))
            continue
        path, _, flds = rest.partition(":")
        fl = [f for f in flds.split(",") if f] or ["prompt"]
        specs.append(BenchmarkSpec(name=name, path=path, tli_fields=fl, substring_fields=fl))
    if semantic_decision not in ("calibrated", "threshold"):
        raise typer.BadParameter(f"--semantic-decision {semantic_decision!r}: give calibrated or threshold")
    options: dict = {"tli_mode": tli_mode, "semantic_decision": semantic_decision}
    if semantic_threshold is not None:
        options["semantic_threshold"] = semantic_threshold
    out = open(per_record, "w", encoding="utf-8") if per_record else None
    try:
        report = decontam_report(
            read_records(str(data), format=input_format), benchmarks=benchmarks, extra_benchmarks=specs,
            fields=fields, threshold=threshold, detectors=detectors, decontaminate=options, closest=closest,
            max_flagged=max_flagged or None,
            per_record=(lambda entry: out.write(json.dumps(entry, ensure_ascii=False) + "\n")) if out else None)
    finally:
        if out:
            out.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    hits = report["detector_hits"]
    console.print(f"[bold]{report['records']} records[/bold] in {data}: flagged by "
                  + ", ".join(f"{d} {hits[d]}" for d in detectors) + f"; any {hits['any']}"
                  + f"  (settings: {report['settings']})")
    table = Table(title=f"Benchmark leakage ({report['records']} records, fields {fields})")
    for col in ("benchmark", "items", "TLI-mean@1 x100", "TLI-max", f"records >= {threshold}",
                *[f"flagged: {d}" for d in detectors], "most leaked item"):
        table.add_column(col)
    for b, r in report["benchmarks"].items():
        top = r["most_leaked"][0] if r["most_leaked"] else None
        table.add_row(b, str(r["test_items"]), f"{r['tli_mean_x100']:.2f}", f"{r['tli_max']:.3f}",
                      str(r["records_over_threshold"]), *[str(r["flagged_by"][d]) for d in detectors],
                      f"{top['task_id']} ({top['tli']:.3f}, record {top['record']})" if top else "-")
    console.print(table)
    if report["flagged"]:
        ft = Table(title="Flagged records and their closest benchmark items"
                   + (" (first ones; --max-flagged 0 lists all)" if report["flagged_truncated"] else ""))
        for col in ("record", "detectors", "closest items (similarity)", "TLI item (score)"):
            ft.add_column(col)
        for f in report["flagged"]:
            ft.add_row(str(f["id"]), ", ".join(f["detectors"]),
                       "; ".join(f"{c['task_id']} ({c['similarity']:.3f})" for c in f["closest"]) or "-",
                       f"{f['tli']['task_id']} ({f['tli']['score']:.3f})" if f.get("tli") and f["tli"]["task_id"]
                       else "-")
        console.print(ft)
