"""Where the examples send their requests: GoAPI with `GOAPI_KEY`, else the simulator.

`connect()` says which on its first line and gives the keyword arguments for `Agent(...)`;
online, an API error ends the example with its one-line message.
Offline, it starts agentkit's bundled simulator (a deterministic demo model on a loopback
HTTP server), so the whole loop still runs for real: HTTP, streaming, argument validation,
dispatch and result feedback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentkit import AgentkitError
from agentkit.testing import DemoModel, LoopbackServer


@contextmanager
def connect(model: str = "gpt-3.5-turbo") -> Iterator[dict[str, Any]]:
    """Yield `Agent` keyword arguments for GoAPI, or for the offline simulator."""
    if os.environ.get("GOAPI_KEY"):
        print(f"Online: talking to GoAPI ({model}).")
        try:
            yield {}
        except AgentkitError as error:  # unreachable, bad key, quota: one line, no traceback
            sys.exit(f"GoAPI: {error}")
        return
    print(
        "Offline: GOAPI_KEY is not set, so this runs against agentkit's bundled simulator "
        "(a demo model on a loopback server). To use GoAPI: export GOAPI_KEY=<your key>"
    )
    with LoopbackServer(DemoModel()) as server:
        yield {"base_url": server.base_url, "api_key": "offline-demo"}
