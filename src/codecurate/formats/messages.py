"""Chat messages: ShareGPT ``conversations`` ([{from, value}]) and OpenAI ``messages`` ([{role, content}]).

The instruction is the first user turn and the response the first assistant turn after it; the other turns
(system prompt, later turns) stay in ``meta`` and are written back unchanged.
"""

from __future__ import annotations

from codecurate.formats.base import Format

_USER = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "model", "chatgpt", "bing", "bard"}


def _turns(raw):
    if "messages" in raw:
        return raw["messages"], "role", "content"
    return raw["conversations"], "from", "value"


def _index(turns, who_key, roles, start=0):
    for i in range(start, len(turns)):
        if str(turns[i].get(who_key, "")).lower() in roles:
            return i
    return None


class Messages(Format):
    name = "messages"
    description = "ShareGPT conversations or OpenAI messages"
    priority = 10

    def matches(self, raw):
        v = raw.get("messages", raw.get("conversations"))
        return isinstance(v, list) and (not v or isinstance(v[0], dict))

    def raw_id(self, raw, index):
        return str(raw.get("id", index))

    def to_record(self, raw, index):
        turns, who, text = _turns(raw)
        u = _index(turns, who, _USER)
        a = _index(turns, who, _ASSISTANT, (u or 0) + (0 if u is None else 1))
        return self.make(raw, index,
                         instruction=turns[u][text] if u is not None else "",
                         response=turns[a][text] if a is not None else "", tests=raw.get("tests"))

    def empty(self):
        return {"messages": []}

    def _set(self, raw, roles, role_name, value):
        turns, who, text = _turns(raw)
        u = _index(turns, who, _USER)
        if role_name == "user":
            i = u
        else:
            i = _index(turns, who, _ASSISTANT, (u or 0) + (0 if u is None else 1))
        if i is None:
            label = role_name if who == "role" else ("human" if role_name == "user" else "gpt")
            turns.append({who: label, text: value})
        else:
            turns[i][text] = value

    def set_instruction(self, raw, value, rec):
        self._set(raw, _USER, "user", value)

    def set_response(self, raw, value, rec):
        self._set(raw, _ASSISTANT, "assistant", value)
