"""codecurate's own JSONL: canonical records as they are (``id``, ``instruction``, ``response``, ``code``,
``language``, ``tests``, ``source``, ``meta``, ``stats``)."""

from __future__ import annotations

import copy

from codecurate.formats.base import Format
from codecurate.records import CANONICAL_FIELDS, make_record


class Canonical(Format):
    name = "codecurate"
    description = "canonical codecurate records (id, instruction, response, code, tests, meta, stats)"
    keys = ("id", "instruction", "response", "code")
    priority = 20

    def to_record(self, raw, index):
        kw = {k: raw.get(k) for k in CANONICAL_FIELDS if k in raw}
        kw.setdefault("id", str(index))
        return make_record(**kw)

    def from_record(self, rec):
        return {k: copy.deepcopy(rec.get(k)) for k in CANONICAL_FIELDS}
