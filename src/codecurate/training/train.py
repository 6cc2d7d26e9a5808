"""Supervised fine-tuning of a Hugging Face causal LM on canonical records, on TRL's ``SFTTrainer``.

``train`` builds a ``trl.SFTTrainer`` (a ``transformers.Trainer``) and hands it codecurate's pieces, so the
packing decisions stay ours while everything else is the field's trainer:

- the **collator** (``collators.SFTCollator``: fixed, dynamic, CodeACT's Dynamic Pack, BFD rows) turns each
  micro-batch of ``batch_size`` samples into rows; Dynamic Pack packs inside the batch, so the number of samples
  per optimizer step, and the number of steps, are those of padding;
- the **dataset** is the encoded samples, or for ``bfd`` the rows ``pack_bfd`` packed offline (TRL semantics:
  the batch unit is a packed row), with ``skip_prepare_dataset`` so TRL neither re-tokenizes nor re-packs;
- the **sampler** (``EpochShuffleSampler``) draws the order codecurate always used (a permutation seeded by
  ``seed + epoch``); accelerate shards its batches across processes under multi-GPU training.

The Trainer then brings what users expect from it: ``accelerate launch`` for multi-GPU (DDP, FSDP, DeepSpeed:
the accelerate config or ``deepspeed:``), mixed precision (``mixed_precision``; an accelerate config's choice is
honoured when ``auto`` leaves it open), gradient accumulation, gradient checkpointing, LoRA through PEFT,
``checkpoint-N`` directories with optimizer/scheduler/RNG state and ``resume_from_checkpoint`` (``--resume``),
and the usual loggers (``report_to``: tensorboard, wandb, trackio, ...). Any other ``SFTConfig`` /
``TrainingArguments`` field can be set through ``trainer_args``.

Loss: the Trainer counts the label tokens of the whole accumulation group (``num_items_in_batch``, over
``labels[..., 1:]``) and every micro-batch loss is divided by it, so the summed micro-batch losses are the token
mean over the group whatever the padding strategy -- the objective the former hand-written loop optimised
(``tests/test_train.py`` checks step losses against that loop's arithmetic). TRL's ``compute_loss`` forces
``use_cache=False``, which packed rows need (reference ``training_eval.md`` §1.5).

Deviations from the former loop: weight decay skips biases and norm weights (Trainer's rule; the default decay
is 0, so nothing changes by default); a fractional last epoch ends at the step count ``ceil(steps/epoch x
epochs)`` instead of cutting the batch list; LoRA checkpoints hold the adapter at the top (what the Trainer
resumes from; ``from_pretrained`` on it loads base + adapter) and the merged model in ``merged/``.

Output layout (plugs into ``codecurate eval RUN_DIR/checkpoint-N``)::

    RUN_DIR/
      config.json               the resolved TrainConfig
      log.jsonl                 one line per logged step: loss, lr, grad_norm, real tokens, cells, rows, padding,
                                tokens/s, TRL's entropy / token accuracy
      train_metrics.json        final metrics (padding ratio, real tokens/s, rows per batch, steps, wall time,
                                peak memory, encode stats)
      checkpoint-N/             N = optimizer steps done; saved every epoch (or every save_steps) and at the end
        config.json, model.safetensors, tokenizer files      full fine-tuning (loadable by from_pretrained)
        adapter_config.json, adapter_model.safetensors       LoRA runs; merged/ holds the merged model
        optimizer.pt, scheduler.pt, rng_state.pth, trainer_state.json, training_args.bin   for --resume
        codecurate_counters.json                             samples/tokens seen, for the metrics after a resume
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codecurate.training.presets import TrainConfig, resolve_model

COUNTERS_FILE = "codecurate_counters.json"
COUNTER_KEYS = ("samples", "real_tokens", "cells", "rows", "micro_batches", "label_tokens")
# SFTConfig fields train() sets itself: overriding them through trainer_args would break the collators.
RESERVED_TRAINER_ARGS = frozenset({
    "output_dir", "remove_unused_columns", "dataset_kwargs", "packing", "padding_free", "per_device_train_batch_size",
    "gradient_accumulation_steps", "resume_from_checkpoint",
})


# ------------------------------------------------------------------------------------------------ resolution


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


def resolve_dtype(cfg: TrainConfig):
    """Weights dtype: ``auto`` = bfloat16 on a GPU that supports it, float32 otherwise."""
    import torch

    if cfg.dtype != "auto":
        return getattr(torch, cfg.dtype)
    on_gpu = cfg.device != "cpu" and torch.cuda.is_available()
    return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32


def resolve_mixed_precision(cfg: TrainConfig, dtype) -> str:
    """Autocast mode. ``auto``: bf16 autocast over bf16 weights, none otherwise (an ``accelerate launch
    --mixed_precision`` / accelerate config setting then still applies, since the Trainer reads it)."""
    import torch

    if cfg.mixed_precision == "fp16" and dtype == torch.float16:
        raise ValueError("mixed_precision fp16 needs float32 weights (its gradient scaler cannot unscale float16 "
                         "gradients): pass --dtype float32, or use bf16")
    if cfg.mixed_precision != "auto":
        return cfg.mixed_precision
    return "bf16" if dtype == torch.bfloat16 else "no"


def peak_memory_bytes() -> dict:
    import torch

    out = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` with the largest N that the Trainer can resume from (has ``trainer_state.json``)."""
    ckpts = [p for p in Path(run_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    ckpts = [p for p in ckpts if (p / "trainer_state.json").exists()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1])) if ckpts else None


