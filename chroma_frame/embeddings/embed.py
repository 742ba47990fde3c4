"""Run a collection's embedding function over many inputs: batches and a progress bar.

The Collection calls :func:`embed` for ``add`` / ``upsert`` / ``update`` documents
(``is_query=False``) and for ``query_texts`` (``is_query=True``).
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Sequence

BATCH_SIZE = 1024


def embed(ef: Any, input: Sequence[Any], *, is_query: bool = False,
          batch_size: int = BATCH_SIZE, progress: Optional[bool] = None) -> List[Any]:
    """``ef`` applied to ``input`` in batches of ``batch_size``, results concatenated in order.

    ``is_query`` uses ``ef.embed_query`` when the function has one. A progress bar (tqdm, on
    stderr) is shown for inputs longer than one batch when stderr is a terminal; ``progress``
    forces it on or off.
    """
    call = ef.embed_query if is_query and hasattr(ef, "embed_query") else ef
    items = list(input)
    if len(items) <= batch_size:
        return list(call(input=items))
    bar = _progress_bar(len(items), progress)
    out: List[Any] = []
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            result = call(input=chunk)
            if len(result) != len(chunk):
                raise ValueError(
                    f"The embedding function returned {len(result)} embeddings for {len(chunk)} inputs"
                )
            out.extend(result)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return out


def _progress_bar(total: int, progress: Optional[bool]) -> Any:
    if progress is False:
        return None
    if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="Embedding", unit="doc", file=sys.stderr)
