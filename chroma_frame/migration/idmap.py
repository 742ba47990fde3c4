"""Chroma's HNSW id map (``index_metadata.pickle``) read as plain data, never unpickled.

Chroma 1.x (Rust) writes the map from record ids to hnswlib labels with ``serde_pickle``: a dict of
dicts, strings, integers and None. :func:`read_id_map` walks the file's opcodes with
:func:`pickletools.genops` (a parser: it imports, calls and builds nothing) and interprets only the
opcodes that make such values. Any other opcode (a class, a call, an extension: what pickles from
chromadb < 1.0 hold) is refused with :class:`IdMapError`.
"""

from __future__ import annotations

import pickletools
from typing import Any, BinaryIO

_MARK = object()
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_DICT": dict, "EMPTY_LIST": list,
              "EMPTY_TUPLE": tuple}
_SCALARS = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG", "BINFLOAT", "FLOAT", "BINUNICODE",
            "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"}
_FRAMING = {"PROTO", "FRAME"}
_PUTS = {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}


class IdMapError(ValueError):
    """The id map is not plain data that Chroma 1.x writes."""


def _pop_mark(stack: list) -> list:
    for at in range(len(stack) - 1, -1, -1):
        if stack[at] is _MARK:
            items = stack[at + 1:]
            del stack[at:]
            return items
    raise IdMapError("malformed pickle: no MARK")


def decode(stream: BinaryIO) -> Any:
    """The value a data-only pickle holds (dicts, lists, tuples, str, bytes, int, float, bool, None)."""
    stack: list = []
    memo: dict[Any, Any] = {}
    for opcode, arg, _pos in pickletools.genops(stream):
        name = opcode.name
        if name in _CONSTANTS:
            value = _CONSTANTS[name]
            stack.append(value() if isinstance(value, type) else value)
        elif name in _SCALARS:
            stack.append(arg)
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = _pop_mark(stack)
            stack[-1].update(zip(items[::2], items[1::2]))
        elif name == "APPEND":
            value = stack.pop()
            stack[-1].append(value)
        elif name == "APPENDS":
            items = _pop_mark(stack)
            stack[-1].extend(items)
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack)))
        elif name in _FRAMING:
            continue
        elif name in _PUTS:
            memo[len(memo) if arg is None else arg] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "STOP":
            if len(stack) != 1:
                raise IdMapError("malformed pickle: the stack does not end with one value")
            return stack[0]
        else:
            raise IdMapError(f"the pickle holds a {name} opcode (objects or calls), not the plain data "
                             "Chroma 1.x writes: not read (chroma-frame never unpickles); an index last "
                             "written by chromadb 0.x is upgraded by opening it once with chromadb 1.x")
    raise IdMapError("malformed pickle: no STOP")


def read_id_map(path: str) -> dict[str, Any]:
    """Chroma's ``IdMap`` (``id_to_label``, ``label_to_id``, ``total_elements_added``, ``max_seq_id``, ...)."""
    try:
        with open(path, "rb") as f:
            value = decode(f)
    except (ValueError, KeyError, IndexError, TypeError) as e:  # genops' own errors are ValueError
        if isinstance(e, IdMapError):
            raise IdMapError(f"{path}: {e}") from None
        raise IdMapError(f"{path}: not a readable id map ({e})") from None
    if not isinstance(value, dict) or not isinstance(value.get("id_to_label"), dict):
        raise IdMapError(f"{path}: not Chroma 1.x's id map (no id_to_label dict)")
    return value