def _resume_dir(cfg: TrainConfig, run_dir: Path) -> Path | None:
    if not cfg.resume:
        return None
    latest = cfg.resume in ("auto", "latest")
    resume = latest_checkpoint(run_dir) if latest else Path(cfg.resume)
    if resume is None or not (resume / "trainer_state.json").exists():
        raise FileNotFoundError(
            f"--resume {cfg.resume}: no checkpoint with trainer_state.json found"
            + (f" under {run_dir}" if latest else "")
        )
    return resume


# ------------------------------------------------------------------------------------------------ data order


def _sampler_class():
    import numpy as np
    import torch

    class EpochShuffleSampler(torch.utils.data.Sampler):
        """Indices in the order codecurate's training always used: ``default_rng(seed + epoch).permutation(n)``
        (identity without shuffling). ``set_epoch`` is called by the Trainer / accelerate each epoch, so a resumed
        run sees the same order; under multi-GPU every rank draws the same permutation and accelerate hands each
        rank its own batches."""

        def __init__(self, n: int, seed: int, shuffle: bool = True):
            self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __len__(self) -> int:
            return self.n

        def __iter__(self):
            if not self.shuffle:
                return iter(range(self.n))
            return iter(np.random.default_rng(self.seed + self.epoch).permutation(self.n).tolist())

    return EpochShuffleSampler


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool = True) -> list[int]:
    """The sample order of one epoch (what ``EpochShuffleSampler`` yields)."""
    sampler = _sampler_class()(n, seed, shuffle)
    sampler.set_epoch(epoch)
    return list(sampler)


# ------------------------------------------------------------------------------------------------ trainer


