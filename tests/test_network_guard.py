import socket

import pytest

from agentkit.testing import NetworkBlockedError as NetworkAccessError


def test_connecting_to_a_public_address_fails():
    """The autouse guard refuses any connection that would leave the machine."""
    with socket.socket() as s, pytest.raises(NetworkAccessError, match="must not touch"):
        s.connect(("93.184.216.34", 80))


def test_resolving_a_public_name_fails():
    """The guard refuses DNS look-ups of names other than localhost."""
    with pytest.raises(NetworkAccessError):
        socket.getaddrinfo("api.goapi.xyz", 443)


def test_loopback_is_allowed():
    """Loopback stays open for the project's own test server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
