"""Embeddings: the packaged all-MiniLM-L6-v2 loads offline, encodes real fixture texts, the CodeACT-style plain
transformers mean pooling agrees with sentence-transformers on the same model, and the disk cache serves a
second run without loading the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("sentence_transformers")

from codecurate.models.embed import Embedder, packaged_minilm_path, resolve_model  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rows = json.loads((DATA / "code_alpaca_300.json").read_text())
    return [r["instruction"] for r in rows[:60]]


def test_packaged_model_is_found_and_unpacked_once():
    path = packaged_minilm_path()
    assert (path / "modules.json").exists() and (path / "model.safetensors").exists()
    assert resolve_model("all-MiniLM-L6-v2") == str(path) == resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert resolve_model("some/other-model") == "some/other-model"
    assert packaged_minilm_path() == path


def test_encode_shape_norm_order_and_meaning(tmp_path, texts):
    emb = Embedder(cache_dir=tmp_path)
    probe = ["Write a Python function to reverse a string.",
             "Implement a function that returns the given string reversed.",
             "Create an HTML page with a table of three columns."]
    x = emb.encode(texts + probe + texts[:3])
    assert x.shape == (len(texts) + 6, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(x[:3], x[-3:])  # duplicates map to the same cached vector, order kept
    a, b, c = x[len(texts):len(texts) + 3]
    assert float(a @ b) > 0.6 > float(a @ c)  # paraphrases are close, unrelated tasks are not


def test_transformers_mean_pooling_matches_sentence_transformers(tmp_path, texts):
    """CodeACT embeds with plain AutoModel + masked mean pooling + L2 norm; on MiniLM (whose ST pipeline is
    the same mean pooling) both backends must agree."""
    st = Embedder(backend="sentence_transformers", cache_dir=tmp_path / "st", max_length=256)
    hf = Embedder(backend="transformers", cache_dir=tmp_path / "hf", max_length=256, batch_size=7)
    assert st.backend == "sentence_transformers" and hf.backend == "transformers"
    np.testing.assert_allclose(st.encode(texts[:25]), hf.encode(texts[:25]), atol=2e-5)


def test_disk_cache_serves_a_resumed_run_without_the_model(tmp_path, texts):
    first = Embedder(cache_dir=tmp_path)
    x = first.encode(texts[:20])
    shards = list((tmp_path / first.cache_key).glob("*.npz"))
    assert len(shards) == 1
    resumed = Embedder(cache_dir=tmp_path)
    y = resumed.encode(texts[:20])
    assert resumed._model is None  # every vector came from disk
    np.testing.assert_array_equal(x, y)
    z = resumed.encode(texts[:22])  # two new texts: only those are embedded and cached
    np.testing.assert_array_equal(z[:20], x)
    assert resumed._model is not None and len(list((tmp_path / first.cache_key).glob("*.npz"))) == 2
    # a different configuration never reads these vectors
    assert Embedder(cache_dir=tmp_path, max_length=32).cache_key != first.cache_key
    assert Embedder(cache_dir=tmp_path, normalize=False).cache_key != first.cache_key


def test_torn_cache_file_is_ignored(tmp_path, texts):
    emb = Embedder(cache_dir=tmp_path)
    x = emb.encode(texts[:5])
    (tmp_path / emb.cache_key / "broken.npz").write_bytes(b"not a zip")
    again = Embedder(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(texts[:5]), x)


def test_bad_backend_is_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown embedding backend 'onnx'"):
        Embedder(backend="onnx", cache_dir=tmp_path, use_cache=False).encode(["x"])
