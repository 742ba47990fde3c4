"""How Chroma's Rust core words its errors: PyO3 argument conversion, the ``validator`` crate's
field errors, Rust's debug formatting, and the integer bounds of its types."""

from __future__ import annotations

from typing import Any

from chroma_frame.errors import InvalidArgumentError

U32_MAX = 2**32 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def raise_field_errors(errors: list[tuple[str, str | None]]) -> None:
    """Rust ``validator``'s message: one ``field: message`` line per failing field."""
    lines = [f"{field}: {message}" for field, message in errors if message]
    if lines:
        raise InvalidArgumentError("Validation error: " + "\n".join(lines))


def check_string_argument(value: Any, argument: str) -> None:
    """PyO3's conversion of one ``str`` argument."""
    if not isinstance(value, str):
        raise TypeError(f"argument '{argument}': '{type(value).__name__}' object cannot be converted to 'PyString'")


def check_strings_convertible(values: list | None, argument: str, allow_none: bool = False) -> None:
    """PyO3's conversion of a list of ``str`` (``Option<String>`` items with ``allow_none``)."""
    for value in values or ():
        if not isinstance(value, str) and not (allow_none and value is None):
            raise TypeError(f"argument '{argument}': '{type(value).__name__}' object cannot be converted to 'PyString'")


def rust_str(value: str) -> str:
    """A string as Rust's ``{:?}`` prints it (enough for messages)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return '"' + "".join(escapes.get(ch, ch) for ch in value) + '"'
