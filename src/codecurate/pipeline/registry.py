"""Operator registry: ``@register`` on an Op subclass makes it usable by name in recipes.

Op modules live in ``codecurate.ops.<family>.<name>``; ``load_all`` imports them lazily (op modules must not
import torch or other heavy libraries at import time: they do it in ``setup``).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from pathlib import Path

from codecurate.pipeline.op import Op

_OPS: dict[str, type[Op]] = {}
_loaded = False


def register(cls: type[Op]) -> type[Op]:
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no `name`")
    if cls.name in _OPS and _OPS[cls.name] is not cls:
        raise TypeError(f"op name {cls.name!r} registered twice ({_OPS[cls.name].__name__}, {cls.__name__})")
    _OPS[cls.name] = cls
    return cls


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    import codecurate.ops as ops_pkg

    for mod in pkgutil.walk_packages(ops_pkg.__path__, prefix="codecurate.ops."):
        importlib.import_module(mod.name)
    _loaded = True


def all_ops() -> dict[str, type[Op]]:
    load_all()
    return dict(sorted(_OPS.items()))


class UnknownOpError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def _load_named(name: str) -> None:
    """Import ``codecurate.ops.<family>.<name>`` (the convention) when there is one, so looking up one op does
    not import every op module (~0.15 s of CPU in every process)."""
    import codecurate.ops as ops_pkg

    for base in ops_pkg.__path__:
        for fam in sorted(Path(base).iterdir()):
            if (fam / f"{name}.py").is_file() and (fam / "__init__.py").is_file():
                importlib.import_module(f"codecurate.ops.{fam.name}.{name}")
                return


def get_op(name: str, where: str = "") -> type[Op]:
    if name not in _OPS and not _loaded:
        _load_named(name)
    if name not in _OPS:
        load_all()
    if name not in _OPS:
        close = difflib.get_close_matches(name, list(_OPS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownOpError(f"{where}unknown op {name!r}.{hint} Valid ops: {', '.join(sorted(_OPS))}")
    return _OPS[name]
