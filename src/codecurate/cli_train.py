"""``codecurate train``: fine-tune a causal LM on a dataset (the lead registers ``train_command``).

    codecurate train curated.jsonl --model qwen2.5-coder-1.5b --preset study --output runs/qwen
    codecurate train data.json --model ./my-model --preset codeact --collator dynamic_pack --lora
    codecurate train data.json --config train.yaml --resume auto
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
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto (bf16 on GPU) | bfloat16 | float16 | float32."),
    attn_implementation: Optional[str] = typer.Option(None, "--attn-implementation", help="sdpa | eager | ..."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:1."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    resume: Optional[str] = typer.Option(None, "--resume", help="A checkpoint dir, or 'auto' for the latest."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Fine-tune a causal LM (full or LoRA) with Dynamic Pack or another padding strategy."""
    from pydantic import ValidationError
    from rich.console import Console

    from codecurate.training.presets import build_config
    from codecurate.training.train import train

    console = Console()
    overrides = dict(
        data=data, model=model, output=output, collator=collator, row_filling=row_filling, isolation=isolation,
        attention=attention, template=template, end_token=end_token, overlong=overlong, max_length=max_length,
        epochs=epochs, lr=lr, scheduler=scheduler, warmup_steps=warmup_steps, batch_size=batch_size,
        grad_acc=grad_acc, max_steps=max_steps, lora=lora, lora_r=lora_r,
        gradient_checkpointing=gradient_checkpointing, dtype=dtype, attn_implementation=attn_implementation,
        device=device, seed=seed, resume=resume, progress=False if quiet else None,
    )
    try:
        cfg = build_config(preset, config, **overrides)
    except (ValueError, ValidationError, FileNotFoundError) as e:
        Console(stderr=True).print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    metrics = train(cfg)
    shown = {k: metrics[k] for k in ("optimizer_steps", "padding_ratio", "rows_per_batch", "real_tokens_per_s",
                                     "wall_time_s", "final_loss", "checkpoint")}
    console.print_json(json.dumps(shown))
