"""OpenTelemetry tracing and metrics for the server: the optional ``otel`` extra.

Configured with Chroma's settings names (``chroma_otel_collection_endpoint``,
``chroma_otel_service_name``, ``chroma_otel_collection_headers``, ``chroma_otel_granularity``;
environment variables of the same names in upper case, or ``open_telemetry:`` in the config
file). Off unless an endpoint is set; nothing here imports ``opentelemetry`` until then.

With an endpoint, every HTTP request is one server span (named ``METHOD /route``, with the route's
operation, status and collection id) whose trace id is the ``chroma-trace-id`` header of an error
response (:func:`chroma_frame.server.tracing.current_trace_id` reads the active span), and two
metrics: a request counter and a latency histogram, by route, method and status.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlparse

SETTINGS = ("chroma_otel_collection_endpoint", "chroma_otel_service_name", "chroma_otel_collection_headers",
            "chroma_otel_granularity")
# Chroma's OpenTelemetryGranularity values. Here any but "none" gives one span per request.
GRANULARITIES = ("none", "operation", "operation_and_segment", "all")
INSTALL_HINT = "pip install 'chroma-frame[otel]'"
# OTLP over gRPC: OpenTelemetry's standard switch, or the gRPC port (Chroma's sample configs use 4317)
PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"
_EXPORTERS = {"grpc": "opentelemetry.exporter.otlp.proto.grpc",
              "http/protobuf": "opentelemetry.exporter.otlp.proto.http"}


class TelemetryUnavailable(RuntimeError):
    """Telemetry is configured but the ``otel`` extra is not installed."""


@dataclass(frozen=True)
class TelemetryOptions:
    endpoint: str
    service_name: str = "chromadb"
    headers: dict[str, str] = field(default_factory=dict)
    protocol: str = "http/protobuf"  # or "grpc"


def options_of(*sources: Any) -> Optional[TelemetryOptions]:
    """The telemetry options from the first of ``sources`` (ServerConfig, Settings) to set each
    of Chroma's ``chroma_otel_*`` names; None when there is no endpoint or granularity is "none"."""
    values = {name: next((v for v in (getattr(s, name, None) for s in sources) if v), None) for name in SETTINGS}
    endpoint = values["chroma_otel_collection_endpoint"]
    granularity = values["chroma_otel_granularity"] or "operation"
    if granularity not in GRANULARITIES:
        raise ValueError(f"chroma_otel_granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    if not endpoint or granularity == "none":
        return None
    return TelemetryOptions(endpoint=endpoint, service_name=values["chroma_otel_service_name"] or "chromadb",
                            headers=dict(values["chroma_otel_collection_headers"] or {}),
                            protocol=protocol_for(endpoint))


def protocol_for(endpoint: str) -> str:
    """``grpc`` for ``$OTEL_EXPORTER_OTLP_PROTOCOL=grpc``, a ``grpc://`` endpoint or port 4317;
    else ``http/protobuf`` (OTLP/HTTP, port 4318)."""
    chosen = os.environ.get(PROTOCOL_ENV, "").strip().lower()
    if chosen in _EXPORTERS:
        return chosen
    url = urlparse(endpoint if "://" in endpoint else f"grpc://{endpoint}")
    return "grpc" if url.scheme == "grpc" or url.port == 4317 else "http/protobuf"


def require(options: Optional[TelemetryOptions]) -> None:
    """Raise :class:`TelemetryUnavailable` when ``options`` need packages that are not installed."""
    if options is None:
        return
    for module in ("opentelemetry.sdk", _EXPORTERS[options.protocol]):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise TelemetryUnavailable(
                f"OpenTelemetry is configured (endpoint {options.endpoint}) but {module} is not installed: "
                f"{INSTALL_HINT}")


def instrument(app: Any, options: TelemetryOptions) -> Any:
    """``app`` wrapped in :class:`RequestTelemetry`, exporting to ``options.endpoint``."""
    require(options)
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    span_exporter, metric_exporter = _exporters(options)
    resource = Resource.create({SERVICE_NAME: options.service_name})
    # Not the global providers (FastAPI's own telemetry would start on them)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter)])

    def flush() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown(timeout_millis=5000)

    return RequestTelemetry(app, tracer_provider.get_tracer("chroma_frame.server"),
                            meter_provider.get_meter("chroma_frame.server"), flush)


def _exporters(options: TelemetryOptions) -> tuple[Any, Any]:
    if options.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kwargs: dict[str, Any] = {"endpoint": options.endpoint, "headers": options.headers or None}
        return OTLPSpanExporter(**kwargs), OTLPMetricExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HTTPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter

    base = re.sub(r"/v1/(traces|metrics)/?$", "", options.endpoint.rstrip("/"))
    headers = options.headers or None
    return (HTTPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers),
            HTTPMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers))


