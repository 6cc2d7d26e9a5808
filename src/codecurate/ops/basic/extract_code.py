"""``extract_code``: set ``code`` (and ``language``) from the primary code block of the response.

The primary block is the first fenced block tagged with the wanted language, else the longest block (see
``codecurate.code.extract``). A response with no fenced block is taken whole (``unfenced: whole``, the
default): Code Alpaca and similar data answer in bare JavaScript, SQL, Java or HTML as often as in bare
Python, and an empty ``code`` would leave ``language_filter`` nothing to classify (it dropped 3,408 of 4,535
such records as "detected empty"). Such text gets ``language: python`` only when it parses as Python;
otherwise the record's ``language`` is left as it was (``language_filter`` with ``set_language: true``
labels it). ``unfenced: python`` restores the earlier rule (taken whole only when it parses as Python),
``unfenced: none`` never takes unfenced text.
"""

from __future__ import annotations

from typing import Literal

from codecurate.code.extract import code_blocks, extract_code, parses_as_python
from codecurate.pipeline.op import Mapper, OpConfig, top_fields
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class ExtractCodeConfig(OpConfig):
    field: str = "response"  # the record field holding the markdown answer (or ``meta.<key>``)
    prefer_language: str = "python"  # the first fenced block tagged with this language wins; else the longest
    overwrite: bool = True  # False: keep a code field that is already set (e.g. MBPP's own `code`)
    # a response with no fenced block: whole = taken as the code whatever its language; python = only when it
    # parses as Python; none = never (code stays empty)
    unfenced: Literal["whole", "python", "none"] = "whole"


@register
class ExtractCode(Mapper[ExtractCodeConfig]):
    """Primary code block of a markdown response, with its language tag."""

    name = "extract_code"
    Config = ExtractCodeConfig
    paper = "practice of evalplus' sanitizer / Magicoder: first block in the wanted language, else longest"
    writes = frozenset({"code", "language"})
    version = 2  # 2: unfenced non-Python answers are taken whole (unfenced: whole)

    def reads(self):
        return top_fields([self.config.field]) | {"code", "language"}

    def map(self, record):
        cfg = self.config
        if record.get("code") and not cfg.overwrite:
            return record
        text = field_text(record, cfg.field)
        if code_blocks(text):
            code, lang = extract_code(text, prefer=cfg.prefer_language)
        elif cfg.unfenced == "none":
            code, lang = "", None
        elif parses_as_python(text):
            code, lang = text.strip("\n"), "python"
        elif cfg.unfenced == "whole" and text.strip():
            code, lang = text.strip("\n"), None
            self.count("unfenced_not_python")
        else:
            code, lang = "", None
        record["code"] = code
        if lang:
            record["language"] = lang
        self.count("with_code" if code else "without_code")
        return record
