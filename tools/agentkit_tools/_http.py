"""The one place the tools make HTTP clients: timeouts, a User-Agent, errors, and a test seam.

Tools are sync functions (the agent runs them in worker threads), so this makes
`httpx.Client`s: one per call, closed when the call ends. Tests send every request through an
`httpx.MockTransport` with `use_transport`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from agentkit import __version__

__all__ = ["TIMEOUT", "USER_AGENT", "ServiceError", "get_json", "make_client", "use_transport"]

USER_AGENT = f"agentkit-tools/{__version__} (+https://pypi.org/project/goapi-agentkit/)"
"""Sent with every request (Wikipedia and others ask clients to say who they are)."""

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
"""Per-operation limits: five seconds to connect, ten for each read, write or pool wait."""

_transport: httpx.BaseTransport | None = None


class ServiceError(Exception):
    """A web service a tool relies on failed: unreachable, slow, erring, or unreadable.

    Not something the model can fix by changing its arguments; the agent sends the text to
    the model as the call's error (or raises it, with `on_tool_error="raise"`).
    """


def make_client(
    *, timeout: httpx.Timeout | float = TIMEOUT, follow_redirects: bool = False
) -> httpx.Client:
    """A new client with the tools' timeouts and User-Agent (and the test transport, if set).

    Redirects are not followed unless asked: `fetch_url` checks each hop itself.
    """
    return httpx.Client(
        transport=_transport,
        timeout=timeout,
        follow_redirects=follow_redirects,
        headers={"User-Agent": USER_AGENT},
    )


@contextlib.contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Send the requests of every tool through `transport` while the block runs.

    Examples:
        >>> import httpx
        >>> def answer(request: httpx.Request) -> httpx.Response:
        ...     return httpx.Response(200, json={"ok": True})
        >>> with use_transport(httpx.MockTransport(answer)):
        ...     get_json("https://api.example.test/v1", {}, service="Example")
        {'ok': True}
    """
    global _transport  # the seam is deliberately module-wide
    previous, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = previous


def get_json(
    url: str,
    params: Mapping[str, str | int | float],
    *,
    service: str,
    follow_redirects: bool = True,
    ok_statuses: tuple[int, ...] = (),
) -> Any:
    """GET `url` and return its JSON body; any failure becomes a `ServiceError`.

    Args:
        url: The endpoint.
        params: The query string.
        service: The service's name, for error texts ("Open-Meteo").
        follow_redirects: Follow redirects (the services' own, for example Wikipedia's from a
            redirect page to its target).
        ok_statuses: Error statuses whose JSON body the caller reads itself (a 404 that means
            "no such page").

    Raises:
        ServiceError: The service is unreachable, too slow, answered with an error status, or
            sent something that is not JSON.
    """
    try:
        with make_client(follow_redirects=follow_redirects) as client:
            response = client.get(url, params=params)
    except httpx.TimeoutException as exc:
        raise ServiceError(f"{service} did not answer in time; try again later.") from exc
    except httpx.TransportError as exc:  # not the model's fault: say what the user can check
        raise ServiceError(f"{service} could not be reached: no network? ({exc})") from exc
    except httpx.HTTPError as exc:
        raise ServiceError(f"{service} is unreachable ({type(exc).__name__}: {exc}).") from exc
    if response.is_error and response.status_code not in ok_statuses:
        raise ServiceError(
            f"{service} answered HTTP {response.status_code} {response.reason_phrase}"
            f"{_reason(response)}."
        )
    try:
        return response.json()
    except ValueError as exc:
        raise ServiceError(f"{service} sent a reply that is not JSON.") from exc


def _reason(response: httpx.Response) -> str:
    """The error's own explanation, when the body gives one (`{"reason": ...}` and the like)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("reason", "detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f": {value[:200]}"
    return ""
