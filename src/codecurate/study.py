"""``codecurate study``: datasets x technique chains x models -> optimize -> train -> evaluate -> one table.

The empirical study (seed 000) compares training-data techniques by fine-tuning the same models on each variant of
a dataset and evaluating every checkpoint: APPS / CodeContests / MBPP x {Ori, Aug, Cle, Ref, Sel, Syn and their
pairwise combinations in a fixed order} x four models -> pass@1, average pass ratio, code-smell score and
maintainability index, the checkpoint chosen per epoch on a validation split. A study file names the pieces::

    name: mbpp_smoke
    output: runs/studies/mbpp_smoke          # default runs/studies/<name>
    datasets:
      mbpp:
        train: {benchmark: mbpp, split: train}       # or {path: data.jsonl}; limit: N keeps the first N
        valid: {benchmark: mbpp, split: valid, limit: 20}
        test:  {benchmark: mbpp, split: test, limit: 50}
    techniques:                               # technique name -> recipe (path, package://, or an inline mapping)
      sel: {stages: [{op: kmeans_diverse, ratio: 0.4}]}
    chains: [[ori], [cle], [ref, aug]]        # ori = the data as it is; a chain applies its recipes in order
    models:
      smollm2: {model: smollm2-135m, train: {lora: true}}
    train: {preset: study, epochs: 2}         # TrainConfig fields (codecurate train), per model overrides above
    eval: {prompt: study, max_new_tokens: 256}

Cells are datasets x chains x models. Each chain step is content-addressed: its key is the previous step's key
plus the step's recipe (resolved, input/output excluded), so chains that share a prefix (``[ref]`` and
``[ref, aug]``) run it once, and a rerun reuses every finished step (``study/data/<dataset>/<key>-<tech>/``).
Training is keyed by the data key, the model and the training config; evaluation by the checkpoint and the eval
settings; a finished cell is recorded in ``cells/<cell>.json`` and never redone. A failed cell is reported in
the table with its error and the other cells go on.

Checkpoint selection (the study): every saved checkpoint (one per epoch) is evaluated on the validation split,
the best by pass@1 (then average pass ratio; the earliest on a tie) is evaluated on the test split, and the
table says which. Without a validation split the last checkpoint is used.

Outputs: ``results.md``, ``results.csv``, ``results.html``, ``results.json`` (every metric per cell, deltas vs
``ori`` per dataset and model, data sizes after each chain, training cost) and the study's own layout
``Results/<dataset>/<model>/<tech>/`` (all_code.json, results.json, ...), which its analysis scripts read.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_TECHNIQUES = {
    "cle": "package://recipes/study/cle.yaml",
    "ref": "package://recipes/study/ref.yaml",
    "sel": "package://recipes/study/sel.yaml",
    "aug": "package://recipes/study/aug.yaml",
    "syn": "package://recipes/study/syn.yaml",
}
METRICS = ("pass@1", "avg_pass_ratio", "code_smell_score", "maintainability_index")


class StudyError(ValueError):
    """A study file that cannot run (names the key)."""


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    benchmark: str | None = None  # a benchmark name (mbpp, humaneval, apps, ...) or a records file
    path: str | None = None  # a data file (training data) or the benchmark's --benchmark-path
    split: str | None = None
    format: str | None = None
    limit: int | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if not self.benchmark and not self.path:
            raise ValueError("give `benchmark` (a name) or `path` (a file)")
        return self


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: DataSpec
    valid: DataSpec | None = None
    test: DataSpec


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    train: dict = Field(default_factory=dict)  # TrainConfig overrides for this model


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = "study"
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    ks: list[int] = Field(default_factory=lambda: [1])
    static: bool = True
    workers: int = 2
    batch_size: int = 8
    seed: int = 0
    backend: str = "hf"


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    output: str | None = None
    datasets: dict[str, DatasetSpec]
    techniques: dict[str, Any] = Field(default_factory=dict)
    chains: list[list[str]]
    models: dict[str, ModelSpec]
    train: dict = Field(default_factory=dict)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    select_checkpoint: bool = True

    @field_validator("chains")
    @classmethod
    def _chains(cls, v: list[list[str]]) -> list[list[str]]:
        if not v:
            raise ValueError("name at least one chain, e.g. [[ori], [cle]]")
        for c in v:
            if not c:
                raise ValueError("an empty chain: write [ori] for the data as it is")
            if "ori" in c and c != ["ori"]:
                raise ValueError(f"chain {c}: `ori` stands alone ([ori])")
        return v


def chain_name(chain: list[str]) -> str:
    return "_".join(chain)


def load_study(path: str | os.PathLike) -> StudySpec:
    p = Path(path)
    if not p.exists():
        raise StudyError(f"{path}: study file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise StudyError(f"{path}: not valid YAML: {e}") from e
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())
        raise StudyError(f"{path}: {errs}") from None
    techs = {**DEFAULT_TECHNIQUES, **spec.techniques}
    for c in spec.chains:
        for t in c:
            if t != "ori" and t not in techs:
                raise StudyError(f"{path}: chains: unknown technique {t!r}; define it under `techniques:` "
                                 f"(valid: ori, {', '.join(sorted(techs))})")
    return spec


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def _atomic_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _load_split(spec: DataSpec, *, training: bool) -> list[dict]:
    """Canonical records of a dataset split: a benchmark (with its split) or a data file."""
    from codecurate.evaluation.benchmarks import load_benchmark

    if spec.benchmark:
        recs = load_benchmark(spec.benchmark, path=spec.path, split=spec.split or "test", format=spec.format)
    else:
        from codecurate.io import read_records

        recs = list(read_records(spec.path, format=spec.format or "auto"))
    recs = recs[: spec.limit] if spec.limit else recs
    if training:  # a benchmark record's answer is its reference code (the study fine-tunes on the solutions)
        recs = [r if (r.get("response") or "").strip() else {**r, "response": r.get("code") or ""} for r in recs]
    return recs


def _servable(ckpt: str) -> str:
    """The directory eval loads for a checkpoint: a LoRA checkpoint's merged model (``merged/``) when it has one,
    else the checkpoint itself (full fine-tuning, or base + adapter)."""
    merged = Path(ckpt) / "merged"
    return str(merged) if (merged / "config.json").exists() else ckpt


class Study:
    """Runs a ``StudySpec``; see the module docstring."""

    def __init__(self, spec: StudySpec, output: str | os.PathLike | None = None, log=print):
        self.spec = spec
        self.dir = Path(output or spec.output or Path("runs") / "studies" / spec.name)
        self.log = log
        self.techniques = {**DEFAULT_TECHNIQUES, **spec.techniques}
        self.counts = {"steps_run": 0, "steps_reused": 0, "trainings_run": 0, "trainings_reused": 0,
                       "cells_run": 0, "cells_reused": 0, "cells_failed": 0}

    # ------------------------------------------------------------ optimize
    def _recipe(self, tech: str) -> dict:
        from codecurate.pipeline.recipe import Recipe

        src = self.techniques[tech]
        if isinstance(src, dict):
            d = {"name": f"study-{tech}", "input": {"path": "-"}, **src}
            recipe = Recipe.from_dict(d, where=f"techniques.{tech}")
        else:
            recipe = Recipe.from_yaml(src)
        return yaml.safe_load(recipe.to_yaml())

    def _dataset_input(self, name: str) -> tuple[Path, str, int]:
        """The dataset's training split as canonical JSONL (written once), its content key and size."""
        from codecurate.io import write_records

        d = self.dir / "data" / name
        spec = self.spec.datasets[name].train
        key = _sha("input", spec.model_dump())
        path = d / f"input-{key[:12]}.jsonl"
        marker = path.with_suffix(".json")
        if not marker.exists():
            recs = _load_split(spec, training=True)
            if not recs:
                raise StudyError(f"datasets.{name}.train: no records")
            d.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.jsonl")
            write_records(recs, tmp, format="codecurate")
            os.replace(tmp, path)
            _atomic_json(marker, {"records": len(recs)})
        return path, key, json.loads(marker.read_text())["records"]

    def optimize(self, dataset: str, chain: list[str]) -> tuple[Path, str, int, list[dict]]:
        """Apply the chain's recipes in order; returns (curated canonical JSONL, data key, records, steps)."""
        from codecurate.pipeline.recipe import Recipe
        from codecurate.pipeline.runner import run_recipe

        path, key, n = self._dataset_input(dataset)
        steps: list[dict] = []
        if chain == ["ori"]:
            return path, key, n, steps
        for tech in chain:
            rec = self._recipe(tech)
            body = {k: v for k, v in rec.items() if k not in ("input", "output", "name")}
            key = _sha(key, tech, body)
            step_dir = self.dir / "data" / dataset / f"{key[:12]}-{tech}"
            done = step_dir / "step.json"
            if done.exists():
                info = json.loads(done.read_text())
                self.counts["steps_reused"] += 1
            else:
                rec = {**rec, "name": f"{dataset}-{tech}", "input": {"path": str(path), "format": "codecurate"},
                       "output": {"dir": str(step_dir), "format": "codecurate", "file": "curated.jsonl"}}
                t0 = time.perf_counter()
                res = run_recipe(Recipe.from_dict(rec, where=f"techniques.{tech}"), output=step_dir,
                                 workers=self.spec.eval.workers, resume=True)
                summ = res.summary if isinstance(res.summary, dict) else res.summary()
                info = {"technique": tech, "records_in": summ["records_in"], "records_out": summ["records_out"],
                        "seconds": round(time.perf_counter() - t0, 3), "output": str(res.output_path)}
                _atomic_json(done, info)
                self.counts["steps_run"] += 1
            steps.append(info)
            path, n = Path(info["output"]), info["records_out"]
        return path, key, n, steps

    # ------------------------------------------------------------ train
    def train(self, dataset: str, data_path: Path, data_key: str, model_name: str) -> dict:
        from codecurate.io import read_records
        from codecurate.training.presets import build_config
        from codecurate.training.train import train

        ms = self.spec.models[model_name]
        overrides = {**self.spec.train, **ms.train}
        preset = overrides.pop("preset", None)
        source = ms.model
        from codecurate.models.llm.smollm import ALIASES, ensure_converted

        if source in ALIASES:
            source = str(ensure_converted(source))
        # keyed by the data's content (two chains that end in the same records train once), model and config
        h = hashlib.sha256()
        with open(data_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        key = _sha(h.hexdigest(), source, preset, overrides)
        run_dir = self.dir / "train" / dataset / model_name / key[:12]
        done = run_dir / "study_train.json"
        if done.exists():
            self.counts["trainings_reused"] += 1
            return json.loads(done.read_text())
        overrides.setdefault("progress", False)
        cfg = build_config(preset, model=source, output=str(run_dir), **overrides)
        if run_dir.exists() and any(run_dir.glob("checkpoint-*")):
            cfg = cfg.model_copy(update={"resume": "auto"})
        metrics = train(cfg, records=list(read_records(str(data_path), format="codecurate")))
        ckpts = sorted((p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                       key=lambda p: int(p.name.split("-")[-1]))
        info = {"run_dir": str(run_dir), "checkpoints": [str(p) for p in ckpts], "metrics": metrics}
        _atomic_json(done, info)
        self.counts["trainings_run"] += 1
        return info

    # ------------------------------------------------------------ evaluate
    def _evaluate(self, records: list[dict], model_path: str, out_root: Path, model_name: str, tag: str) -> dict:
        from codecurate.evaluation.runner import evaluate

        e = self.spec.eval
        out = evaluate(records, model_path, backend=e.backend, output_dir=str(out_root), model_name=model_name,
                       tag=tag, n=e.n, temperature=e.temperature, top_p=e.top_p, ks=e.ks, prompt=e.prompt,
                       max_new_tokens=e.max_new_tokens, batch_size=e.batch_size, workers=e.workers, seed=e.seed,
                       static=e.static, log=lambda m: self.log(f"  {m}"), results_name="")
        return {"out_dir": out.out_dir, "metrics": out.results["metrics"], "counts": out.results["counts"],
                "generation": out.results.get("generation")}

    def select_checkpoint(self, dataset: str, model_name: str, chain: str, ckpts: list[str]) -> tuple[str, list]:
        valid = self.spec.datasets[dataset].valid
        if not self.spec.select_checkpoint or valid is None or len(ckpts) <= 1:
            return ckpts[-1], []
        recs = _load_split(valid, training=False)
        scores = []
        for c in ckpts:
            r = self._evaluate(recs, _servable(c), self.dir / "valid" / dataset, model_name, f"{chain}-{Path(c).name}")
            m = r["metrics"]
            scores.append({"checkpoint": c, "pass@1": m.get("pass@1"), "avg_pass_ratio": m.get("avg_pass_ratio")})
        best = max(range(len(scores)), key=lambda i: ((scores[i]["pass@1"] or 0), (scores[i]["avg_pass_ratio"] or 0),
                                                      -i))
        return scores[best]["checkpoint"], scores

    # ------------------------------------------------------------ cells
    def cells(self) -> list[tuple[str, list[str], str]]:
        return [(d, c, m) for d in self.spec.datasets for c in self.spec.chains for m in self.spec.models]

    def run_cell(self, dataset: str, chain: list[str], model_name: str) -> dict:
        cname = chain_name(chain)
        cell_id = f"{dataset}__{model_name}__{cname}"
        path = self.dir / "cells" / f"{cell_id}.json"
        # the cell key: data (chain recipes), model, training and eval settings
        data_path, data_key, n_records, steps = self.optimize(dataset, chain)
        ds_spec = self.spec.datasets[dataset]
        key = _sha(data_key, self.spec.models[model_name].model_dump(), self.spec.train,
                   self.spec.eval.model_dump(), self.spec.select_checkpoint,
                   ds_spec.valid.model_dump() if ds_spec.valid else None, ds_spec.test.model_dump())
        if path.exists():
            old = json.loads(path.read_text())
            if old.get("key") == key and old.get("status") == "ok":
                self.counts["cells_reused"] += 1
                return old
        t0 = time.perf_counter()
        tr = self.train(dataset, data_path, data_key, model_name)
        best, scores = self.select_checkpoint(dataset, model_name, cname, tr["checkpoints"])
        test = _load_split(self.spec.datasets[dataset].test, training=False)
        ev = self._evaluate(test, _servable(best), self.dir / "Results" / dataset, model_name, cname)
        tm = tr["metrics"]
        cell = {"cell": cell_id, "key": key, "status": "ok", "dataset": dataset, "model": model_name,
                "chain": cname, "records": n_records, "steps": steps, "checkpoint": best,
                "checkpoint_scores": scores, "metrics": ev["metrics"], "counts": ev["counts"],
                "results_dir": ev["out_dir"],
                "train": {"real_tokens": tm.get("real_tokens"), "train_time_s": tm.get("train_time_s"),
                          "optimizer_steps": tm.get("optimizer_steps"), "final_loss": tm.get("final_loss"),
                          "epochs_completed": tm.get("epochs_completed")},
                "generation": ev.get("generation"), "seconds": round(time.perf_counter() - t0, 3)}
        _atomic_json(path, cell)
        self.counts["cells_run"] += 1
        return cell

    def run(self) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "study.yaml").write_text(yaml.safe_dump(self.spec.model_dump(), sort_keys=False))
        results = []
        cells = self.cells()
        for i, (d, c, m) in enumerate(cells, 1):
            cname = chain_name(c)
            self.log(f"[{i}/{len(cells)}] {d} x {cname} x {m}")
            try:
                results.append(self.run_cell(d, c, m))
            except Exception as e:  # noqa: BLE001 - a failed cell is reported, the rest continues
                self.counts["cells_failed"] += 1
                err = f"{type(e).__name__}: {e}"
                self.log(f"  cell failed: {err}")
                fail = {"cell": f"{d}__{m}__{cname}", "status": "failed", "dataset": d, "model": m,
                        "chain": cname, "error": err, "traceback": traceback.format_exc()[-4000:]}
                _atomic_json(self.dir / "cells" / f"{d}__{m}__{cname}.json", fail)
                results.append(fail)
        table = build_table(results)
        write_tables(self.dir, table, results, self.spec.name)
        summary = {"study": self.spec.name, "dir": str(self.dir), "cells": len(cells), **self.counts,
                   "table": str(self.dir / "results.md")}
        _atomic_json(self.dir / "study_summary.json", summary)
        return {"summary": summary, "table": table, "cells": results}


# ---------------------------------------------------------------- the table
def build_table(cells: list[dict]) -> list[dict]:
    """One row per cell: metrics, deltas vs the ``ori`` cell of the same dataset and model, sizes, cost."""
    base = {(c["dataset"], c["model"]): c for c in cells if c.get("status") == "ok" and c["chain"] == "ori"}
    rows = []
    for c in cells:
        row: dict[str, Any] = {"dataset": c["dataset"], "model": c["model"], "chain": c["chain"],
                               "status": c["status"]}
        if c["status"] != "ok":
            row["error"] = c.get("error", "")[:200]
            rows.append(row)
            continue
        row["records"] = c["records"]
        for m in METRICS:
            row[m] = c["metrics"].get(m)
        b = base.get((c["dataset"], c["model"]))
        for m in METRICS:
            if b is not None and row[m] is not None and b["metrics"].get(m) is not None:
                row[f"delta_{m}"] = row[m] - b["metrics"][m]
            else:
                row[f"delta_{m}"] = None
        row["checkpoint"] = Path(c["checkpoint"]).name
        row["train_tokens"] = c["train"].get("real_tokens")
        row["train_seconds"] = c["train"].get("train_time_s")
        rows.append(row)
    return rows


COLUMNS = ["dataset", "model", "chain", "status", "records", *METRICS, *(f"delta_{m}" for m in METRICS),
           "checkpoint", "train_tokens", "train_seconds", "error"]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _fmt_cell(col: str, v: Any) -> str:
    if v is None:
        return ""
    if col.startswith("delta_") and isinstance(v, (int, float)):
        return f"{v:+.4f}"
    if col == "train_seconds" and isinstance(v, (int, float)):
        return f"{v:.1f}"
    return _fmt(v)


def write_tables(out: Path, rows: list[dict], cells: list[dict], name: str) -> None:
    cols = [c for c in COLUMNS if any(r.get(c) not in (None, "") for r in rows)]
    # Markdown (pipes in text escaped)
    md = [f"# Study `{name}`", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(_fmt_cell(c, r.get(c)).replace("|", "\\|").replace("\n", " ") for c in cols)
                  + " |")
    (out / "results.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c) for c in cols})
    (out / "results.csv").write_text(buf.getvalue(), encoding="utf-8")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt_cell(c, r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
            "td:nth-child(-n+3){text-align:left}</style></head><body>"
            f"<h1>Study {html.escape(name)}</h1><p>Metrics on each dataset's test split, the checkpoint chosen on "
            "the validation split; deltas against the <code>ori</code> cell of the same dataset and model.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>")
    (out / "results.html").write_text(page, encoding="utf-8")
    _atomic_json(out / "results.json", {"rows": rows, "cells": cells})


def run_study(path_or_spec: str | os.PathLike | StudySpec, output: str | os.PathLike | None = None,
              log=print) -> dict:
    spec = path_or_spec if isinstance(path_or_spec, StudySpec) else load_study(path_or_spec)
    return Study(spec, output=output, log=log).run()


def clean_study(path: str | os.PathLike) -> None:
    shutil.rmtree(path, ignore_errors=True)
