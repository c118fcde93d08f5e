"""Where the examples send their requests: GoAPI with a key, else the simulator.

The key is found as the library finds it: `GOAPI_KEY`, else the key `agentkit keys set`
stored.

`connect()` says which on its first line and gives the keyword arguments for `Agent(...)`;
online, an API error ends the example with its one-line message. `GOAPI_BASE_URL` points the
examples at another OpenAI-compatible server.

Offline, nothing leaves this machine (`agentkit.testing.offline()`): a deterministic demo
model answers on a loopback HTTP server, and the ready tools' web services (weather, search)
answer with demo data, labelled "(demo data)". The whole loop still runs for real: HTTP,
streaming, argument validation, the tools' own code, and the results fed back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentkit import AgentkitError, ChatClient, UsageError
from agentkit.testing import offline


def _has_key() -> bool:
    """Whether a client made without `api_key=` finds a key (environment or stored)."""
    try:
        ChatClient(base_url="https://api.goapi.xyz/v1").close()
    except UsageError:
        return False
    return True


@contextmanager
def connect(model: str = "gpt-3.5-turbo") -> Iterator[dict[str, Any]]:
    """Yield `Agent` keyword arguments for GoAPI, or for the offline simulator."""
    base_url = os.environ.get("GOAPI_BASE_URL") or None
    if _has_key():
        print(f"Online: talking to {base_url or 'GoAPI'} ({model}).")
        try:
            yield {"base_url": base_url}
        except AgentkitError as error:  # unreachable, bad key, quota: one line, no traceback
            sys.exit(f"GoAPI: {error}")
        return
    print(
        "Offline: GOAPI_KEY is not set and no key is stored, so a demo model and demo weather "
        "and search services answer (their data is labelled demo data); nothing leaves this "
        "machine. To use GoAPI: export GOAPI_KEY=<your key> (or run 'agentkit keys set')"
    )
    with offline() as server:
        yield {"base_url": server.base_url, "api_key": "offline-demo"}
