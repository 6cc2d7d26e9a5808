"""``codecurate train``: fine-tune a causal LM on a dataset (the lead registers ``train_command``).

    codecurate train curated.jsonl --model qwen2.5-coder-1.5b --preset study --output runs/qwen
    codecurate train data.json --model ./my-model --preset codeact --collator dynamic_pack --lora
    codecurate train data.json --config train.yaml --resume auto
    accelerate launch --num_processes 8 -m codecurate.cli_train data.json --model ... --preset codeact

Training runs on TRL's ``SFTTrainer`` (``codecurate.training.train``), so ``accelerate launch`` (DDP, FSDP or
DeepSpeed from the accelerate config, or ``--deepspeed ds.json``) and mixed precision work as with any Trainer.
"""

from __future__ import annotations

import json
from typing import Optional

import typer


def train_command(
    data: str = typer.Argument(..., help="Training data: any format codecurate reads (jsonl, json, parquet, ...)."),
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Model preset (qwen2.5-coder-1.5b, llama-3.2-1b, deepseek-coder-6.7b, "
                                             "codellama-7b-python, ...), hub id or local path."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Hyperparameters: study | codeact."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML file of TrainConfig fields."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Run directory (default runs/train)."),
    collator: Optional[str] = typer.Option(None, "--collator", help="fixed | dynamic | dynamic_pack | bfd."),
    row_filling: Optional[str] = typer.Option(None, "--row-filling", help="dynamic_pack rows: balanced | next_fit."),
    isolation: Optional[str] = typer.Option(None, "--isolation",
                                            help="dynamic_pack: isolated (default) | faithful (CodeACT, leaks)."),
    attention: Optional[str] = typer.Option(None, "--attention",
                                            help="isolated packing: auto | position_ids | mask4d | flash_varlen."),
    template: Optional[str] = typer.Option(None, "--template",
                                           help="auto | study | codeact | codellama | chat | plain | codeact_family."),
    end_token: Optional[str] = typer.Option(None, "--end-token", help="eos (default) | study | literal text."),
    overlong: Optional[str] = typer.Option(None, "--overlong", help="Over-long samples: truncate | drop."),
    max_length: Optional[int] = typer.Option(None, "--max-length"),
    epochs: Optional[float] = typer.Option(None, "--epochs"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="cosine | linear | constant | ..."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Samples per micro-batch (bfd: rows)."),
    grad_acc: Optional[int] = typer.Option(None, "--grad-acc"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps."),
    lora: Optional[bool] = typer.Option(None, "--lora/--full", help="LoRA (PEFT) or full fine-tuning."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r"),
    gradient_checkpointing: Optional[bool] = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
    dtype: Optional[str] = typer.Option(None, "--dtype",
                                        help="Weights: auto (bf16 on GPU) | bfloat16 | float16 | float32."),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision",
                                                  help="Autocast: auto (bf16 over bf16 weights) | no | bf16 | fp16."),
    attn_implementation: Optional[str] = typer.Option(None, "--attn-implementation", help="sdpa | eager | ..."),
    device: Optional[str] = typer.Option(None, "--device",
                                         help="auto | cpu | cuda (choose GPUs with CUDA_VISIBLE_DEVICES or "
                                              "accelerate launch)."),
    optim: Optional[str] = typer.Option(None, "--optim", help="Trainer optimizer name (default: the Trainer's)."),
    deepspeed: Optional[str] = typer.Option(None, "--deepspeed", help="DeepSpeed JSON config."),
    report_to: Optional[str] = typer.Option(None, "--report-to",
                                            help="Loggers: none | tensorboard | wandb | trackio | all (comma list)."),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", help="Checkpoint every N steps (default: epochs)."),
    save_total_limit: Optional[int] = typer.Option(None, "--save-total-limit", help="Keep at most N checkpoints."),
    trainer_arg: Optional[list[str]] = typer.Option(
        None, "--trainer-arg", help="KEY=VALUE for any other SFTConfig/TrainingArguments field (VALUE is YAML; "
                                    "repeatable), e.g. --trainer-arg torch_compile=true."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    resume: Optional[str] = typer.Option(None, "--resume", help="A checkpoint dir, or 'auto' for the latest."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no log lines on stdout."),
):
    """Fine-tune a causal LM (full or LoRA) on TRL's SFTTrainer with Dynamic Pack or another padding strategy."""
    from pydantic import ValidationError
    from rich.console import Console

    from codecurate.training.presets import build_config
    from codecurate.training.train import check_trainer_args, train

    console = Console()
    try:
        trainer_args = _parse_trainer_args(trainer_arg)
    except ValueError as e:
        _fail(e)
    overrides = dict(
        data=data, model=model, output=output, collator=collator, row_filling=row_filling, isolation=isolation,
        attention=attention, template=template, end_token=end_token, overlong=overlong, max_length=max_length,
        epochs=epochs, lr=lr, scheduler=scheduler, warmup_steps=warmup_steps, batch_size=batch_size,
        grad_acc=grad_acc, max_steps=max_steps, lora=lora, lora_r=lora_r,
        gradient_checkpointing=gradient_checkpointing, dtype=dtype, attn_implementation=attn_implementation,
        device=device, seed=seed, resume=resume, progress=False if quiet else None,
        mixed_precision=mixed_precision, optim=optim, deepspeed=deepspeed, save_steps=save_steps,
        save_total_limit=save_total_limit,
        report_to=[x.strip() for x in report_to.split(",")] if report_to and "," in report_to else report_to,
    )
    try:
        cfg = build_config(preset, config, **overrides)
        if trainer_args:
            cfg = cfg.model_copy(update={"trainer_args": {**cfg.trainer_args, **trainer_args}})
        check_trainer_args(cfg)
    except (ValueError, ValidationError, FileNotFoundError) as e:
        _fail(e)
    metrics = train(cfg)
    from accelerate import PartialState

    if PartialState().is_main_process:  # under accelerate launch every process returns the metrics
        shown = {k: metrics[k] for k in ("optimizer_steps", "padding_ratio", "rows_per_batch", "real_tokens_per_s",
                                         "wall_time_s", "final_loss", "checkpoint")}
        console.print_json(json.dumps(shown))


def _fail(error: Exception):
    """Print ``error: MESSAGE`` on stderr (the message is data: no rich markup) and exit with status 2."""
    from rich.console import Console

    err = Console(stderr=True)
    err.print("[bold red]error:[/] ", end="")
    err.print(str(error), highlight=False, soft_wrap=True, markup=False)
    raise typer.Exit(2) from None


def _parse_trainer_args(items: list[str] | None) -> dict:
    """``["KEY=VALUE", ...]`` -> dict, VALUE parsed as YAML (``true``, ``3``, ``[a, b]``, ``{k: v}``)."""
    import yaml

    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--trainer-arg {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ValueError(f"--trainer-arg {item!r}: VALUE is not valid YAML: {e}") from None
    return out


def main() -> None:
    """``python -m codecurate.cli_train`` / ``accelerate launch -m codecurate.cli_train``: the train command alone."""
    app = typer.Typer(add_completion=False)
    app.command()(train_command)
    try:
        app()
    finally:
        # under torchrun/accelerate: tear the process group down before the interpreter exits; left to the exit
        # path, a gloo rank can abort ("terminate called without an active exception", SIGABRT)
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


if __name__ == "__main__":
    main()
