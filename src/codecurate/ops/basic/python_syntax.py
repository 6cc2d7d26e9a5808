"""``python_syntax``: drop records whose code does not parse as Python (reason = SyntaxError message and line)."""

from __future__ import annotations

import ast
import warnings

from codecurate.pipeline.op import top_fields, Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text


class PythonSyntaxConfig(OpConfig):
    field: str = "code"
    drop_empty: bool = True
    only_python: bool = True  # records whose language is not python pass through untouched


@register
class PythonSyntax(Filter[PythonSyntaxConfig]):
    """Parse with the running interpreter's ``ast``; keep what parses."""

    name = "python_syntax"
    Config = PythonSyntaxConfig
    writes = frozenset({"stats"})

    def reads(self):
        return top_fields([self.config.field]) | {"language"}

    def decide(self, record):
        cfg = self.config
        if cfg.only_python and record.get("language", "python") != "python":
            return None
        code = field_text(record, cfg.field)
        if not code.strip():
            return f"syntax: empty {cfg.field}" if cfg.drop_empty else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(code)
        except SyntaxError as e:
            record["stats"]["syntax_error"] = f"{e.msg} (line {e.lineno})"
            return f"syntax: {e.msg} (line {e.lineno})"
        except (ValueError, MemoryError, RecursionError) as e:
            return f"syntax: {type(e).__name__}: {e}"
        return None
