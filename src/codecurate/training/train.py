"""Supervised fine-tuning of a Hugging Face causal LM on canonical records, with a plain torch loop.

Why a plain loop and not ``transformers.Trainer``: the collators decide the row layout per batch (Dynamic Pack
keeps 16 samples per micro-batch but changes the number of rows), the loss must be normalised by the label
tokens of the whole accumulation group (so packed and padded batches optimise the same objective), and every
step must report real tokens, tensor cells and rows. That is a few dozen lines here and awkward inside Trainer.

Loss: every micro-batch calls the model with ``num_items_in_batch`` = label tokens of the whole accumulation
group, so the summed micro-batch losses are the token mean over the group (the fixed "gradient accumulation"
loss of transformers >= 4.46) whatever the padding strategy.

Output layout (plugs into ``codecurate eval --model RUN_DIR/checkpoint-N``)::

    RUN_DIR/
      config.json               the resolved TrainConfig
      log.jsonl                 one line per optimizer step
      train_metrics.json        final metrics (padding ratio, real tokens/s, rows per batch, steps, wall time,
                                peak memory, encode stats)
      checkpoint-N/             N = optimizer steps done; saved each epoch and at the end
        config.json, model.safetensors, tokenizer files, generation_config.json   (loadable by from_pretrained;
                                                                                   LoRA runs save merged weights)
        adapter/                LoRA adapter (LoRA runs only; used to resume)
        training_state.pt       optimizer, scheduler, RNG and position in the data, for --resume
        trainer_state.json      the same position, human readable
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from codecurate.training.presets import TrainConfig, resolve_model

STATE_FILE = "training_state.pt"


# ------------------------------------------------------------------------------------------------ helpers


def _device_and_dtype(cfg: TrainConfig):
    import torch

    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    if cfg.dtype == "auto":
        bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if bf16_ok else torch.float32
    else:
        dtype = getattr(torch, cfg.dtype)
    return device, dtype


def resolve_template(cfg: TrainConfig, preset: dict, tokenizer) -> str:
    if cfg.template == "codeact_family":
        return preset.get("codeact_template", "codeact")
    if cfg.template != "auto":
        return cfg.template
    return "chat" if getattr(tokenizer, "chat_template", None) else "study"


def resolve_end_token(cfg: TrainConfig, preset: dict) -> str | None:
    if cfg.end_token == "eos":
        return None
    if cfg.end_token == "study":
        return preset.get("study_end_token")
    return cfg.end_token


def resolve_attention(cfg: TrainConfig) -> str:
    if cfg.attention != "auto":
        return cfg.attention
    # FlashAttention only detects packing from position ids at batch size 1: give it cu_seq_lens instead.
    return "flash_varlen" if cfg.attn_implementation.startswith("flash") else "position_ids"


def peak_memory_bytes(device) -> dict:
    import torch

    out = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if device.type == "cuda":
        out["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated(device))
    return out


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    ckpts = [p for p in Path(run_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    ckpts = [p for p in ckpts if (p / STATE_FILE).exists()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1])) if ckpts else None


def _epoch_order(n: int, epoch: int, cfg: TrainConfig) -> list[int]:
    if not cfg.shuffle:
        return list(range(n))
    return np.random.default_rng(cfg.seed + epoch).permutation(n).tolist()


# ------------------------------------------------------------------------------------------------ model


def load_model(cfg: TrainConfig, source: str, device, dtype, resume_dir: Path | None):
    import torch
    from transformers import AutoModelForCausalLM

    weights = source if (resume_dir is None or cfg.lora) else str(resume_dir)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=dtype, attn_implementation=cfg.attn_implementation)
    model.config.use_cache = False  # a KV cache object disables packed-sequence masks (reference §1.4)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.lora:
            model.enable_input_require_grads()
    if cfg.lora:
        from peft import LoraConfig, PeftModel, get_peft_model

        if resume_dir is not None:
            model = PeftModel.from_pretrained(model, str(resume_dir / "adapter"), is_trainable=True)
        else:
            lora = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=cfg.lora_target,
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
    model.to(device)
    model.train()
    torch.manual_seed(cfg.seed)
    return model


def save_checkpoint(model, tokenizer, cfg: TrainConfig, source: str, ckpt: Path, state: dict, dtype) -> None:
    import torch

    ckpt.mkdir(parents=True, exist_ok=True)
    if cfg.lora:
        model.save_pretrained(ckpt / "adapter")
        if cfg.lora_save_merged:
            # Merge into a fresh CPU copy of the base model so the training model keeps its adapter.
            from peft import PeftModel
            from transformers import AutoModelForCausalLM

            base = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
            merged = PeftModel.from_pretrained(base, str(ckpt / "adapter")).merge_and_unload()
            merged.config.use_cache = True
            merged.save_pretrained(ckpt)
            del base, merged
    else:
        model.config.use_cache = True  # the checkpoint is for inference
        model.save_pretrained(ckpt)
        model.config.use_cache = False
    tokenizer.save_pretrained(ckpt)
    torch.save(state, ckpt / STATE_FILE)
    public = {k: v for k, v in state.items() if k in ("epoch", "batches_done", "global_step", "samples_seen")}
    (ckpt / "trainer_state.json").write_text(json.dumps(public, indent=2))


# ------------------------------------------------------------------------------------------------ training


def train(cfg: TrainConfig, records: Iterable[dict] | None = None, features: list[dict] | None = None) -> dict:
    """Fine-tune ``cfg.model`` on ``records`` (or ``cfg.data`` read with ``codecurate.io.read_records``).

    ``features`` (pre-tokenized ``{"input_ids", "labels"}`` dicts, prompt labels -100) skips tokenization.

    Returns the final metrics, also written to ``RUN_DIR/train_metrics.json``.
    """
    import torch
    from transformers import AutoTokenizer, get_scheduler

    from codecurate.training.collators import SFTCollator, pack_bfd
    from codecurate.training.templates import encode_records

    t_start = time.perf_counter()
    run_dir = Path(cfg.output)
    run_dir.mkdir(parents=True, exist_ok=True)
    device, dtype = _device_and_dtype(cfg)
    source, preset = resolve_model(cfg.model)

    resume_dir: Path | None = None
    if cfg.resume:
        resume_dir = latest_checkpoint(run_dir) if cfg.resume in ("auto", "latest") else Path(cfg.resume)
        if resume_dir is None or not (resume_dir / STATE_FILE).exists():
            raise FileNotFoundError(
                f"--resume {cfg.resume}: no checkpoint with {STATE_FILE} found"
                + (f" under {run_dir}" if cfg.resume in ("auto", "latest") else "")
            )

    tokenizer = AutoTokenizer.from_pretrained(str(resume_dir) if resume_dir else source)
    if tokenizer.pad_token_id is None:  # CodeACT/the study pad with EOS when there is no pad token
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"

    if features is not None:
        from codecurate.training.templates import EncodeStats

        template = "pretokenized"
        enc_stats = EncodeStats(samples_in=len(features), samples_out=len(features))
    elif records is None:
        if not cfg.data:
            raise ValueError("no training data: pass DATA (a dataset file) or records")
        from codecurate.io import read_records

        records = read_records(cfg.data)
    if features is None:
        template = resolve_template(cfg, preset, tokenizer)
        features, enc_stats = encode_records(
            records, tokenizer, template, cfg.max_length, resolve_end_token(cfg, preset), cfg.overlong
        )
    if not features:
        raise ValueError(f"no trainable samples after encoding ({enc_stats.as_dict()})")

    model = load_model(cfg, source, device, dtype, resume_dir)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    attention = resolve_attention(cfg)
    collator = SFTCollator(
        strategy=cfg.collator,
        max_length=cfg.max_length,
        pad_token_id=tokenizer.pad_token_id,
        row_filling=cfg.row_filling,
        isolation=cfg.isolation,
        attention=attention,
        mask_dtype=dtype,
    )
    # BFD packs offline (TRL): the batch unit becomes a packed row, so there are fewer optimizer steps.
    items = pack_bfd(features, cfg.max_length, cfg.bfd_window) if cfg.collator == "bfd" else features
    batches_per_epoch = math.ceil(len(items) / cfg.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_acc)
    total_steps = math.ceil(steps_per_epoch * cfg.epochs)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    n_epochs = math.ceil(cfg.epochs)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler(cfg.scheduler, optimizer, num_warmup_steps=cfg.warmup_steps,
                              num_training_steps=total_steps)

    epoch, batches_done, global_step, samples_seen = 0, 0, 0, 0
    if resume_dir is not None:
        state = torch.load(resume_dir / STATE_FILE, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        epoch, batches_done = state["epoch"], state["batches_done"]
        global_step, samples_seen = state["global_step"], state["samples_seen"]

    (run_dir / "config.json").write_text(cfg.model_dump_json(indent=2))
    log_mode = "a" if resume_dir is not None else "w"
    totals = {"real_tokens": 0, "cells": 0, "rows": 0, "micro_batches": 0, "label_tokens": 0}
    losses: list[float] = []
    train_time = 0.0
    cpu_time = 0.0  # process CPU seconds: on a shared machine wall time is mostly waiting for a core
    last_ckpt: Path | None = None

    def state_dict() -> dict:
        return {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "batches_done": batches_done,
            "global_step": global_step,
            "samples_seen": samples_seen,
            "config": cfg.model_dump(),
        }

    progress = _progress(cfg.progress)
    with open(run_dir / "log.jsonl", log_mode) as log, progress:
        task = progress.add_task("train", total=total_steps, completed=global_step, loss=float("nan"))
        while epoch < n_epochs and global_step < total_steps:
            order = _epoch_order(len(items), epoch, cfg)
            batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            if epoch + 1 > cfg.epochs:  # a fractional last epoch
                batches = batches[: math.ceil(len(batches) * (cfg.epochs - epoch))]
            while batches_done < len(batches) and global_step < total_steps:
                group_idx = batches[batches_done : batches_done + cfg.grad_acc]
                group = [collator([items[i] for i in b]) for b in group_idx]
                stats = [g.pop("stats") for g in group]
                n_items = sum(s["label_tokens"] for s in stats)
                t0, c0 = time.perf_counter(), time.process_time()
                loss_sum = 0.0
                for g in group:
                    inputs = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in g.items()}
                    out = model(**inputs, num_items_in_batch=max(n_items, 1))
                    out.loss.backward()
                    loss_sum += out.loss.item()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                dt = time.perf_counter() - t0
                train_time += dt
                cpu_time += time.process_time() - c0
                global_step += 1
                batches_done += len(group)
                samples_seen += sum(s["samples"] for s in stats)
                step = {
                    "step": global_step,
                    "epoch": round(epoch + batches_done / len(batches), 4),
                    "loss": loss_sum,
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": float(grad_norm),
                    "real_tokens": sum(s["real_tokens"] for s in stats),
                    "cells": sum(s["cells"] for s in stats),
                    "rows": sum(s["rows"] for s in stats),
                    "micro_batches": len(group),
                    "step_s": round(dt, 4),
                }
                step["padding_ratio"] = round(1 - step["real_tokens"] / step["cells"], 4)
                step["real_tokens_per_s"] = round(step["real_tokens"] / dt, 1) if dt > 0 else None
                for key in ("real_tokens", "cells", "rows", "micro_batches"):
                    totals[key] += step[key]
                totals["label_tokens"] += n_items
                losses.append(loss_sum)
                if global_step % cfg.log_every == 0:
                    log.write(json.dumps(step) + "\n")
                    log.flush()
                progress.update(task, completed=global_step, loss=loss_sum)
            if batches_done >= len(batches):
                epoch, batches_done = epoch + 1, 0
                if cfg.save_every_epoch:
                    last_ckpt = run_dir / f"checkpoint-{global_step}"
                    save_checkpoint(model, tokenizer, cfg, source, last_ckpt, state_dict(), dtype)
        final = run_dir / f"checkpoint-{global_step}"
        if last_ckpt != final:
            save_checkpoint(model, tokenizer, cfg, source, final, state_dict(), dtype)

    metrics = {
        "model": source,
        "collator": collator.describe(),
        "template": template,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "lora": cfg.lora,
        "optimizer_steps": global_step,
        "optimizer_steps_this_run": len(losses),
        "total_steps_planned": total_steps,
        "epochs_completed": epoch,
        "samples_seen": samples_seen,
        "padding_ratio": 1 - totals["real_tokens"] / totals["cells"] if totals["cells"] else None,
        "real_tokens": totals["real_tokens"],
        "tensor_cells": totals["cells"],
        "rows_per_batch": totals["rows"] / totals["micro_batches"] if totals["micro_batches"] else None,
        "real_tokens_per_s": totals["real_tokens"] / train_time if train_time else None,
        "train_time_s": train_time,
        "train_cpu_time_s": cpu_time,
        "real_tokens_per_cpu_s": totals["real_tokens"] / cpu_time if cpu_time else None,
        "wall_time_s": time.perf_counter() - t_start,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "mean_loss_last_epoch": float(np.mean(losses[-steps_per_epoch:])) if losses else None,
        "encode": enc_stats.as_dict(),
        "checkpoint": str(final),
        "resumed_from": str(resume_dir) if resume_dir else None,
        **peak_memory_bytes(device),
    }
    (run_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
        disable=not enabled or os.environ.get("CODECURATE_NO_PROGRESS") == "1",
    )
