"""Issue 11, defect 5: ``chroma-frame doctor`` verifies every file of a path and repairs what can
be repaired (a lost catalog, a damaged end of a log, derived files, debris), saying plainly what
it cannot recover. The command runs as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import chroma_frame
from chroma_frame import doctor
from chroma_frame.index.graph import Graph, save_graph
from chroma_frame.sparse.files import save_postings
from chroma_frame.sparse.postings import build_postings
from chroma_frame.sparse.rows import SparseRows
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import json_with_checksum
from chroma_frame.storage.manifest import read_manifest
from tests.layout import manifest_path

ROOT = Path(__file__).resolve().parents[2]


def cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chroma_frame.cli", "doctor", "--path", str(path), *args],
                          capture_output=True, text=True, timeout=120, cwd=str(ROOT),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _client(path: Path, **kw) -> chroma_frame.Client:
    chroma_frame.Client.clear_system_cache()  # as a new process would open the path
    return chroma_frame.PersistentClient(str(path), **kw)


def _records(col) -> dict:
    got = col.get(include=["documents", "metadatas", "embeddings"])
    return {i: (d, m, list(map(float, e))) for i, d, m, e in
            zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])}


def _populate(path: Path) -> dict[str, str]:
    """Three collections (one renamed, one in another tenant and database); returns name -> id."""
    client = _client(path)
    alpha = client.create_collection("alpha", embedding_function=None, metadata={"topic": "a"})
    alpha.add(ids=[f"a{i}" for i in range(20)], embeddings=np.arange(80, dtype=np.float32).reshape(20, 4),
              documents=[f"doc {i}" for i in range(20)],
              metadatas=[{"i": i, "sv": chroma_frame.SparseVector(indices=[i], values=[1.0])} for i in range(20)])
    alpha.compact()
    for n in range(3):
        alpha.add(ids=[f"t{n}"], embeddings=[[float(n), 1.0, 2.0, 3.0]], documents=[f"tail {n}"])
    beta = client.create_collection("beta0", embedding_function=None)
    beta.add(ids=["b1", "b2"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    beta.modify(name="beta", metadata={"renamed": True})
    admin = chroma_frame.AdminClient(client.get_settings())
    admin.create_tenant("acme")
    admin.create_database("research", tenant="acme")
    other = _client(path, tenant="acme", database="research")
    gamma = other.create_collection("gamma", embedding_function=None, metadata={"team": "r"})
    gamma.add(ids=["g1"], embeddings=[[0.5, 0.5, 0.5]], documents=["g"])
    return {"alpha": str(alpha.id), "beta": str(beta.id), "gamma": str(gamma.id)}


def _state(path: Path) -> dict:
    out = {}
    for tenant, database in (("default_tenant", "default_database"), ("acme", "research")):
        client = _client(path, tenant=tenant, database=database)
        for col in client.list_collections():
            out[(tenant, database, col.name)] = (str(col.id), col.metadata, _records(col))
    return out


def _flip(file: Path, at: float = 0.5) -> None:
    data = bytearray(file.read_bytes())
    data[int(len(data) * at)] ^= 0x40
    file.write_bytes(bytes(data))


def _newest_catalog(path: Path) -> Path:
    """The file of the current catalog version."""
    return sorted((path / "catalog").glob("*.json"))[-1]


def _log(path: Path, cid: str) -> list[Path]:
    """The log entries not yet folded into blockfiles (older ones are kept as history)."""
    folder = path / "collections" / cid
    upto = json.loads(manifest_path(folder).read_bytes())["log_upto"]
    return [p for p in sorted((folder / "log").glob("*.arrow")) if int(p.name.split(".")[0]) > upto]


def test_repair_rebuilds_a_lost_catalog_with_every_collection(tmp_path):
    _populate(tmp_path)
    before = _state(tmp_path)
    assert len(before) == 3
    shutil.rmtree(tmp_path / "catalog")
    files = sorted(p for p in tmp_path.rglob("*"))

    found = cli(tmp_path)
    assert found.returncode == 1, found.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == files  # checking writes nothing
    assert "catalog.json" in found.stdout and "missing" in found.stdout and "NOT healthy" in found.stdout

    fixed = cli(tmp_path, "--repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "restored collection 'alpha'" in fixed.stdout and "rebuilt" in fixed.stdout
    assert _state(tmp_path) == before  # names, tenants, databases, metadata, ids and records

    again = cli(tmp_path, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["healthy"] is True


def test_a_folder_without_description_comes_back_as_recovered(tmp_path):
    ids = _populate(tmp_path)
    records = _records(_client(tmp_path).get_collection("alpha"))
    (tmp_path / "collections" / ids["alpha"] / "collection.json").unlink()  # as made by an older version
    damaged = _newest_catalog(tmp_path)
    _flip(damaged, at=0.3)  # and the catalog damaged
    fixed = cli(tmp_path, "--repair")
    assert fixed.returncode == 0, fixed.stdout
    assert f"recovered as collection 'recovered-{ids['alpha']}'" in fixed.stdout
    assert damaged.exists()  # kept for inspection
    client = _client(tmp_path)
    assert _records(client.get_collection(f"recovered-{ids['alpha']}")) == records
    assert client.get_collection("beta").metadata == {"renamed": True}


def test_check_finds_bit_flips_in_log_entry_blockfile_graph_and_postings(tmp_path):
    ids = _populate(tmp_path)
    folder = tmp_path / "collections" / ids["alpha"]
    storage = Storage.local(str(tmp_path))
    prefix = f"collections/{ids['alpha']}"
    ref = read_manifest(storage, prefix).blockfiles[0]
    n = 20  # derived files of the blockfile, written by the library's own writers
    save_graph(storage, prefix, ref, Graph(np.arange(n + 1, dtype=np.int64), ((np.arange(n) + 1) % n).astype(np.int32),
                                           np.array([0], dtype=np.int64), "l2", n, 4))
    save_postings(storage, prefix, ref, "sv", build_postings(SparseRows.empty(n)))
    healthy = doctor.check(tmp_path)
    assert healthy.healthy and healthy.checked["graphs"] == 1 and healthy.checked["postings"] == 1
    graph = next(folder.glob("blocks/*.graph.npz"))
    postings = next(folder.glob("blocks/*.sparse.*.arrow"))
    blockfile = folder / ref
    entry = _log(tmp_path, ids["alpha"])[0]
    for damaged in (graph, postings, entry):
        _flip(damaged)

    report = cli(tmp_path)
    assert report.returncode == 1
    errors = [line for line in report.stdout.splitlines() if line.startswith("ERROR")]
    for damaged in (graph, postings, entry):
        assert any(str(damaged) in line for line in errors), (damaged, report.stdout)
    assert any(str(graph) in line and "repair: delete it" in line for line in errors)

    _flip(blockfile)
    errors = doctor.check(tmp_path).errors
    assert any(p.path == str(blockfile) and p.fix is None and "backup" in p.message for p in errors)


def test_repair_drops_a_torn_log_tail_and_says_the_writes_are_lost(tmp_path):
    ids = _populate(tmp_path)
    last = _log(tmp_path, ids["alpha"])[-1]
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # torn by a crash of the disk

    check = doctor.check(tmp_path)
    assert not check.healthy and any(str(last) in p.path for p in check.errors)
    fixed = cli(tmp_path, "--repair")
    assert fixed.returncode == 0, fixed.stdout
    assert "1 acknowledged write(s) are LOST" in fixed.stdout
    col = _client(tmp_path).get_collection("alpha")
    assert col.count() == 22 and "t2" not in col.get()["ids"] and "t1" in col.get()["ids"]
    col.add(ids=["after"], embeddings=[[1.0, 1.0, 1.0, 1.0]])  # the log goes on
    assert _client(tmp_path).get_collection("alpha").count() == 23


def test_a_damaged_entry_before_good_ones_is_not_repaired(tmp_path):
    ids = _populate(tmp_path)
    middle = _log(tmp_path, ids["alpha"])[1]
    _flip(middle)
    fixed = cli(tmp_path, "--repair")
    assert fixed.returncode == 1
    assert any(str(middle) in line and "cannot be repaired" in line for line in fixed.stdout.splitlines())
    assert middle.exists() and len(_log(tmp_path, ids["alpha"])) == 3  # nothing dropped


def test_inconsistent_manifest_is_reported_and_unlisted_blockfiles_are_kept(tmp_path):
    ids = _populate(tmp_path)
    folder = tmp_path / "collections" / ids["alpha"]
    doc = json.loads(manifest_path(folder).read_bytes())
    doc.pop("crc32c")
    doc["blockfiles"] = []
    manifest_path(folder).write_bytes(json_with_checksum(doc))
    fixed = doctor.repair(tmp_path)
    assert not fixed.healthy
    assert any("inconsistent manifest" in p.message and "no blockfiles" in p.message for p in fixed.errors)
    assert list(folder.glob("blocks/*.arrow"))  # the real data is not mistaken for debris


def test_debris_is_a_warning_and_repair_removes_it(tmp_path):
    ids = _populate(tmp_path)
    folder = tmp_path / "collections" / ids["alpha"]
    blockfile = next(folder.glob("blocks/*.arrow"))
    orphan = folder / "blocks" / ("0" * 32 + ".arrow")
    orphan.write_bytes(blockfile.read_bytes())  # as left by a compaction that crashed before its manifest
    tmp = folder / "log" / "00000000000000000099.arrow.abc.tmp"
    tmp.write_bytes(b"half a write")
    deleted = tmp_path / "collections" / "11111111-2222-3333-4444-555555555555"
    deleted.mkdir()
    (deleted / "collection.json").write_bytes(json_with_checksum({
        "format": 1, "deleted": True, "database_id": None,
        "collection": {"id": deleted.name, "name": "gone", "tenant": "default_tenant",
                       "database": "default_database", "metadata": None, "configuration_json": {}}}))

    check = cli(tmp_path)
    assert check.returncode == 0, check.stdout  # warnings only: nothing at risk
    warnings = [line for line in check.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 3 and any(str(orphan) in w for w in warnings) and any(str(tmp) in w for w in warnings)
    fixed = doctor.repair(tmp_path)
    assert fixed.healthy and not fixed.problems
    assert not orphan.exists() and not tmp.exists() and not deleted.exists() and blockfile.exists()
    assert _client(tmp_path).get_collection("alpha").count() == 23


def test_doctor_on_a_missing_path_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere"
    done = cli(missing)
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert not missing.exists()


def test_graph_of_an_older_format_is_a_warning_not_damage(tmp_path):
    """A collection written before graphs were sealed: its intact graph files are rebuilt, which
    the doctor says without failing the check (the data is not damaged)."""
    import io

    ids = _populate(tmp_path)
    storage = Storage.local(str(tmp_path))
    prefix = f"collections/{ids['alpha']}"
    ref = read_manifest(storage, prefix).blockfiles[0]
    n = 20
    old = io.BytesIO()  # what chroma-frame 0.1 wrote: an unsealed npz, format 1, every row a node
    np.savez(old, indptr=np.arange(n + 1, dtype=np.int64), indices=((np.arange(n) + 1) % n).astype(np.int32),
             pivots=np.array([0], dtype=np.int64), meta=np.array([1, n, 4], dtype=np.int64),
             space=np.frombuffer(b"l2", dtype=np.uint8))
    graph = tmp_path / prefix / (str(ref).rsplit(".", 1)[0] + ".l2.graph.npz")
    graph.write_bytes(old.getvalue())

    report = cli(tmp_path)
    assert report.returncode == 0, report.stdout
    assert any(line.startswith("WARNING") and str(graph) in line and "older format" in line
               for line in report.stdout.splitlines()), report.stdout
    truncated = old.getvalue()[:-40]  # the same file cut short is damage
    graph.write_bytes(truncated)
    assert cli(tmp_path).returncode == 1
