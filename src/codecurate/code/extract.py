"""Markdown code extraction: the primary code block of a response, with its language tag.

Rules (the usual practice of code-instruction pipelines, e.g. evalplus' sanitizer and Magicoder):
1. fenced blocks (``` or ~~~, optional language tag) are collected in order;
2. the primary block is the first block tagged with the wanted language (``python``/``py``/``python3``),
   else the longest block;
3. with no fenced block, the whole response is taken when it parses as Python (responses that are bare code,
   as in MBPP or Code Alpaca), else no code ("", None).
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"(?ms)^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$")
_PY_TAGS = {"python", "py", "python3", "py3"}
_LANG_ALIASES = {"py": "python", "python3": "python", "py3": "python", "js": "javascript", "ts": "typescript",
                 "c++": "cpp", "cc": "cpp", "sh": "bash", "shell": "bash", "cs": "csharp", "c#": "csharp"}


def normalize_language(tag: str | None) -> str | None:
    if not tag:
        return None
    t = tag.strip().lower()
    return _LANG_ALIASES.get(t, t)


def code_blocks(text: str) -> list[tuple[str, str | None, tuple[int, int]]]:
    """All fenced blocks as (code, language, (start, end) span of the body in ``text``)."""
    out = []
    for m in _FENCE.finditer(text or ""):
        out.append((m.group("body").rstrip("\n"), normalize_language(m.group("lang")), m.span("body")))
    return out


def parses_as_python(code: str) -> bool:
    if not code or not code.strip():
        return False
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _primary(blocks, prefer: str | None):
    if not blocks:
        return None
    if prefer:
        want = normalize_language(prefer)
        for b in blocks:
            if b[1] == want:
                return b
    return max(blocks, key=lambda b: len(b[0]))


def extract_code(text: str, prefer: str | None = "python") -> tuple[str, str | None]:
    """Return (code, language) of the primary code in ``text``; ("", None) if there is none."""
    blocks = code_blocks(text)
    b = _primary(blocks, prefer)
    if b is not None:
        code, lang, _ = b
        if lang is None and parses_as_python(code):
            lang = "python"
        return code, lang
    if parses_as_python(text):
        return text.strip("\n"), "python"
    return "", None


def replace_primary_code(text: str, old_code: str, new_code: str, prefer: str | None = "python") -> str:
    """Put ``new_code`` where ``old_code`` stands in ``text`` (the primary block, else a verbatim occurrence)."""
    b = _primary(code_blocks(text), prefer)
    if b is not None and b[0].strip() == old_code.strip():
        s, e = b[2]
        body = text[s:e]
        trail = body[len(body.rstrip("\n")):]
        return text[:s] + new_code.rstrip("\n") + (trail or "\n") + text[e:]
    if old_code and old_code in text:
        return text.replace(old_code, new_code, 1)
    return text