def _trainer_classes():
    import torch
    from transformers import TrainerCallback
    from trl import SFTTrainer

    class StepStats(TrainerCallback):
        """Per-step padding statistics, step time and the codecurate log; counters saved with each checkpoint."""

        def __init__(self, log_path: Path, counters: dict, cuda: bool):
            self.trainer = None
            self.log_path, self.cuda = log_path, cuda
            self.pending = dict.fromkeys(COUNTER_KEYS, 0)  # micro-batches of the current step (this rank)
            self.since_log = dict.fromkeys(COUNTER_KEYS, 0) | {"step_s": 0.0}
            self.seen = dict(counters)  # since the start of training, across resumes (all ranks)
            self.run = dict.fromkeys(COUNTER_KEYS, 0)  # this call (all ranks)
            self.train_time = self.cpu_time = 0.0
            self.losses: list[float] = []
            self.steps = 0  # optimizer steps in this call
            self._t0 = self._c0 = 0.0

        def add(self, stats: dict) -> None:
            for key in ("samples", "real_tokens", "cells", "rows", "label_tokens"):
                self.pending[key] += stats[key]
            self.pending["micro_batches"] += 1

        def on_step_begin(self, args, state, control, **kwargs):
            self._t0, self._c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            if self.cuda:
                torch.cuda.synchronize()
            dt = time.perf_counter() - self._t0
            self.train_time += dt
            self.cpu_time += time.process_time() - self._c0
            acc = self.trainer.accelerator
            local = torch.tensor([float(self.pending[k]) for k in COUNTER_KEYS], device=acc.device)
            total = acc.reduce(local, reduction="sum") if acc.num_processes > 1 else local
            for key, value in zip(COUNTER_KEYS, total.tolist()):
                value = round(value)
                self.since_log[key] += value
                self.seen[key] = self.seen.get(key, 0) + value
                self.run[key] += value
            self.since_log["step_s"] += dt
            self.pending = dict.fromkeys(COUNTER_KEYS, 0)
            self.steps += 1

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:  # the end-of-training summary has train_loss instead
                return
            s = self.since_log
            self.losses.append(float(logs["loss"]))
            if state.is_world_process_zero:
                line = {
                    "step": state.global_step,
                    "epoch": round(state.epoch or 0.0, 4),
                    "loss": float(logs["loss"]),
                    "lr": logs.get("learning_rate"),
                    "grad_norm": logs.get("grad_norm"),
                    "real_tokens": s["real_tokens"],
                    "cells": s["cells"],
                    "rows": s["rows"],
                    "samples": s["samples"],
                    "micro_batches": s["micro_batches"],
                    "step_s": round(s["step_s"], 4),
                    "padding_ratio": round(1 - s["real_tokens"] / s["cells"], 4) if s["cells"] else None,
                    "real_tokens_per_s": round(s["real_tokens"] / s["step_s"], 1) if s["step_s"] > 0 else None,
                }
                for key in ("entropy", "mean_token_accuracy"):
                    if key in logs:
                        line[key] = logs[key]
                with open(self.log_path, "a") as f:
                    f.write(json.dumps(line) + "\n")
            self.since_log = dict.fromkeys(COUNTER_KEYS, 0) | {"step_s": 0.0}

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if ckpt.is_dir():
                    (ckpt / COUNTERS_FILE).write_text(json.dumps(self.seen, indent=2))

    class SaveAtEnd(TrainerCallback):
        """Always leave a checkpoint of the last step (``save_strategy="no"`` would leave none; ``epoch`` saves at
        the end of the last, possibly partial, epoch by itself; ``steps`` saves at the end by itself)."""

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps and args.save_strategy == "no":
                control.should_save = True
            return control

    class MergeLoraOnSave(TrainerCallback):
        """LoRA runs: write the merged model to ``checkpoint-N/merged`` (a standalone model for eval/serving)."""

        def __init__(self, base: str, dtype):
            self.base, self.dtype = base, dtype

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if not (ckpt / "adapter_config.json").exists():
                return
            from peft import PeftModel
            from transformers import AutoModelForCausalLM, AutoTokenizer

            # Building the models draws random numbers (adapter init): keep the training RNG stream untouched, so
            # a run resumed from this checkpoint (whose RNG state was saved before) sees the same dropout masks.
            with torch.random.fork_rng(devices=[]):
                base = AutoModelForCausalLM.from_pretrained(self.base, dtype=self.dtype)
                merged = PeftModel.from_pretrained(base, str(ckpt)).merge_and_unload()
            merged.save_pretrained(ckpt / "merged")
            AutoTokenizer.from_pretrained(ckpt).save_pretrained(ckpt / "merged")
            del base, merged

    class CodecurateSFTTrainer(SFTTrainer):
        """``SFTTrainer`` with codecurate's sampler; the collator's ``stats`` are taken out before the forward."""

        def __init__(self, *args, sampler=None, step_stats=None, **kwargs):
            self._cc_sampler = sampler
            self._cc_stats = step_stats
            super().__init__(*args, **kwargs)

        def _get_train_sampler(self, train_dataset=None):
            return self._cc_sampler if self._cc_sampler is not None else super()._get_train_sampler(train_dataset)

        def training_step(self, model, inputs, num_items_in_batch=None):
            stats = inputs.pop("stats", None)
            if stats is not None and self._cc_stats is not None:
                self._cc_stats.add(stats)
                self._cc_real_tokens = stats["real_tokens"]
            return super().training_step(model, inputs, num_items_in_batch)

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            inputs.pop("stats", None)
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # TRL counts tokens from attention_mask.sum(), which is wrong for a 4D float mask: count real tokens.
            before = getattr(self, "_total_train_tokens", None)
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if before is not None and self.model.training and getattr(self, "_cc_real_tokens", None) is not None:
                real = torch.tensor(self._cc_real_tokens, device=self.accelerator.device)
                self._total_train_tokens = before + int(self.accelerator.gather_for_metrics(real).sum().item())
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
                self._cc_real_tokens = None
            return out

    return CodecurateSFTTrainer, StepStats, SaveAtEnd, MergeLoraOnSave


