"""Chroma's HTTP-API embedding functions against a loopback fake of each provider.

Each case checks the request (URL, headers, payload), the vectors returned, the persisted config
round trip, and that chromadb 1.5.9's class (its provider SDK replaced by a stub module, as the
SDKs are not installed here) persists the same config, name and spaces for the same arguments
and rebuilds from ours.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest

from chroma_frame.embeddings import config_from_ef, ef_from_config
from chroma_frame.utils import embedding_functions as ours

from .fake_http import FakeHTTP

V = [[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]]  # the vectors every fake answers with (two inputs)
TEXTS = ["alpha", "beta"]


def _int8_answer(request: dict) -> dict:  # Perplexity: base64 of signed int8 values
    import base64

    ints = [[-3, 0, 7], [127, -128, 1]]
    return {"data": [{"index": i, "embedding": base64.b64encode(np.asarray(ints[i], np.int8).tobytes()).decode()}
                     for i in (0, 1)]}


def _openai_answer(request: dict) -> dict:
    return {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": V[i]} for i in (1, 0)]}


@dataclass
class Case:
    name: str
    cls: str  # class name in both libraries
    kwargs: Dict[str, Any]
    env: Dict[str, str]
    path: str  # the path the fake serves
    answer: Any
    # point the function at the fake: a function of (function, base URL), or (keyword, suffix) to construct it with
    redirect: Any
    expect_payload: Dict[str, Any]
    expect_headers: Dict[str, str] = field(default_factory=dict)
    stubs: List[str] = field(default_factory=list)  # SDK modules chromadb's class imports
    query: Optional[str] = None


def _set(attr: str, suffix: str = "") -> Callable[[Any, str], None]:  # for URLs that are not persisted
    return lambda ef, base: setattr(ef, attr, base + suffix)


CASES = [
    Case("cohere", "CohereEmbeddingFunction", {"model_name": "embed-english-v3.0"},
         {"CHROMA_COHERE_API_KEY": "co-key"}, "/v1/embed", {"id": "x", "embeddings": V, "texts": TEXTS},
         _set("api_base"), {"texts": TEXTS, "model": "embed-english-v3.0", "input_type": "search_document"},
         {"authorization": "Bearer co-key"}, stubs=["cohere"]),
    Case("jina", "JinaEmbeddingFunction", {"task": "retrieval.passage", "dimensions": 3,
                                           "query_config": {"task": "retrieval.query"}},
         {"CHROMA_JINA_API_KEY": "jina-key"}, "/v1/embeddings", _openai_answer, _set("api_url", "/v1/embeddings"),
         {"input": TEXTS, "model": "jina-embeddings-v2-base-en", "task": "retrieval.passage", "dimensions": 3},
         {"authorization": "Bearer jina-key", "accept-encoding": "identity"}),
    Case("voyageai", "VoyageAIEmbeddingFunction", {"model_name": "voyage-3", "input_type": "document"},
         {"CHROMA_VOYAGE_API_KEY": "vo-key"}, "/v1/embeddings", _openai_answer, _set("api_url", "/v1/embeddings"),
         {"input": TEXTS, "model": "voyage-3", "input_type": "document", "truncation": True},
         {"authorization": "Bearer vo-key"}, stubs=["voyageai"]),
    Case("mistral", "MistralEmbeddingFunction", {"model": "mistral-embed"}, {"MISTRAL_API_KEY": "mi-key"},
         "/v1/embeddings", _openai_answer, _set("api_url", "/v1/embeddings"),
         {"model": "mistral-embed", "input": TEXTS}, {"authorization": "Bearer mi-key"}, stubs=["mistralai"]),
    Case("together_ai", "TogetherAIEmbeddingFunction", {"model_name": "BAAI/bge-base-en-v1.5"},
         {"CHROMA_TOGETHER_AI_API_KEY": "to-key"}, "/v1/embeddings", _openai_answer,
         _set("api_url", "/v1/embeddings"), {"model": "BAAI/bge-base-en-v1.5", "input": TEXTS},
         {"authorization": "Bearer to-key"}),
    Case("cloudflare_workers_ai", "CloudflareWorkersAIEmbeddingFunction",
         {"model_name": "@cf/baai/bge-base-en-v1.5", "account_id": "acc"}, {"CHROMA_CLOUDFLARE_API_KEY": "cf-key"},
         "/acc/ai/run/@cf/baai/bge-base-en-v1.5", {"result": {"shape": [2, 3], "data": V}, "success": True},
         _set("base_url"), {"text": TEXTS}, {"authorization": "Bearer cf-key"}),
    Case("huggingface", "HuggingFaceEmbeddingFunction", {}, {"CHROMA_HUGGINGFACE_API_KEY": "hf-key"},
         "/sentence-transformers/all-MiniLM-L6-v2", V, _set("api_base"),
         {"inputs": TEXTS, "options": {"wait_for_model": True}}, {"authorization": "Bearer hf-key"}),
    Case("huggingface_server", "HuggingFaceEmbeddingServer", {"url": "http://tei.invalid/embed"}, {},
         "/embed", V, ("url", "/embed"), {"inputs": TEXTS}),
    Case("google_gemini", "GoogleGeminiEmbeddingFunction", {"task_type": "RETRIEVAL_DOCUMENT", "dimension": 3},
         {"GEMINI_API_KEY": "ge-key"}, "/models/gemini-embedding-001:batchEmbedContents",
         {"embeddings": [{"values": v} for v in V]}, _set("api_base"),
         {"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]},
                        "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 3} for t in TEXTS]},
         {"x-goog-api-key": "ge-key"}, stubs=["google.genai", "google.genai.types"]),
    Case("google_generative_ai", "GoogleGenerativeAiEmbeddingFunction", {"model_name": "text-embedding-004"},
         {"GEMINI_API_KEY": "ge-key"}, "/models/text-embedding-004:batchEmbedContents",
         {"embeddings": [{"values": v} for v in V]}, _set("api_base"),
         {"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]},
                        "taskType": "RETRIEVAL_DOCUMENT"} for t in TEXTS]},
         {"x-goog-api-key": "ge-key"}, stubs=["google.generativeai"]),
    Case("baseten", "BasetenEmbeddingFunction", {"api_key": None, "api_base": "http://baseten.invalid/v1"},
         {"CHROMA_BASETEN_API_KEY": "ba-key"}, "/v1/embeddings", _openai_answer, ("api_base", "/v1"),
         {"model": "baseten-embedding-model", "input": TEXTS, "encoding_format": "float"},
         {"authorization": "Bearer ba-key"}, stubs=["openai"]),
    Case("morph", "MorphEmbeddingFunction", {}, {"MORPH_API_KEY": "mo-key"}, "/v1/embeddings", _openai_answer,
         ("api_base", "/v1"), {"model": "morph-embedding-v2", "input": TEXTS, "encoding_format": "float"},
         {"authorization": "Bearer mo-key"}, stubs=["openai"]),
    Case("nomic", "NomicEmbeddingFunction", {"model": "nomic-embed-text-v1.5", "task_type": "search_document",
                                             "query_config": {"task_type": "search_query"}},
         {"NOMIC_API_KEY": "no-key"}, "/v1/embedding/text", {"embeddings": V, "model": "nomic-embed-text-v1.5"},
         _set("api_url", "/v1/embedding/text"),
         {"model": "nomic-embed-text-v1.5", "texts": TEXTS, "task_type": "search_document"},
         {"authorization": "Bearer no-key"}, stubs=["nomic"]),
    Case("perplexity", "PerplexityEmbeddingFunction", {"dimensions": 3}, {"PERPLEXITY_API_KEY": "px-key"},
         "/v1/embeddings", _int8_answer, _set("api_url", "/v1/embeddings"),
         {"input": TEXTS, "model": "pplx-embed-v1-0.6b", "dimensions": 3}, {"authorization": "Bearer px-key"},
         stubs=["perplexity"]),
    Case("roboflow", "RoboflowEmbeddingFunction", {}, {"CHROMA_ROBOFLOW_API_KEY": "rf-key"},
         "/clip/embed_text", lambda r: {"embeddings": [V[TEXTS.index(r["body"]["text"])]]}, ("api_url", ""),
         {"text": "beta"}, query="api_key=rf-key"),
]


def _stub(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """A stand-in for a provider SDK: any attribute is a callable accepting anything."""
    stub = types.ModuleType(module)
    stub.__getattr__ = lambda name: (lambda *a, **k: types.SimpleNamespace())  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, stub)
    parent, _, child = module.rpartition(".")
    if parent and parent in sys.modules:
        monkeypatch.setattr(sys.modules[parent], child, stub, raising=False)


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("OPENAI_API_KEY", "COHERE_API_KEY", "JINA_API_KEY", "VOYAGE_API_KEY", "TOGETHER_API_KEY",
                "CLOUDFLARE_API_KEY", "HUGGINGFACE_API_KEY", "GOOGLE_API_KEY", "BASETEN_API_KEY",
                "ROBOFLOW_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def _chroma_class(case: Case, monkeypatch: pytest.MonkeyPatch) -> Any:
    for module in case.stubs:
        _stub(monkeypatch, module)
    return getattr(importlib.import_module("chromadb.utils.embedding_functions"), case.cls)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_request_response_and_config(case: Case, clean_env):
    for key, value in case.env.items():
        clean_env.setenv(key, value)
    kwargs = dict(case.kwargs)
    with FakeHTTP({case.path: case.answer}) as fake:
        if isinstance(case.redirect, tuple):
            kwargs[case.redirect[0]] = fake.url + case.redirect[1]
        ef = getattr(ours, case.cls)(**kwargs)
        if callable(case.redirect):
            case.redirect(ef, fake.url)
        got = ef(TEXTS)
        if case.name == "jina":  # the query config overrides the task for queries
            ef.embed_query(TEXTS)
            assert fake.last["body"]["task"] == "retrieval.query"
            fake.requests.pop()
        if case.name == "nomic":
            ef.embed_query(TEXTS)
            assert fake.last["body"]["task_type"] == "search_query"
            fake.requests.pop()
    expected = [[-3, 0, 7], [127, -128, 1]] if case.name == "perplexity" else V
    assert [v.tolist() for v in got] == expected and all(v.dtype == np.float32 for v in got)
    request = fake.last
    assert request["method"] == "POST" and request["path"] == case.path
    assert request["body"] == case.expect_payload
    for key, value in case.expect_headers.items():
        assert request["headers"][key] == value
    if case.query is not None:
        assert request["query"] == case.query

    persisted = config_from_ef(ef)
    assert persisted == {"name": case.name, "type": "known", "config": ef.get_config()}
    rebuilt = ef_from_config(persisted)
    assert type(rebuilt) is type(ef) and rebuilt.get_config() == ef.get_config()
    ef.validate_config(ef.get_config())

    theirs_cls = _chroma_class(case, clean_env)
    theirs = theirs_cls(**kwargs)
    assert theirs.get_config() == ef.get_config()
    assert theirs.name() == ef.name()
    assert theirs.default_space() == ef.default_space()
    assert theirs.supported_spaces() == ef.supported_spaces()
    theirs_cls.validate_config(ef.get_config())
    assert theirs_cls.build_from_config(ef.get_config()).get_config() == ef.get_config()  # Chroma opens ours


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in ("huggingface_server",)],
                         ids=lambda c: c.name)
def test_missing_key_message_as_chroma(case: Case, clean_env):
    for key in case.env:
        clean_env.delenv(key, raising=False)
    theirs_cls = _chroma_class(case, clean_env)
    with pytest.raises(ValueError) as theirs:
        theirs_cls(**case.kwargs)
    with pytest.raises(ValueError) as mine:
        getattr(ours, case.cls)(**case.kwargs)
    assert str(mine.value) == str(theirs.value)


@pytest.mark.parametrize("case", [c for c in CASES if "api_key" not in c.kwargs and c.name in (
    "cohere", "jina", "voyageai", "together_ai", "huggingface", "roboflow", "morph")], ids=lambda c: c.name)
def test_direct_key_warns_and_is_not_persisted(case: Case, clean_env):
    with pytest.warns(DeprecationWarning, match="Direct api_key configuration will not be persisted"):
        ef = getattr(ours, case.cls)(api_key="direct", **case.kwargs)
    assert "direct" not in str(ef.get_config())


def test_well_known_variable_wins_as_in_chroma(clean_env):
    clean_env.setenv("COHERE_API_KEY", "from-cohere")
    ef = ours.CohereEmbeddingFunction(api_key_env_var="MY_KEY")
    assert ef.get_config()["api_key_env_var"] == "COHERE_API_KEY" and ef.api_key == "from-cohere"


def test_config_errors_as_chroma(clean_env):
    from chromadb.utils.embedding_functions import CohereEmbeddingFunction as Theirs

    for bad in ({"model_name": "m"}, {"model_name": 1, "api_key_env_var": "K"},
                {"model_name": "m", "api_key_env_var": "K", "extra": 1}):
        with pytest.raises(Exception) as theirs:
            Theirs.validate_config(bad)
        with pytest.raises(ValueError) as mine:
            ours.CohereEmbeddingFunction.validate_config(bad)
        assert str(mine.value) == str(theirs.value)


def test_model_cannot_change(clean_env):
    clean_env.setenv("MISTRAL_API_KEY", "k")
    ef = ours.MistralEmbeddingFunction(model="m")
    with pytest.raises(ValueError, match="The model cannot be changed"):
        ef.validate_config_update(ef.get_config(), {"model": "other"})


def test_provider_error_names_the_provider(clean_env):
    clean_env.setenv("CHROMA_COHERE_API_KEY", "k")
    ef = ours.CohereEmbeddingFunction()
    with FakeHTTP({"/v1/embed": (401, {"message": "invalid api token"})}) as fake:
        ef.api_base = fake.url
        with pytest.raises(RuntimeError, match="Cohere .* returned HTTP 401: invalid api token"):
            ef(TEXTS)


def test_cohere_images_as_png_data_uris(clean_env):
    pytest.importorskip("PIL")
    clean_env.setenv("CHROMA_COHERE_API_KEY", "k")
    ef = ours.CohereEmbeddingFunction()
    images = [np.zeros((4, 4, 3), dtype=np.uint8), np.full((4, 4, 3), 255, dtype=np.uint8)]
    with FakeHTTP({"/v1/embed": {"embeddings": V}}) as fake:
        ef.api_base = fake.url
        assert [v.tolist() for v in ef(images)] == V
    body = fake.last["body"]
    assert body["input_type"] == "image" and all(u.startswith("data:image/png;base64,") for u in body["images"])
    with pytest.raises(ValueError, match="mix of text documents and images"):
        ef(["text", images[0]])


def test_gemini_vertex_is_persisted_but_not_run(clean_env):
    ef = ours.GoogleGeminiEmbeddingFunction(api_key_env_var=None, vertexai=True, project="p", location="l")
    assert ef.get_config()["vertexai"] is True
    with pytest.raises(ValueError, match="Vertex AI needs Google Cloud credentials"):
        ef(TEXTS)


def test_chroma_cloud_qwen(clean_env):
    from chromadb.utils.embedding_functions import ChromaCloudQwenEmbeddingFunction as Theirs
    from chromadb.utils.embedding_functions.chroma_cloud_qwen_embedding_function import (
        ChromaCloudQwenEmbeddingModel as TheirModel,
    )

    from chroma_frame.embeddings.chroma_cloud_qwen import ChromaCloudQwenEmbeddingModel

    clean_env.setenv("CHROMA_API_KEY", "ck")
    ef = ours.ChromaCloudQwenEmbeddingFunction(model=ChromaCloudQwenEmbeddingModel.QWEN3_EMBEDDING_0p6B,
                                               task="nl_to_code")
    with FakeHTTP({"/": {"embeddings": V}}) as fake:
        clean_env.setenv("CHROMA_EMBED_URL", fake.url + "/")
        assert [v.tolist() for v in ef(TEXTS)] == V
        assert fake.last["body"] == {"instructions": "", "texts": TEXTS}
        assert fake.last["headers"]["x-chroma-token"] == "ck"
        assert fake.last["headers"]["x-chroma-embedding-model"] == "Qwen/Qwen3-Embedding-0.6B"
        ef.embed_query(TEXTS)
        assert fake.last["body"]["instructions"].startswith("Given a question about coding")
    theirs = Theirs(model=TheirModel.QWEN3_EMBEDDING_0p6B, task="nl_to_code")
    assert theirs.get_config() == ef.get_config()
    Theirs.validate_config(ef.get_config())
    assert ef_from_config(config_from_ef(ef)).get_config() == ef.get_config()


def test_bedrock_signed_with_sigv4(clean_env, tmp_path):
    boto3 = pytest.importorskip("boto3")
    from chromadb.utils.embedding_functions import AmazonBedrockEmbeddingFunction as Theirs

    (tmp_path / "config").write_text("[default]\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDEXAMPLE\n"
                                          "aws_secret_access_key = secret\n")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        clean_env.delenv(key, raising=False)
    clean_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    session = boto3.Session()
    with FakeHTTP({"/model/amazon.titan-embed-text-v2%3A0/invoke":
                   lambda r: {"embedding": V[TEXTS.index(r["body"]["inputText"])], "inputTextTokenCount": 1}}) as fake:
        ef = ours.AmazonBedrockEmbeddingFunction(session, model_name="amazon.titan-embed-text-v2:0",
                                                 endpoint_url=fake.url)
        assert [v.tolist() for v in ef(TEXTS)] == V
    assert len(fake.requests) == 2 and fake.last["body"] == {"inputText": "beta"}
    auth = fake.last["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") and "/us-east-1/bedrock/aws4_request" in auth
    assert "x-amz-date" in fake.last["headers"]
    theirs = Theirs(session=session, model_name="amazon.titan-embed-text-v2:0", endpoint_url=fake.url)
    assert theirs.get_config() == ef.get_config()
    assert (theirs.name(), theirs.default_space()) == (ef.name(), ef.default_space())
    assert ef_from_config(config_from_ef(ef)).get_config() == ef.get_config()


def test_every_chroma_http_name_is_known():
    from chroma_frame.embeddings import known_embedding_functions

    for name in ("cohere", "jina", "voyageai", "mistral", "google_gemini", "google_genai", "google_generative_ai",
                 "huggingface", "huggingface_server", "together_ai", "cloudflare_workers_ai", "amazon_bedrock",
                 "baseten", "nomic", "morph", "chroma-cloud-qwen", "roboflow", "perplexity"):
        assert name in known_embedding_functions


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_collection_persists_what_chroma_persists(case: Case, clean_env):
    """A collection made with the function stores Chroma's configuration JSON for it, and reopens with it."""
    from chromadb.api.collection_configuration import create_collection_configuration_to_json

    import chroma_frame

    for key, value in case.env.items():
        clean_env.setenv(key, value)
    kwargs = dict(case.kwargs)
    if isinstance(case.redirect, tuple):
        kwargs[case.redirect[0]] = "http://127.0.0.1:9" + case.redirect[1]
    mine = getattr(ours, case.cls)(**kwargs)
    theirs = _chroma_class(case, clean_env)(**kwargs)
    expected = create_collection_configuration_to_json({"embedding_function": theirs}, None)

    client = chroma_frame.EphemeralClient()
    name = f"ef-{case.name.replace('_', '-')}"
    client.create_collection(name, embedding_function=mine)
    stored = client.get_collection(name).get_model()["configuration_json"]
    assert stored["embedding_function"] == expected["embedding_function"]
    assert stored["hnsw"]["space"] == expected["hnsw"]["space"]
    reopened = client.get_collection(name)._embedding_function
    assert type(reopened) is type(mine) and reopened.get_config() == mine.get_config()
    client.delete_collection(name)


