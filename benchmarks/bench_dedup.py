"""Near-dedup: ``minhash_dedup`` vs datatrove's MinHash pipeline vs text-dedup's MinHash, side by side on the
same code corpus, each run as a subprocess (peers from a separate venv, default settings), measuring
records/s, peak RSS of the whole process tree, and precision/recall on planted near-duplicates.

Corpus: real code from ../shared/data (MBPP, MBPP+, HumanEval, LeetCode solutions, Code Alpaca and
Evol-Instruct outputs), exact duplicates (whitespace-normalized) removed, plus planted near-duplicates of the
Python-parseable ones: 1-3 locally bound identifiers renamed (exact token spans) and reformatted (re-indent
4->2 spaces, trailing spaces, blank lines). Ground truth: each original and its copies form a group; the
ideal output keeps one per group. A removal is correct when another member of its group is kept; recall =
correct removals / (group size - 1 summed). Natural near-duplicates already in the real data count as
errors for every tool (strict precision).

    .venv/bin/python benchmarks/bench_dedup.py [--peer-python /work/bench-venv/bin/python] [--min-records 20000]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from pathlib import Path

import psutil

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[1]


def real_code() -> list[str]:
    out = []
    for line in open(SHARED / "mbpp/mbpp.jsonl"):
        out.append(json.loads(line)["code"])
    for name in ("humaneval/HumanEval.jsonl.gz", "mbpp_plus/MbppPlus.jsonl.gz"):
        for line in gzip.open(SHARED / name, "rt"):
            r = json.loads(line)
            out.append(r["prompt"] + r["canonical_solution"] if "HumanEval" in name else r["canonical_solution"])
    for r in json.loads((SHARED / "leetcode_problems_rllm/leetcode_train.json").read_text()):
        for k in ("solution", "completion", "canonical_solution"):
            if isinstance(r.get(k), str) and r[k].strip():
                out.append(r[k])
                break
    for p in ("code_alpaca/code_alpaca_2k.json", "evol_instruct_code/evol-codealpaca-2k-1.json",
              "evol_instruct_code/evol-codealpaca-2k-2.json"):
        for r in json.loads((SHARED / p).read_text()):
            out.append(r["output"])
    seen, uniq = set(), []
    for c in out:
        key = " ".join(c.split())
        if len(key) >= 20 and key not in seen:
            seen.add(key)
            uniq.append(c)
    return uniq


def _python_part(text: str) -> str | None:
    m = re.search(r"```(?:python|py)?\n(.*?)```", text, re.S)
    code = m.group(1) if m else text
    try:
        ast.parse(code)
        return code
    except (SyntaxError, ValueError):
        return None


def near_duplicate(text: str, rng: random.Random) -> str | None:
    code = _python_part(text)
    if code is None:
        return None
    tree = ast.parse(code)
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                   | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg) and a.arg != "self"}
                   | {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and not f.name.startswith("__")})
    if not names:
        return None
    mapping = {n: n + rng.choice(["_x", "_tmp", "_val", "2", "_new"]) for n in
               rng.sample(names, min(len(names), rng.randint(1, 3)))}
    lines = code.splitlines(keepends=True)
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    for t in reversed([t for t in toks if t.type == tokenize.NAME and t.string in mapping]):
        (r, c0), (_, c1) = t.start, t.end
        lines[r - 1] = lines[r - 1][:c0] + mapping[t.string] + lines[r - 1][c1:]
    new_code = "".join(lines)
    out = []
    reindent = rng.random() < 0.7
    for line in new_code.split("\n"):
        if reindent:
            line = re.sub(r"^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), line)
        out.append(line + " " * rng.randint(1, 3) if rng.random() < 0.3 else line)
        if rng.random() < 0.15:
            out.append("")
    new_code = "\n".join(out)
    return text.replace(code, new_code) if code != text else new_code


def build_corpus(min_records: int, seed: int = 0):
    rng = random.Random(seed)
    base = real_code()
    docs, group = [], []
    for i, c in enumerate(base):
        docs.append(c)
        group.append(i)
    k = 0
    while len(docs) < min_records and k < 3:
        for i, c in enumerate(base):
            if len(docs) >= min_records:
                break
            nd = near_duplicate(c, rng)
            if nd is not None and nd != c:
                docs.append(nd)
                group.append(i)
        k += 1
    return base, docs, group


class PeakRSS(threading.Thread):
    """Samples the RSS of a process and all its descendants every 50 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, rss)
            except psutil.Error:
                return
            time.sleep(0.05)


