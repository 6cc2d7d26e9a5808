"""LLM-judge confirmation for the ``semantic`` detector: "are these two the same problem?".

The second stage of the LLM decontaminator (Yang et al. 2023, arXiv 2311.04850): the embedding search proposes
the top-k benchmark items per training record, and an LLM decides for each (record, item) pair whether the
record is the benchmark problem rephrased (reworded, translated to another natural or programming language,
different examples or names), or a different problem on the same topic. Their prompt asks for a bare
True/False; ours asks for a JSON object ``{"same": bool, "reason": str}`` through the LLM layer's structured
output (``GenParams(json_schema=...)``: parsed, validated, re-asked on a bad reply), greedy decoding, so a verdict
is reproducible and cached (the layer's SQLite cache: the same pair is never asked twice, across runs).

The judge goes through ``codecurate.models.llm.load_llm``: any OpenAI-compatible server (``backend: openai``,
``base_url``), a local HF model or vLLM. A call that fails after the layer's retries gives verdict ``error``; the
op then falls back to the similarity threshold (``on_error: threshold``), keeps or drops (``keep`` / ``drop``),
and counts it. Nothing is dropped silently: the ledger entry carries the verdict and the judge's reason.
"""

from __future__ import annotations

from typing import Literal

from codecurate.pipeline.op import OpConfig

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"same": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["same"],
}

SYSTEM = ("You check training data for benchmark contamination. You compare a training instruction with a "
          "benchmark problem and decide whether they are the same problem.")

PROMPT = """Benchmark problem:
<<<
{benchmark}
>>>

Training instruction:
<<<
{record}
>>>

Is the training instruction the benchmark problem itself, possibly rephrased: reworded, reordered, translated to \
another natural language or programming language, with different examples, names or signature, or with extra \
constraints only on how to solve it? Then a correct answer to the instruction also solves the benchmark problem: \
answer same=true. If it asks for a different result (a different quantity, condition, input or output), even on \
the same topic, answer same=false."""


class JudgeConfig(OpConfig):
    """Where the judge LLM is and when to ask it. ``options`` go to ``load_llm`` (e.g. ``api_key``,
    ``concurrency``, ``requests_per_minute``, ``timeout``, ``max_retries``)."""

    model: str
    backend: Literal["openai", "hf", "vllm"] = "openai"
    base_url: str | None = None
    # SQLite cache of the judge's replies; None: $CODECURATE_CACHE/decontam_judge.sqlite
    cache: str | None = None
    # ask about the record's top ``top_k`` items whose similarity is at least ``min_similarity`` (defaults: on
    # the dev split of bench_decontam.py the paraphrased item is among them for 96% of paraphrases, at 1.8 pairs
    # per record of ordinary instruction data)
    min_similarity: float = 0.5
    top_k: int = 3
    max_tokens: int = 256
    max_chars: int = 4000  # each side of the pair is cut to this many characters in the prompt
    on_error: Literal["threshold", "keep", "drop"] = "threshold"
    options: dict = {}


def load_judge(cfg: JudgeConfig):
    from codecurate.models.llm import default_cache_dir, load_llm

    cache = cfg.cache or str(default_cache_dir() / "decontam_judge.sqlite")
    kw = dict(cfg.options)
    if cfg.base_url is not None:
        kw["base_url"] = cfg.base_url
    return load_llm(cfg.model, backend=cfg.backend, cache=cache, **kw)


def judge_prompt(record_text: str, benchmark_text: str, max_chars: int) -> list[dict]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT.format(benchmark=benchmark_text[:max_chars],
                                                      record=record_text[:max_chars])}]


def ask(llm, pairs: list[tuple[str, str]], cfg: JudgeConfig) -> list[dict]:
    """One verdict per (record text, benchmark text): ``{"verdict": "same"|"different"|"error",
    "reason": str, "cached": bool}``, in order."""
    from codecurate.models.llm import GenParams

    if not pairs:
        return []
    params = GenParams(max_tokens=cfg.max_tokens, temperature=0.0, json_schema=JUDGE_SCHEMA, seed=0)
    results = llm.generate([judge_prompt(r, b, cfg.max_chars) for r, b in pairs], params)
    out = []
    for res in results:
        c = res.completions[0] if res.completions else None
        if res.ok and c is not None and isinstance(c.parsed, dict):
            out.append({"verdict": "same" if c.parsed.get("same") else "different",
                        "reason": str(c.parsed.get("reason", ""))[:500], "cached": bool(c.cached)})
        else:
            out.append({"verdict": "error", "reason": (res.error or "no reply")[:500], "cached": False})
    return out
