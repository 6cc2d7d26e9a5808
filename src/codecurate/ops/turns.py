"""The turns of a multi-turn record, for the ops that score or compare every turn (TLI, complexity, DEITA).

A record read by the ``messages`` format keeps its first user turn in ``instruction``, the first assistant turn
after it in ``response``, and the whole conversation in ``meta["messages"]`` ([{role, content}], OpenAI) or
``meta["conversations"]`` ([{from, value}], ShareGPT). This module reads the conversation back:

- ``user_turns(rec)``: every user turn's text in order (roles ``user``/``human``; system, tool and other roles
  are skipped). XCoder's ``compute_TLI.py`` joins exactly these (``role.lower() == "user"``) with spaces.
- ``assistant_turns(rec)``: every assistant turn's text in order.
- ``turn_pairs(rec)``: (user turn, its answer) per user turn, as DEITA's score pipeline pairs a ShareGPT
  conversation (turn 2k with turn 2k+1; a user turn without an answer gets ``""``). Pairs are formed by role,
  not by position, so a system turn at the head does not shift them; a second assistant turn in a row (no user
  turn between) belongs to no pair.

The turns at the record's first user / first assistant position are read from ``instruction`` / ``response``,
not from ``meta``, so an op that rewrote the record earlier in the chain is seen with its edit. A record without
such a conversation (every other format) has one pair: ``(instruction, response)``.
"""

from __future__ import annotations

from typing import Any

from codecurate.formats.messages import _ASSISTANT, _USER

TURN_MODES = ("all", "first")


def _text(v: Any) -> str:
    """A turn's content: a string, or OpenAI content parts ([{type: text, text}]) joined by newlines."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in v)
    return "" if v is None else str(v)


def _conversation(rec: dict) -> list[tuple[str, str]] | None:
    """[(role class, text)] with role class "user"/"assistant"/"other", or None when the record has none.

    The first user turn's text is the record's ``instruction`` and the first assistant turn after it the
    record's ``response`` (what the ``messages`` adapter maps them to)."""
    meta = rec.get("meta")
    if not isinstance(meta, dict):
        return None
    if isinstance(meta.get("messages"), list):
        turns, who, key = meta["messages"], "role", "content"
    elif isinstance(meta.get("conversations"), list):
        turns, who, key = meta["conversations"], "from", "value"
    else:
        return None
    if not turns or not all(isinstance(t, dict) for t in turns):
        return None
    out: list[tuple[str, str]] = []
    for t in turns:
        role = str(t.get(who, "")).lower()
        cls = "user" if role in _USER else "assistant" if role in _ASSISTANT else "other"
        out.append((cls, _text(t.get(key))))
    u = next((i for i, (c, _) in enumerate(out) if c == "user"), None)
    if u is None:
        return None
    out[u] = ("user", rec.get("instruction") or "")
    a = next((i for i in range(u + 1, len(out)) if out[i][0] == "assistant"), None)
    if a is not None:
        out[a] = ("assistant", rec.get("response") or "")
    return out


def user_turns(rec: dict) -> list[str]:
    conv = _conversation(rec)
    if conv is None:
        return [rec.get("instruction") or ""]
    return [t for c, t in conv if c == "user"]


def assistant_turns(rec: dict) -> list[str]:
    conv = _conversation(rec)
    if conv is None:
        return [rec.get("response") or ""]
    return [t for c, t in conv if c == "assistant"]


def turn_pairs(rec: dict) -> list[tuple[str, str]]:
    """(user turn, answer) per user turn; ``[(instruction, response)]`` for a single-turn record."""
    conv = _conversation(rec)
    if conv is None:
        return [(rec.get("instruction") or "", rec.get("response") or "")]
    pairs: list[list] = []
    answered = True
    for c, t in conv:
        if c == "user":
            pairs.append([t, ""])
            answered = False
        elif c == "assistant" and pairs and not answered:
            pairs[-1][1] = t
            answered = True
    return [(q, a) for q, a in pairs]


def is_multi_turn(rec: dict) -> bool:
    return len(user_turns(rec)) > 1
