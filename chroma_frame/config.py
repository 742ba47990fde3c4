"""The default tenant and database; ``Settings`` and the rest of ``chroma_frame.settings``.

``chroma_frame.settings`` (a pydantic-settings model) is imported on first use, so ``import
chroma_frame`` does not pay for pydantic-settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chroma_frame.settings import Settings as Settings

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # the import system's probes (__path__, __all__, ...): no load
        raise AttributeError(name)
    from chroma_frame import settings

    if name in settings.__all__:
        return getattr(settings, name)
    raise AttributeError(f"module 'chroma_frame.config' has no attribute {name!r}")
