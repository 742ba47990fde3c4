"""The npm ``chromadb`` client (3.4.x, Chroma 1.5's JS client) against our server, if Node.js is here."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

NPM_PACKAGE = "chromadb@3.4.3"

SCRIPT = r"""
import { ChromaClient } from "chromadb";
const [host, port] = [process.argv[2], Number(process.argv[3])];
const client = new ChromaClient({ host, port, ssl: false });
const out = {};
out.heartbeat = typeof (await client.heartbeat());
const col = await client.createCollection({ name: "js-col", metadata: { lang: "js" }, embeddingFunction: null });
await col.add({ ids: ["a", "b", "c"], embeddings: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                metadatas: [{ k: 1 }, { k: 2 }, { k: 3 }], documents: ["A", "B", "C"] });
out.count = await col.count();
const got = await col.get({ ids: ["b"], include: ["embeddings", "metadatas", "documents"] });
out.got = { ids: got.ids, embeddings: got.embeddings, metadatas: got.metadatas, documents: got.documents };
const q = await col.query({ queryEmbeddings: [[0, 0, 0.9]], nResults: 2, where: { k: { "$gte": 2 } } });
out.query = { ids: q.ids, distances: q.distances };
await col.upsert({ ids: ["d"], embeddings: [[1, 1, 0]], metadatas: [{ k: 4 }] });
await col.update({ ids: ["a"], metadatas: [{ k: 10 }] });
await col.delete({ ids: ["c"] });
out.after = (await col.get({ include: ["metadatas"] })).metadatas;
const again = await client.getCollection({ name: "js-col", embeddingFunction: null });
out.sameId = again.id === col.id;
out.names = (await client.listCollections()).map((c) => c.name);
await col.modify({ name: "js-col-2", metadata: { lang: "ts" } });
for (const [label, fn] of [["duplicate", () => client.createCollection({ name: "js-col-2", embeddingFunction: null })],
                           ["missing", () => client.getCollection({ name: "no-such-col", embeddingFunction: null })]]) {
  try { await fn(); out[label] = "no error"; } catch (e) { out[label] = e.name; }
}
await client.deleteCollection({ name: "js-col-2" });
out.finalCount = await client.countCollections();
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def js_dir(tmp_path_factory):
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("Node.js/npm not installed")
    work = tmp_path_factory.mktemp("js")
    (work / "package.json").write_text('{"name": "chroma-frame-js-test", "version": "1.0.0", "type": "module"}')
    try:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", NPM_PACKAGE], cwd=work,
                              capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install timed out (offline?)")
    if done.returncode != 0:
        pytest.skip(f"npm install {NPM_PACKAGE} failed (offline?): {done.stderr.strip()[-300:]}")
    (work / "drive.mjs").write_text(SCRIPT)
    return work


def test_npm_chromadb_client(js_dir, server):
    run = subprocess.run(["node", "drive.mjs", "127.0.0.1", str(server.port)], cwd=js_dir, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["heartbeat"] == "number" and out["count"] == 3
    assert out["got"] == {"ids": ["b"], "embeddings": [[0, 1, 0]], "metadatas": [{"k": 2}], "documents": ["B"]}
    assert out["query"]["ids"] == [["c", "b"]]
    assert out["query"]["distances"][0][0] == pytest.approx(0.01, abs=1e-6)
    assert out["after"] == [{"k": 10}, {"k": 2}, {"k": 4}]
    assert out["sameId"] is True and "js-col" in out["names"]
    assert out["duplicate"] == "ChromaUniqueError" and out["missing"] == "ChromaNotFoundError"
    assert out["finalCount"] == out["names"].__len__() - 1
