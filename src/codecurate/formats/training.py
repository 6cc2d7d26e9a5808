"""Training rows: the curated output as LLaMA-Factory and TRL read it, whatever the records' sources.

``output.format`` (or ``convert --to``) ``messages``, ``sharegpt`` or ``alpaca`` writes every record with the
same columns of the same types, so files from different sources can be mixed and loaded together:

    messages   {"id", "messages": [{"role": "system"|"user"|"assistant", "content"}], "tests"}
               (OpenAI chat format: TRL's SFTTrainer; LLaMA-Factory "sharegpt" formatting with role/content tags)
    sharegpt   {"id", "conversations": [{"from": "human"|"gpt", "value"}], "system", "tests"}
               (LLaMA-Factory's default sharegpt tags)
    alpaca     {"id", "instruction", "input", "output", "system", "tests"}
               (LLaMA-Factory's alpaca formatting: one exchange per row)

``tests`` is always a JSON string (``json.loads`` gives the canonical tests dict, or None): test cases are
strings for one source and objects for another, so a structured column would change type between files.
Records read from a chat source keep every turn (system prompt and later turns included) with the ops' edits
applied to the first user / assistant turn; other records become one user turn (the instruction) and one
assistant turn (the response, or the code when the response is empty). ``alpaca`` holds one exchange: a
multi-turn record is written as its first exchange (the one the ops read and curated) and its system prompt;
use ``messages`` or ``sharegpt`` to keep every turn. (Alpaca's optional ``history`` column is not written: it
would be an empty list in files without multi-turn records, and a list of pairs in others, so the column's type
would change between files.) Source-specific columns are not written: ``format: same`` (or ``codecurate``)
keeps them.

``dataset_info(...)`` is the matching LLaMA-Factory ``dataset_info.json`` entry; the runner writes it next to
the curated file, so ``--dataset_dir RUN/output --dataset NAME`` reads the output directly.
"""

from __future__ import annotations

import json

TRAINING_FORMATS = ("messages", "sharegpt", "alpaca")

_USER = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "model", "chatgpt", "bing", "bard"}
_SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation",
                  "observation": "observation", "function": "function_call", "function_call": "function_call"}


def tests_json(tests) -> str:
    """The tests column: exact JSON text (big ints and NaN kept, as ``codecurate.io.dumps`` writes them)."""
    return json.dumps(tests, ensure_ascii=False, separators=(",", ":"))


def _role(who) -> str:
    w = str(who or "").lower()
    if w in _USER:
        return "user"
    if w in _ASSISTANT:
        return "assistant"
    return w or "user"


def conversation(rec: dict) -> list[dict]:
    """The record as chat turns ``[{"role", "content"}]`` (roles normalized to system/user/assistant)."""
    meta = rec.get("meta")
    if rec.get("source") in ("messages", "sharegpt") and isinstance(meta, dict) and meta:
        from codecurate.formats import get_format
        from codecurate.formats.messages import _turns

        raw = get_format(rec["source"]).from_record(rec)  # the original turns with the ops' edits applied
        turns, who, text = _turns(raw)
        out = [{"role": _role(t.get(who)), "content": "" if t.get(text) is None else str(t.get(text))}
               for t in turns if isinstance(t, dict)]
        if any(t["role"] == "assistant" for t in out):
            return out
    response = rec.get("response") or rec.get("code") or ""
    return [{"role": "user", "content": rec.get("instruction") or ""}, {"role": "assistant", "content": response}]


def training_row(rec: dict, name: str) -> dict:
    """One record as a row of training format ``name`` (``messages``, ``sharegpt`` or ``alpaca``)."""
    rid, tests = str(rec.get("id")), tests_json(rec.get("tests"))
    if name == "alpaca" and rec.get("source") == "alpaca" and isinstance(rec.get("meta"), dict) and rec["meta"]:
        from codecurate.formats.alpaca import Alpaca

        raw = Alpaca().from_record(rec)  # keeps the source's instruction / input split
        return {"id": rid, "instruction": str(raw.get("instruction") or ""), "input": str(raw.get("input") or ""),
                "output": str(raw.get("output") or ""),
                "system": raw["system"] if isinstance(raw.get("system"), str) else "", "tests": tests}
    turns = conversation(rec)
    if name == "messages":
        return {"id": rid, "messages": turns, "tests": tests}
    system = turns[0]["content"] if turns and turns[0]["role"] == "system" else ""
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    if name == "sharegpt":
        return {"id": rid, "conversations": [{"from": _SHAREGPT_ROLE.get(t["role"], t["role"]), "value": t["content"]}
                                             for t in body], "system": system, "tests": tests}
    if name == "alpaca":  # the first exchange: the record's instruction and response
        return {"id": rid, "instruction": rec.get("instruction") or "", "input": "",
                "output": rec.get("response") or rec.get("code") or "", "system": system, "tests": tests}
    raise ValueError(f"{name!r} is not a training format; valid: {', '.join(TRAINING_FORMATS)}")


def dataset_info(name: str, file_name: str, fmt: str) -> dict:
    """LLaMA-Factory's ``dataset_info.json`` entry for a file of ``fmt`` rows (its data/README.md schema)."""
    if fmt == "messages":
        entry = {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "system_tag": "system"}}
    elif fmt == "sharegpt":
        entry = {"file_name": file_name, "formatting": "sharegpt",
                 "columns": {"messages": "conversations", "system": "system"},
                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                          "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}}
    elif fmt == "alpaca":
        entry = {"file_name": file_name, "formatting": "alpaca",
                 "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}
    else:
        raise ValueError(f"no LLaMA-Factory entry for format {fmt!r}; valid: {', '.join(TRAINING_FORMATS)}")
    return {name: entry}