def check_trainer_args(cfg: TrainConfig) -> None:
    """``trainer_args`` must name ``SFTConfig`` fields that ``train`` does not set itself (ValueError otherwise)."""
    import dataclasses

    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig) if f.init}
    unknown = sorted(set(cfg.trainer_args) - fields)
    if unknown:
        raise ValueError(f"trainer_args: unknown keys {unknown}; valid: the fields of trl.SFTConfig / "
                         "transformers.TrainingArguments")
    reserved = sorted(set(cfg.trainer_args) & RESERVED_TRAINER_ARGS)
    if reserved:
        raise ValueError(f"trainer_args {reserved} are set by codecurate train itself (use the TrainConfig fields "
                         "or the command's options)")


def _sft_config(cfg: TrainConfig, run_dir: Path, dtype, mixed: str):
    import torch
    from trl import SFTConfig

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible")
    check_trainer_args(cfg)
    # no accelerator: say so (the Trainer refuses bf16 autocast on CPU unless use_cpu is set)
    use_cpu = cfg.device == "cpu" or not _accelerator_available()
    if cfg.save_steps:
        save = {"save_strategy": "steps", "save_steps": cfg.save_steps}
    else:
        save = {"save_strategy": "epoch" if cfg.save_every_epoch else "no"}
    progress = cfg.progress and os.environ.get("CODECURATE_NO_PROGRESS") != "1"
    kwargs: dict[str, Any] = dict(
        output_dir=str(run_dir),
        # data: our collator, our sampler, our (pre-tokenized / pre-packed) dataset
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_acc,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        packing=False,
        padding_free=False,
        max_length=cfg.max_length,
        dataloader_num_workers=cfg.dataloader_workers,
        dataloader_pin_memory=not use_cpu,
        # optimisation
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        # model and precision
        model_init_kwargs={"dtype": str(dtype).replace("torch.", ""),
                           "attn_implementation": cfg.attn_implementation},
        bf16=mixed == "bf16",
        fp16=mixed == "fp16",
        **_checkpointing_args(SFTConfig, cfg.gradient_checkpointing),
        use_cpu=use_cpu,
        deepspeed=cfg.deepspeed,
        # checkpoints and logs
        **save,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.log_every,
        report_to=cfg.report_to,
        disable_tqdm=not progress,
    )
    if cfg.optim:
        kwargs["optim"] = cfg.optim
    kwargs.update(cfg.trainer_args)
    return SFTConfig(**kwargs)


