"""End to end on CPU: train a tiny model on real Code Alpaca data, resume, load the checkpoint for inference."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from codecurate.cli_train import train_command
from codecurate.training.presets import build_config
from codecurate.training.tiny import build_tiny_model
from codecurate.training.train import train

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["CODECURATE_NO_PROGRESS"] = "1"
ALPACA = Path(__file__).parent / "data" / "code_alpaca_300.json"


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


def _cfg(tiny, data, out, **kw):
    base = dict(model=str(tiny), data=str(data), output=str(out), epochs=1, batch_size=8, grad_acc=2,
                max_length=512, lr=1e-3, warmup_steps=1, progress=False)
    base.update(kw)
    return build_config("study", **base)


def test_cli_train_resume_then_eval(tiny, tmp_path):
    from codecurate.cli import app  # the real `codecurate` app, where the lead registers `train` and `eval`

    out = tmp_path / "run"
    args = ["train", str(ALPACA), "--model", str(tiny), "--preset", "study", "--epochs", "1", "--batch-size", "8",
            "--grad-acc", "2", "--max-length", "512", "--output", str(out), "-q"]
    res = CliRunner().invoke(app, args + ["--max-steps", "2"])
    assert res.exit_code == 0, res.output
    ckpt = out / "checkpoint-2"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "training_state.pt"):
        assert (ckpt / name).exists(), name
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["optimizer_steps"] == 2 and metrics["samples_seen"] == 32
    assert metrics["encode"]["samples_in"] == 300  # read through codecurate.io from the alpaca file
    assert 0 <= metrics["padding_ratio"] < 0.3 and metrics["real_tokens_per_s"] > 0
    assert metrics["peak_rss_bytes"] > 0 and metrics["rows_per_batch"] < 8
    assert len((out / "log.jsonl").read_text().splitlines()) == 2

    res = CliRunner().invoke(app, args + ["--max-steps", "3", "--resume", "auto"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["resumed_from"] == str(ckpt)
    assert metrics["optimizer_steps"] == 3 and metrics["optimizer_steps_this_run"] == 1
    assert (out / "checkpoint-3" / "model.safetensors").exists()
    assert len((out / "log.jsonl").read_text().splitlines()) == 3

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


def test_resume_reproduces_an_uninterrupted_run(tiny, data32, tmp_path):
    full = train(_cfg(tiny, data32, tmp_path / "full", epochs=2, scheduler="constant"))
    first = train(_cfg(tiny, data32, tmp_path / "split", epochs=1, scheduler="constant"))
    assert first["optimizer_steps"] == full["optimizer_steps"] // 2
    second = train(_cfg(tiny, data32, tmp_path / "split", epochs=2, scheduler="constant", resume="auto"))
    assert second["optimizer_steps"] == full["optimizer_steps"]
    assert second["final_loss"] == pytest.approx(full["final_loss"], abs=1e-5)

    from safetensors.torch import load_file

    a = load_file(Path(full["checkpoint"]) / "model.safetensors")
    b = load_file(Path(second["checkpoint"]) / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    base = load_file(Path(tiny) / "model.safetensors")
    assert max((a[k] - base[k]).abs().max().item() for k in a) > 1e-3  # training changed the weights


def test_packed_and_padded_training_follow_the_same_loss(tiny, data32, tmp_path):
    """Isolated Dynamic Pack optimises the same token-mean objective as padding: same losses, step by step."""
    logs = {}
    for coll in ("dynamic", "fixed", "dynamic_pack"):
        out = tmp_path / coll
        m = train(_cfg(tiny, data32, out, collator=coll, max_steps=2, max_length=320))
        logs[coll] = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        assert m["optimizer_steps"] == 2
    for coll in ("fixed", "dynamic_pack"):
        for x, y in zip(logs["dynamic"], logs[coll]):
            assert x["loss"] == pytest.approx(y["loss"], abs=1e-4)
    assert logs["dynamic_pack"][0]["rows"] < logs["dynamic"][0]["rows"]
    assert logs["dynamic_pack"][0]["padding_ratio"] < logs["dynamic"][0]["padding_ratio"]
    assert logs["dynamic"][0]["padding_ratio"] < logs["fixed"][0]["padding_ratio"]


def test_lora_with_gradient_checkpointing_saves_merged_weights_that_generate(tiny, data32, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = train(_cfg(tiny, data32, tmp_path / "lora", lora=True, lora_r=4, max_steps=2, lr=5e-3,
                   gradient_checkpointing=True))
    ckpt = Path(m["checkpoint"])
    tok = AutoTokenizer.from_pretrained(ckpt)
    merged = AutoModelForCausalLM.from_pretrained(ckpt).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), ckpt / "adapter").eval()
    base = AutoModelForCausalLM.from_pretrained(tiny).eval()
    ids = tok("Write a Python function that adds two numbers.", return_tensors="pt")
    with torch.no_grad():
        lm, la, lb = merged(**ids).logits, with_adapter(**ids).logits, base(**ids).logits
    assert (lm - la).abs().max().item() < 1e-4
    assert (lm - lb).abs().max().item() > 1e-4
    out = merged.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or out[0, -1].item() == tok.eos_token_id
