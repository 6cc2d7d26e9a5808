"""``extract_code``: set ``code`` (and ``language``) from the primary code block of the response.

The primary block is the first fenced block tagged with the wanted language, else the longest block; a response
with no fenced block is taken whole when it parses as Python (see ``codecurate.code.extract``).
"""

from __future__ import annotations

from codecurate.code.extract import extract_code
from codecurate.pipeline.op import top_fields, Mapper, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class ExtractCodeConfig(OpConfig):
    field: str = "response"
    prefer_language: str = "python"
    overwrite: bool = True  # False: keep a code field that is already set (e.g. MBPP's own `code`)


@register
class ExtractCode(Mapper):
    """Primary code block of a markdown response, with its language tag."""

    name = "extract_code"
    Config = ExtractCodeConfig
    paper = "practice of evalplus' sanitizer / Magicoder: first block in the wanted language, else longest"
    writes = frozenset({"code", "language"})

    def reads(self):
        return top_fields([self.config.field]) | {"code", "language"}

    def map(self, record):
        cfg = self.config
        if record.get("code") and not cfg.overwrite:
            return record
        code, lang = extract_code(field_text(record, cfg.field), prefer=cfg.prefer_language)
        record["code"] = code
        if lang:
            record["language"] = lang
        self.count("with_code" if code else "without_code")
        return record
