import base64
import dataclasses
import os

import pytest

from agentkit import (
    AssistantMessage,
    ImagePart,
    ModelResponse,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolResult,
    Usage,
    UsageError,
    UserMessage,
)


def test_messages_are_immutable():
    message = UserMessage("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.content = "changed"  # type: ignore[misc]


def test_roles_discriminate_and_are_not_constructor_arguments():
    assert [m.role for m in (SystemMessage("s"), UserMessage("u"), AssistantMessage("a"))] == [
        "system",
        "user",
        "assistant",
    ]
    assert ToolResult(name="f", content="r").role == "tool"
    with pytest.raises(TypeError):
        UserMessage("hi", role="system")  # type: ignore[call-arg]


def test_user_parts_given_as_a_list_are_stored_as_a_tuple():
    """Frozen means frozen all the way down: a list argument cannot be mutated later."""
    parts = [TextPart("What is in this image?"), ImagePart("https://example.invalid/a.png")]
    message = UserMessage(parts)
    parts.append(TextPart("sneaky"))
    assert message.content == (
        TextPart("What is in this image?"),
        ImagePart("https://example.invalid/a.png"),
    )
    assert hash(message) == hash(UserMessage(tuple(message.content)))


def test_user_text_joins_the_text_parts():
    message = UserMessage(
        [TextPart("one"), ImagePart("data:image/png;base64,AAAA"), TextPart("two")]
    )
    assert message.text == "one\ntwo"
    assert UserMessage("plain").text == "plain"


def test_image_part_kinds_and_detail():
    part = ImagePart("https://example.invalid/cat.jpg", detail="low")
    assert (part.kind, part.detail) == ("image", "low")
    assert TextPart("x").kind == "text"


def test_assistant_calls_list_becomes_a_tuple_and_keeps_order():
    calls = [ToolCall("a", "{}", id="call_1"), ToolCall("b", '{"x": 1}', id="call_2")]
    message = AssistantMessage(None, calls)  # type: ignore[arg-type]
    assert message.calls == tuple(calls)
    assert [c.name for c in message.calls] == ["a", "b"]


def test_legacy_calls_and_results_have_no_id():
    call = ToolCall("get_current_weather", '{"location": "Boston, MA"}')
    result = ToolResult(name=call.name, content="sunny", call_id=call.id)
    assert call.id is None
    assert result.call_id is None
    assert not result.is_error


def test_messages_compare_by_value():
    assert AssistantMessage("x", (ToolCall("f", "{}", "1"),)) == AssistantMessage(
        "x", (ToolCall("f", "{}", "1"),)
    )


class TestUsage:
    def test_reported_usage_adds_up(self):
        total = Usage(1, 10, 5) + Usage(1, 20, 7, tool_calls=2)
        assert total == Usage(requests=2, prompt_tokens=30, completion_tokens=12, tool_calls=2)
        assert total.total_tokens == 42
        assert total.complete

    def test_unreported_usage_is_never_invented(self):
        """A request without usage adds no tokens and is counted as unreported."""
        unreported = Usage(requests=1, unreported_requests=1)
        assert unreported.prompt_tokens is None
        assert unreported.total_tokens is None
        total = Usage(1, 10, 5) + unreported
        assert total.prompt_tokens == 10
        assert total.requests == 2
        assert not total.complete

    def test_sum_of_nothing_is_empty_usage(self):
        assert Usage.sum([]) == Usage()
        assert Usage.sum([Usage(1, 1, 1)] * 3) == Usage(3, 3, 3)

    def test_adding_something_else_is_a_type_error(self):
        with pytest.raises(TypeError):
            Usage() + 1  # type: ignore[operator]


def test_model_response_holds_reply_and_metadata():
    response = ModelResponse(
        AssistantMessage("Hello!"),
        finish_reason="stop",
        usage=Usage(1, 19, 9),
        model="gpt-3.5-turbo-0613",
        id="chatcmpl-83jZ61GDHtdlsFUzXDbpGeoU193Mj",
    )
    assert response.message.content == "Hello!"
    assert response.usage.total_tokens == 28


# --------------------------------------------------------------------------- images

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_image_from_bytes_and_from_file_build_data_urls(tmp_path):
    """The type comes from the first bytes, not from the file's name."""
    path = tmp_path / "photo.jpg"  # a PNG under a misleading name
    path.write_bytes(PNG)
    part = ImagePart.from_file(path, detail="low")
    assert part.url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert part.detail == "low"
    assert ImagePart.from_bytes(PNG, "image/png") == ImagePart(part.url)
    webp = b"RIFF\x10\x00\x00\x00WEBPVP8 "
    assert ImagePart.from_bytes(webp).url.startswith("data:image/webp;base64,")
    assert ImagePart.from_bytes(bytearray(b"\xff\xd8\xff\xe0")).url.startswith("data:image/jpeg")


@pytest.mark.parametrize(
    ("data", "mime", "error"),
    [
        (b"", None, "The image data is empty."),
        (b"%PDF-1.7", None, "is not a PNG, JPEG, GIF or WebP image (it starts with b'%PDF-1.7')"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None, "is not a PNG, JPEG, GIF or WebP image"),
        (PNG, "image/jpeg", "The image data is image/png, not image/jpeg as given."),
        (PNG, "image/svg+xml", "type 'image/svg+xml' is not one models take"),
    ],
)
def test_image_data_that_cannot_be_sent_is_refused(data, mime, error):
    with pytest.raises(UsageError) as caught:
        ImagePart.from_bytes(data, mime)
    assert error in str(caught.value)


def test_image_files_that_cannot_be_sent_are_refused(tmp_path):
    """A missing file, a folder and a huge file give one clear error each; a huge file is
    refused from its size, before it is read."""
    with pytest.raises(UsageError, match=r"'.*missing.png' cannot be read: No such file"):
        ImagePart.from_file(tmp_path / "missing.png")
    with pytest.raises(UsageError, match="is not a regular file"):
        ImagePart.from_file(tmp_path)
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # no writer: opening it for reading would wait forever
    with pytest.raises(UsageError, match="is not a regular file"):
        ImagePart.from_file(pipe)
    huge = tmp_path / "huge.png"
    with huge.open("wb") as file:  # sparse: 30 MB on paper, nothing on disk
        file.write(PNG)
        file.truncate(30 * 1024 * 1024)
    with pytest.raises(UsageError, match=r"is 31,457,280 bytes, over the 20,971,520 bytes"):
        ImagePart.from_file(huge)
    with pytest.raises(UsageError, match="over the 20,971,520 bytes"):
        ImagePart.from_bytes(PNG + bytes(20 * 1024 * 1024))
