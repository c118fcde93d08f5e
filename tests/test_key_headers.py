"""The API key never leaves through a response header (issue 14, "The API key").

A gateway may echo the key in a header (`x-request-id`, `cf-ray`, ...). Header values reach
`str(error)`, the error's attributes, the `agentkit.retry` log event and `agentkit run`'s
stderr; each path is scrubbed of the exact key the client holds (and of anything that looks
like a key).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
from structlog.testing import capture_logs

from agentkit import APIStatusError, Backoff, ChatClient, ChatRequest, UserMessage
from agentkit.testing import Fault, LoopbackServer, ScriptedGoAPI

# Not `sk-...`: the pattern-based `redact()` would not know it; only the exact-key scrub does.
KEY = "gk-live-9f8e7d6c5b4a39281706f5e4"
ECHO = {"x-request-id": f"req_{KEY}", "cf-ray": f"8a1b-{KEY}-SJC", "x-debug": f"Bearer {KEY}"}
HI = ChatRequest(model="gpt-3.5-turbo", messages=[UserMessage("Hi")])


def faults(status: int, count: int = 1) -> list[Fault]:
    return [Fault.json_error(status, "Something failed.", "server_error", headers=ECHO)] * count


def client_for(script, **options) -> ChatClient:
    transport = ScriptedGoAPI(script)

    async def asleep(seconds: float) -> None:
        return None

    return ChatClient(
        api_key=KEY,
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        backoff=Backoff(sleep=lambda seconds: None, asleep=asleep),
        **options,
    )


def shown(error: APIStatusError) -> str:
    """Everything of the error a user or a log could print."""
    return " ".join([str(error), repr(error), str(error.request_id), str(error.cf_ray)])


@pytest.mark.parametrize("status", [400, 401, 429, 500, 524])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_echoed_key_is_not_in_the_error(kind: str, status: int):
    """`request_id`, `cf_ray` and `str(error)` hold the header values without the key."""
    client = client_for(faults(status), max_retries=0)
    ask = client.complete if kind == "sync" else lambda r: asyncio.run(client.acomplete(r))
    with pytest.raises(APIStatusError) as caught:
        ask(HI)
    error = caught.value
    assert KEY not in shown(error)
    assert error.request_id == "req_***"
    assert error.cf_ray == "8a1b-***-SJC"


@pytest.mark.parametrize("stream", [True, False])
def test_an_echoed_key_is_not_in_the_error_for_a_body_that_is_no_completion(stream: bool):
    """A 200 whose body is no chat completion: its error quotes the headers scrubbed too."""
    page = Fault(200, b'{"object": "list"}', (("content-type", "application/json"), *ECHO.items()))
    client = client_for([page], max_retries=0)
    with pytest.raises(APIStatusError, match="not a chat completion") as caught:
        client.complete(ChatRequest(model="m", messages=[UserMessage("Hi")], stream=stream))
    assert KEY not in shown(caught.value)
    assert caught.value.request_id == "req_***"


def test_a_key_like_header_value_is_redacted_even_if_it_is_not_the_clients_key():
    """Another key (an `sk-...` one) echoed by a gateway is caught by `redact()`'s patterns."""
    other = "sk-proj-0123456789abcdefOTHER"
    error = APIStatusError("failed", status_code=500, request_id=other, cf_ray=f"Bearer {other}")
    assert other not in shown(error)


def test_the_retry_log_event_does_not_carry_the_key():
    """`agentkit.retry` logs `str(error)`: with the echoed key scrubbed."""
    client = client_for(faults(500, 3), max_retries=2)
    with capture_logs() as logs, pytest.raises(APIStatusError):
        client.complete(HI)
    retries = [event for event in logs if event["event"] == "agentkit.retry"]
    assert len(retries) == 2
    assert "req_***" in retries[0]["error"]
    assert KEY not in json.dumps(logs, default=str)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_agentkit_run_stderr_does_not_show_the_key(log_format: str):
    """`agentkit run` against a gateway echoing the key: neither the log nor the error line
    on stderr shows it."""
    with LoopbackServer(faults(500, 3)) as server:
        env = {**os.environ, "GOAPI_KEY": KEY}
        logging = ["--log-level", "debug", "--log-format", log_format]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "agentkit.cli",
                *logging,
                "run",
                "Hi",
                "--base-url",
                server.base_url,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert "agentkit.retry" in done.stderr
    assert "req_***" in done.stderr
    assert KEY not in done.stderr + done.stdout
