"""Can the packaged SmolLM2-135M serve as ``decontaminate``'s judge? (issue 12)

Takes the first N rephrasings of ``benchmarks/data/decontam_paraphrases.jsonl`` (dev/test split ignored: this
measures the model, fits nothing) and asks the judge path (``ops/decontam/judge.py``: greedy, JSON schema,
re-asked on a bad reply) about two pairs each: the rephrasing with its own benchmark item, and with the nearest
other item by MiniLM cosine. Counts verdicts.

    python benchmarks/probe_judge_smollm.py [N]      (default 12; ~12 s a pair on one core)
Writes benchmarks/results/decontam_judge_smollm.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import torch

    from codecurate.models.embed import embed_texts
    from codecurate.ops.decontam.benchmarks_index import load_benchmarks
    from codecurate.ops.decontam.judge import JudgeConfig, ask, load_judge

    torch.set_num_threads(1)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    rows = [json.loads(x) for x in (ROOT / "benchmarks/data/decontam_paraphrases.jsonl").read_text().splitlines()][:n]
    items = load_benchmarks(["humaneval", "mbpp"])
    where = {(it.benchmark, it.task_id): k for k, it in enumerate(items)}
    texts = [it.views()[0] for it in items]
    emb, q = embed_texts(texts), embed_texts([r["instruction"] for r in rows])
    pairs, labels = [], []
    for qv, r in zip(q, rows):
        k = where.get((r["benchmark"], r["task_id"]))
        if k is None:
            continue
        sims = emb @ qv
        sims[k] = -1.0
        pairs += [(r["instruction"], texts[k]), (r["instruction"], texts[int(np.argmax(sims))])]
        labels += [True, False]
    with tempfile.TemporaryDirectory() as td:
        cfg = JudgeConfig(model="smollm2-135m", backend="hf", cache=os.path.join(td, "c.sqlite"), max_tokens=64)
        t0 = time.perf_counter()
        out = ask(load_judge(cfg), pairs, cfg)
        secs = time.perf_counter() - t0
    v = [o["verdict"] for o in out]
    res = {"model": "smollm2-135m (packaged GGUF, hf backend)", "pairs": len(pairs), "positives": sum(labels),
           "same_on_positive": sum(x == "same" for x, y in zip(v, labels) if y),
           "same_on_nearest_wrong_item": sum(x == "same" for x, y in zip(v, labels) if not y),
           "different": v.count("different"), "errors": v.count("error"),
           "seconds_per_pair": round(secs / max(len(pairs), 1), 1), "load_average": os.getloadavg(),
           "example_errors": [o["reason"][:200] for o in out if o["verdict"] == "error"][:3]}
    print(json.dumps(res, indent=1))
    (ROOT / "benchmarks/results/decontam_judge_smollm.json").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
