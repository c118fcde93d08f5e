"""Shared fixtures. Every test is network-free by construction: see `_no_network`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from agentkit.testing import block_network

# Ray reads these once, when it is imported (so before any test module imports it): a test
# cluster started with `_node_ip_address="127.0.0.1"` then stays on 127.0.0.1, its servers
# listening there only. Set later, Ray swaps in the machine's outward address and its servers
# listen on every interface. Subprocesses the tests start inherit them.
os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to resolve or connect to a host other than loopback, and make sure
    no test ever sees a real key."""
    monkeypatch.delenv("GOAPI_KEY", raising=False)
    with block_network():
        yield


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """The command's key store, conversation log and chat history go to a fresh directory
    (also for commands run in a subprocess), never to the user's own."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("GOAPI_BASE_URL", raising=False)


@pytest.fixture(autouse=True)
def _unconfigured_structlog() -> Iterator[None]:
    """Each test starts as an application that never configured structlog (capture_logs
    leaves structlog marked as configured)."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (anyio's pytest plugin ships with httpx's anyio)."""
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Any:
    """Each agent behaviour test runs once through `run`/`stream` and once through
    `arun`/`astream`."""
    from tests.helpers import Driver

    return Driver(request.param)
