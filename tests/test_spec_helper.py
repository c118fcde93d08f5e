import pytest

from tests.spec import assert_valid, assert_valid_request, spec_errors

SEED_REQUEST = {
    "model": "gpt-3.5-turbo",
    "messages": [{"role": "user", "content": "What is the weather like in Boston?"}],
    "functions": [
        {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        }
    ],
    "function_call": "auto",
}


def test_seed_request_is_valid_under_both_schemas():
    assert_valid_request(SEED_REQUEST)


def test_an_unknown_role_is_caught():
    """The helper really validates: a wrong body fails under both files."""
    body = {"model": "gpt-4", "messages": [{"role": "wizard", "content": "hi"}]}
    problems = spec_errors("request", body)
    assert len(problems) >= 2
    with pytest.raises(AssertionError):
        assert_valid_request(body)


def test_goapi_style_response_passes_leniently_only():
    """2023 servers omit logprobs; the current schema requires it, lenient mode allows it."""
    response = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1695900828,
        "model": "gpt-3.5-turbo-0613",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 19, "completion_tokens": 9, "total_tokens": 28},
    }
    assert_valid("response", response)
    assert spec_errors("response", response, lenient=False)