def _accelerator_available() -> bool:
    import torch

    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6: CUDA, XPU, MPS, ...
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def _checkpointing_args(config_cls, enabled: bool) -> dict:
    """Activation (gradient) checkpointing: transformers >= 5.2x names it ``activation_checkpointing`` (the old name
    is a deprecated alias, and TRL's SFTConfig defaults it to True, so it is always set explicitly)."""
    import dataclasses

    kw = {"use_reentrant": False} if enabled else None
    if "activation_checkpointing" in {f.name for f in dataclasses.fields(config_cls)}:
        return {"activation_checkpointing": enabled, "activation_checkpointing_kwargs": kw}
    return {"gradient_checkpointing": enabled, "gradient_checkpointing_kwargs": kw}


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target, task_type="CAUSAL_LM")


def _truncate_log(path: Path, last_step: int) -> None:
    """On resume, drop log lines of steps after the checkpoint (they are trained again)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):  # a line cut short when the run was killed
            continue
    path.write_text("".join(line + "\n" for line in kept))


# ------------------------------------------------------------------------------------------------ training


def train(
    cfg: TrainConfig,
    records: Iterable[dict] | None = None,
    features: list[dict] | None = None,
    callbacks: list | None = None,
) -> dict:
    """Fine-tune ``cfg.model`` on ``records`` (or ``cfg.data`` read with ``codecurate.io.read_records``).

    ``features`` (pre-tokenized ``{"input_ids", "labels"}`` dicts, prompt labels -100) skips tokenization.
    ``callbacks`` are extra ``transformers.TrainerCallback`` objects for the trainer.

    Returns the final metrics, also written to ``RUN_DIR/train_metrics.json`` (by the main process).
    """
    import datasets
    import torch
    from transformers import AutoTokenizer, PrinterCallback

    from codecurate.training.collators import SFTCollator, pack_bfd
    from codecurate.training.templates import EncodeStats, encode_records

    t_start = time.perf_counter()
    run_dir = Path(cfg.output)
    source, preset = resolve_model(cfg.model)
    resume_dir = _resume_dir(cfg, run_dir)
    dtype = resolve_dtype(cfg)
    mixed = resolve_mixed_precision(cfg, dtype)
    args = _sft_config(cfg, run_dir, dtype, mixed)  # before the model: DeepSpeed ZeRO-3 needs it first

    tokenizer = AutoTokenizer.from_pretrained(str(resume_dir) if resume_dir else source)
    if tokenizer.pad_token_id is None:  # CodeACT/the study pad with EOS when there is no pad token
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"

    if features is not None:
        template = "pretokenized"
        enc_stats = EncodeStats(samples_in=len(features), samples_out=len(features))
    else:
        if records is None:
            if not cfg.data:
                raise ValueError("no training data: pass DATA (a dataset file) or records")
            from codecurate.io import read_records

            records = read_records(cfg.data)
        template = resolve_template(cfg, preset, tokenizer)
        features, enc_stats = encode_records(
            records, tokenizer, template, cfg.max_length, resolve_end_token(cfg, preset), cfg.overlong
        )
    if not features:
        raise ValueError(f"no trainable samples after encoding ({enc_stats.as_dict()})")

    collator = SFTCollator(
        strategy=cfg.collator,
        max_length=cfg.max_length,
        pad_token_id=tokenizer.pad_token_id,
        row_filling=cfg.row_filling,
        isolation=cfg.isolation,
        attention=resolve_attention(cfg),
        mask_dtype=dtype,
    )
    # BFD packs offline (TRL): the batch unit becomes a packed row, so there are fewer optimizer steps.
    items = pack_bfd(features, cfg.max_length, cfg.bfd_window) if cfg.collator == "bfd" else features
    columns = ("input_ids", "labels", "seq_lengths", "sample_index")
    dataset = datasets.Dataset.from_list([{k: it[k] for k in columns if k in it} for it in items])

    counters: dict = {}
    if resume_dir is not None and (resume_dir / COUNTERS_FILE).exists():
        counters = json.loads((resume_dir / COUNTERS_FILE).read_text())
    CodecurateSFTTrainer, StepStats, SaveAtEnd, MergeLoraOnSave = _trainer_classes()
    log_path = run_dir / "log.jsonl"
    step_stats = StepStats(log_path, counters, cuda=not args.use_cpu and torch.cuda.is_available())
    extra = [step_stats, SaveAtEnd()]
    if cfg.lora and cfg.lora_save_merged:
        extra.append(MergeLoraOnSave(source, dtype))
    trainer = CodecurateSFTTrainer(
        model=source,
        args=args,
        data_collator=collator,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=_lora_config(cfg) if cfg.lora else None,
        callbacks=extra + list(callbacks or []),
        sampler=_sampler_class()(len(dataset), cfg.seed, cfg.shuffle),
        step_stats=step_stats,
    )
    step_stats.trainer = trainer
    if not cfg.progress or os.environ.get("CODECURATE_NO_PROGRESS") == "1":
        trainer.remove_callback(PrinterCallback)  # -q: no log dicts on stdout
    if torch.cuda.is_available() and not args.use_cpu:
        torch.cuda.reset_peak_memory_stats()

    main = trainer.is_world_process_zero()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(cfg.model_dump_json(indent=2))
        if resume_dir is None:
            log_path.write_text("")
        else:
            _truncate_log(log_path, json.loads((resume_dir / "trainer_state.json").read_text())["global_step"])
    trainer.accelerator.wait_for_everyone()

    trainer.train(resume_from_checkpoint=str(resume_dir) if resume_dir else None)
    state = trainer.state
    world = trainer.accelerator.num_processes
    batches_per_epoch = math.ceil(len(dataset) / (cfg.batch_size * world))
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_acc)
    run, seen, losses = step_stats.run, step_stats.seen, step_stats.losses
    final = latest_checkpoint(run_dir)
    metrics = {
        "model": source,
        "trainer": f"trl.SFTTrainer (trl {_version('trl')}, transformers {_version('transformers')})",
        "collator": collator.describe(),
        "template": template,
        "device": str(args.device),
        "processes": world,
        "dtype": str(dtype).replace("torch.", ""),
        "mixed_precision": args.mixed_precision if hasattr(args, "mixed_precision") else mixed,
        "optim": str(args.optim.value if hasattr(args.optim, "value") else args.optim),
        "lora": cfg.lora,
        "optimizer_steps": state.global_step,
        "optimizer_steps_this_run": step_stats.steps,
        "total_steps_planned": state.max_steps,
        "epochs_completed": math.floor((state.epoch or 0) + 1e-9),
        "samples_seen": seen.get("samples", 0),
        "padding_ratio": 1 - run["real_tokens"] / run["cells"] if run["cells"] else None,
        "real_tokens": run["real_tokens"],
        "tensor_cells": run["cells"],
        "rows_per_batch": run["rows"] / run["micro_batches"] if run["micro_batches"] else None,
        "real_tokens_per_s": run["real_tokens"] / step_stats.train_time if step_stats.train_time else None,
        "train_time_s": step_stats.train_time,
        "train_cpu_time_s": step_stats.cpu_time,
        "real_tokens_per_cpu_s": run["real_tokens"] / step_stats.cpu_time if step_stats.cpu_time else None,
        "wall_time_s": time.perf_counter() - t_start,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "mean_loss_last_epoch": sum(losses[-steps_per_epoch:]) / len(losses[-steps_per_epoch:]) if losses else None,
        "encode": enc_stats.as_dict(),
        "checkpoint": str(final) if final else None,
        "resumed_from": str(resume_dir) if resume_dir else None,
        **peak_memory_bytes(),
    }
    if main:
        (run_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
