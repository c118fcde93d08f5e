"""Where the library's requests go and which key they carry: argument > environment > stored.

The same order as the `agentkit` command's (`tests/test_cli_offline.py`); conftest points the
key store at a fresh directory and clears `GOAPI_KEY` and `GOAPI_BASE_URL`.
"""

from __future__ import annotations

import httpx
import pytest
from structlog.testing import capture_logs

from agentkit import Agent, ChatClient, ChatRequest, UsageError, UserMessage
from agentkit._keys import key_path, store_key
from agentkit.testing import DemoModel, LoopbackServer, Reply, ScriptedGoAPI

ARGUMENT, ENVIRONMENT, STORED = "sk-argument-0001", "sk-environment-0002", "sk-stored-0003"


def sent_key(**client: str | None) -> str:
    """The `Authorization` header a client made with `client` sends."""
    transport = ScriptedGoAPI([Reply.text("Hi")])
    with httpx.Client(transport=transport) as http:
        ChatClient(http_client=http, **client).complete(  # type: ignore[arg-type]
            ChatRequest(model="m", messages=[UserMessage("Hi")])
        )
    return transport.headers[0]["authorization"]


@pytest.mark.parametrize(
    ("argument", "environment", "stored", "sent"),
    [
        (ARGUMENT, ENVIRONMENT, STORED, ARGUMENT),
        (None, ENVIRONMENT, STORED, ENVIRONMENT),
        (None, None, STORED, STORED),
        ("", "  ", STORED, STORED),  # empty counts as not set
        (f" {ARGUMENT}\n", None, None, ARGUMENT),  # pasted with a newline
    ],
)
def test_the_key_is_the_argument_else_goapi_key_else_the_stored_one(
    monkeypatch: pytest.MonkeyPatch,
    argument: str | None,
    environment: str | None,
    stored: str | None,
    sent: str,
):
    """The library takes the key in the command's order, the stored key last."""
    if environment is not None:
        monkeypatch.setenv("GOAPI_KEY", environment)
    if stored is not None:
        store_key(stored)
    assert sent_key(api_key=argument, base_url="https://api.goapi.xyz/v1") == f"Bearer {sent}"


def test_without_a_key_the_error_names_every_place_and_what_to_do():
    """No argument, no GOAPI_KEY, nothing stored: one error lists all three and the ways out."""
    with pytest.raises(UsageError) as caught:
        Agent("gpt-3.5-turbo")
    assert str(caught.value) == (
        f"No API key: no api_key=... was passed, GOAPI_KEY is not set and no key is stored in "
        f"{key_path()}. Pass api_key=..., set GOAPI_KEY (export GOAPI_KEY=<your key>), or "
        "store the key once with 'agentkit keys set'."
    )


def test_goapi_base_url_sends_an_agent_without_base_url_there(monkeypatch: pytest.MonkeyPatch):
    """An agent made without `base_url` talks to `GOAPI_BASE_URL`, as the command does."""
    with LoopbackServer(DemoModel()) as server:
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url + "/")
        with Agent("gpt-3.5-turbo", api_key=ARGUMENT) as agent:
            assert agent.client.base_url == server.base_url
            assert agent.run("Hello").output.endswith("You said: Hello")
    assert [h["authorization"] for h in server.headers] == [f"Bearer {ARGUMENT}"]


def test_the_base_url_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GOAPI_BASE_URL", "http://127.0.0.1:9/v1")
    client = ChatClient(api_key=ARGUMENT, base_url="http://localhost:8000/v1")
    assert client.base_url == "http://localhost:8000/v1"


def test_another_server_gets_a_placeholder_when_no_key_is_found(monkeypatch: pytest.MonkeyPatch):
    """A local server (vLLM, Ollama) needs no key: `none` is sent, as the command sends it."""
    assert sent_key(base_url="http://127.0.0.1:8000/v1") == "Bearer none"
    monkeypatch.setenv("GOAPI_BASE_URL", "http://localhost:11434/v1")
    assert sent_key() == "Bearer none"


@pytest.mark.parametrize("base_url", ["https://api.goapi.xyz/v1", "https://proxy.GoAPI.xyz/v1"])
def test_goapi_itself_needs_a_key_even_when_named_as_base_url(base_url: str):
    with pytest.raises(UsageError, match=r"^No API key"):
        ChatClient(base_url=base_url)


def test_a_bad_goapi_base_url_is_named_as_the_source(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GOAPI_BASE_URL", "api.goapi.xyz/v1")
    with pytest.raises(UsageError, match=r"^GOAPI_BASE_URL must start with http"):
        ChatClient(api_key=ARGUMENT)


@pytest.mark.parametrize("bad", ["sk-one two", "sk-\x1b[2J", "sk-ключ"])
def test_a_key_that_cannot_be_sent_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, bad: str
):
    """A key with spaces, control or non-ASCII characters inside: the error says where it
    came from, never the key."""
    monkeypatch.setenv("GOAPI_KEY", bad)
    with pytest.raises(UsageError, match="from GOAPI_KEY") as caught:
        ChatClient()
    assert bad not in str(caught.value)


def test_the_stored_keys_are_read_only_when_needed(monkeypatch: pytest.MonkeyPatch):
    """A broken key file does not stop a client whose key comes from the environment, and
    is a clear error when it is the last place left."""
    key_path().parent.mkdir(parents=True)
    key_path().write_text("{not json")
    monkeypatch.setenv("GOAPI_KEY", ENVIRONMENT)
    ChatClient()
    monkeypatch.delenv("GOAPI_KEY")
    with pytest.raises(UsageError, match=r"^Cannot read the stored keys in"):
        ChatClient()


def test_the_stored_key_is_never_logged(monkeypatch: pytest.MonkeyPatch):
    store_key(STORED)
    with LoopbackServer(DemoModel()) as server:
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url)
        with capture_logs() as events, Agent("gpt-3.5-turbo") as agent:
            agent.run("Hello")
        assert [h["authorization"] for h in server.headers] == [f"Bearer {STORED}"]
    assert events
    assert STORED not in repr(events)
    assert STORED not in repr(agent.client)
