"""Trace ids for error responses (the ``chroma-trace-id`` header Chroma's clients read into
``ChromaError.trace_id``): the current OpenTelemetry trace when tracing is on, else a fresh id."""

from __future__ import annotations

import sys
import uuid


def current_trace_id() -> str:
    """32 hex digits: the active span's trace id, or a random one when there is none."""
    trace = sys.modules.get("opentelemetry.trace")  # only when tracing was set up: never imported here
    if trace is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            return format(context.trace_id, "032x")
    return uuid.uuid4().hex