_SEGMENTS = re.compile(r"/(tenants|databases|collections)/([^/]+)")
_PLACEHOLDERS = {"tenants": "{tenant}", "databases": "{database}", "collections": "{collection_id}"}


def route_of(scope: dict) -> tuple[str, Optional[str]]:
    """The route template and operation of a request (after the app ran); requests answered
    before routing (the query fast path, unknown paths) get their path with the ids replaced."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if template:
        return template, getattr(route, "operation_id", None) or getattr(route, "name", None)
    return _SEGMENTS.sub(lambda m: f"/{m[1]}/{_PLACEHOLDERS[m[1]]}", scope["path"]), None


def _ids(scope: dict) -> dict[str, str]:
    params = scope.get("path_params") or {}
    found = {m[1]: m[2] for m in _SEGMENTS.finditer(scope["path"])}
    ids = {"chroma.tenant": params.get("tenant") or found.get("tenants"),
           "chroma.database": params.get("database") or found.get("databases"),
           "chroma.collection_id": params.get("collection_id") or found.get("collections")}
    return {k: v for k, v in ids.items() if v}


class RequestTelemetry:
    """ASGI middleware, outermost: one server span per HTTP request (continuing a W3C
    ``traceparent`` the client sent), a request counter and a latency histogram. ``flush`` runs
    when the application shuts down: uvicorn ends the process on SIGTERM's default action, so
    the SDK's exit hooks never run."""

    def __init__(self, app: Any, tracer: Any, meter: Any, flush: Callable[[], None] = lambda: None) -> None:
        from opentelemetry import propagate, trace

        self.app = app
        self.tracer = tracer
        self.flush = flush
        self._trace = trace
        self._propagate = propagate
        self.requests = meter.create_counter("chroma_frame.server.requests", unit="{request}",
                                             description="HTTP requests answered")
        self.duration = meter.create_histogram("http.server.request.duration", unit="s",
                                               description="Duration of HTTP requests")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flushing(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees when the app fails before answering

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        started = time.perf_counter()
        with self.tracer.start_as_current_span(method, context=self._propagate.extract(carrier),
                                               kind=self._trace.SpanKind.SERVER,
                                               attributes={"http.request.method": method,
                                                           "url.path": scope["path"]}) as span:
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                route, operation = route_of(scope)
                span.update_name(f"{method} {route}")
                span.set_attributes({"http.route": route, "http.response.status_code": status, **_ids(scope),
                                     **({"chroma.operation": operation} if operation else {})})
                if status >= 500:
                    span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
                labels = {"http.request.method": method, "http.route": route, "http.response.status_code": status}
                self.requests.add(1, labels)
                self.duration.record(time.perf_counter() - started, labels)

    def _flushing(self, send: Any) -> Any:
        async def send_after_flush(message: dict) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await asyncio.to_thread(self.flush)
            await send(message)

        return send_after_flush


__all__ = ["GRANULARITIES", "INSTALL_HINT", "RequestTelemetry", "TelemetryOptions", "TelemetryUnavailable",
           "instrument", "options_of", "require"]
