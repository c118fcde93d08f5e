import inspect
import pickle
import re

import pytest

import agentkit
from agentkit import (
    AgentkitError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AssistantMessage,
    AuthenticationError,
    ContextLengthExceededError,
    GatewayError,
    InsufficientQuotaError,
    InternalServerError,
    MaxTurnsExceeded,
    RateLimitError,
    RunError,
    StreamEventError,
    ToolCallTruncated,
    ToolRetriesExceeded,
    ToolRetry,
    TruncatedStreamError,
    UsageLimitExceeded,
    UserMessage,
)
from agentkit._exceptions import BODY_EXCERPT_CHARS, redact

KEY = "sk-proj-Zx81ab4C0ffee9d1e2f3"

EXCEPTIONS = [
    value
    for value in vars(agentkit).values()
    if inspect.isclass(value) and issubclass(value, BaseException)
]


def test_every_error_but_the_model_feedback_signals_is_in_the_tree():
    """One root catches everything agentkit raises to the developer; `ToolRetry` and
    `ArgumentError` are feedback for the model, not errors of agentkit's."""
    signals = (ToolRetry, agentkit.ArgumentError)
    for cls in EXCEPTIONS:
        assert issubclass(cls, AgentkitError) != (cls in signals), cls


def test_tree_in_docstring_names_every_class():
    """The module docstring draws the whole tree, so no class is missing from the drawing."""
    doc = agentkit._exceptions.__doc__
    assert doc is not None
    for cls in EXCEPTIONS:
        assert re.search(rf"\b{cls.__name__}\b", doc), cls.__name__


def test_every_class_is_documented():
    """Each error class says when it is raised."""
    for cls in EXCEPTIONS:
        assert cls.__doc__, cls
        assert len(cls.__doc__.strip()) > 20, cls


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (ContextLengthExceededError, agentkit.BadRequestError),
        (GatewayError, InternalServerError),
        (APITimeoutError, APIConnectionError),
        (TruncatedStreamError, agentkit.StreamError),
        (StreamEventError, APIError),
        (MaxTurnsExceeded, RunError),
        (UsageLimitExceeded, RunError),
    ],
)
def test_specific_classes_sit_under_their_family(cls, parent):
    assert issubclass(cls, parent)


def test_insufficient_quota_is_not_a_rate_limit():
    """Catching RateLimitError to wait and retry must never swallow 'no credit left'."""
    assert not issubclass(InsufficientQuotaError, RateLimitError)
    assert not InsufficientQuotaError("no credit", status_code=429).retryable


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (APIConnectionError("reset"), True),
        (APITimeoutError("idle", 30), True),
        (RateLimitError("slow down", retry_after=2.0), True),
        (InternalServerError("boom", status_code=500), True),
        (GatewayError("timeout", status_code=524), True),
        (TruncatedStreamError("cut"), True),
        (AuthenticationError("bad key", status_code=401), False),
        (agentkit.BadRequestError("bad", status_code=400), False),
        (InternalServerError("overridden", status_code=500, retryable=False), False),
    ],
)
def test_retryable_defaults_follow_the_class(error, retryable):
    assert error.retryable is retryable


def test_status_error_carries_its_attributes_and_reads_well():
    err = RateLimitError(
        "Rate limit reached for requests",
        code="rate_limit_exceeded",
        error_type="requests",
        request_id="req_123",
        cf_ray="8a1b2c3d4e5f-SJC",
        retry_after=1.5,
        body='{"error": {"message": "Rate limit reached"}}',
    )
    assert err.status_code == 429
    assert err.retry_after == 1.5
    assert err.error_type == "requests"
    assert str(err) == (
        "HTTP 429: Rate limit reached for requests "
        "(code=rate_limit_exceeded, request_id=req_123, cf_ray=8a1b2c3d4e5f-SJC)"
    )


