"""Names of collections, tenants and databases (Chroma's Rust ``validate_name`` and its kin)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from chroma_frame.errors import InvalidArgumentError
from chroma_frame.validation.rust import check_string_argument, raise_field_errors, rust_str

_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


def check_collection_name(name: Any, field: str = "name") -> None:
    check_string_argument(name, field)
    raise_field_errors([(field, name_error(name))])


def check_tenant_name(name: Any) -> None:
    check_string_argument(name, "name")
    if len(name) < 3:
        found = f'[{{"value": String({rust_str(name)}), "min": Number(3)}}]'
        raise InvalidArgumentError(f"Validation error: name: Validation error: length {found}")


def check_database_name(name: Any) -> None:
    check_string_argument(name, "name")
    if len(name.encode()) < 3:
        raise InvalidArgumentError("database name must be at least 3 characters")


def name_error(name: str) -> str | None:
    """Rust ``validate_name``, with its ``topology+name`` form."""
    if "+" in name:
        if len(name) > 512:
            return f"Expected a name containing 3-512 characters. Got: {len(name)}"
        topology, rest = name.split("+", 1)
        if "+" in rest:
            return "Expected a name to contain at most one topology:  Got two `+` characters."
        return name_error(topology) or name_error(rest)
    if not _NAME_RE.fullmatch(name):
        return (
            "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], "
            f"starting and ending with a character in [a-zA-Z0-9]. Got: {name}"
        )
    if ".." in name:
        return f"Expected a name that does not contains two consecutive periods (..). Got {name}"
    if _is_ip_address(name):
        return f"Expected a name that is not a valid ip address. Got {name}"
    return None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
