"""The library's logger: structlog events named `agentkit.*`, never configured here.

An application that configures structlog gets agentkit's events through its own pipeline. One
that does not would, with structlog's defaults, see every event printed to standard output;
a library must not do that. So until structlog is configured, events go to the standard
`logging` logger `"agentkit"`, which shows warnings and errors only, as Python's default
logging does. Nothing is configured either way.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["logger"]

_stdlib = logging.getLogger("agentkit")


def _to_stdlib(_: Any, __: str, event_dict: structlog.typing.EventDict) -> str:
    event = event_dict.pop("event")
    fields = " ".join(f"{key}={value!r}" for key, value in event_dict.items())
    return f"{event} {fields}" if fields else str(event)


_fallback = structlog.wrap_logger(
    _stdlib,
    # filter_by_level drops disabled events before any formatting work is done.
    processors=[structlog.stdlib.filter_by_level, _to_stdlib],
    wrapper_class=structlog.stdlib.BoundLogger,
)


def logger() -> Any:
    """The logger to emit `agentkit.*` events with (checked per call: config may come later)."""
    if structlog.is_configured():
        return structlog.get_logger("agentkit")
    return _fallback