@pytest.mark.parametrize("include_tokens", [False, True])
def test_chroma_cloud_splade(clean_env, include_tokens):
    from chromadb.utils.embedding_functions import ChromaCloudSpladeEmbeddingFunction as Theirs

    from chroma_frame.embeddings import sparse_known_embedding_functions

    clean_env.setenv("CHROMA_API_KEY", "ck")
    answer = {"embeddings": [{"indices": [7, 2, 5], "values": [0.7, 0.2, 0.5], "labels": ["g", "b", "e"]},
                             {"indices": [], "values": []}]}
    ef = ours.ChromaCloudSpladeEmbeddingFunction(include_tokens=include_tokens)
    with FakeHTTP({"/embed_sparse": answer}) as fake:
        clean_env.setenv("CHROMA_EMBED_URL", fake.url)
        got = ef(TEXTS)
    assert fake.last["body"] == {"texts": TEXTS, "task": "", "target": "",
                                 "fetch_tokens": "true" if include_tokens else "false"}
    assert fake.last["headers"]["x-chroma-embedding-model"] == "prithivida/Splade_PP_en_v1"
    theirs = Theirs(include_tokens=include_tokens)
    expected = theirs._parse_response(answer)
    assert [(v.indices, v.values, v.labels) for v in got] == [(v.indices, v.values, v.labels) for v in expected]
    assert theirs.get_config() == ef.get_config()
    Theirs.validate_config(ef.get_config())
    rebuilt = sparse_known_embedding_functions["chroma-cloud-splade"].build_from_config(ef.get_config())
    assert rebuilt.get_config() == ef.get_config()


def test_config_schemas_are_chromas():
    from chromadb.utils.embedding_functions.schemas import load_schema

    from chroma_frame.embeddings.config_schemas import SCHEMAS

    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()
                    if k not in ("description", "title", "$schema", "version", "default")}
        return [strip(x) for x in o] if isinstance(o, list) else o

    for name, schema in SCHEMAS.items():
        assert schema == strip(load_schema(name)), name
