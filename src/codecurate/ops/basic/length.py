"""``length``: keep records whose field length (characters, lines, or whitespace tokens) is within [min, max].

Token counts use whitespace splitting by default; ``tokenizer:`` names an HF tokenizer (path or hub id) to count
model tokens instead (needs ``codecurate[models]``).
"""

from __future__ import annotations

from typing import Literal

from codecurate.pipeline.op import top_fields, Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class LengthConfig(OpConfig):
    field: str = "response"
    unit: Literal["chars", "lines", "tokens"] = "chars"
    min: int | None = None
    max: int | None = None
    tokenizer: str | None = None


@register
class Length(Filter[LengthConfig]):
    """Length bounds on one field; the measured length goes to ``stats.len_<field>``."""

    name = "length"
    Config = LengthConfig
    writes = frozenset({"stats"})

    def reads(self):
        return top_fields([self.config.field])

    def setup(self):
        self._tok = None
        if self.config.unit == "tokens" and self.config.tokenizer:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(self.config.tokenizer)

    def compute(self, records):
        cfg = self.config
        key = f"len_{cfg.field.replace('.', '_')}"
        texts = [field_text(r, cfg.field) for r in records]
        if cfg.unit == "chars":
            lens = [len(t) for t in texts]
        elif cfg.unit == "lines":
            lens = [t.count("\n") + 1 if t else 0 for t in texts]
        elif self._tok is not None:
            lens = [len(ids) for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]
        else:
            lens = [len(t.split()) for t in texts]
        for r, n in zip(records, lens):
            r["stats"][key] = n

    def decide(self, record):
        cfg = self.config
        n = record["stats"][f"len_{cfg.field.replace('.', '_')}"]
        if cfg.min is not None and n < cfg.min:
            return f"length: {cfg.field} {n} {cfg.unit} < min {cfg.min}"
        if cfg.max is not None and n > cfg.max:
            return f"length: {cfg.field} {n} {cfg.unit} > max {cfg.max}"
        return None
