"""all-MiniLM-L6-v2 sentence embeddings on onnxruntime, without torch.

WordPiece tokenisation from the model's ``tokenizer.json`` (the ``tokenizers`` package; its built-in
padding is switched off and truncation set to 256 word pieces, sentence-transformers'
``max_seq_length``), then a BERT graph built from ``model.safetensors`` by :mod:`.bert_onnx`,
cached next to the weights, run by onnxruntime on all cores. Texts are sorted by length and cut
into batches under a token budget, so little work goes into padding.

Nothing here is imported by ``import chroma_frame``; onnxruntime, tokenizers and the weights load
on the first :func:`get_encoder` call.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from chroma_frame.embeddings import bert_onnx, model_files

MAX_TOKENS = 256
DIMENSIONS = 384
#: Upper bounds of one forward pass: padded tokens and rows. Measured on 2 cores with short
#: and long documents; larger batches spill the activations out of cache.
TOKEN_BUDGET = 2048
MAX_BATCH_ROWS = 128


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def plan_batches(lengths: np.ndarray, token_budget: int = TOKEN_BUDGET,
                 max_rows: int = MAX_BATCH_ROWS) -> list[np.ndarray]:
    """Indices of texts grouped by similar length, each group's padded size within budget."""
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start, n = 0, len(order)
    while start < n:
        stop = min(start + max_rows, n)
        # shrink until rows * longest <= budget (longest is the last one: ascending order)
        while stop - start > 1 and (stop - start) * int(lengths[order[stop - 1]]) > token_budget:
            stop = start + max(1, token_budget // int(lengths[order[stop - 1]]))
        batches.append(order[start:stop])
        start = stop
    return batches


class MiniLMEncoder:
    """Tokenizer + onnxruntime session for one model folder; :meth:`encode` is thread-safe."""

    def __init__(self, folder: Path, providers: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = folder
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer = tokenizer

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        chosen = list(providers) if providers else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(_graph_source(folder), sess_options=options,
                                            providers=chosen)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings ``[len(texts), 384]``, in input order."""
        if len(texts) == 0:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids = [e.ids for e in encodings]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        out = np.empty((len(ids), DIMENSIONS), dtype=np.float32)
        for batch in plan_batches(lengths):
            width = int(lengths[batch].max())
            input_ids = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                input_ids[row, : lengths[i]] = ids[i]
            mask = (np.arange(width)[None, :] < lengths[batch][:, None]).astype(np.int64)
            (vectors,) = self.session.run(["sentence_embedding"],
                                          {"input_ids": input_ids, "attention_mask": mask})
            out[batch] = vectors
        return out


def _graph_source(folder: Path) -> "str | bytes":
    """The ONNX graph for ``folder``'s weights: a cached file, built on first use.

    A read-only folder gets the graph built in memory on every start instead (~1 s).
    """
    path = folder / f"minilm-sentence-embedding.v{bert_onnx.GRAPH_VERSION}.onnx"
    if path.is_file():
        return str(path)
    from filelock import FileLock

    try:
        with FileLock(str(folder / ".build.lock")):
            if not path.is_file():
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(bert_onnx.build_model_bytes(folder))
                os.replace(tmp, path)
        return str(path)
    except OSError:
        return bert_onnx.build_model_bytes(folder)


_encoders: dict[Tuple[str, Tuple[str, ...]], MiniLMEncoder] = {}
_lock = threading.Lock()


def get_encoder(providers: Optional[Sequence[str]] = None) -> MiniLMEncoder:
    """The process-wide encoder for the current model folder, loaded (and fetched) on first use."""
    folder = model_files.model_dir()
    key = (str(folder), tuple(providers or ()))
    encoder = _encoders.get(key)
    if encoder is None:
        with _lock:
            encoder = _encoders.get(key)
            if encoder is None:
                model_files.ensure_model_files(folder)
                encoder = MiniLMEncoder(folder, providers)
                _encoders[key] = encoder
    return encoder
