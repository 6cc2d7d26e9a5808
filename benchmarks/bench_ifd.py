"""IFD throughput: codecurate's batched engine vs the per-sample reference procedure (CodeACT
``CDAS/calculate_ifd.py``: one sample per forward, full fp32 logits, HF's mean loss), same records, same model,
in one run. Scores must be identical (max relative IFD difference reported).

CPU default (the issue's setting): a 20M-parameter random Qwen2 (vocab 32k, fp32) with a byte-level BPE trained
here on the benchmark text, on real records (Code Alpaca + Evol-Instruct-Code from /work/shared/data).

    .venv/bin/python benchmarks/bench_ifd.py --n 1000
    # GPU with a real ~0.5B model (bf16), reports model FLOP utilization:
    .venv/bin/python benchmarks/bench_ifd.py --gpu --model Qwen/Qwen2.5-Coder-0.5B --n 1000 --max-length 2048
    # or, offline, a random-weight model with Qwen2.5-Coder-0.5B's shapes:
    .venv/bin/python benchmarks/bench_ifd.py --gpu --random-shape 0.5b --n 1000

Writes benchmarks/results/ifd.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("CODECURATE_SHARED_DATA", "/work/shared/data"))

# Published dense bf16 peak of common accelerators (TFLOP/s), for MFU; override with --peak-tflops.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0}


def load_records(n: int) -> list[tuple[str, str]]:
    alpaca = json.loads((DATA / "code_alpaca" / "code_alpaca_2k.json").read_text())
    evol = json.loads((DATA / "evol_instruct_code" / "evol-codealpaca-2k-1.json").read_text())
    a = [(r["instruction"] + ("\n" + r["input"] if r.get("input") else ""), r["output"]) for r in alpaca]
    e = [(r["instruction"], r["output"]) for r in evol]
    half = n // 2
    pairs = a[:half] + e[: n - half]
    return [p for p in pairs if p[0] and p[1]]


SHAPES = {
    # the CPU model: ~20M parameters, vocab 32k
    "20m": {"vocab_size": 32000, "hidden_size": 384, "intermediate_size": 1152, "num_hidden_layers": 4,
                "num_attention_heads": 6, "num_key_value_heads": 2},
    # Qwen2.5-Coder-0.5B's shapes (random weights: speed does not depend on the values; no download needed)
    "0.5b": {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                 "num_attention_heads": 14, "num_key_value_heads": 2},
}


def build_random_qwen2(path: Path, pairs, shape: str = "20m"):
    """Random-weight Qwen2 of the given shape (tied embeddings) with a byte-level BPE trained on the text."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=8000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([q + "\n" + a for q, a in pairs], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(path)
    cfg = transformers.Qwen2Config(**SHAPES[shape], max_position_embeddings=32768, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(cfg)
    model.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def reference_per_sample(tok, model, pairs, max_length, template, device):
    """CodeACT's loop: batch 1, full logits, HF loss; returns (ifd_ppl or None, tokens fed) per pair."""
    import torch

    out, tokens = [], 0
    for q, a in pairs:
        prompt = template.replace("{question}", q)
        end_index = len(tok.encode(prompt, truncation=True, max_length=max_length))
        ans = tok.encode(a, return_tensors="pt", truncation=True, max_length=max_length - end_index + 1).to(device)
        with torch.no_grad():
            ld = model(ans, labels=ans.contiguous()).loss.float().item()
        ids = tok.encode(prompt + a, return_tensors="pt", truncation=True, max_length=max_length).to(device)
        labels = ids.clone()
        labels[0, :end_index] = -100
        with torch.no_grad():
            lc = model(ids, labels=labels).loss.float().item()
        tokens += ans.shape[1] + ids.shape[1]
        v = math.exp(lc) / math.exp(ld) if math.isfinite(lc) and math.isfinite(ld) else None
        out.append(v)
    return out, tokens


def max_rel(a: list, b: list) -> float | None:
    """Largest relative difference between two score lists, over pairs both scored (None/0 are failures)."""
    d = [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b) if x is not None and y]
    return max(d) if d else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="records (half Code Alpaca, half Evol-Instruct)")
    ap.add_argument("--model", default=None, help="HF path/hub id; default: build the 20M random Qwen2")
    ap.add_argument("--random-shape", choices=sorted(SHAPES), default="20m",
                    help="shape of the random Qwen2 built when --model is not given")
    ap.add_argument("--gpu", action="store_true", help="run on CUDA in bf16 (both engines)")
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--max-batch-tokens", type=int, default=None)
    ap.add_argument("--logit-chunk", type=int, default=256)
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (GPU)")
    ap.add_argument("--chunk", type=int, default=100, help="records per interleaved timing chunk")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--no-ablation", action="store_true",
                    help="CPU: skip the kernel ablation (our engine on stock kernels, the reference on oneDNN)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ifd.json"))
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codecurate.models.ifd import CODEACT_TEMPLATE, IFDScorer

    device = "cuda" if args.gpu else "cpu"
    dtype = torch.bfloat16 if args.gpu else torch.float32
    pairs = load_records(args.n)
    tmp = tempfile.TemporaryDirectory()
    if args.model is None:
        model_path = Path(tmp.name) / "qwen2_20m"
        n_params = build_random_qwen2(model_path, pairs, args.random_shape)
        model_desc = f"random-weight Qwen2, shape {args.random_shape} {SHAPES[args.random_shape]}, tied embeddings, " \
                     "local byte-level BPE"
    else:
        model_path, n_params, model_desc = args.model, None, args.model
    tok = AutoTokenizer.from_pretrained(model_path)
    ref_model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(device).eval()
    n_params = n_params or sum(p.numel() for p in ref_model.parameters())
    cfg = ref_model.config
    vocab, hidden = cfg.vocab_size, cfg.hidden_size
    head_params = vocab * hidden
    body_params = n_params - (head_params if getattr(cfg, "tie_word_embeddings", False) else 2 * head_params)

    def sync():
        if args.gpu:
            torch.cuda.synchronize()

    result: dict = {
        "benchmark": "IFD throughput, codecurate batched engine vs per-sample CodeACT procedure",
        "device": torch.cuda.get_device_name(0) if args.gpu else f"cpu ({platform.processor() or platform.machine()})",
        "torch_threads": torch.get_num_threads(), "dtype": str(dtype).replace("torch.", ""),
        "model": model_desc, "parameters": n_params, "vocab": vocab,
        "records": len(pairs), "data": "first n/2 of code_alpaca_2k + first n/2 of evol-codealpaca-2k-1",
        "max_length": args.max_length, "template": CODEACT_TEMPLATE,
        "load_avg_before": os.getloadavg()[0],
    }
    from codecurate.models.hf_common import cpu_linear_kernel

    def make_scorer(kernel: str):
        return IFDScorer(str(model_path), formula="ppl_ratio", max_length=args.max_length, device=device,
                         dtype="bf16" if args.gpu else "fp32", batch_size=args.batch_size,
                         max_batch_tokens=args.max_batch_tokens, logit_chunk=args.logit_chunk,
                         linear_kernel=kernel)

    scorer = make_scorer("auto")
    # Ablations on CPU (kernel choice vs engine design): our engine on stock PyTorch kernels, and the reference
    # loop given the same oneDNN kernels ours uses.
    ablate = not args.gpu and not args.no_ablation
    scorer_stock = make_scorer("default") if ablate else None

    def run_ref(part, kernel="default"):
        with cpu_linear_kernel(ref_model, kernel):
            return reference_per_sample(tok, ref_model, part, args.max_length, CODEACT_TEMPLATE, device)

    engines: dict = {"codecurate": lambda part: (scorer.score(part), None)}
    if not args.skip_reference:
        engines["reference"] = run_ref
    if ablate:
        engines["codecurate_stock_kernels"] = lambda part: (scorer_stock.score(part), None)
        if not args.skip_reference:
            engines["reference_onednn_kernels"] = lambda part: run_ref(part, "onednn")
    for fn in engines.values():  # warm-up
        fn(pairs[:3])
    for sc in (scorer, scorer_stock):
        for k in (sc.stats if sc else {}):
            sc.stats[k] = 0
    # Interleave the engines chunk by chunk so all see the same machine load (the box may be shared).
    outs: dict = {k: [] for k in engines}
    wall = dict.fromkeys(engines, 0.0)
    cpu = dict.fromkeys(engines, 0.0)
    ref_tokens = 0
    for c in range(0, len(pairs), args.chunk):
        part = pairs[c:c + args.chunk]
        for name, fn in engines.items():
            sync()
            t0, p0 = time.perf_counter(), time.process_time()
            r, n_tok = fn(part)
            sync()
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - p0
            outs[name] += r
            if name == "reference":
                ref_tokens += n_tok
    ours = outs["codecurate"]
    ref = outs.get("reference")
    t_ours = wall["codecurate"]
    if ref is not None:
        for name in ("reference", "reference_onednn_kernels"):
            if name in engines:
                result[name] = {"seconds": round(wall[name], 2), "cpu_seconds": round(cpu[name], 2),
                                "records_per_s": round(len(pairs) / wall[name], 2),
                                "tokens_per_s": round(ref_tokens / wall[name], 1), "tokens": ref_tokens}
    # tokens in the reference's accounting (full sequences of both passes), so tokens/s compare directly
    seq_tokens = scorer.stats["forward_tokens"] + scorer.stats["forward_sequences"]
    flops = 2 * body_params * scorer.stats["forward_tokens"] + 2 * head_params * scorer.stats["scored_tokens"]
    result["codecurate"] = {
        "seconds": round(t_ours, 2), "cpu_seconds": round(cpu["codecurate"], 2),
        "records_per_s": round(len(pairs) / t_ours, 2),
        "tokens_per_s": round(seq_tokens / t_ours, 1), "tokens": seq_tokens,
        "batch_size": scorer.batch_size, "max_batch_tokens": scorer.max_batch_tokens,
        "logit_chunk": scorer.logit_chunk, "linear_kernel": scorer.linear_kernel, "padding_overhead": round(
            scorer.stats["padded_tokens"] / max(1, scorer.stats["forward_tokens"]) - 1, 4),
        "errors": sum(r.error is not None for r in ours),
        "model_tflops_per_s": round(flops / t_ours / 1e12, 4),
    }
    if ablate:
        t = wall["codecurate_stock_kernels"]
        result["codecurate_stock_kernels"] = {
            "seconds": round(t, 2), "cpu_seconds": round(cpu["codecurate_stock_kernels"], 2),
            "records_per_s": round(len(pairs) / t, 2), "tokens_per_s": round(seq_tokens / t, 1),
            "linear_kernel": "default"}
    if args.gpu:
        name = torch.cuda.get_device_name(0)
        peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        if peak:
            result["codecurate"]["mfu"] = round(flops / t_ours / (peak * 1e12), 4)
            result["codecurate"]["peak_tflops_assumed"] = peak
    if ref is not None:
        mismatched_failures = sum((o.ifd is None) != (r is None) for o, r in zip(ours, ref))
        t_ref = wall["reference"]
        result["speedup"] = round(t_ref / t_ours, 3)
        result["speedup_cpu_time"] = round(cpu["reference"] / cpu["codecurate"], 3)
        result["max_rel_ifd_diff"] = max_rel([o.ifd for o in ours], ref)
        result["failure_mismatches"] = mismatched_failures
        if ablate:
            result["ablation"] = {
                "engine_only_speedup (both on stock kernels)": round(t_ref / wall["codecurate_stock_kernels"], 3),
                "engine_only_speedup (both on oneDNN kernels)": round(wall["reference_onednn_kernels"] / t_ours, 3),
                "kernel_only_speedup (ours, oneDNN vs stock)": round(wall["codecurate_stock_kernels"] / t_ours, 3),
            }
            as_ifd = {k: [o.ifd if hasattr(o, "ifd") else o for o in v] for k, v in outs.items()}
            for name, twin in (("codecurate_stock_kernels", "codecurate"), ("reference_onednn_kernels", "reference")):
                result["ablation"][f"max_rel_ifd_diff {name} vs {twin}"] = max_rel(as_ifd[name], as_ifd[twin])
    result["load_avg_after"] = os.getloadavg()[0]
    result["note"] = ("Engines interleaved per chunk of --chunk records so both see the same load; on a shared "
                      "machine wall time is noisy, CPU time (speedup_cpu_time) less so. MFU counts 2*params*tokens "
                      "for the body (attention's quadratic term ignored) plus the output layer on scored tokens.")
    if not args.gpu:
        result["note"] += " GPU mode (--gpu) is implemented but was not run for this file (no GPU in that task)."
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    tmp.cleanup()


if __name__ == "__main__":
    main()
