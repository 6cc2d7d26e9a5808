"""Text generation for evaluation: prompt presets, code extraction, and the bridge to the LLM layer.

Every generation goes through ``codecurate.models.llm`` (one layer for the whole project): backends ``hf``
(transformers, batched and length-sorted, CPU/GPU), ``vllm`` (offline, GPU, optional) and ``openai`` (any
OpenAI-compatible server through an async client with bounded concurrency, rate limits and retries), the SQLite
call cache, and per-record errors instead of exceptions (reference/training_eval.md §5 for the decoding rules).

Decoding defaults: greedy, n = 1 (codecurate's choice 6; the EvalPlus leaderboard and CodeACT convention). With
``temperature > 0`` n samples are drawn with ``top_p`` (the study used T = 0.1, top-p 0.95 with vLLM).

Prompt presets (``build_prompt``):
- ``completion``: base models; the benchmark's completion prompt (HumanEval: signature + docstring), stop
  sequences of the benchmark; the program is ``program_prefix + completion``.
- ``study``: the study's fine-tuning prompt, as plain text (its models were fine-tuned on exactly this text):
  "You are an AI programming assistant, please generate Python code according to the following
  instruction.\\n### Instruction:\\n{question}\\n### Response:\\n" (seed0_techniques.md §6.4); code is extracted
  from the answer.
- ``chat``: instruct models through the tokenizer's chat template (or the server's chat endpoint), with the
  evalplus instruction "Please provide a self-contained Python script that solves the following problem in a
  markdown code block:"; code is extracted from the answer.
- ``study-chat``: the study's prompt text as the user turn of the chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Chat = list[dict[str, str]]
Prompt = str | Chat

STUDY_PROMPT = (
    "You are an AI programming assistant, please generate Python code according to the following instruction.\n"
    "### Instruction:\n{question}\n### Response:\n"
)
EVALPLUS_INSTRUCTION = (
    "Please provide a self-contained Python script that solves the following problem in a markdown code block:"
)
PROMPT_PRESETS = ("completion", "study", "chat", "study-chat")


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string (the LLM layer's rule)."""
    from codecurate.models.llm.base import truncate_at_stop as cut_at_stop

    return cut_at_stop(text, stop)[0]


def make_llm(backend: str, model: str | None, **kwargs: Any):
    """The LLM-layer model for ``eval``: ``load_llm(model, backend, **kwargs)`` (``model`` None: the embedded
    ``smollm2-135m``; ``cache=``: the SQLite call cache)."""
    from codecurate.models.llm import load_llm

    return load_llm(model, backend, **kwargs)


def has_chat_template(llm) -> bool:
    """Whether ``llm`` can take chat prompts: a local tokenizer with a chat template, or a server (whose chat
    endpoint applies the model's template)."""
    if getattr(llm, "backend", None) == "openai":
        return True
    tok = getattr(llm, "tokenizer", None)
    return bool(tok is not None and getattr(tok, "chat_template", None))


# ---------------------------------------------------------------- prompts and code extraction
def build_prompt(record: dict, preset: str) -> tuple[Prompt, list[str]]:
    """(prompt, stop sequences) for a benchmark record under a prompt preset."""
    meta = record.get("meta", {})
    if preset == "completion":
        prompt = meta.get("completion_prompt") or record["instruction"]
        return prompt, list(meta.get("stop") or [])
    if preset == "study":
        return STUDY_PROMPT.format(question=(record["instruction"] or "").strip()), []  # the study strips it
    if preset == "study-chat":
        return [{"role": "user", "content": STUDY_PROMPT.format(question=(record["instruction"] or "").strip())}], []
    if preset == "chat":
        if meta.get("chat_messages"):  # the benchmark's own chat prompt (LiveCodeBench, BigCodeBench instruct)
            return [dict(m) for m in meta["chat_messages"]], []
        content = f"{EVALPLUS_INSTRUCTION}\n```\n{record['instruction'].strip()}\n```"
        return [{"role": "user", "content": content}], []
    raise ValueError(f"unknown prompt preset {preset!r}; valid: {', '.join(PROMPT_PRESETS)}")


def study_extract(text: str) -> str:
    """The study's extraction (SFT/evaluation.py): between the first ```python and the last ```, cut at </s>.

    Faithful including its quirk: with only a bare ``` fence it keeps the text *before* that fence.
    """
    start = text.find("```python")
    if start != -1:
        body = text[start + len("```python"):]
        end = body.rfind("```")
        text = body[:end] if end != -1 else body
    elif "```" in text:
        text = text[:text.find("```")]
    return text.split("</s>")[0].strip()


def program_from_output(record: dict, output: str, preset: str, extract: str = "auto") -> str:
    """The program to execute for one model output.

    ``completion``: ``program_prefix`` (e.g. the HumanEval prompt) + completion. Other presets: code extracted
    from the answer (``extract="auto"``: ``codecurate.code.extract.extract_code``; ``"study"``: the study's rule).
    """
    if preset == "completion":
        return (record.get("meta", {}).get("program_prefix") or "") + output
    if extract == "study":
        return study_extract(output)
    from codecurate.code.extract import extract_code

    code, _lang = extract_code(output)
    return code if code else output.strip()
