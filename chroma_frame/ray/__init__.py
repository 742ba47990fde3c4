"""chroma-frame on Ray Data: bulk writes, reads and batch vector search of a collection.

``import chroma_frame.ray`` (never ``import chroma_frame``) imports Ray; install it with
``pip install 'chroma-frame[ray]'``. Every function takes the collection's storage ``path``
(a folder every worker sees, or ``s3://bucket/prefix``) and name: workers open the files
themselves, so no collection data passes through the driver.

- :func:`write`: a Ray Datasink; workers validate, embed, write blockfiles and build their
  graphs, the driver commits them as one version.
- :func:`read`: a Ray Datasource, one read task per blockfile.
- :func:`knn_join`: batch vector search of a dataset of queries against a collection.
"""

from __future__ import annotations

try:
    import ray.data  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("chroma_frame.ray needs Ray Data: pip install 'chroma-frame[ray]'") from exc

from chroma_frame.ray.knn import knn_join
from chroma_frame.ray.read import read
from chroma_frame.ray.target import Target
from chroma_frame.ray.write import write

__all__ = ["write", "read", "knn_join", "Target"]
