"""OpenAI-compatible and Ollama functions against a loopback fake server."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from chroma_frame.embeddings import EmbeddingRequestError, config_from_ef, ef_from_config
from chroma_frame.utils.embedding_functions import OllamaEmbeddingFunction, OpenAIEmbeddingFunction

from .fake_provider import FakeProvider, fake_vector


@pytest.fixture
def fake():
    with FakeProvider() as server:
        yield server


@pytest.fixture
def openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("CHROMA_OPENAI_API_KEY", "sk-test")


def test_openai_request_and_response(fake, openai_key):
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1", model_name="text-embedding-3-small",
                                 dimensions=4, organization_id="org-1", default_headers={"X-Extra": "1"})
    texts = ["a", "bb", "héllo"]
    out = ef(texts)
    assert [v.tolist() for v in out] == [fake_vector(t) for t in texts]  # reordered by index
    assert all(v.dtype == np.float32 for v in out)
    req = fake.requests[-1]
    assert req["path"] == "/v1/embeddings"
    assert req["body"] == {"model": "text-embedding-3-small", "input": texts, "encoding_format": "float",
                           "dimensions": 4}
    assert req["headers"]["authorization"] == "Bearer sk-test"
    assert req["headers"]["openai-organization"] == "org-1" and req["headers"]["x-extra"] == "1"


def test_openai_rebuilt_from_config_uses_env_key(fake, openai_key):
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1", model_name="m")
    rebuilt = ef_from_config(config_from_ef(ef))
    assert rebuilt(["x"])[0].tolist() == fake_vector("x")


def test_openai_missing_key_message(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("CHROMA_OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="The CHROMA_OPENAI_API_KEY environment variable is not set."):
        OpenAIEmbeddingFunction()


def test_openai_direct_key_warns(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.warns(DeprecationWarning, match="Direct api_key configuration will not be persisted"):
        ef = OpenAIEmbeddingFunction(api_key="sk-direct", api_base=f"{fake.url}/v1")
    assert "sk-direct" not in str(ef.get_config())


def test_retries_transient_errors(fake, openai_key):
    fake.fail = [(503, {"error": {"message": "overloaded"}}, {"Retry-After": "0"}),
                 (429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})]
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1", max_retries=2)
    assert len(ef(["a"])) == 1
    assert len(fake.requests) == 3


def test_gives_up_after_max_retries(fake, openai_key):
    fake.fail = [(500, {"error": {"message": "boom"}}, {"Retry-After": "0"})] * 3
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1", max_retries=1)
    with pytest.raises(EmbeddingRequestError, match="returned HTTP 500: boom") as err:
        ef(["a"])
    assert err.value.status == 500 and len(fake.requests) == 2


def test_client_errors_are_not_retried(fake, openai_key):
    fake.fail = [(401, {"error": {"message": "Incorrect API key provided"}}, {})]
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1")
    with pytest.raises(EmbeddingRequestError, match="HTTP 401: Incorrect API key provided"):
        ef(["a"])
    assert len(fake.requests) == 1


def test_timeout_is_reported(fake, openai_key):
    fake.delay = 1.0
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1", timeout=0.2, max_retries=0)
    start = time.monotonic()
    with pytest.raises(EmbeddingRequestError, match="Could not reach OpenAI-compatible API"):
        ef(["a"])
    assert time.monotonic() - start < 1.0


def test_connection_refused_is_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ef = OllamaEmbeddingFunction(url=f"http://127.0.0.1:{port}", model_name="m", max_retries=0)
    with pytest.raises(EmbeddingRequestError, match=f"Could not reach Ollama at http://127.0.0.1:{port}/api/embed"):
        ef(["a"])


def test_ollama_native_api(fake):
    ef = OllamaEmbeddingFunction(url=fake.url, model_name="all-minilm", timeout=5)
    texts = ["one", "two words"]
    assert [v.tolist() for v in ef(texts)] == [fake_vector(t) for t in texts]
    assert fake.requests[-1]["path"] == "/api/embed"
    assert fake.requests[-1]["body"] == {"model": "all-minilm", "input": texts}
    assert ef.get_config() == {"url": fake.url, "model_name": "all-minilm", "timeout": 5}
    assert ef_from_config(config_from_ef(ef))(["one"])[0].tolist() == fake_vector("one")


def test_ollama_old_endpoint_url_and_missing_model(fake):
    ef = OllamaEmbeddingFunction(url=f"{fake.url}/api/embeddings", model_name="missing")
    with pytest.raises(EmbeddingRequestError, match=r"not found.*ollama pull missing"):
        ef(["a"])
    assert fake.requests[-1]["path"] == "/api/embed"


def test_openai_client_against_ollama_style_v1(fake, monkeypatch):
    """Ollama and other servers expose /v1/embeddings too; any key works there."""
    monkeypatch.setenv("OPENAI_API_KEY", "ollama")
    ef = OpenAIEmbeddingFunction(api_base=f"{fake.url}/v1/", model_name="nomic-embed-text")
    assert ef.api_key_env_var == "OPENAI_API_KEY"
    assert ef(["z"])[0].tolist() == fake_vector("z")
