"""Attachable functions (``chromadb.api.functions``): Chroma Cloud runs them on a collection's
writes. The embedded client refuses them as Chroma's embedded mode does; ``HttpClient`` sends them
to the server, which answers as ``chroma run`` does (501)."""

from enum import Enum


class Function(str, Enum):
    """Available functions that can be attached to collections."""

    STATISTICS = "statistics"
    RECORD_COUNTER = "record_counter"


STATISTICS_FUNCTION = Function.STATISTICS
RECORD_COUNTER_FUNCTION = Function.RECORD_COUNTER

__all__ = ["Function", "STATISTICS_FUNCTION", "RECORD_COUNTER_FUNCTION"]
