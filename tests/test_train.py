"""End to end on CPU: `codecurate train` on TRL's SFTTrainer with our collators, on real Code Alpaca data.

The Trainer path is checked against the hand-written loop it replaced (``_former_loop``: that loop's arithmetic,
which reproduced the old ``train()`` bit for bit), against an interrupted-and-resumed run, and against a
two-process DDP run (gloo on CPU, launched with torchrun as ``accelerate launch`` would on GPUs).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    TrainerCallback,
    get_scheduler,
)
from typer.testing import CliRunner

from codecurate.cli_train import train_command
from codecurate.io import read_records
from codecurate.training.collators import SFTCollator, pack_bfd
from codecurate.training.presets import build_config
from codecurate.training.templates import encode_records
from codecurate.training.tiny import build_tiny_model
from codecurate.training.train import train

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["CODECURATE_NO_PROGRESS"] = "1"
ALPACA = Path(__file__).parent / "data" / "code_alpaca_300.json"
MAX_LEN = 320


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On the shared 2-core machine two OpenMP threads spin against other jobs (10x the CPU time measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rows = json.loads(ALPACA.read_text())
    texts = [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in rows]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2", texts, vocab_size=400)


@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    """The first 32 Code Alpaca records, still in their original alpaca JSON format."""
    path = tmp_path_factory.mktemp("data") / "alpaca32.json"
    path.write_text(json.dumps(json.loads(ALPACA.read_text())[:32]))
    return path


@pytest.fixture(scope="module")
def feats32(tiny, data32):
    """data32 encoded as train() encodes it (study template, EOS end token)."""
    tok = AutoTokenizer.from_pretrained(tiny)
    feats, stats = encode_records(read_records(data32), tok, "study", MAX_LEN, None, "truncate")
    assert stats.samples_out == 32
    return feats


def _cfg(tiny, out, data=None, **kw):
    base = dict(model=str(tiny), data=str(data) if data else None, output=str(out), epochs=1, batch_size=8,
                grad_acc=2, max_length=MAX_LEN, lr=1e-3, warmup_steps=1, progress=False)
    base.update(kw)
    return build_config("study", **base)


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]


def _former_loop(model_dir, features, pad_id, collator="dynamic", batch_size=8, grad_acc=2, epochs=2, lr=1e-3,
                 warmup=1, scheduler="cosine", seed=42, **collator_kw) -> tuple[list[float], list[int]]:
    """The hand-written loop ``codecurate train`` ran before it moved onto SFTTrainer, reduced to its arithmetic:
    order ``default_rng(seed + epoch).permutation``, our collator, every micro-batch called with
    ``num_items_in_batch`` = label tokens of its accumulation group, AdamW, the scheduler, clipping at 1.0.
    (Checked once against the removed implementation: identical losses and rows for fixed, dynamic, dynamic_pack
    isolated/faithful/mask4d and bfd.) Returns (loss per optimizer step, rows per step)."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    model.train()
    coll = SFTCollator(strategy=collator, max_length=MAX_LEN, pad_token_id=pad_id, **collator_kw)
    items = pack_bfd(features, MAX_LEN) if collator == "bfd" else features
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    total = math.ceil(math.ceil(len(items) / batch_size) / grad_acc) * epochs
    sched = get_scheduler(scheduler, opt, num_warmup_steps=warmup, num_training_steps=total)
    losses, rows = [], []
    for epoch in range(epochs):
        order = np.random.default_rng(seed + epoch).permutation(len(items)).tolist()
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for g in range(0, len(batches), grad_acc):
            group = [coll([items[i] for i in b]) for b in batches[g : g + grad_acc]]
            stats = [x.pop("stats") for x in group]
            n_items = sum(s["label_tokens"] for s in stats)
            loss = 0.0
            for x in group:
                out = model(**x, num_items_in_batch=n_items)
                out.loss.backward()
                loss += out.loss.item()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss)
            rows.append(sum(s["rows"] for s in stats))
    return losses, rows


