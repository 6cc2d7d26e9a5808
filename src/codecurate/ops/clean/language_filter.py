"""``language_filter``: keep records whose code is in one of the target languages.

Python is decided by parsing (``ast.parse``): code that parses is Python, whatever it looks like. Other
languages are decided by Magika (Google, "Magika: AI-Powered Content-Type Detection", arXiv 2409.13768;
PyPI ``magika``), a small deep-learning content-type model that ships inside the wheel and runs offline on
CPU (~10 ms per snippet; it recognizes python, javascript, java, c, cpp, cs, go, rust, sql, html, shell, ...).
Chosen over ``guesslang`` (needs TensorFlow) and Pygments' ``guess_lexer`` (unreliable on short snippets);
tree-sitter grammars parse but do not classify.

``python_check``:
- ``parse`` (default): Python iff the code parses.
- ``parse+detector``: it must parse *and* Magika must not call it another language with confidence
  ``>= min_score`` (catches one-liners that happen to be valid Python, e.g. a JSON list or a bare
  expression in another language).
For records not judged Python, the detected label (``stats.language``) must be in ``languages``. Labels are
Magika's (``javascript``, ``java``, ``cpp``, ``c``, ``sql``, ...).
"""

from __future__ import annotations

import ast
from typing import ClassVar, Literal, cast

from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text

_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "c++": "cpp", "cc": "cpp",
            "c#": "cs", "csharp": "cs", "ts": "typescript", "sh": "shell", "bash": "shell"}


def _norm(lang: str) -> str:
    lang = lang.strip().lower()
    return _ALIASES.get(lang, lang)


def parses_as_python(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


class LanguageFilterConfig(OpConfig):
    field: str = "code"
    languages: list[str] = ["python"]
    python_check: Literal["parse", "parse+detector"] = "parse"
    min_score: float = 0.5  # Magika confidence needed to overrule a successful parse (parse+detector)
    set_language: bool = False  # write the detected language into record["language"]


@register
class LanguageFilter(Filter[LanguageFilterConfig]):
    """Keep records whose code is one of ``languages`` (Python by parsing, others by Magika)."""

    name = "language_filter"
    Config = LanguageFilterConfig
    paper: ClassVar[str] = "Magika content-type detection (arXiv 2409.13768); Python decided by ast.parse"

    def setup(self) -> None:
        self._magika = None
        self._targets = {_norm(x) for x in self.config.languages}

    def _detector(self):
        if self._magika is None:
            from magika import Magika

            self._magika = Magika()
        return self._magika

    def detect(self, codes: list[str]) -> list[tuple[str, float]]:
        """(label, score) per code; one batched Magika call over a temp dir of files."""
        if not codes:
            return []
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="cc-lang-") as tmp:
            paths = []
            for i, code in enumerate(codes):
                p = Path(tmp) / f"r{i}"  # no extension: Magika must judge the content only
                p.write_bytes(code.encode("utf-8", "replace"))
                paths.append(p)
            results = self._detector().identify_paths(paths)
        return [(str(r.output.label), float(r.score)) if r.ok else ("unknown", 0.0) for r in results]

    def compute(self, records: list[dict]) -> None:
        c = self.config
        codes = [field_text(r, c.field) for r in records]
        verdict: list[tuple[str, float] | None] = [None] * len(records)
        need_detector = []
        for i, code in enumerate(codes):
            if not code.strip():
                verdict[i] = ("empty", 1.0)
            elif parses_as_python(code):
                if c.python_check == "parse+detector":
                    need_detector.append(i)
                else:
                    verdict[i] = ("python", 1.0)
            else:
                need_detector.append(i)
        detected = self.detect([codes[i] for i in need_detector])
        for i, (label, score) in zip(need_detector, detected):
            parsed = parses_as_python(codes[i])
            if parsed and (label == "python" or score < c.min_score or label in ("txt", "unknown", "json")):
                # json: a bare list/dict literal is valid Python; keep the parse's verdict.
                verdict[i] = ("python", 1.0)
            elif label == "python" and not parsed:
                # The detector thinks Python but it does not parse: broken Python, not another language.
                verdict[i] = ("python-unparsable", score)
            else:
                verdict[i] = (label, score)
        for rec, (label, score) in zip(records, cast("list[tuple[str, float]]", verdict)):  # all filled now
            rec.setdefault("stats", {})["language"] = {"label": label, "score": round(score, 4)}
            if c.set_language and label not in ("empty", "unknown", "python-unparsable"):
                rec["language"] = label

    def decide(self, record: dict) -> str | None:
        label = record["stats"]["language"]["label"]
        if label in self._targets:
            return None
        self.count(f"dropped.{label}")
        want = ", ".join(sorted(self._targets))
        return f"language_filter: detected {label}, want {want}"
