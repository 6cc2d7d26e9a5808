import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).parent / "data"
PKG_DATA = Path(__file__).parent.parent / "src" / "codecurate" / "data" / "benchmarks"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def mbpp_path() -> Path:
    return PKG_DATA / "mbpp.jsonl"
