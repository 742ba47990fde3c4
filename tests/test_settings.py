"""Settings against chromadb 1.5.9's: keyword arguments, environment and ``.env`` files in both
libraries give the same values (or both fail); ``Client(settings)`` honours ``chroma_api_impl``."""

from __future__ import annotations

import enum
import os
import tempfile
from typing import Any

import pytest
from chromadb.config import Settings as ChromaSettings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.config import Settings
from tests.embeddings.fake_http import FakeHTTP

SHARED = sorted(set(Settings.model_fields) & set(ChromaSettings.model_fields))
OWN_DEFAULTS = {"anonymized_telemetry"}  # chroma-frame sends no telemetry: default False (Chroma's: True)

# field -> values as text (environment / .env) and as Python (keyword arguments); some are invalid
TEXT = {
    "allow_reset": ["TRUE", "true", "False", "0", "1", "yes", "off", "maybe", ""],
    "is_persistent": ["true", "no"],
    "anonymized_telemetry": ["False", "on"],
    "chroma_server_http_port": ["8001", "0", "abc", "80.0", ""],
    "chroma_server_host": ["example.com", "http://h:9"],
    "chroma_server_cors_allow_origins": ['["http://a", "http://b"]', "[]", "http://a", '"x"'],
    "chroma_server_headers": ['{"X-A": "b"}', "{}", "nope"],
    "chroma_server_nofile": ["", "  ", "4096", "x"],
    "chroma_http_keepalive_secs": ["1.5", "2", "soon"],
    "chroma_server_ssl_verify": ["false", "/etc/ca.pem", "1"],
    "chroma_api_impl": ["chromadb.api.fastapi.FastAPI", "chromadb.api.segment.SegmentAPI"],
    "migrations": ["none", "bogus"],
    "chroma_segment_directory_routing_mode": ["node", "id", "other"],
    "chroma_memory_limit_bytes": ["1000", "-1", "1e3"],
    "chroma_server_auth_ignore_paths": ['{"/x": ["GET"]}'],
    "persist_directory": ["/tmp/somewhere"],
    "chroma_server_api_default_path": ["/api/v1", "/api/v3"],
}
PY = {
    "allow_reset": [False, True, "true", None],
    "chroma_server_http_port": [8000, "8002", None, 1.0, 1.5],
    "chroma_server_cors_allow_origins": [["http://a"], [], "x"],
    "chroma_server_headers": [{"a": "b"}, None],
    "persist_directory": ["./chroma", "/p"],
    "chroma_api_impl": ["chromadb.api.rust.RustBindingsAPI"],
    "chroma_server_nofile": ["", 10],
    "migrations": ["validate"],
    "unknown_setting": [1, "x"],  # ignored by both
}
UNKNOWN_TEXT = {"not_a_setting": ["1"]}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _build(cls: type, kwargs: dict) -> Any:
    try:
        made = cls(**kwargs)
    except Exception as e:  # noqa: BLE001 - the comparison is of which calls fail, and how
        details = e.errors() if hasattr(e, "errors") else str(e)
        return ("error", type(e).__name__, details)
    return {name: _plain(getattr(made, name)) for name in SHARED}


def _in_env(kwargs: dict, env: dict[str, str], dotenv: str, both: bool = True) -> tuple[Any, Any]:
    """Build both Settings in a fresh working directory holding ``dotenv`` as ``.env``, with ``env``."""
    with tempfile.TemporaryDirectory() as cwd, pytest.MonkeyPatch.context() as mp:
        for name in Settings.model_fields:
            for key in (name, name.upper()):
                mp.delenv(key, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        mp.chdir(cwd)
        if dotenv:
            with open(os.path.join(cwd, ".env"), "w", encoding="utf-8") as f:
                f.write(dotenv)
        return _build(Settings, kwargs), _build(ChromaSettings, kwargs)


def _case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name.upper(), name, name.title()])


