"""The instrumentation seam: where tracing plugs in, and nothing at all when none does.

Two hook points, each one attribute read when tracing is off:

```
Agent._start   flow = agent_flow(...)      ─▶ if `hooks` is set:
                                                  flow = hooks.observe(agent, config, flow)
ChatClient     a failed attempt is retried ─▶ retried(attempt, error, wait)
```

`observe` wraps the run's flow (the generator the drivers pump, see `_loop`), so it sees every
request and tool call of `run`, `arun`, `stream`, `astream` and each batch item without a
line in the drivers. While a request is out, the observer sets `current_request`, so a retry
deep in the transport lands on that request's span. `agentkit.otel` is the one implementation
(OpenTelemetry); this module imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._agent import Agent
    from ._loop import Action, RunResult
    from ._runconfig import RunConfig

__all__ = ["Hooks", "RequestObserver", "current_request", "hooks", "install", "retried"]


class RequestObserver(Protocol):
    """Told about one model request while it is out."""

    def retry(self, attempt: int, error: BaseException, wait: float) -> None:
        """Attempt number `attempt` failed with `error`; the next starts in `wait` seconds."""


class Hooks(Protocol):
    """An instrumentation: wraps each run's flow to watch it."""

    def observe(
        self, agent: Agent[Any], config: RunConfig, flow: Generator[Action, Any, RunResult[Any]]
    ) -> Generator[Action, Any, RunResult[Any]]:
        """A flow that behaves exactly as `flow` does, and records what passes through.

        `config` is the run's own (the agent's, with the run's overrides: its model and
        settings may not be the agent's).
        """
        ...


hooks: Hooks | None = None
"""The installed instrumentation, or `None` (the default: no cost at all)."""

current_request: ContextVar[RequestObserver | None] = ContextVar(
    "agentkit_current_request", default=None
)
"""The request being sent in this context, if an instrumentation watches it."""


def install(new: Hooks | None) -> Hooks | None:
    """Install an instrumentation (or remove it with `None`); returns the previous one."""
    global hooks
    previous, hooks = hooks, new
    return previous


def retried(attempt: int, error: BaseException, wait: float) -> None:
    """The transport's hook: a request's attempt failed and will be sent again."""
    observer = current_request.get()
    if observer is not None:
        observer.retry(attempt, error, wait)