def run_measured(cmd: list[str], env=None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    mon = PeakRSS(p.pid)
    mon.start()
    out, _ = p.communicate()
    dt = time.perf_counter() - t0
    mon.stop = True
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({p.returncode}):\n{out[-3000:]}")
    return dt, mon.peak, out


OURS = r'''
import json, sys
from codecurate.ops.dedup.minhash_dedup import MinHashDedup
from codecurate.records import make_record
inp, out = sys.argv[1], sys.argv[2]
recs = [make_record(d["id"], code=d["text"]) for d in map(json.loads, open(inp))]
op = MinHashDedup({"fields": ["code"]}, seed=42)
payloads = []
for i in range(0, len(recs), 2000):
    payloads += op.map_batch(recs[i:i + 2000])
dec = op.reduce(payloads)
json.dump([r["id"] for r, d in zip(recs, dec) if d.keep], open(out, "w"))
'''

DATATROVE = r'''
import gzip, json, os, sys, glob
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
inp_dir, work, out = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = MinhashConfig()
s1 = LocalPipelineExecutor(pipeline=[JsonlReader(inp_dir), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)],
                           tasks=1, workers=1, logging_dir=f"{work}/logs/s1")
s2 = LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)],
                           tasks=cfg.num_buckets, workers=2, logging_dir=f"{work}/logs/s2", depends=s1)
s3 = LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove", config=cfg)],
                           tasks=1, logging_dir=f"{work}/logs/s3", depends=s2)
s4 = LocalPipelineExecutor(pipeline=[JsonlReader(inp_dir), MinhashDedupFilter(input_folder=f"{work}/remove"),
                                     JsonlWriter(f"{work}/out")], tasks=1, logging_dir=f"{work}/logs/s4", depends=s3)
s4.run()
ids = []
for f in glob.glob(f"{work}/out/*"):
    op = gzip.open if f.endswith(".gz") else open
    ids += [json.loads(l)["id"] for l in op(f, "rt")]
json.dump(ids, open(out, "w"))
'''

TEXTDEDUP = r'''
import json, subprocess, sys
from datasets import load_from_disk
inp, work, out = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.run([sys.executable, "-m", "text_dedup.minhash", "--path", "json", "--data_files", inp, "--split", "train",
                "--cache_dir", f"{work}/cache", "--output", f"{work}/out", "--column", "text", "--num_proc", "2",
                "--ngram", "5", "--num_perm", "250", "--threshold", "0.7"], check=True)
json.dump(list(load_from_disk(f"{work}/out")["id"]), open(out, "w"))
'''


def score(kept_ids: set[str], ids: list[str], group: list[int]) -> dict:
    from collections import defaultdict

    members = defaultdict(list)
    for i, g in zip(ids, group):
        members[g].append(i)
    expected = sum(len(m) - 1 for m in members.values())
    removed = [i for i in ids if i not in kept_ids]
    gid = dict(zip(ids, group))
    correct = sum(1 for i in removed if any(o in kept_ids for o in members[gid[i]] if o != i))
    # cap per group: removing all but one is the most that can be correct
    return {"removed": len(removed), "expected_removals": expected, "correct_removals": correct,
            "precision": round(correct / len(removed), 4) if removed else 1.0,
            "recall": round(min(correct, expected) / expected, 4) if expected else 1.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-python", default="/work/bench-venv/bin/python")
    ap.add_argument("--min-records", type=int, default=20_000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dedup.json"))
    ap.add_argument("--skip", nargs="*", default=[])
    args = ap.parse_args()
    base, docs, group = build_corpus(args.min_records)
    ids = [f"d{i}" for i in range(len(docs))]
    results = {"records": len(docs), "base_records": len(base), "planted_duplicates": len(docs) - len(base),
               "machine": "shared 2-core VM (other agents running); all tools measured in this one run",
               "tools": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        corpus = tmp / "in" / "corpus.jsonl"
        with open(corpus, "w") as f:
            for i, d in zip(ids, docs):
                f.write(json.dumps({"id": i, "text": d}) + "\n")
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        runs = {
            "codecurate_minhash_dedup": [sys.executable, "-c", OURS, str(corpus), str(tmp / "ours.json")],
            "datatrove": [args.peer_python, "-c", DATATROVE, str(tmp / "in"), str(tmp / "dt"), str(tmp / "dt.json")],
            "text_dedup": [args.peer_python, "-c", TEXTDEDUP, str(corpus), str(tmp / "td"), str(tmp / "td.json")],
        }
        for name, cmd in runs.items():
            if name in args.skip:
                continue
            try:
                dt, peak, _ = run_measured(cmd, env=env if name.startswith("codecurate") else None)
            except RuntimeError as e:
                results["tools"][name] = {"error": str(e)[-1500:]}
                print(name, "FAILED", str(e)[-800:], flush=True)
                continue
            kept = set(json.loads((tmp / {"codecurate_minhash_dedup": "ours.json", "datatrove": "dt.json",
                                          "text_dedup": "td.json"}[name]).read_text()))
            r = {"seconds": round(dt, 2), "records_per_s": round(len(docs) / dt, 1),
                 "peak_rss_mib": round(peak / 2**20, 1), **score(kept, ids, group)}
            results["tools"][name] = r
            print(name, r, flush=True)
    t = results["tools"]
    if "records_per_s" in t.get("codecurate_minhash_dedup", {}):
        for peer in ("datatrove", "text_dedup"):
            if "records_per_s" in t.get(peer, {}):
                results[f"speedup_vs_{peer}"] = round(t["codecurate_minhash_dedup"]["records_per_s"]
                                                      / t[peer]["records_per_s"], 2)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