def test_body_is_a_short_folded_excerpt():
    """An HTML error page is kept as a short excerpt, not a whole page."""
    page = "<html>\n  <title>api.goapi.xyz | 524: A timeout occurred</title>\n" + "x" * 5000
    err = GatewayError("A timeout occurred", status_code=524, body=page)
    assert err.body is not None
    assert len(err.body) == BODY_EXCERPT_CHARS
    assert err.body.startswith("<html> <title>api.goapi.xyz | 524: A timeout occurred</title>")


def test_timeout_error_names_its_phase():
    err = APITimeoutError("first_byte", 60)
    assert err.phase == "first_byte"
    assert str(err) == "Timed out waiting for the first byte of the response (60 s)."


@pytest.mark.parametrize(
    "text",
    [
        f"Incorrect API key provided: {KEY}.",
        f"Authorization: Bearer {KEY}",
        f"https://example.invalid/v1?api_key={KEY}&x=1",
        f'{{"api-key": "{KEY}"}}',
    ],
)
def test_redact_removes_keys(text):
    assert KEY not in redact(text)
    assert "***" in redact(text)


def test_redact_removes_exact_secrets_of_any_shape():
    """The client passes the key it holds, whatever its format."""
    assert redact("key was 0123456789abcdef here", ["0123456789abcdef"]) == "key was *** here"


def test_no_error_text_contains_a_key():
    """Messages and bodies are redacted on the way in, so str() and repr() are key-free."""
    errors = [
        AuthenticationError(f"Incorrect API key provided: {KEY}", status_code=401, body=KEY),
        APIConnectionError(f"Could not connect with Authorization: Bearer {KEY}"),
        StreamEventError(f"bad key {KEY}"),
    ]
    for err in errors:
        assert KEY not in str(err)
        assert KEY not in repr(err)
        assert KEY not in (getattr(err, "body", "") or "")


def test_run_errors_carry_the_messages_so_far():
    history = [UserMessage("hi"), AssistantMessage("hello")]
    errors = [
        MaxTurnsExceeded(20, messages=history),
        ToolRetriesExceeded("get_weather", 2, "missing argument 'city'", messages=history),
        UsageLimitExceeded("requests", 11, 10, messages=history),
        ToolCallTruncated("length", "get_weather", messages=history),
    ]
    for err in errors:
        assert err.messages == tuple(history)
    assert str(errors[0]) == "The model was still calling tools after 20 turns (max_turns=20)."
    assert "failed 3 times in a row" in str(errors[1])
    assert str(errors[2]) == "Usage limit reached: requests would be 11, the limit is 10."
    assert "was not executed" in str(errors[3])


def test_api_errors_have_room_for_the_run_history():
    """A run that fails on the wire attaches its messages so nothing is lost."""
    err = APIConnectionError("reset")
    assert err.messages is None


def test_toolretry_keeps_its_message():
    assert ToolRetry("try again with a city").message == "try again with a city"


def test_status_error_is_an_api_status_error():
    assert isinstance(AuthenticationError("x", status_code=401), APIStatusError)


def test_errors_pickle_for_multiprocessing():
    """Batch workers in other processes can send errors back."""
    err = MaxTurnsExceeded(3, messages=[UserMessage("hi")])
    clone = pickle.loads(pickle.dumps(err))
    assert str(clone) == str(err)


def test_model_refusal_carries_the_words_short_in_its_text_and_pickles():
    """The whole refusal is on `.refusal`; the message shows it on one line, capped."""
    from agentkit import ModelRefusal

    words = "I can't help with that.\n" + "Really. " * 60
    err = ModelRefusal(words, messages=[UserMessage("hi")])
    assert err.refusal == words
    assert str(err).startswith("The model refused to answer: \"I can't help with that. Really.")
    assert len(str(err)) < 260
    assert "\n" not in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.refusal, clone.messages) == (words, err.messages)


def test_stream_event_error_keeps_the_partial_text_across_processes():
    """`partial_text` survives pickling like the other attributes."""
    from agentkit import StreamEventError

    err = StreamEventError("The server sent an error in the stream: boom", partial_text="It is")
    assert pickle.loads(pickle.dumps(err)).partial_text == "It is"
