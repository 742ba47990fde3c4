"""Chroma's EmbeddingFunction protocol: custom and legacy functions, config, conflicts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from chroma_frame.embeddings import (
    DEFAULT,
    bind_embedding_function,
    config_from_ef,
    ef_from_config,
    embed,
    embedding_function_config,
    embedding_function_for,
    validate_embedding_function,
)
from chroma_frame.embeddings.registry import (
    UnbuildableEmbeddingFunction,
    check_embedding_function_conflict,
    space_from_ef,
    warn_if_unsupported_space,
)
from chroma_frame.utils.embedding_functions import (
    DefaultEmbeddingFunction,
    EmbeddingFunction,
    OllamaEmbeddingFunction,
    ONNXMiniLM_L6_V2,
    OpenAIEmbeddingFunction,
    config_to_embedding_function,
    known_embedding_functions,
    register_embedding_function,
)


@register_embedding_function
class Constant(EmbeddingFunction):
    """A registered custom function returning plain lists (normalised by the base class)."""

    def __init__(self, value: float = 1.0) -> None:
        self.value = value
        self.calls = 0

    def __call__(self, input):
        self.calls += 1
        return [[self.value, float(len(text))] for text in input]

    @staticmethod
    def name() -> str:
        return "constant_test"

    def get_config(self):
        return {"value": self.value}

    @staticmethod
    def build_from_config(config):
        return Constant(config["value"])

    def default_space(self):
        return "ip"

    def supported_spaces(self):
        return ["ip"]


class NoName(EmbeddingFunction):
    """Subclass without name/get_config: legacy."""

    def __init__(self) -> None:
        pass

    def __call__(self, input):
        return np.ones((len(input), 2))


class Plain:
    """Not a subclass at all: the pre-1.0 style."""

    def __call__(self, input):
        return [[0.5, 0.5] for _ in input]


def test_custom_function_output_is_normalised():
    out = Constant(2.0)(["a", "bbb"])
    assert isinstance(out, list) and [v.dtype for v in out] == [np.float32, np.float32]
    assert out[1].tolist() == [2.0, 3.0]


def test_ndarray_rows_keep_their_dtype_as_in_chroma():
    out = NoName()(["a", "b"])
    assert len(out) == 2 and out[0].dtype == np.float64


def test_bad_output_raises_chromas_message():
    class Empty(Constant):
        def __call__(self, input):
            return []

    with pytest.raises(ValueError, match="Expected Embeddings to be non-empty list or numpy array"):
        Empty()(["a"])


def test_missing_init_warns():
    class NoInit(EmbeddingFunction):
        def __call__(self, input):
            return [[1.0]]

    with pytest.warns(DeprecationWarning, match="does not implement __init__"):
        NoInit()


def test_signature_check_matches_chroma():
    validate_embedding_function(Constant())
    validate_embedding_function(Plain())
    with pytest.raises(ValueError) as err:
        validate_embedding_function(lambda x: x)
    assert str(err.value).startswith(
        "Expected EmbeddingFunction.__call__ to have the following signature: odict_keys(['self', 'input']), "
        "got odict_keys(['self', 'args', 'kwargs'])"
    )


def test_legacy_detection_and_config():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert NoName().is_legacy()
        assert config_from_ef(NoName()) == {"type": "legacy"}
    assert not Constant().is_legacy()
    with pytest.warns(DeprecationWarning, match="legacy embedding function config"):
        assert config_from_ef(Plain()) == {"type": "legacy"}
    assert config_from_ef(None) is None
    with pytest.warns(DeprecationWarning):
        assert ef_from_config({"type": "legacy"}) is None


def test_builtin_names_and_defaults():
    d, o = DefaultEmbeddingFunction(), ONNXMiniLM_L6_V2()
    assert (d.name(), d.get_config(), d.default_space(), d.max_tokens()) == ("default", {}, "l2", 256)
    assert (o.name(), o.get_config(), o.default_space()) == ("onnx_mini_lm_l6_v2", {"preferred_providers": None}, "cosine")
    for name in ("default", "onnx_mini_lm_l6_v2", "openai", "ollama", "sentence_transformer"):
        assert name in known_embedding_functions


@pytest.mark.parametrize("ef", [
    DefaultEmbeddingFunction(),
    ONNXMiniLM_L6_V2(),
    Constant(3.5),
    OllamaEmbeddingFunction(url="http://127.0.0.1:9", model_name="m", timeout=5),
])
def test_config_round_trip_through_json(ef):
    stored = json.loads(json.dumps(config_from_ef(ef)))
    assert stored == {"name": ef.name(), "type": "known", "config": ef.get_config()}
    rebuilt = ef_from_config(stored)
    assert type(rebuilt) is type(ef) and rebuilt.get_config() == ef.get_config()
    assert type(config_to_embedding_function(stored)) is type(ef)


def test_openai_config_names_the_key_variable_not_the_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MY_KEY", "sk-secret")
    ef = OpenAIEmbeddingFunction(api_key_env_var="MY_KEY", model_name="text-embedding-3-small", dimensions=64)
    stored = config_from_ef(ef)
    assert "sk-secret" not in json.dumps(stored)
    assert stored["config"]["api_key_env_var"] == "MY_KEY"
    assert ef_from_config(stored).api_key == "sk-secret"


def test_unknown_and_unbuildable_configs():
    with pytest.raises(ValueError, match="Embedding function nope not found. Add @register_embedding_function"):
        ef_from_config({"type": "known", "name": "nope", "config": {}})
    with pytest.raises(ValueError, match="Could not build embedding function constant_test from config {}"):
        ef_from_config({"type": "known", "name": "constant_test", "config": {}})


def test_conflict_messages_match_chroma():
    with pytest.raises(ValueError) as err:
        check_embedding_function_conflict(Constant(), ONNXMiniLM_L6_V2(), on="create")
    assert str(err.value) == ("Multiple embedding functions provided. Please provide only one. "
                              "Embedding function conflict: constant_test vs onnx_mini_lm_l6_v2")
    persisted = config_from_ef(Constant())
    with pytest.raises(ValueError) as err:
        check_embedding_function_conflict(ONNXMiniLM_L6_V2(), persisted, on="get")
    assert str(err.value) == (
        "An embedding function already exists in the collection configuration, and a new one is provided. "
        "If this is intentional, please embed documents separately. Embedding function conflict: "
        "new: onnx_mini_lm_l6_v2 vs persisted: constant_test")
    # "default" never conflicts; the same name never conflicts
    check_embedding_function_conflict(DefaultEmbeddingFunction(), persisted, on="get")
    check_embedding_function_conflict(Constant(9), persisted, on="get")
    check_embedding_function_conflict(DefaultEmbeddingFunction(), Constant(), on="create")


def test_binding_follows_chromas_embed_order():
    persisted = config_from_ef(Constant(4.0))
    # nothing passed (the default) or None: the persisted function is rebuilt
    for given in (DEFAULT, None):
        ef = bind_embedding_function(persisted, given, on="get")
        assert isinstance(ef, Constant) and ef.value == 4.0
    # an explicit function of the same name wins
    mine = Constant(4.0)
    assert bind_embedding_function(persisted, mine, on="get") is mine
    # nothing persisted: the default, or no function at all
    assert isinstance(bind_embedding_function(None, DEFAULT, on="get"), DefaultEmbeddingFunction)
    assert bind_embedding_function(None, None, on="get") is None
    with pytest.raises(ValueError, match="You must provide an embedding function"):
        embedding_function_for(None, None)


def test_create_config_and_space():
    assert embedding_function_config(DEFAULT, None) == ({"type": "known", "name": "default", "config": {}}, "l2")
    assert embedding_function_config(None, None) == (None, None)
    assert embedding_function_config(DEFAULT, {"embedding_function": Constant(2.0)}) == (
        {"name": "constant_test", "type": "known", "config": {"value": 2.0}}, "ip")
    assert space_from_ef(ONNXMiniLM_L6_V2()) == "cosine"
    with pytest.warns(UserWarning, match=r"space l2 is not supported by constant_test. Supported spaces: \['ip'\]"):
        warn_if_unsupported_space(Constant(), "l2")


def test_unbuildable_persisted_function_fails_only_when_used():
    persisted = {"type": "known", "name": "constant_test", "config": {}}
    ef = bind_embedding_function(persisted, DEFAULT, on="get")
    assert isinstance(ef, UnbuildableEmbeddingFunction)
    assert config_from_ef(ef) == persisted
    with pytest.raises(ValueError, match="Could not build embedding function constant_test"):
        ef(["x"])


def test_embed_batches_in_order_and_uses_embed_query():
    class Q(Constant):
        def embed_query(self, input):
            return [np.array([-1.0, float(len(t))], dtype=np.float32) for t in input]

    ef = Q(1.0)
    texts = ["x" * (i % 7) for i in range(25)]
    out = embed(ef, texts, batch_size=10, progress=False)
    assert ef.calls == 3 and [v[1] for v in out] == [float(len(t)) for t in texts]
    assert embed(ef, texts[:3], is_query=True)[0][0] == -1.0
