"""OpenTelemetry (the `otel` extra): a real `chroma-frame run` exporting to an OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Iterator

import httpx
import pytest

from chroma_frame.server import ServerConfig, create_app
from chroma_frame.server.telemetry import (
    INSTALL_HINT,
    TelemetryUnavailable,
    _exporters,
    options_of,
    protocol_for,
)
from tests.server.conftest import ROOT, Server

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
metrics_pb2 = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")

NO_OTEL_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("CHROMA_OTEL_", "OTEL_"))}


class Receiver:
    """An OTLP/HTTP collector: keeps the protobuf bodies POSTed to /v1/traces and /v1/metrics."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/metrics": []}
        self.content_types: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.content_types.add(self.headers.get("content-type", ""))
                known = self.path in receiver.bodies
                if known:
                    receiver.bodies[self.path].append(body)
                self.send_response(200 if known else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[object, object]]:
        """(resource, span) of every span received so far."""
        found = []
        for body in list(self.bodies["/v1/traces"]):
            request = trace_pb2.ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource_spans.resource, span) for span in scope_spans.spans)
        return found

    def metric_names(self) -> set[str]:
        names = set()
        for body in list(self.bodies["/v1/metrics"]):
            request = metrics_pb2.ExportMetricsServiceRequest.FromString(body)
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    names.update(m.name for m in scope_metrics.metrics)
        return names