@st.composite
def sources(draw: st.DrawFn) -> tuple[dict, dict, str]:
    text = {**TEXT, **UNKNOWN_TEXT}
    env_fields = draw(st.lists(st.sampled_from(sorted(text)), max_size=4, unique=True))
    env = {draw(_case(f)): draw(st.sampled_from(text[f])) for f in env_fields}
    file_fields = draw(st.lists(st.sampled_from(sorted(text)), max_size=4, unique=True))
    lines = [f"{draw(_case(f))}={draw(st.sampled_from(text[f]))}" for f in file_fields]
    if lines and draw(st.booleans()):
        lines.insert(0, "# a comment")
    kw_fields = draw(st.lists(st.sampled_from(sorted(PY)), max_size=3, unique=True))
    kwargs = {f: draw(st.sampled_from(PY[f])) for f in kw_fields}
    return kwargs, env, "\n".join(lines) + ("\n" if lines else "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources())
def test_same_values_as_chroma(source):
    kwargs, env, dotenv = source
    ours, theirs = _in_env(kwargs, env, dotenv)
    if isinstance(theirs, tuple) or isinstance(ours, tuple):
        assert ours == theirs
        return
    given_telemetry = "anonymized_telemetry" in {k.lower() for k in env} or "anonymized_telemetry" in dotenv.lower()
    for name in SHARED:
        if name in OWN_DEFAULTS and not given_telemetry:
            continue
        assert ours[name] == theirs[name], name


def test_the_cases_of_the_issue():
    ours, theirs = _in_env({"allow_reset": False}, {"ALLOW_RESET": "TRUE"}, "")
    assert ours["allow_reset"] is False and theirs["allow_reset"] is False  # explicit beats the environment
    ours, _ = _in_env({}, {}, "ALLOW_RESET=TRUE\nCHROMA_SERVER_HTTP_PORT=8123\n")
    assert ours["allow_reset"] is True and ours["chroma_server_http_port"] == 8123  # .env read, int parsed
    ours, _ = _in_env({}, {"CHROMA_SERVER_CORS_ALLOW_ORIGINS": '["http://a","http://b"]'}, "")
    assert ours["chroma_server_cors_allow_origins"] == ["http://a", "http://b"]
    ours, _ = _in_env({"no_such_setting": 1}, {}, "")
    assert isinstance(ours, dict)  # ignored


def test_own_fields_follow_the_same_rules():
    with tempfile.TemporaryDirectory() as cwd, pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        mp.setenv("COMPACTION_THRESHOLD_ROWS", "123")
        mp.setenv("S3_CACHE_BYTES", "77")
        mp.setenv("DURABLE", "false")
        with open(".env", "w") as f:
            f.write("REFRESH_INTERVAL=2.5\nINDEX_BUILD_POLICY=manual\n")
        s = Settings(compaction_threshold_rows=50_000)
        assert (s.compaction_threshold_rows, s.s3_cache_bytes, s.durable) == (50_000, 77, False)
        assert (s.refresh_interval, s.index_build_policy) == (2.5, "manual")
        mp.setenv("INDEX_BUILD_POLICY", "never")
        with pytest.raises(ValueError, match="index_build_policy"):
            Settings()


def test_legacy_values_and_require_as_chroma():
    for cls in (Settings, ChromaSettings):
        s = cls(chroma_api_impl="chromadb.api.local.LocalAPI")
        with pytest.raises(ValueError, match="deprecated configuration of Chroma"):
            s["chroma_api_impl"]
        with pytest.raises(ValueError, match="Missing required config value 'chroma_server_host'"):
            s.require("chroma_server_host")


# -- Client(settings) and chroma_api_impl ----------------------------------------------------------


def _chroma_like_server() -> FakeHTTP:
    return FakeHTTP({
        "/api/v2/auth/identity": {"user_id": "", "tenant": "default_tenant", "databases": ["default_database"]},
        "/api/v2/tenants/default_tenant": {"name": "default_tenant"},
        "/api/v2/tenants/default_tenant/databases/default_database":
            {"id": "00000000-0000-0000-0000-000000000001", "name": "default_database", "tenant": "default_tenant"},
        "/api/v2/heartbeat": {"nanosecond heartbeat": 42},
    })


@pytest.mark.parametrize("make", [chroma_frame.Client, chroma_frame.AdminClient])
def test_fastapi_impl_gives_an_http_client(make):
    from chroma_frame.http_client import HttpClient

    with _chroma_like_server() as fake:
        client = make(Settings(chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host="127.0.0.1",
                               chroma_server_http_port=fake.port, chroma_server_headers={"X-Who": "me"}))
        assert isinstance(client, HttpClient)
        if hasattr(client, "heartbeat"):
            assert client.heartbeat() == 42
        assert fake.requests and all(r["headers"]["x-who"] == "me" for r in fake.requests)


def test_fastapi_impl_from_the_environment(monkeypatch, tmp_path):
    from chroma_frame.http_client import HttpClient

    monkeypatch.chdir(tmp_path)
    with _chroma_like_server() as fake:
        monkeypatch.setenv("CHROMA_API_IMPL", "chromadb.api.fastapi.FastAPI")
        monkeypatch.setenv("CHROMA_SERVER_HOST", "127.0.0.1")
        monkeypatch.setenv("CHROMA_SERVER_HTTP_PORT", str(fake.port))
        assert isinstance(chroma_frame.Client(), HttpClient)


@pytest.mark.parametrize("impl, message", [
    ("chromadb.api.fastapi.FastAPI", "Missing required config value 'chroma_server_host'"),
    ("chromadb.api.local.LocalAPI", "Unsupported Chroma API implementation chromadb.api.local.LocalAPI"),
    ("my.own.API", "Unsupported Chroma API implementation my.own.API"),
])
def test_api_impl_errors_as_chroma(impl, message):
    import chromadb

    for client, settings_cls in ((chroma_frame.Client, Settings), (chromadb.Client, ChromaSettings)):
        with pytest.raises(ValueError) as raised:
            client(settings_cls(chroma_api_impl=impl))
        assert str(raised.value) == message


def test_async_impl_names_the_async_client():
    with pytest.raises(ValueError, match="AsyncHttpClient"):
        chroma_frame.Client(Settings(chroma_api_impl="chromadb.api.async_fastapi.AsyncFastAPI",
                                     chroma_server_host="127.0.0.1", chroma_server_http_port=1))


@pytest.mark.parametrize("impl", ["chromadb.api.rust.RustBindingsAPI", "chromadb.api.segment.SegmentAPI"])
def test_in_process_impls(impl):
    client = chroma_frame.Client(Settings(chroma_api_impl=impl))
    assert isinstance(client, chroma_frame.Client)
    assert client.get_settings().chroma_api_impl == impl


def test_persistent_client_runs_in_process_whatever_the_impl(tmp_path):
    s = Settings(chroma_api_impl="chromadb.api.fastapi.FastAPI")
    client = chroma_frame.PersistentClient(str(tmp_path), settings=s)
    assert isinstance(client, chroma_frame.Client)
    assert s.chroma_api_impl == "chromadb.api.rust.RustBindingsAPI"  # as chromadb.PersistentClient sets it


def test_import_does_not_load_pydantic_settings():
    """Neither pydantic-settings nor pydantic (Settings and the collection model load on first use)."""
    import subprocess
    import sys

    code = "import sys, chroma_frame; print('pydantic_settings' in sys.modules or 'pydantic' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.stdout.strip() == "False"
