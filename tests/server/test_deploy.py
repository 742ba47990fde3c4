"""Deployment: `chroma-frame run CONFIG.yaml` (Chroma's server config file), the Dockerfile and the
compose example (parsed: there is no Docker engine here), docs/deploy.md's example."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from chroma_frame.cli import build_parser, cmd_run, run_config
from chroma_frame.server import ServerConfig, create_app
from chroma_frame.server.config import DEFAULT_MAX_BODY_BYTES
from chroma_frame.server.config_file import ConfigFileError, load_config_file
from tests.server.conftest import ROOT

COMPOSE_DIR = ROOT / "examples" / "compose"


def _run_args(*argv: str):  # noqa: ANN202
    args = build_parser().parse_args(["run", *argv])
    assert args.func is cmd_run
    return args


def _config(*argv: str, env: dict[str, str] | None = None, monkeypatch=None) -> ServerConfig:  # noqa: ANN001
    if monkeypatch is not None:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
    config, _ = run_config(_run_args(*argv))
    return config


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch) -> None:  # noqa: ANN001
    for key in ("PERSIST_DIRECTORY", "ALLOW_RESET", "CHROMA_SERVER_CORS_ALLOW_ORIGINS", "CHROMA_FRAME_REQUEST_TIMEOUT",
                "CHROMA_OTEL_COLLECTION_ENDPOINT", "CHROMA_OTEL_SERVICE_NAME", "CHROMA_OTEL_COLLECTION_HEADERS",
                "CHROMA_OTEL_GRANULARITY", "CHROMA_SERVER_AUTHN_PROVIDER", "CHROMA_SERVER_AUTHN_CREDENTIALS"):
        monkeypatch.delenv(key, raising=False)


# -- the config file -----------------------------------------------------------------------------


def test_chromas_single_node_config_maps_onto_server_config(tmp_path) -> None:
    """A config in the shape of Chroma's sample_configs/single_node_full.yaml."""
    path = _write(tmp_path, """
open_telemetry:
  service_name: "chroma"
  endpoint: "http://otel-collector:4317"
  filters:
    - crate_name: "chroma_frontend"
      filter_level: "trace"
port: 8123
listen_address: "0.0.0.0"
max_payload_size_bytes: 1048576
cors_allow_origins: ["*"]
persist_path: "./chroma-here"
allow_reset: true
sqlitedb:
  hash_type: "md5"
  migration_mode: "apply"
sysdb:
  sqlite:
    log_topic_namespace: "default"
""")
    loaded = load_config_file(path)
    assert loaded.values == {
        "chroma_otel_service_name": "chroma", "chroma_otel_collection_endpoint": "http://otel-collector:4317",
        "port": 8123, "host": "0.0.0.0", "max_body_bytes": 1048576, "cors_allow_origins": ("*",),
        "path": "./chroma-here", "allow_reset": True,
    }
    assert [w.split("'")[1] for w in loaded.warnings] == ["open_telemetry.filters", "sqlitedb", "sysdb"]
    assert all(w.startswith(f"{path}: '") and "ignored" in w and "\n" not in w for w in loaded.warnings)
    config = ServerConfig.from_env({}, loaded.values)
    assert (config.port, config.host, config.path, config.max_body_bytes) == (8123, "0.0.0.0", "./chroma-here", 1048576)


def test_empty_file_and_docker_single_node(tmp_path) -> None:
    assert load_config_file(_write(tmp_path, "")).values == {}
    assert load_config_file(_write(tmp_path, 'persist_path: "/data"\n')).values == {"path": "/data"}