def _wait(condition, timeout: float = 20.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the receiver")


def _attributes(span: object) -> dict[str, object]:
    values = {}
    for kv in span.attributes:  # type: ignore[attr-defined]
        value = kv.value
        values[kv.key] = getattr(value, value.WhichOneof("value"))
    return values


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def traced(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"CHROMA_OTEL_COLLECTION_ENDPOINT": receiver.url, "CHROMA_OTEL_SERVICE_NAME": "frame-under-test",
           "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "300"}
    server = Server(tmp_path_factory.mktemp("otel") / "data", [], env).start()
    yield server
    server.stop()


def test_error_trace_id_is_the_exported_span(traced: Server, receiver: Receiver) -> None:
    collection_id = str(uuid.uuid4())
    url = f"{traced.url}/api/v2/tenants/default_tenant/databases/default_database/collections/{collection_id}/get"
    response = httpx.post(url, json={})
    assert response.status_code == 404
    trace_id = response.headers["chroma-trace-id"]

    def ours():  # noqa: ANN202
        return [(r, s) for r, s in receiver.spans() if s.trace_id.hex() == trace_id]

    [(resource, span)] = _wait(ours)
    attributes = _attributes(span)
    route = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/get"
    assert span.name == f"POST {route}"
    assert attributes["http.route"] == route
    assert attributes["http.response.status_code"] == 404
    assert attributes["chroma.collection_id"] == collection_id
    assert attributes["chroma.operation"] == "collection_get"
    assert span.kind == span.SPAN_KIND_SERVER
    service = {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"]
    assert service == "frame-under-test"
    assert receiver.content_types == {"application/x-protobuf"}


def test_client_trace_context_is_continued(traced: Server) -> None:
    trace_id = uuid.uuid4().hex
    response = httpx.get(f"{traced.url}/api/v2/tenants/nobody",
                         headers={"traceparent": f"00-{trace_id}-{'ab' * 8}-01"})
    assert response.status_code == 404
    assert response.headers["chroma-trace-id"] == trace_id


def test_request_metrics_are_exported(traced: Server, receiver: Receiver) -> None:
    assert httpx.get(f"{traced.url}/api/v2/heartbeat").status_code == 200
    names = _wait(lambda: receiver.metric_names() >= {"chroma_frame.server.requests", "http.server.request.duration"}
                  and receiver.metric_names())
    assert {"chroma_frame.server.requests", "http.server.request.duration"} <= names


def _modules_after(code: str) -> list[str]:
    code += "\nimport sys; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**NO_OTEL_ENV, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # a printed list of names


def test_import_chroma_frame_does_not_import_opentelemetry() -> None:
    assert _modules_after("import chroma_frame, chroma_frame.cli, chroma_frame.server.telemetry") == []


def test_off_without_an_endpoint(tmp_path) -> None:
    """No SDK, no exporter, no middleware. (FastAPI >= 0.16x imports opentelemetry-api by itself,
    for its own telemetry, which stays off without providers: only the API may be loaded.)"""
    loaded = _modules_after("from chroma_frame.server import ServerConfig, create_app\n"
                            f"app = create_app(ServerConfig.from_env(path={str(tmp_path / 'db')!r}))\n"
                            "assert type(app).__name__ == 'BodyLimitMiddleware', app")
    assert not [m for m in loaded if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))]


def test_configured_without_the_extra_fails_at_startup(tmp_path) -> None:
    code = ("import sys\n"
            "sys.modules['opentelemetry.sdk'] = None  # as if the extra were not installed\n"
            "from chroma_frame.cli import main\n"
            f"sys.exit(main(['run', '--path', {str(tmp_path / 'db')!r}, '--port', '1']))\n")
    env = {**NO_OTEL_ENV, "PYTHONPATH": str(ROOT), "CHROMA_OTEL_COLLECTION_ENDPOINT": "http://127.0.0.1:4318"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert INSTALL_HINT in out.stderr
    assert not (tmp_path / "db").exists()  # refused before anything started


def test_create_app_refuses_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)  # the extra's SDK missing
    config = ServerConfig(path=str(tmp_path / "db"), chroma_otel_collection_endpoint="http://127.0.0.1:4318")
    with pytest.raises(TelemetryUnavailable, match=r"pip install 'chroma-frame\[otel\]'"):
        create_app(config)


def test_options_follow_chromas_settings(monkeypatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    assert options_of(ServerConfig()) is None
    assert options_of(ServerConfig(chroma_otel_collection_endpoint="http://c:4318", chroma_otel_granularity="none")) is None
    with pytest.raises(ValueError, match="chroma_otel_granularity must be one of"):
        options_of(ServerConfig(chroma_otel_collection_endpoint="http://c:4318", chroma_otel_granularity="some"))

    class FromSettings:  # a Settings object: read through getattr, for what the config leaves unset
        chroma_otel_collection_endpoint = "http://collector:4318"
        chroma_otel_collection_headers: ClassVar[dict[str, str]] = {"x-team": "k"}

    options = options_of(ServerConfig(), FromSettings())
    assert options is not None
    assert (options.endpoint, options.service_name, options.headers) == ("http://collector:4318", "chromadb",
                                                                          {"x-team": "k"})
    assert protocol_for("http://collector:4318") == "http/protobuf"
    assert protocol_for("http://otel-collector:4317") == "grpc"  # Chroma's sample configs
    assert protocol_for("api.honeycomb.com") == "grpc"  # no scheme: gRPC, as chromadb's exporter
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert protocol_for("http://collector:4318") == "grpc"


def test_grpc_exporters_are_chosen_for_grpc() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")
    options = options_of(ServerConfig(chroma_otel_collection_endpoint="http://127.0.0.1:4317"))
    assert options is not None and options.protocol == "grpc"
    spans, metrics = _exporters(options)
    assert type(spans).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
    assert type(metrics).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")


def test_route_of_requests_answered_before_routing() -> None:
    from chroma_frame.server.telemetry import _ids, route_of

    scope = {"path": "/api/v2/tenants/t1/databases/d1/collections/c1/query"}  # the query fast path
    assert route_of(scope) == ("/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/query", None)
    assert _ids(scope) == {"chroma.tenant": "t1", "chroma.database": "d1", "chroma.collection_id": "c1"}


def test_spans_and_metrics_are_flushed_when_the_server_stops(tmp_path) -> None:
    """With the SDK's default delays (5 s spans, 60 s metrics): SIGTERM ends uvicorn's process by
    the signal's default action, so the flush runs at the application's shutdown."""
    receiver = Receiver()
    try:
        server = Server(tmp_path / "data", [], {"CHROMA_OTEL_COLLECTION_ENDPOINT": receiver.url}).start()
        response = httpx.get(f"{server.url}/api/v2/tenants/nobody")
        server.stop()
        assert server.proc is not None and server.proc.returncode is not None
        trace_id = response.headers["chroma-trace-id"]
        assert [s.trace_id.hex() for _, s in receiver.spans()].count(trace_id) == 1
        assert "chroma_frame.server.requests" in receiver.metric_names()
    finally:
        receiver.server.shutdown()
