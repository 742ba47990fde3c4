"""Collections record their embedding function and rebuild it in a new process."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

from .test_lazy_and_fetch import run

EF_MODULE = '''
import numpy as np
from chroma_frame.utils.embedding_functions import EmbeddingFunction, register_embedding_function

@register_embedding_function
class Scaled(EmbeddingFunction):
    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
    def __call__(self, input):
        return [np.array([self.scale * len(t), 1.0], dtype=np.float32) for t in input]
    @staticmethod
    def name() -> str:
        return "scaled_test"
    def get_config(self):
        return {"scale": self.scale}
    @staticmethod
    def build_from_config(config):
        return Scaled(config["scale"])
'''


def _script(tmp_path: Path, body: str) -> str:
    return f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + textwrap.dedent(body)


def test_persisted_function_is_rebuilt_in_a_new_process(tmp_path):
    (tmp_path / "my_efs.py").write_text(EF_MODULE)
    db = str(tmp_path / "db")
    create = run(_script(tmp_path, f"""
        import json, chroma_frame, my_efs
        client = chroma_frame.PersistentClient(path={db!r})
        col = client.create_collection("docs", embedding_function=my_efs.Scaled(2.0))
        col.add(ids=["a"], documents=["abc"])
        print(json.dumps(col.configuration_json["embedding_function"]))
    """))
    assert create.returncode == 0, create.stderr
    assert json.loads(create.stdout.splitlines()[-1]) == {"name": "scaled_test", "type": "known",
                                                          "config": {"scale": 2.0}}
    reopen = run(_script(tmp_path, f"""
        import json, chroma_frame, my_efs
        from chroma_frame.utils.embedding_functions import ONNXMiniLM_L6_V2
        client = chroma_frame.PersistentClient(path={db!r})
        col = client.get_collection("docs")
        col.add(ids=["b"], documents=["abcd"])
        got = col.get(ids=["a", "b"], include=["embeddings"])["embeddings"]
        hit = col.query(query_texts=["xyzw"], n_results=1)["ids"][0][0]
        try:
            client.get_collection("docs", embedding_function=ONNXMiniLM_L6_V2())
            conflict = None
        except ValueError as e:
            conflict = str(e)
        print(json.dumps({{"emb": [list(map(float, v)) for v in got], "hit": hit, "conflict": conflict}}))
    """))
    assert reopen.returncode == 0, reopen.stderr
    out = json.loads(reopen.stdout.splitlines()[-1])
    assert out["emb"] == [[6.0, 1.0], [8.0, 1.0]] and out["hit"] == "b"
    assert out["conflict"].endswith("Embedding function conflict: new: onnx_mini_lm_l6_v2 vs persisted: scaled_test")
    unregistered = run(_script(tmp_path, f"""
        import chroma_frame
        col = chroma_frame.PersistentClient(path={db!r}).get_collection("docs")
        assert col.count() == 2
        try:
            col.add(ids=["c"], documents=["x"])
        except ValueError as e:
            print(e)
    """))
    assert unregistered.returncode == 0, unregistered.stderr
    assert "Embedding function scaled_test not found. Add @register_embedding_function" in unregistered.stdout


def test_default_function_end_to_end(tmp_path, model_folder):
    import chroma_frame

    client = chroma_frame.PersistentClient(path=str(tmp_path / "db"))
    col = client.create_collection("fruit")
    assert col.configuration_json["embedding_function"] == {"type": "known", "name": "default", "config": {}}
    col.add(ids=["p", "o", "d"], documents=["This is a document about pineapples",
                                           "This is a document about oranges", "Dogs bark at night"])
    res = col.query(query_texts=["tropical fruit: pineapple"], n_results=1, include=["embeddings"])
    assert res["ids"] == [["p"]]
    stored = np.asarray(col.get(ids=["p"], include=["embeddings"])["embeddings"][0])
    assert abs(float(np.linalg.norm(stored)) - 1.0) < 1e-5
