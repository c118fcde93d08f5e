"""The one place where httpx's (and anyio's) exceptions become agentkit's errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from ._exceptions import APIConnectionError, TruncatedStreamError
from ._policy import Clock

__all__ = ["translate"]


@contextmanager
def translate(clock: Clock, streaming: Callable[[], bool], secret: str) -> Iterator[None]:
    """Raise agentkit's error for any httpx error (or timeout) raised inside the block.

    Args:
        clock: The attempt's clock: it names the time limit that expired.
        streaming: Whether an event stream had started when the error came (a connection
            lost then is a broken stream, not a failed connection).
        secret: The API key, scrubbed out of the error's text (which may quote what the
            server sent).
    """
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise clock.expired("connect") from exc
    except httpx.PoolTimeout as exc:  # waited for a free connection as long as `total`
        raise clock.expired("total") from exc
    except httpx.WriteTimeout as exc:
        raise clock.expired("idle") from exc
    except (httpx.ReadTimeout, TimeoutError) as exc:
        raise clock.expired() from exc
    except httpx.TransportError as exc:  # refused, reset, DNS, TLS, protocol errors
        text = str(exc) or type(exc).__name__
        if secret:
            text = text.replace(secret, "***")
        if streaming():
            raise TruncatedStreamError(f"The stream broke before it was complete: {text}") from exc
        raise APIConnectionError(f"Connection to {_host(exc)} failed: {text}") from exc


def _host(exc: httpx.TransportError) -> str:
    try:
        return exc.request.url.host
    except RuntimeError:  # an error raised without its request
        return "the server"
