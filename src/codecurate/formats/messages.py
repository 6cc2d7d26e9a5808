"""Chat messages: ShareGPT ``conversations`` ([{from, value}]) and OpenAI ``messages`` ([{role, content}]).

The instruction is the first user turn and the response the first assistant turn after it; the other turns
(system prompt, later turns) stay in ``meta`` and are written back unchanged.
"""

from __future__ import annotations

from codecurate.formats.base import Format, tests_field, tests_to_column

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
    description = "ShareGPT conversations or OpenAI messages (write: OpenAI messages training rows)"
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
                         response=turns[a][text] if a is not None else "", tests=tests_field(raw.get("tests")))

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

    def set_tests(self, raw, value, rec):
        raw["tests"] = tests_to_column(raw, value)


class ShareGPT(Messages):
    """ShareGPT ``conversations`` ([{from: human|gpt, value}]) as an output format (``format: sharegpt``).
    Reading detects such files as ``messages`` (the same adapter); ``--from sharegpt`` reads them too."""

    name = "sharegpt"
    description = "ShareGPT conversations [{from: human|gpt, value}] (write: training rows for LLaMA-Factory)"
    priority = 5  # detection picks `messages` for chat files

    def matches(self, raw):
        return isinstance(raw.get("conversations"), list) and super().matches(raw)

    def empty(self):
        return {"conversations": []}
