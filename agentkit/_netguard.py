"""A guard that makes any connection beyond this machine fail (`agentkit.testing` exports it).

It patches the `socket` module's look-up and connect functions, so it holds for every client
in the process (httpx, urllib, anything built on `socket`), and leaves loopback open for
the test kit's own servers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

__all__ = ["NetworkBlockedError", "block_network"]


class NetworkBlockedError(RuntimeError):
    """Something tried to reach a host beyond this machine inside `block_network()`."""


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # an AF_UNIX path
        return True
    host = address[0]
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def block_network(why: str = "tests must not touch the network") -> Iterator[None]:
    """Make any DNS look-up or connection beyond loopback raise `NetworkBlockedError`.

    Args:
        why: The start of the error's message.

    Examples:
        >>> with block_network():
        ...     socket.getaddrinfo("api.goapi.xyz", 443)
        Traceback (most recent call last):
        ...
        agentkit._netguard.NetworkBlockedError: ...
    """
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any, what: str) -> None:
        if not _is_local(address):
            raise NetworkBlockedError(f"{why} ({what} {address!r})")

    def connect(self: socket.socket, address: Any) -> None:
        check(address, "connect to")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address, "connect to")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            check((host.decode() if isinstance(host, bytes) else host,), "resolve")
        return real_getaddrinfo(host, *args, **kwargs)

    # setattr: mypy would check the patches against the C signatures of socket methods.
    originals = {"connect": real_connect, "connect_ex": real_connect_ex}
    for name, patch in (("connect", connect), ("connect_ex", connect_ex)):
        setattr(socket.socket, name, patch)
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(socket.socket, name, original)
        socket.getaddrinfo = real_getaddrinfo
