"""Where the examples send their requests: GoAPI with `GOAPI_KEY`, else the simulator.

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

from agentkit import AgentkitError
from agentkit.testing import offline


@contextmanager
def connect(model: str = "gpt-3.5-turbo") -> Iterator[dict[str, Any]]:
    """Yield `Agent` keyword arguments for GoAPI, or for the offline simulator."""
    base_url = os.environ.get("GOAPI_BASE_URL") or None
    if os.environ.get("GOAPI_KEY"):
        print(f"Online: talking to {base_url or 'GoAPI'} ({model}).")
        try:
            yield {"base_url": base_url}
        except AgentkitError as error:  # unreachable, bad key, quota: one line, no traceback
            sys.exit(f"GoAPI: {error}")
        return
    print(
        "Offline: GOAPI_KEY is not set, so a demo model and demo weather and search services "
        "answer (their data is labelled demo data); nothing leaves this machine. "
        "To use GoAPI: export GOAPI_KEY=<your key>"
    )
    with offline() as server:
        yield {"base_url": server.base_url, "api_key": "offline-demo"}