@pytest.mark.parametrize("text, key, expected", [
    ("port: '8000'", "'port'", "a port number"),
    ("port: true", "'port'", "a port number"),
    ("port: 70000", "'port'", "a port number"),
    ("listen_address: 127", "'listen_address'", "a non-empty string"),
    ("max_payload_size_bytes: -1", "'max_payload_size_bytes'", "a positive integer"),
    ("cors_allow_origins: '*'", "'cors_allow_origins'", "a list of strings"),
    ("allow_reset: 'yes'", "'allow_reset'", "true or false"),
    ("persist_path: ''", "'persist_path'", "a non-empty string"),
    ("workers: 0", "'workers'", "a positive integer"),
    ("request_timeout: -2", "'request_timeout'", "a number of seconds"),
    ("log_level: loud", "'log_level'", "one of critical"),
    ("open_telemetry: {endpoint: 5}", "'open_telemetry.endpoint'", "a non-empty string"),
    ("open_telemetry: {endpoint: 'http://c', granularity: most}", "'open_telemetry.granularity'", "one of none"),
    ("open_telemetry: {endpoint: 'http://c', headers: [a]}", "'open_telemetry.headers'", "a mapping"),
    ("open_telemetry: {service_name: x}", "'open_telemetry.endpoint'", "is required"),
    ("open_telemetry: 'http://c'", "'open_telemetry'", "a mapping"),
    ("porrt: 8000", "unknown key 'porrt'", "known: allow_reset"),
    ("open_telemetry: {endpoint: 'http://c', sampler: x}", "unknown key 'open_telemetry.sampler'", "known: endpoint"),
    ("[1, 2]", "'the file'", "a mapping"),
    ("port: [", "not valid YAML", ""),
])
def test_bad_keys_and_types_are_refused_by_name(tmp_path, text, key, expected) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigFileError) as info:
        load_config_file(path)
    message = str(info.value)
    assert message.startswith(path) and key in message and expected in message, message


