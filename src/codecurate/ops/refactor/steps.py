"""The refactoring steps of ``refactor``, each applied to a batch of code strings through the tool's Python API
(or, for ``ruff_format``, one ``ruff format`` process per batch). No step spawns a process per record.

A step returns, per input, the new code or the exception it raised (the caller keeps the input then, as the
study's wrappers did).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from shutil import which

def _per_record(fn: Callable[[str], str], codes: list[str]) -> list:
    out: list = []
    for code in codes:
        try:
            out.append(fn(code))
        except Exception as e:  # noqa: BLE001 - the caller keeps the input, as the study's wrappers did
            out.append(e)
    return out


def autoflake_step(codes: list[str], *, remove_all_unused_imports: bool = True,
                   remove_unused_variables: bool = True, **_) -> list:
    """autoflake as the study ran it: ``--remove-all-unused-imports --remove-unused-variables``."""
    import autoflake

    return _per_record(lambda c: autoflake.fix_code(
        c, remove_all_unused_imports=remove_all_unused_imports,
        remove_unused_variables=remove_unused_variables), codes)


def autopep8_step(codes: list[str], *, aggressive: int = 2, ignore: list[str] | None = None,
                  max_line_length: int = 79, **_) -> list:
    """``autopep8.fix_code(code, options={'aggressive': 2})`` as in the study (its default ignore list
    E226,E24,W50,W690 stays unless ``ignore`` is given)."""
    import autopep8

    options: dict = {"aggressive": aggressive, "max_line_length": max_line_length}
    if ignore:
        options["ignore"] = list(ignore)
    return _per_record(lambda c: autopep8.fix_code(c, options=options), codes)


_DOCFORMATTER: dict[tuple, object] = {}


def _docformatter(extra_args: tuple[str, ...]):
    if extra_args not in _DOCFORMATTER:
        from docformatter.configuration import Configurater
        from docformatter.format import Formatter

        # --config /dev/null: never pick up a pyproject.toml/setup.cfg from the working directory.
        conf = Configurater(["docformatter", "--config", os.devnull, *extra_args, "-"])
        conf.do_parse_arguments()
        _DOCFORMATTER[extra_args] = Formatter(conf.args, stderror=io.StringIO(), stdin=io.StringIO(),
                                              stdout=io.StringIO())
    return _DOCFORMATTER[extra_args]


def docformatter_step(codes: list[str], *, args: list[str] | None = None, **_) -> list:
    """docformatter with its defaults (sphinx style, summaries wrapped at 79, descriptions at 72).

    Applied through its formatter API, so the change really happens: the study shelled out with
    ``check=True`` and docformatter exits 3 whenever it changes a file, so the study kept the input every
    time (seed0_techniques.md §4.3)."""
    fmt = _docformatter(tuple(args or ()))
    return _per_record(fmt._do_format_code, codes)


def unify_step(codes: list[str], *, quote: str = "'", **_) -> list:
    """unify: string literals to the preferred quote where no escaping changes (default ``'``)."""
    import unify

    return _per_record(lambda c: unify.format_code(c, preferred_quote=quote), codes)


def _ruff_bin() -> str:
    cand = Path(sys.executable).with_name("ruff")
    if cand.exists():
        return str(cand)
    found = which("ruff")
    if not found:
        raise RuntimeError("refactor step 'ruff_format' needs the ruff CLI: pip install ruff")
    return found


def ruff_format_step(codes: list[str], *, line_length: int = 88, timeout_s: float = 120, **_) -> list:
    """``ruff format`` (Black-compatible), one process for the whole batch over a temp dir."""
    exe = _ruff_bin()
    with tempfile.TemporaryDirectory(prefix="cc-ruff-format-") as tmp:
        paths = []
        for i, code in enumerate(codes):
            p = os.path.join(tmp, f"r{i}.py")
            with open(p, "w", encoding="utf-8", newline="") as f:  # keep line endings as they are
                f.write(code)
            paths.append(p)
        proc = subprocess.run([exe, "format", "--isolated", "--no-cache", "--line-length", str(line_length), tmp],
                              capture_output=True, text=True, timeout=timeout_s, cwd=tmp)
        # Exit 2 = some files could not be formatted (e.g. syntax errors): ruff leaves those files as they
        # were, so reading them back gives the input unchanged.
        if proc.returncode not in (0, 2):
            raise RuntimeError(f"ruff format exited {proc.returncode}: {proc.stderr.strip()[:300]}")
        out: list = []
        for p in paths:
            with open(p, encoding="utf-8", newline="") as f:
                out.append(f.read())
        return out


def black_step(codes: list[str], *, line_length: int = 88, **_) -> list:
    """Black through its Python API (``black.format_str``)."""
    try:
        import black
    except ImportError as e:
        raise RuntimeError("refactor step 'black' needs black: pip install black "
                           "(or use step 'ruff_format', which is Black-compatible)") from e
    mode = black.Mode(line_length=line_length)
    return _per_record(lambda c: black.format_str(c, mode=mode), codes)


STEPS: dict[str, Callable[..., list]] = {
    "autoflake": autoflake_step,
    "autopep8": autopep8_step,
    "docformatter": docformatter_step,
    "unify": unify_step,
    "ruff_format": ruff_format_step,
    "black": black_step,
}
