"""The library's logger: structlog events named `agentkit.*`, never configured here.

An application that configures structlog gets agentkit's events through its own pipeline. One
that does not would, with structlog's defaults, see every event printed to standard output;
a library must not do that. So until structlog is configured, events go to the standard
`logging` logger `"agentkit"`, which shows warnings and errors only, as Python's default
logging does. Nothing is configured either way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["logger", "logger_at"]

_stdlib = logging.getLogger("agentkit")


class _StdlibEvents:
    """structlog's call shape (`log.info("event", key=value)`) on the stdlib logger.

    A disabled level costs one `isEnabledFor` check: the hot path of every request logs at
    debug and info, which an unconfigured application never shows.
    """

    __slots__ = ()

    @staticmethod
    def _emit(level: int, event: str, fields: dict[str, Any]) -> None:
        if _stdlib.isEnabledFor(level):
            text = " ".join(f"{key}={value!r}" for key, value in fields.items())
            _stdlib.log(level, f"{event} {text}" if text else event)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, event, fields)


_fallback = _StdlibEvents()


def logger() -> Any:
    """The logger to emit `agentkit.*` events with (checked per call: config may come later).

    structlog is not imported here (25 ms at start-up): an application that configures it has
    imported it already, so one that has not imported it gets the fallback.
    """
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        return structlog.get_logger("agentkit")
    return _fallback


def logger_at(level: int) -> Any | None:
    """The logger if an event of `level` may be shown, else `None`: the caller skips the event.

    For the events of every request, whose fields cost more to gather than a check: without
    structlog configured and with the stdlib logger quiet at `level`, nothing is built.
    """
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        return structlog.get_logger("agentkit")
    return _fallback if _stdlib.isEnabledFor(level) else None
