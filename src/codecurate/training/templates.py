"""Prompt templates and tokenization of canonical records into SFT features (prompt masked with -100).

Templates
    ``study``    the fine-tuning prompt of the empirical study (seed 0, ``SFT/finetune.py``; reference
                 ``seed0_techniques.md`` §6.4): "You are an AI programming assistant, please generate Python code
                 according to the following instruction.\\n### Instruction:\\n{instruction}\\n### Response:\\n",
                 target = response + "\\n" + end token.
    ``codeact``  CodeACT's deepseek/starcoder2 template "### Instruction:\\n{instruction}\\n### Response:\\n"
                 (``Kyle-Lyu/CodeACT@4900323:utils/dataset.py``), target = response + EOS.
    ``codellama`` CodeACT's codellama template "[INST] {instruction} [/INST]", target = response + EOS.
    ``chat``     the tokenizer's own chat template (user turn, then the assistant turn).
    ``plain``    instruction + "\\n", target = response + EOS.

End token: the study appends a literal ``</s>`` for Qwen and ``<|eot_id|>`` for Llama. ``</s>`` is not a special
token in Qwen's vocabulary, so the study's Qwen models learn to print the text "</s>". codecurate's default
``end_token=None`` appends the tokenizer's EOS id instead (deviation, safer for generation); pass
``end_token="</s>"`` to reproduce the study exactly (the model presets carry the study's value).

Over-long samples (prompt + target > max_length): ``truncate`` keeps the first max_length tokens (CodeACT
truncates every feature to max_seq_len) or ``drop`` removes the sample (LLaMA-Factory). A sample whose
response is entirely cut off is dropped either way, because it has no trainable token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

IGNORE_INDEX = -100

STUDY_PROMPT = (
    "You are an AI programming assistant, please generate Python code according to the following instruction.\n"
    "### Instruction:\n{instruction}\n### Response:\n"
)
CODEACT_PROMPT = "### Instruction:\n{instruction}\n### Response:\n"
CODELLAMA_PROMPT = "[INST] {instruction} [/INST]"
TEMPLATES = ("study", "codeact", "codellama", "chat", "plain")
OVERLONG = ("truncate", "drop")


@dataclass
class EncodeStats:
    samples_in: int = 0
    samples_out: int = 0
    truncated: int = 0
    dropped_overlong: int = 0
    dropped_empty: int = 0
    dropped_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["dropped_ids"] = self.dropped_ids[:50]  # keep the stats file small
        return d


def render(record: dict, tokenizer, template: str) -> tuple[str, str, bool]:
    """(prompt text, target text without end token, whether the template already closed the turn)."""
    instruction = record.get("instruction", "")
    response = record.get("response", "")
    if template == "study":
        return STUDY_PROMPT.format(instruction=instruction), response + "\n", False
    if template == "codeact":
        return CODEACT_PROMPT.format(instruction=instruction), response, False
    if template == "codellama":
        return CODELLAMA_PROMPT.format(instruction=instruction), response, False
    if template == "plain":
        return instruction + "\n", response, False
    if template == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("template 'chat' needs a tokenizer with a chat_template; use 'study' or 'plain'")
        user = [{"role": "user", "content": instruction}]
        prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt) :], True
        return prompt, response, False
    raise ValueError(f"unknown template {template!r}; valid: {list(TEMPLATES)}")


def encode_record(
    record: dict,
    tokenizer,
    template: str = "study",
    max_length: int = 1024,
    end_token: str | None = None,
    overlong: str = "truncate",
) -> tuple[dict | None, str]:
    """One record -> ({"input_ids", "labels"}, status) with status in ok/truncated/overlong/empty."""
    if overlong not in OVERLONG:
        raise ValueError(f"unknown overlong policy {overlong!r}; valid: {list(OVERLONG)}")
    prompt, target, closed = render(record, tokenizer, template)
    # Chat templates insert BOS themselves; other templates get the tokenizer's special tokens on the prompt.
    prompt_ids = tokenizer(prompt, add_special_tokens=template != "chat")["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] if target else []
    if not closed:
        if end_token is None or end_token == tokenizer.eos_token:
            if tokenizer.eos_token_id is None:
                raise ValueError("tokenizer has no eos_token; pass end_token explicitly")
            target_ids = target_ids + [tokenizer.eos_token_id]
        elif end_token:
            target_ids = target_ids + tokenizer(end_token, add_special_tokens=False)["input_ids"]
    input_ids = list(prompt_ids) + list(target_ids)
    labels = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids)
    status = "ok"
    if len(input_ids) > max_length:
        if overlong == "drop":
            return None, "overlong"
        input_ids, labels = input_ids[:max_length], labels[:max_length]
        status = "truncated"
    if all(x == IGNORE_INDEX for x in labels):
        return None, "empty"
    return {"input_ids": input_ids, "labels": labels}, status


def encode_records(
    records: Iterable[dict],
    tokenizer,
    template: str = "study",
    max_length: int = 1024,
    end_token: str | None = None,
    overlong: str = "truncate",
) -> tuple[list[dict], EncodeStats]:
    stats = EncodeStats()
    features = []
    for rec in records:
        stats.samples_in += 1
        feat, status = encode_record(rec, tokenizer, template, max_length, end_token, overlong)
        if feat is None:
            if status == "overlong":
                stats.dropped_overlong += 1
            else:
                stats.dropped_empty += 1
            stats.dropped_ids.append(str(rec.get("id", stats.samples_in - 1)))
            continue
        if status == "truncated":
            stats.truncated += 1
        feat["id"] = str(rec.get("id", stats.samples_in - 1))
        features.append(feat)
    stats.samples_out = len(features)
    return features, stats