def test_cli_reports_a_bad_file_in_one_line(tmp_path, capsys) -> None:
    from chroma_frame.cli import main

    path = _write(tmp_path, "port: high\n")
    assert main(["run", path]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"chroma-frame: error: {path}: 'port' must be a port number (1-65535), got str 'high'"
    assert main(["run", str(tmp_path / "missing.yaml")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "chroma").exists()


def test_precedence_flags_over_file_over_env_over_defaults(tmp_path, monkeypatch) -> None:
    path = _write(tmp_path, "port: 8001\npersist_path: /from/file\nallow_reset: false\n")
    env = {"PERSIST_DIRECTORY": "/from/env", "CHROMA_FRAME_REQUEST_TIMEOUT": "7", "ALLOW_RESET": "TRUE"}
    config = _config(path, env=env, monkeypatch=monkeypatch)
    assert (config.port, config.path, config.request_timeout) == (8001, "/from/file", 7.0)  # file > env > default
    assert config.allow_reset is False  # the file said false: the environment's TRUE loses
    assert config.host == "127.0.0.1" and config.log_level == "warning"  # defaults
    config = _config(path, "--port", "9000", "--path", "/from/flag", "--allow-reset", env=env, monkeypatch=monkeypatch)
    assert (config.port, config.path, config.allow_reset) == (9000, "/from/flag", True)
    assert _config("--config-path", path).port == 8001
    assert _config("--config_path", path).port == 8001
    assert _config(env=env, monkeypatch=monkeypatch).path == "/from/env"  # no file: env > default


def test_two_different_config_files_are_refused(tmp_path) -> None:
    from chroma_frame.cli import CLIError

    path = _write(tmp_path, "port: 8001\n")
    with pytest.raises(CLIError, match="two config files"):
        run_config(_run_args(path, "--config-path", path + ".other"))


@pytest.mark.parametrize("raw, expected", [
    ('["http://a","http://b"]', ("http://a", "http://b")),  # JSON, as chromadb's pydantic Settings read it
    ('[ "http://a" , "http://b,c" ]', ("http://a", "http://b,c")),
    ("http://a, http://b", ("http://a", "http://b")),
    ("[http://a,http://b]", ("http://a", "http://b")),
    ('["*"]', ("*",)),
    ("*", ("*",)),
])
def test_cors_origins_from_the_environment(raw, expected) -> None:
    assert ServerConfig.from_env({"CHROMA_SERVER_CORS_ALLOW_ORIGINS": raw}).cors_allow_origins == expected


def test_cors_json_list_of_non_strings_is_refused() -> None:
    with pytest.raises(ValueError, match="CHROMA_SERVER_CORS_ALLOW_ORIGINS must be a JSON list of strings"):
        ServerConfig.from_env({"CHROMA_SERVER_CORS_ALLOW_ORIGINS": "[1, 2]"})


def test_otel_settings_from_the_environment() -> None:
    config = ServerConfig.from_env({"CHROMA_OTEL_COLLECTION_ENDPOINT": "http://c:4318", "CHROMA_OTEL_SERVICE_NAME": "s",
                                    "CHROMA_OTEL_COLLECTION_HEADERS": '{"x-team": "k"}',
                                    "CHROMA_OTEL_GRANULARITY": "operation"})
    assert (config.chroma_otel_collection_endpoint, config.chroma_otel_service_name,
            config.chroma_otel_collection_headers, config.chroma_otel_granularity) == (
        "http://c:4318", "s", {"x-team": "k"}, "operation")
    assert ServerConfig.from_env({"CHROMA_OTEL_COLLECTION_HEADERS": "a=1, b=2"}).chroma_otel_collection_headers == {
        "a": "1", "b": "2"}
    with pytest.raises(ValueError, match="CHROMA_OTEL_COLLECTION_HEADERS"):
        ServerConfig.from_env({"CHROMA_OTEL_COLLECTION_HEADERS": "{nope"})
    defaults = ServerConfig.from_env({})
    assert defaults.chroma_otel_collection_endpoint is None and defaults.chroma_otel_service_name == "chromadb"


def _docs_example() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text.split("### Config file", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S)[1]


def test_docs_full_example_loads_and_covers_every_key(tmp_path) -> None:
    from chroma_frame.server.config_file import KEYS, OPEN_TELEMETRY_KEYS

    document = yaml.safe_load(_docs_example())
    loaded = load_config_file(_write(tmp_path, _docs_example()))
    assert loaded.warnings == []
    assert set(document) | {"auth_credentials"} == set(KEYS) | {"open_telemetry"}  # auth_credentials: see the text
    assert set(document["open_telemetry"]) == set(OPEN_TELEMETRY_KEYS)
    config = ServerConfig.from_env({}, loaded.values)
    assert (config.path, config.host, config.port, config.max_body_bytes) == ("/data", "0.0.0.0", 8000,
                                                                            DEFAULT_MAX_BODY_BYTES)
    assert config.cors_allow_origins == ("https://app.example.com",)
    assert config.chroma_otel_collection_headers == {"x-honeycomb-team": "KEY"}
    assert (config.workers, config.request_timeout, config.log_level, config.token_header) == (2, 60.0, "info",
                                                                                           "Authorization")


# -- Dockerfile and compose ---------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "a continuation line ends the file"
    return instructions


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, list[str]]:
    by_name: dict[str, list[str]] = {}
    for keyword, arguments in dockerfile_instructions(ROOT / "Dockerfile"):
        by_name.setdefault(keyword, []).append(arguments)
    return by_name


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


def _status_of(path: str, tmp_path_factory: pytest.TempPathFactory) -> int:
    from starlette.testclient import TestClient

    app = create_app(ServerConfig(path=str(tmp_path_factory.mktemp("routes") / "db"), auth_provider="token",
                                  auth_credentials="secret"))  # a health check carries no credentials
    with TestClient(app) as client:
        return client.get(path).status_code


def test_dockerfile_base_user_and_command(dockerfile) -> None:
    [base] = dockerfile["FROM"]
    assert re.fullmatch(r"python:3\.1[0-9]+-slim(-\w+)?", base), base
    [user] = dockerfile["USER"]
    assert user not in ("root", "0") and not user.startswith("0:")
    [cmd] = dockerfile["CMD"]
    argv = _exec_form(cmd)
    assert argv[0] == "chroma-frame"
    config = _config(*argv[2:]) if argv[1] == "run" else pytest.fail(f"CMD is not `chroma-frame run`: {argv}")
    assert [v.strip('"') for v in dockerfile["VOLUME"]] == [config.path] == ["/data"]
    assert dockerfile["EXPOSE"] == [str(config.port)]
    assert config.host == "0.0.0.0"


def test_dockerfile_healthcheck_polls_a_served_route(dockerfile, tmp_path_factory) -> None:
    [healthcheck] = dockerfile["HEALTHCHECK"]
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    url = re.search(r"https?://[^'\" ]+", command)[0]
    assert url.startswith("http://127.0.0.1:" + dockerfile["EXPOSE"][0] + "/")
    path = "/" + url.split("/", 3)[3]
    assert path == "/api/v2/heartbeat" and _status_of(path, tmp_path_factory) == 200
    argv = _exec_form(command)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")  # the probe is valid Python


def test_dockerfile_installs_this_repository(dockerfile) -> None:
    [workdir, *_] = dockerfile["WORKDIR"]
    copied = set()
    for copy in dockerfile["COPY"]:
        *sources, target = shlex.split(copy)
        assert target.startswith(("./", workdir)), copy
        copied.update(s.rstrip("/") for s in sources)
    for source in copied:
        assert (ROOT / source).exists(), source
    pyproject = (ROOT / "pyproject.toml").read_text()
    readme = re.search(r'^readme = "([^"]+)"', pyproject, re.M)[1]
    assert {"pyproject.toml", "setup.py", "chroma_frame", "sql", readme} <= copied  # setup.py packs sql/
    [install] = [run for run in dockerfile["RUN"] if "pip install" in run]
    target = shlex.split(install.split("pip install", 1)[1].split("&&")[0])[0]
    assert re.fullmatch(re.escape(workdir) + r"(\$\{EXTRAS:\+\[\$EXTRAS\]\})?", target), target
    assert "EXTRAS" in " ".join(dockerfile["ARG"])


def test_compose_server_agrees_with_the_dockerfile(compose, dockerfile) -> None:
    service = compose["services"]["chroma"]
    assert (COMPOSE_DIR / service["build"]["context"] / "Dockerfile").resolve() == (ROOT / "Dockerfile").resolve()
    argv = service["command"]
    assert argv[:2] == ["chroma-frame", "run"]
    args = _run_args(*argv[2:])
    mounts = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[target] = source
    # the config file the command names is mounted from this folder, and valid
    assert args.config in mounts, (args.config, mounts)
    local = COMPOSE_DIR / mounts[args.config]
    assert local.is_file()
    loaded = load_config_file(str(local))
    assert loaded.warnings == []
    config = ServerConfig.from_env({}, loaded.values)
    # the data volume is the Dockerfile's VOLUME and the served path; the port is the exposed one
    data_volume = mounts[config.path]
    assert config.path == dockerfile["VOLUME"][0].strip('"')
    assert data_volume in compose["volumes"]
    assert config.host == "0.0.0.0"
    published = [p.split(":")[-1] for p in service["ports"]]
    assert published == [str(config.port)] == dockerfile["EXPOSE"]
    assert "CHROMA_OTEL_COLLECTION_ENDPOINT" in service["environment"]
    assert "otel" in service["build"]["args"]["EXTRAS"].split(",")


def test_compose_otel_collector_is_an_optional_profile(compose) -> None:
    collector = compose["services"]["otel-collector"]
    assert collector["profiles"] == ["otel"]
    [mount] = collector["volumes"]
    source, target, *_ = mount.split(":")
    assert f"--config={target}" in collector["command"]
    config = yaml.safe_load((COMPOSE_DIR / source).read_text())
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http.endswith(":4318") and "4318:4318" in collector["ports"]
    for pipeline in ("traces", "metrics"):
        assert config["service"]["pipelines"][pipeline]["receivers"] == ["otlp"]
    # the endpoint the compose file's comment and docs/deploy.md give is this collector's HTTP receiver
    endpoint = "http://otel-collector:4318"
    assert endpoint in (COMPOSE_DIR / "compose.yaml").read_text()
    assert endpoint in (ROOT / "docs" / "deploy.md").read_text()
