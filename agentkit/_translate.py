"""The one place where httpx's (and anyio's) exceptions become agentkit's errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ._exceptions import APIConnectionError, TruncatedStreamError
from ._policy import Clock

__all__ = ["translate"]


class translate:  # lower case, as `contextlib.suppress`: it reads `with translate(...):`
    """Raise agentkit's error for any httpx error (or timeout) raised inside the block.

    A class rather than a `@contextmanager` generator: it is entered once per attempt, and
    a generator-based context manager costs several times more to make and enter.

    Args:
        clock: The attempt's clock: it names the time limit that expired.
        streaming: Whether an event stream had started when the error came (a connection
            lost then is a broken stream, not a failed connection).
        secret: The API key, scrubbed out of the error's text (which may quote what the
            server sent).
    """

    __slots__ = ("clock", "secret", "streaming")

    def __init__(self, clock: Clock, streaming: Callable[[], bool], secret: str) -> None:
        self.clock = clock
        self.streaming = streaming
        self.secret = secret

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or not isinstance(exc, httpx.TransportError | TimeoutError):
            return  # nothing raised, or not ours to translate
        clock = self.clock
        if isinstance(exc, httpx.ConnectTimeout):
            raise clock.expired("connect") from exc
        if isinstance(exc, httpx.PoolTimeout):  # waited for a free connection as long as `total`
            raise clock.expired("total") from exc
        if isinstance(exc, httpx.WriteTimeout):
            raise clock.expired("idle") from exc
        if isinstance(exc, httpx.ReadTimeout | TimeoutError):
            raise clock.expired() from exc
        # refused, reset, DNS, TLS, protocol errors
        text = str(exc) or type(exc).__name__
        if self.secret:
            text = text.replace(self.secret, "***")
        if self.streaming():
            raise TruncatedStreamError(f"The stream broke before it was complete: {text}") from exc
        raise APIConnectionError(f"Connection to {_host(exc)} failed: {text}") from exc


def _host(exc: httpx.TransportError) -> str:
    try:
        return exc.request.url.host
    except RuntimeError:  # an error raised without its request
        return "the server"
