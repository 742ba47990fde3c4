"""A write acknowledged in one process is seen by the very next read in another, compactions included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import chroma_frame
from tests.conftest import ROOT

BATCH = 5
WRITES = 120

# Process A: small writes, a compaction every few of them; after each acknowledged write it says so.
WRITER = r"""
import sys, numpy as np, chroma_frame
path, writes, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = chroma_frame.PersistentClient(path=path, settings=chroma_frame.Settings(compaction_threshold_rows=3 * batch))
col = client.get_collection("ryw", embedding_function=None)
for w in range(writes):
    sys.stdin.readline()  # wait until the reader has checked the previous write
    col.add(ids=[f"{w}-{i}" for i in range(batch)], embeddings=np.full((batch, 4), w, np.float32))
    print(w, flush=True)
"""


def test_a_write_acknowledged_in_another_process_is_in_the_next_snapshot(tmp_path):
    path = str(tmp_path / "db")
    col = chroma_frame.PersistentClient(path=path).create_collection("ryw", embedding_function=None)
    assert col.count() == 0  # this process now holds a snapshot, refreshed from then on
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, str(WRITES), str(BATCH)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT})
    missed = []
    deadline = time.monotonic() + 60
    try:
        for w in range(WRITES):
            writer.stdin.write("go\n")
            writer.stdin.flush()
            line = writer.stdout.readline()
            assert line.strip() == str(w), (line, writer.poll())
            # acknowledged: the very next reads here must include it (no waiting, no retry)
            if col.count() != (w + 1) * BATCH or f"{w}-0" not in col.get(ids=[f"{w}-0"], include=[])["ids"]:
                missed.append(w)
            assert time.monotonic() < deadline, "too slow"
        writer.stdin.close()
        assert writer.wait(timeout=30) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert missed == [], f"{len(missed)} of {WRITES} acknowledged writes were not seen by the next read: {missed[:10]}"
    assert col.count() == WRITES * BATCH