def test_cli_train_resume_then_eval(tiny, tmp_path):
    from codecurate.cli import (
        app,  # the real `codecurate` app, where the lead registers `train` and `eval`
    )

    out = tmp_path / "run"
    args = ["train", str(ALPACA), "--model", str(tiny), "--preset", "study", "--epochs", "1", "--batch-size", "8",
            "--grad-acc", "2", "--max-length", "512", "--output", str(out), "-q"]
    res = CliRunner().invoke(app, args + ["--max-steps", "2"])
    assert res.exit_code == 0, res.output
    ckpt = out / "checkpoint-2"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "trainer_state.json", "optimizer.pt",
                 "scheduler.pt", "rng_state.pth"):
        assert (ckpt / name).exists(), name
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["trainer"].startswith("trl.SFTTrainer")
    assert metrics["optimizer_steps"] == 2 and metrics["samples_seen"] == 32
    assert metrics["encode"]["samples_in"] == 300  # read through codecurate.io from the alpaca file
    assert 0 <= metrics["padding_ratio"] < 0.3 and metrics["real_tokens_per_s"] > 0
    assert metrics["peak_rss_bytes"] > 0 and metrics["rows_per_batch"] < 8
    assert [x["step"] for x in _log(out)] == [1, 2]

    res = CliRunner().invoke(app, args + ["--max-steps", "3", "--resume", "auto"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["resumed_from"] == str(ckpt)
    assert metrics["optimizer_steps"] == 3 and metrics["optimizer_steps_this_run"] == 1
    assert metrics["samples_seen"] == 48  # counted on from the checkpoint
    assert (out / "checkpoint-3" / "model.safetensors").exists()
    assert [x["step"] for x in _log(out)] == [1, 2, 3]

    # the checkpoint plugs straight into `codecurate eval`
    res = CliRunner().invoke(app, ["eval", str(out / "checkpoint-3"), "--benchmark", "humaneval", "--limit", "1",
                                   "--max-new-tokens", "8", "--no-static", "--output", str(tmp_path / "Results")])
    assert res.exit_code == 0, res.output
    assert '"problems": 1' in res.output


def test_cli_reports_bad_config(tmp_path):
    app = typer.Typer()
    app.command()(train_command)
    bad = tmp_path / "train.yaml"
    bad.write_text("model: x\nlearning_rate: 0.1\n")
    res = CliRunner().invoke(app, [str(ALPACA), "--config", str(bad)])
    assert res.exit_code == 2 and "learning_rate" in res.output and "valid" in res.output
    res = CliRunner().invoke(app, [str(ALPACA), "--model", "x", "--trainer-arg", "lr_schedular_type=cosine"])
    assert res.exit_code == 2 and "lr_schedular_type" in res.output and "SFTConfig" in res.output
    res = CliRunner().invoke(app, [str(ALPACA), "--model", "x", "--trainer-arg", "remove_unused_columns=true"])
    assert res.exit_code == 2 and "set by codecurate train itself" in res.output
    res = CliRunner().invoke(app, [str(ALPACA), "--model", "x", "--trainer-arg", "no_equals_sign"])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output


def test_trainer_follows_the_former_loop_loss(tiny, feats32, tmp_path):
    """Step losses on SFTTrainer equal the former hand-written loop's, for padding, packing and BFD; isolated
    Dynamic Pack optimises the same token-mean objective as padding, CodeACT's faithful packing does not."""
    pad = AutoTokenizer.from_pretrained(tiny).pad_token_id
    runs = {
        "dynamic": dict(collator="dynamic"),
        "dynamic_pack": dict(collator="dynamic_pack"),  # balanced rows, isolated (the defaults)
        "faithful": dict(collator="dynamic_pack", row_filling="next_fit", isolation="faithful"),
        "bfd": dict(collator="bfd", batch_size=2),
    }
    logs, former = {}, {}
    for name, kw in runs.items():
        kw = {"batch_size": 4, **kw}
        m = train(_cfg(tiny, tmp_path / name, warmup_steps=0, scheduler="cosine", **kw), features=feats32)
        logs[name] = _log(tmp_path / name)
        assert m["optimizer_steps"] == len(logs[name])
        ckw = {k: v for k, v in kw.items() if k != "collator"}
        former[name] = _former_loop(tiny, feats32, pad, collator=kw["collator"], epochs=1, warmup=0, **ckw)
        losses, rows = former[name]
        assert [x["loss"] for x in logs[name]] == pytest.approx(losses, abs=1e-5), name
        assert [x["rows"] for x in logs[name]] == rows, name
        assert sum(x["samples"] for x in logs[name]) == 32 and m["samples_seen"] == 32
    assert len(logs["dynamic"]) == 4 and len(logs["bfd"]) > 1  # BFD batches are packed rows
    # isolated packing: same objective as padding, fewer rows and less padding
    assert [x["loss"] for x in logs["dynamic_pack"]] == pytest.approx(former["dynamic"][0], abs=1e-5)
    assert sum(x["rows"] for x in logs["dynamic_pack"]) < sum(x["rows"] for x in logs["dynamic"])
    assert logs["dynamic_pack"][0]["padding_ratio"] < logs["dynamic"][0]["padding_ratio"]
    # faithful (CodeACT) packing lets samples attend to each other: a different loss, which the check can see
    assert max(abs(a["loss"] - b) for a, b in zip(logs["faithful"], former["dynamic"][0])) > 1e-4


class _Interrupted(Exception):
    pass


class _CrashAt(TrainerCallback):
    """Kill the run after step ``step`` is logged (checkpoints are written after the log)."""

    def __init__(self, step: int):
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step:
            raise _Interrupted(f"interrupted at step {self.step}")


def test_interrupted_run_resumes_from_last_checkpoint_to_the_same_weights(tiny, feats32, tmp_path):
    from safetensors.torch import load_file

    kw = dict(epochs=2, batch_size=4, grad_acc=2, save_steps=2, scheduler="cosine", warmup_steps=2)
    full = train(_cfg(tiny, tmp_path / "full", **kw), features=feats32)  # 4 steps per epoch, 8 in all
    assert full["optimizer_steps"] == 8

    split = tmp_path / "split"
    with pytest.raises(_Interrupted):
        train(_cfg(tiny, split, **kw), features=feats32, callbacks=[_CrashAt(7)])
    assert sorted(p.name for p in split.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert [x["step"] for x in _log(split)] == list(range(1, 8))
    # resume mid-epoch 2: the Trainer reloads weights, optimizer, scheduler and RNG, and skips the trained batches
    resumed = train(_cfg(tiny, split, resume="auto", **kw), features=feats32)
    assert resumed["resumed_from"] == str(split / "checkpoint-6")
    assert resumed["optimizer_steps"] == 8 and resumed["optimizer_steps_this_run"] == 2
    assert resumed["samples_seen"] == full["samples_seen"] == 64
    a_log, b_log = _log(tmp_path / "full"), _log(split)
    assert [x["step"] for x in b_log] == list(range(1, 9))  # step 7 of the killed run was replaced
    assert [x["loss"] for x in b_log] == pytest.approx([x["loss"] for x in a_log], abs=1e-6)
    assert resumed["final_loss"] == pytest.approx(full["final_loss"], abs=1e-6)

    a = load_file(Path(full["checkpoint"]) / "model.safetensors")
    b = load_file(Path(resumed["checkpoint"]) / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
    base = load_file(Path(tiny) / "model.safetensors")
    assert max((a[k] - base[k]).abs().max().item() for k in a) > 1e-3  # training changed the weights


def test_two_process_ddp_run_equals_the_single_process_loss(tiny, data32, feats32, tmp_path):
    """torchrun with 2 CPU processes (gloo), as `accelerate launch` runs it on GPUs: each rank packs its own
    batch of 4; with the token count summed over ranks the step loss equals one process with batches of 8."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "codecurate.cli_train", str(data32), "--model", str(tiny), "--preset", "study", "--epochs", "1",
           "--batch-size", "4", "--grad-acc", "2", "--max-length", str(MAX_LEN), "--lr", "1e-3", "--scheduler",
           "constant", "--warmup-steps", "0", "--device", "cpu", "--output", str(out), "-q"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", CODECURATE_NO_PROGRESS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"optimizer_steps"') == 1  # the summary is printed by the main process only
    log = _log(out)
    assert [x["step"] for x in log] == [1, 2]  # one log, written by rank 0
    assert [x["samples"] for x in log] == [16, 16] and [x["micro_batches"] for x in log] == [4, 4]
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["samples_seen"] == 32
    pad = AutoTokenizer.from_pretrained(tiny).pad_token_id
    losses, _ = _former_loop(tiny, feats32, pad, collator="dynamic_pack", batch_size=8, grad_acc=2, epochs=1,
                             scheduler="constant", warmup=0)
    assert [x["loss"] for x in log] == pytest.approx(losses, abs=1e-5)
    assert (out / "checkpoint-2" / "model.safetensors").exists()


def test_lora_run_resumes_exactly_and_saves_adapter_and_merged_weights(tiny, data32, tmp_path):
    """LoRA (dropout 0.05) with gradient checkpointing, killed after step 3 and resumed from checkpoint-2: the same
    losses and adapter as an uninterrupted run (merging at each save must not disturb the training RNG)."""
    from peft import PeftModel
    from safetensors.torch import load_file

    kw = dict(batch_size=4, lora=True, lora_r=4, lr=5e-3, warmup_steps=0, save_steps=2, gradient_checkpointing=True)
    full = train(_cfg(tiny, tmp_path / "full", data32, **kw))
    with pytest.raises(_Interrupted):
        train(_cfg(tiny, tmp_path / "split", data32, **kw), callbacks=[_CrashAt(3)])
    m = train(_cfg(tiny, tmp_path / "split", data32, resume="auto", **kw))
    assert m["resumed_from"] == str(tmp_path / "split" / "checkpoint-2") and m["optimizer_steps"] == 4
    assert [x["loss"] for x in _log(tmp_path / "split")] == pytest.approx([x["loss"] for x in _log(tmp_path / "full")],
                                                                           abs=1e-6)
    ckpt = Path(m["checkpoint"])
    a = load_file(ckpt / "adapter_model.safetensors")
    b = load_file(Path(full["checkpoint"]) / "adapter_model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6

    assert (ckpt / "merged" / "model.safetensors").exists()
    tok = AutoTokenizer.from_pretrained(ckpt)
    merged = AutoModelForCausalLM.from_pretrained(ckpt / "merged").eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), ckpt).eval()
    direct = AutoModelForCausalLM.from_pretrained(ckpt).eval()  # transformers loads base + adapter (what eval does)
    base = AutoModelForCausalLM.from_pretrained(tiny).eval()
    ids = tok("Write a Python function that adds two numbers.", return_tensors="pt")
    with torch.no_grad():
        lm, la, ld, lb = (x(**ids).logits for x in (merged, with_adapter, direct, base))
    assert (lm - la).abs().max().item() < 1e-4 and (ld - la).abs().max().item() < 1e-4
    assert (lm - lb).abs().max().item() > 1e-4
    out = merged.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or out[0, -1].item() == tok.eos_token_id
