"""``line_length``: drop code with overlong lines or too few alphanumeric characters.

StarCoder/SantaCoder's "basic" filter (BigCode ``bigcode-dataset`` ``preprocessing/filtering.py``:
``basic_filters`` and ``add_stats``; README defaults ``max_line_length=1000``, ``mean_line_length=100``,
``alpha_num_threshold=0.25``, after Codex, arXiv 2107.03374; see ``shared/reference/peer_systems.md`` §6):
- a record is dropped if its longest line is longer than ``max_line_length``, or its mean line length is
  above ``mean_line_length``, or the fraction of alphanumeric characters is below ``min_alphanum_fraction``;
- lines are ``str.splitlines()``; the alphanumeric fraction is over all characters (newlines included).
Any threshold can be switched off with ``null``. Empty code is dropped (``on_empty``), since BigCode's
statistics are undefined for it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


def line_stats(code: str) -> dict:
    lengths = [len(line) for line in code.splitlines()] or [0]
    return {
        "max_line_length": max(lengths),
        "mean_line_length": round(sum(lengths) / len(lengths), 4),
        "alphanum_fraction": round(sum(ch.isalnum() for ch in code) / len(code), 6) if code else 0.0,
    }


class LineLengthConfig(OpConfig):
    field: str = "code"
    max_line_length: int | None = 1000
    mean_line_length: float | None = 100
    min_alphanum_fraction: float | None = 0.25
    on_empty: Literal["drop", "keep"] = "drop"


@register
class LineLength(Filter[LineLengthConfig]):
    """Drop code whose longest/mean line is too long or whose alphanumeric fraction is too low (StarCoder)."""

    name = "line_length"
    Config = LineLengthConfig
    paper: ClassVar[str] = ("BigCode StarCoder/SantaCoder preprocessing basic filter (bigcode-dataset "
                            "preprocessing/filtering.py; max line 1000, mean line 100, alnum >= 0.25)")

    def compute(self, records: list[dict]) -> None:
        for rec in records:
            rec.setdefault("stats", {})["lines"] = line_stats(field_text(rec, self.config.field))

    def decide(self, record: dict) -> str | None:
        c = self.config
        if not field_text(record, c.field).strip():
            if c.on_empty == "keep":
                return None
            self.count("dropped.empty")
            return f"line_length: empty {c.field}"
        s = record["stats"]["lines"]
        if c.max_line_length is not None and s["max_line_length"] > c.max_line_length:
            self.count("dropped.max_line_length")
            return f"line_length: longest line {s['max_line_length']} > {c.max_line_length}"
        if c.mean_line_length is not None and s["mean_line_length"] > c.mean_line_length:
            self.count("dropped.mean_line_length")
            return f"line_length: mean line length {s['mean_line_length']:.1f} > {c.mean_line_length}"
        if c.min_alphanum_fraction is not None and s["alphanum_fraction"] < c.min_alphanum_fraction:
            self.count("dropped.alphanum_fraction")
            return f"line_length: alphanumeric fraction {s['alphanum_fraction']:.3f} < {c.min_alphanum_fraction}"
        return None
