"""Recipes: YAML validated with pydantic.

    name: quickstart
    input: {path: data/mbpp.jsonl, format: auto, on_error: raise}
    output: {dir: runs/quickstart, format: same}
    seed: 42
    stages:
      - op: python_syntax
      - op: length
        field: code
        max: 4000

Each stage is ``op`` plus that op's parameters inline (validated by the op's Config), and optionally ``name``
and ``on_error`` (``raise`` or ``skip``: a record that makes the op fail goes to the ledger).
Errors name the recipe file and key (``stages[2].maxx``) and list what is valid.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from codecurate.pipeline.op import Op
from codecurate.pipeline.registry import get_op

RESERVED = ("op", "name", "on_error")


class RecipeError(ValueError):
    pass


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    format: str | None = "auto"
    on_error: Literal["raise", "skip"] = "raise"
    limit: int | None = Field(default=None, ge=1)
    split: str | None = None


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dir: str | None = None
    # "same": each record in the format it was read from; "codecurate": canonical records; or a format name.
    # messages | sharegpt | alpaca: training rows (same columns for every source) + a LLaMA-Factory
    # dataset_info.json entry next to the file
    format: str = "same"
    file: str = "curated.jsonl"

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        from codecurate.formats import FORMATS

        if v not in FORMATS and v not in ("same", "canonical"):
            raise ValueError(f"unknown output format {v!r}; valid: same, {', '.join(FORMATS)}")
        return v

    @field_validator("file")
    @classmethod
    def _known_suffix(cls, v: str) -> str:
        if not v.endswith((".jsonl", ".jsonl.gz", ".json", ".parquet")):
            raise ValueError(f"output file {v!r} must end in .jsonl, .jsonl.gz, .json or .parquet")
        return v


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: str
    name: str | None = None  # None: the op's name (set on validation, so every built recipe names its stages)
    on_error: Literal["raise", "skip"] = "raise"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_name(self) -> StageSpec:
        if self.name is None:
            self.name = self.op
        return self


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "recipe"
    input: InputSpec
    output: OutputSpec = Field(default_factory=OutputSpec)
    seed: int = 42
    workers: int | None = None
    executor: Literal["local", "ray"] = "local"  # ray: shard tasks on a Ray cluster (codecurate[ray])
    batch_size: int = Field(default=1000, ge=1)
    # the run's HTML report (RUN_DIR/report.html) at the end: true = model-free ("basic"), "full" = with
    # embeddings, contamination, near-duplicates and the selection map, false = none
    report: bool | Literal["basic", "full"] = True
    stages: list[StageSpec] = Field(default_factory=list)
    source_path: str | None = Field(default=None, exclude=True)

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> Recipe:
        """A recipe file, or a shipped one: ``package://recipes/quickstart.yaml``."""
        from codecurate.io import InputError, package_files, resolve_path

        if str(path).startswith("package://"):
            try:
                path = resolve_path(str(path))
            except InputError:
                shipped = ", ".join(f"package://{f}" for f in package_files("recipes"))
                raise RecipeError(f"{path}: no such shipped recipe; shipped: {shipped}") from None
        path = Path(path)
        if not path.exists():
            raise RecipeError(f"{path}: recipe file not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise RecipeError(f"{path}: not valid YAML: {e}") from e
        recipe = cls.from_dict(data, where=str(path))
        recipe.source_path = str(path)
        # relative input paths are relative to the recipe unless they exist from the cwd
        p = Path(recipe.input.path)
        if (not recipe.input.path.startswith("package://") and not p.is_absolute() and not p.exists()
                and (path.parent / p).exists()):
            recipe.input.path = str(path.parent / p)
        return recipe

    @classmethod
    def from_dict(cls, data: Any, where: str = "recipe") -> Recipe:
        if not isinstance(data, dict):
            raise RecipeError(f"{where}: a recipe is a mapping with keys input, stages (and name, output, seed)")
        data = dict(data)
        stages = data.get("stages") or []
        if not isinstance(stages, list):
            raise RecipeError(f"{where}: 'stages' must be a list of {{op: NAME, ...params}}")
        norm = []
        for i, st in enumerate(stages):
            if isinstance(st, str):
                st = {"op": st}
            if not isinstance(st, dict) or "op" not in st:
                raise RecipeError(f"{where}: stages[{i}] must be a mapping with an 'op' key, got {st!r}")
            params = dict(st.get("params") or {})
            params.update({k: v for k, v in st.items() if k not in RESERVED and k != "params"})
            norm.append({**{k: st[k] for k in RESERVED if k in st}, "params": params})
        data["stages"] = norm
        try:
            recipe = cls.model_validate(data)
        except ValidationError as e:
            raise RecipeError(f"{where}: " + _explain(e, cls)) from None
        for i, st in enumerate(recipe.stages):
            st.params = validate_params(st, f"{where}: stages[{i}]")
            assert st.name is not None  # StageSpec names it
            if not st.name.strip() or any(c in st.name for c in "/\\\0") or st.name.startswith("."):
                raise RecipeError(f"{where}: stages[{i}].name {st.name!r}: a stage name is a directory name "
                                  "(no '/', '\\', NUL, no leading '.')")
        names = [s.name for s in recipe.stages]
        dup = {n for n in names if names.count(n) > 1}
        for i, st in enumerate(recipe.stages):  # unique stage names: suffix repeats
            if st.name in dup:
                st.name = f"{st.name}_{i}"
        return recipe

    def to_yaml(self) -> str:
        data = self.model_dump(exclude={"source_path"})
        data["stages"] = [{"op": s.op, "name": s.name, "on_error": s.on_error, **s.params} for s in self.stages]
        return yaml.safe_dump(data, sort_keys=False)

    def stage_hash(self, i: int) -> str:
        """The resume key of stage ``i``: op, parameters, on_error, seed, the op's ``version`` and the
        codecurate version (an upgrade that changes an op's output must not reuse the old stage output)."""
        import codecurate

        st = self.stages[i]
        blob = json.dumps({"op": st.op, "params": st.params, "on_error": st.on_error, "seed": self.seed,
                           "op_version": get_op(st.op).version, "codecurate": codecurate.__version__},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def build_op(self, i: int) -> Op:
        st = self.stages[i]
        cls = get_op(st.op)
        return cls(cls.Config.model_validate(st.params), seed=self.seed, on_error=st.on_error)


def validate_params(st: StageSpec, where: str) -> dict:
    cls = get_op(st.op, where=f"{where}.op: ")
    try:
        cfg = cls.Config.model_validate(st.params)
    except ValidationError as e:
        raise RecipeError(f"{where} (op {st.op!r}): " + _explain(e, cls.Config)) from None
    return cfg.model_dump(mode="json")


def _explain(e: ValidationError, model: type[BaseModel]) -> str:
    valid = ", ".join(model.model_fields) or "(none)"
    msgs = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            msgs.append(f"unknown key {loc!r}; valid keys: {valid}")
        elif err["type"] == "missing":
            msgs.append(f"missing required key {loc!r}")
        else:
            msgs.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(msgs)
