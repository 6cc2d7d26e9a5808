"""Hyperparameter and model presets, and the validated training configuration.

Hyperparameter presets
    ``study``    the empirical study's fine-tuning (seed 0 ``sft.py`` / ``SFT/finetune.py``; reference
                 ``seed0_techniques.md`` §6.4): full fine-tuning, 10 epochs, max length 1024, lr 2e-5, cosine,
                 warmup 10 steps, per-device batch 16 x grad-acc 4, AdamW, save every epoch, study prompt.
    ``codeact``  CodeACT's README (``Kyle-Lyu/CodeACT@4900323``; reference ``selection_algorithms.md`` §1.5):
                 3 epochs, lr 5e-5, cosine, warmup 15 steps, batch 16 x grad-acc 4, Dynamic Pack. The issue fixes
                 max length 4096 (the README runs 2048; pass ``--max-length 2048`` to match it).

Model presets: the study's four models and CodeACT's three, as hub ids (any local path or hub id also works).
``study_end_token`` is the literal the study appends to targets; ``codeact_template`` is the prompt CodeACT
uses for that family.

Precedence when building a config: field defaults < hyperparameter preset < YAML config file < CLI flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HYPERPARAM_PRESETS: dict[str, dict] = {
    "study": dict(
        epochs=10,
        max_length=1024,
        lr=2e-5,
        scheduler="cosine",
        warmup_steps=10,
        batch_size=16,
        grad_acc=4,
        template="study",
        lora=False,
    ),
    "codeact": dict(
        epochs=3,
        max_length=4096,
        lr=5e-5,
        scheduler="cosine",
        warmup_steps=15,
        batch_size=16,
        grad_acc=4,
        template="codeact_family",
        collator="dynamic_pack",
        lora=False,
    ),
}

MODEL_PRESETS: dict[str, dict] = {
    "qwen2.5-coder-1.5b": {
        "model": "Qwen/Qwen2.5-Coder-1.5B-Instruct", "study_end_token": "</s>", "codeact_template": "chat"},
    "qwen2.5-coder-3b": {
        "model": "Qwen/Qwen2.5-Coder-3B-Instruct", "study_end_token": "</s>", "codeact_template": "chat"},
    "llama-3.2-1b": {
        "model": "meta-llama/Llama-3.2-1B-Instruct", "study_end_token": "<|eot_id|>", "codeact_template": "chat"},
    "llama-3.2-3b": {
        "model": "meta-llama/Llama-3.2-3B-Instruct", "study_end_token": "<|eot_id|>", "codeact_template": "chat"},
    "deepseek-coder-6.7b": {
        "model": "deepseek-ai/deepseek-coder-6.7b-base", "study_end_token": None, "codeact_template": "codeact"},
    "codellama-7b-python": {
        "model": "codellama/CodeLlama-7b-Python-hf", "study_end_token": "</s>", "codeact_template": "codellama"},
    "codellama-13b-python": {
        "model": "codellama/CodeLlama-13b-Python-hf", "study_end_token": "</s>", "codeact_template": "codellama"},
}


class TrainConfig(BaseModel):
    """Every knob of ``codecurate train``; YAML config files use these field names."""

    model_config = ConfigDict(extra="forbid")

    data: str | None = None
    model: str
    output: str = "runs/train"
    # prompt
    # auto = the model's chat template if it has one, else study; codeact_family = CodeACT's prompt for the model
    template: Literal["auto", "codeact_family", "study", "codeact", "codellama", "chat", "plain"] = "auto"
    end_token: str = Field("eos", description="'eos' (tokenizer EOS id), 'study' (the study's literal), or text")
    overlong: Literal["truncate", "drop"] = "truncate"
    # batching
    collator: Literal["fixed", "dynamic", "dynamic_pack", "bfd"] = "dynamic_pack"
    row_filling: Literal["next_fit", "balanced"] = "balanced"
    isolation: Literal["isolated", "faithful"] = "isolated"
    attention: Literal["auto", "position_ids", "mask4d", "flash_varlen"] = "auto"
    bfd_window: int = 1000
    # optimisation (defaults = the study preset)
    max_length: int = 1024
    epochs: float = 10
    lr: float = 2e-5
    scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = 10
    batch_size: int = 16
    grad_acc: int = 4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_steps: int | None = None
    seed: int = 42
    shuffle: bool = True
    # model
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target: str | list[str] = "all-linear"
    lora_save_merged: bool = True
    gradient_checkpointing: bool = False
    # weights dtype; auto = bfloat16 on a GPU that supports it, else float32
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    # autocast; auto = bf16 over bf16 weights, else none (an accelerate config's mixed_precision still applies)
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    attn_implementation: str = "sdpa"
    # auto = the GPU(s) accelerate gives this process, else CPU; pick GPUs with CUDA_VISIBLE_DEVICES/accelerate
    device: Literal["auto", "cpu", "cuda"] = "auto"
    optim: str | None = Field(None, description="a transformers optimizer name (adamw_torch, adamw_8bit, ...); "
                                                "None = the Trainer's default (fused AdamW on torch >= 2.8)")
    deepspeed: str | None = Field(None, description="DeepSpeed JSON config (or use an accelerate config)")
    dataloader_workers: int = 0
    # any other trl.SFTConfig / transformers.TrainingArguments field, e.g. {"torch_compile": true}
    trainer_args: dict = Field(default_factory=dict)
    # checkpoints and logs
    save_every_epoch: bool = True
    save_steps: int | None = Field(None, description="save every N optimizer steps instead of every epoch")
    save_total_limit: int | None = None
    resume: str | None = None
    log_every: int = 1
    report_to: str | list[str] = Field("none", description="tensorboard, wandb, trackio, ... (Trainer loggers)")
    progress: bool = True


def resolve_model(name: str) -> tuple[str, dict]:
    """A preset name -> (hub id, preset); anything else is a hub id or local path, returned unchanged."""
    key = name.lower()
    if key in MODEL_PRESETS:
        preset = MODEL_PRESETS[key]
        return preset["model"], preset
    for preset in MODEL_PRESETS.values():
        if preset["model"].lower() == key:
            return preset["model"], preset
    return name, {}


def load_yaml(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"training config {p} does not exist") from None
    except yaml.YAMLError as e:
        raise ValueError(f"training config {p}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"training config {p}: expected a mapping of TrainConfig fields, got {type(data).__name__}")
    return data.get("train", data) if isinstance(data.get("train"), dict) else data


def build_config(preset: str | None = None, config_file: str | Path | None = None, **overrides) -> TrainConfig:
    """defaults < preset < YAML < overrides (None values in overrides are ignored)."""
    values: dict = {}
    if preset:
        if preset not in HYPERPARAM_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid: {sorted(HYPERPARAM_PRESETS)}")
        values.update(HYPERPARAM_PRESETS[preset])
    if config_file:
        file_values = load_yaml(config_file)
        unknown = sorted(set(file_values) - set(TrainConfig.model_fields) - {"preset"})
        if unknown:
            raise ValueError(
                f"training config {config_file}: unknown keys {unknown}; valid: {sorted(TrainConfig.model_fields)}"
            )
        if file_values.get("preset") and not preset:
            return build_config(file_values["preset"], config_file, **overrides)
        values.update({k: v for k, v in file_values.items() if k != "preset"})
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "model" not in values:
        raise ValueError("no model given: pass --model (a preset name, hub id or local path) or set 'model:'")
    return TrainConfig(**values)
