"""``comment_ratio``: keep code whose comment-to-code ratio lies strictly between a minimum and a maximum.

StarCoder/SantaCoder's "comments" filter (BigCode, ``bigcode-dataset`` ``preprocessing/filtering.py`` and
``preprocessing/utils/text_extraction.py``; README defaults ``min_comments_ratio=0.01``,
``max_comments_ratio=0.8``; see ``shared/reference/peer_systems.md`` §6):
- Python: the natural text is the docstrings of the module, classes and functions (``ast.get_docstring``)
  joined by newlines, plus the comments found by the ``tokenize`` module with ``#`` removed;
- other languages: the characters of Pygments' ``Comment.Single`` and ``Comment.Multiline`` tokens;
- ratio = natural-text characters / all characters; kept when ``min_ratio < ratio < max_ratio``.

As in BigCode, Python code that does not parse contributes no docstrings and code that does not tokenize
no comments (its ratio is then what could be extracted). Deviation: ``async def`` docstrings count too
(BigCode's node list misses ``AsyncFunctionDef``), and comments are joined with newlines instead of
``tokenize.untokenize``'s spacing, so the count is of comment characters only.

These thresholds were set for whole source files scraped from GitHub. Instruction-data solutions are short
and often have no comment at all (most MBPP solutions), so ``min_ratio: 0.01`` drops most of them; to keep
comment-free code when cleaning instruction data, set ``min_ratio: -1`` (the bounds are strict, as in
BigCode, so ``0`` would still drop a ratio of exactly 0).
"""

from __future__ import annotations

import ast
import io
import tokenize
from typing import ClassVar

from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text

_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_PYGMENTS_NAMES = {"cpp": "cpp", "c++": "cpp", "js": "javascript", "cs": "csharp", "c#": "csharp"}


def python_natural_text(code: str) -> str:
    """Docstrings + comments (without ``#``) of Python code, as BigCode's ``get_text_python``."""
    try:
        docs = [d for node in ast.walk(ast.parse(code)) if isinstance(node, _DOC_NODES)
                for d in [ast.get_docstring(node)] if d]
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        docs = []
    comments = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                comments.append(tok.string.replace("#", ""))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return ("\n".join(docs) + "\n" + "\n".join(comments)).strip()


def comment_chars(code: str, language: str) -> int:
    """Characters of comments in non-Python code, by Pygments' lexer for ``language``."""
    import pygments
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Comment

    lexer = get_lexer_by_name(_PYGMENTS_NAMES.get(language.lower(), language.lower()))
    return sum(len(tok) for ttype, tok in pygments.lex(code, lexer)
               if ttype in (Comment.Single, Comment.Multiline))


def comment_ratio(code: str, language: str = "python") -> float:
    if not code:
        return 0.0
    if language.lower() in ("python", "py", "python3"):
        return len(python_natural_text(code)) / len(code)
    return comment_chars(code, language) / len(code)


class CommentRatioConfig(OpConfig):
    field: str = "code"
    min_ratio: float = 0.01
    max_ratio: float = 0.8
    language: str | None = None  # None = the record's ``language`` field


@register
class CommentRatio(Filter[CommentRatioConfig]):
    """Keep code with ``min_ratio < comment characters / all characters < max_ratio`` (StarCoder filter)."""

    name = "comment_ratio"
    Config = CommentRatioConfig
    paper: ClassVar[str] = ("BigCode StarCoder/SantaCoder preprocessing: comments-to-code ratio filter "
                            "(bigcode-dataset preprocessing/filtering.py; defaults 0.01 / 0.8)")

    def compute(self, records: list[dict]) -> None:
        for rec in records:
            lang = self.config.language or rec.get("language") or "python"
            rec.setdefault("stats", {})["comment_ratio"] = round(comment_ratio(field_text(rec, self.config.field),
                                                                               lang), 6)

    def decide(self, record: dict) -> str | None:
        r = record["stats"]["comment_ratio"]
        c = self.config
        if c.min_ratio < r < c.max_ratio:
            return None
        side = "low" if r <= c.min_ratio else "high"
        self.count(f"dropped.{side}")
        return f"comment_ratio: {r:.4f} not in ({c.min_ratio}, {c.max_ratio})"
