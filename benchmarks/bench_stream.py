"""How fast a long streamed answer is decoded and accumulated.

Run: python benchmarks/bench_stream.py [--chunks N] [--repeats R]

The stream is GoAPI's exact bytes, rendered by `agentkit.testing`: N text chunks (about four
characters each, some of them non-ASCII) and then one `tool_calls` call whose arguments come in
N/20 fragments, the final chunk, a usage chunk and `data: [DONE]`. The body is cut into 16 KiB
reads, as a socket delivers it, before the clock starts.

agentkit's pipeline is what `ChatClient` does per read: `SSEDecoder.feed`, `json.loads` of
each event, `ChunkAccumulator.add` (which also returns the deltas), then `finish`.

If the `openai` package is importable (it is not a dependency: use a separate, git-ignored
venv in the checkout, made from its root with
`python3 -m venv .venv-bench && .venv-bench/bin/pip install -e . openai`), the same
reads also go through the openai SDK: `openai._streaming.SSEDecoder.iter_bytes`, `sse.json()`
and `construct_type(ChatCompletionChunk)` per event (what iterating `Stream[ChatCompletionChunk]`
costs), and then also `ChatCompletionStreamState` accumulation (what
`client.chat.completions.stream()` adds). Medians of R runs; the ratio is openai / agentkit.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from agentkit._replies import ChunkAccumulator
from agentkit._script import _Renderer
from agentkit._sse import SSEDecoder
from agentkit.testing import Reply

READ_SIZE = 16 * 1024
WORDS = (
    "the", "weather", "in", "Boston", "is", "sunny", "with", "a", "light", "breeze", "from",
    "the", "north", "and", "temperatures", "around", "twenty", "degrees", "café", "naïve",
    "日本", "résumé", "🎉", "tomorrow", "rain",
)  # fmt: skip


def build_stream(chunks: int) -> tuple[bytes, int, str, str]:
    """(SSE bytes, data events, the text, the arguments) of one long realistic answer."""
    rng = random.Random(5)
    text = ""
    while len(text) < chunks * 4:
        text += rng.choice(WORDS) + " "
    text = text[: chunks * 4]
    places = [{"city": rng.choice(WORDS), "days": rng.randint(1, 9)} for _ in range(chunks // 200)]
    arguments = json.dumps({"location": "Boston, MA", "unit": "celsius", "places": places})
    fragment = max(len(arguments) // (chunks // 20), 1)
    body = {
        "model": "gpt-3.5-turbo-1106",
        "messages": [{"role": "user", "content": "Tell me about the weather."}],
        "tools": [{"type": "function", "function": {"name": "get_current_weather"}}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # The renderer uses one piece size for text and arguments: render each part with its own
    # size and splice the calls' chunks in after the text (the bytes are what a server sends).
    text_only = _Renderer(body, Reply.text(text, chunk_size=4, usage=(25, chunks)), 1)
    call_only = _Renderer(
        body, Reply.call("get_current_weather", arguments, chunk_size=fragment, usage=None), 1
    )
    text_chunks = text_only.chunks()  # role, text..., finish, usage
    call_chunks = call_only.chunks()  # role, call pieces..., finish
    finish, usage = call_chunks[-1], text_chunks[-1]
    all_chunks = [*text_chunks[:-2], *call_chunks[1:-1], finish, usage]
    events = [b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in all_chunks]
    events.append(b"data: [DONE]\n\n")
    return b"".join(events), len(events), text, arguments


def reads_of(stream: bytes) -> list[bytes]:
    return [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]


def agentkit_decoder(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = sum(len(decoder.feed(read)) for read in reads)
    return count + len(decoder.flush())


def agentkit_pipeline(reads: list[bytes]) -> tuple[str, str]:
    decoder, accumulator, done = SSEDecoder(), ChunkAccumulator(), False
    loads, add = json.loads, accumulator.add
    for read in reads:
        for event in decoder.feed(read):
            if event.data == "[DONE]":
                done = True
            else:
                add(loads(event.data))
    for event in decoder.flush():
        done = done or event.data == "[DONE]"
    response = accumulator.finish(done=done)
    return response.message.content or "", response.message.calls[0].arguments


def openai_pipelines() -> dict[str, Callable[[list[bytes]], Any]]:
    """The openai SDK's decoding (and accumulation), or nothing if it is not installed."""
    try:
        from openai._models import construct_type
        from openai._streaming import SSEDecoder as OpenAIDecoder
        from openai.lib.streaming.chat import ChatCompletionStreamState
        from openai.types.chat import ChatCompletionChunk
    except ImportError:
        return {}

    def decoder(reads: list[bytes]) -> int:
        return sum(1 for _ in OpenAIDecoder().iter_bytes(iter(reads)))

    def chunks(reads: list[bytes]) -> int:
        # What iterating `Stream[ChatCompletionChunk]` does per event (`_process_response_data`
        # builds the model with `construct_type` unless strict validation is on).
        count = 0
        for sse in OpenAIDecoder().iter_bytes(iter(reads)):
            if sse.data.startswith("[DONE]"):
                break
            construct_type(type_=ChatCompletionChunk, value=sse.json())
            count += 1
        return count + 1

    def accumulated(reads: list[bytes]) -> tuple[str, str]:
        state: Any = ChatCompletionStreamState()
        for sse in OpenAIDecoder().iter_bytes(iter(reads)):
            if sse.data.startswith("[DONE]"):
                break
            chunk = construct_type(type_=ChatCompletionChunk, value=sse.json())
            for _ in state.handle_chunk(chunk):
                pass
        message = state.get_final_completion().choices[0].message
        return message.content or "", message.tool_calls[0].function.arguments

    return {
        "openai SSEDecoder only": decoder,
        "openai + json + ChatCompletionChunk": chunks,
        "openai + ChatCompletionStreamState": accumulated,
    }


def median_seconds(run: Callable[[list[bytes]], Any], reads: list[bytes], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run(reads)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000, help="text chunks in the stream")
    parser.add_argument("--repeats", type=int, default=7, help="runs per pipeline (median)")
    args = parser.parse_args()

    stream, events, text, arguments = build_stream(args.chunks)
    reads = reads_of(stream)
    megabytes = len(stream) / 1e6
    print(
        f"stream: {len(stream):,} bytes, {events:,} events ({args.chunks:,} text chunks, "
        f"{len(arguments):,}-char arguments in fragments), {len(reads)} reads of 16 KiB"
    )
    assert agentkit_pipeline(reads) == (text, arguments)
    assert agentkit_decoder(reads) == events

    def report(name: str, seconds: float) -> None:
        print(
            f"{name:38s} {seconds * 1e3:8.1f} ms  {megabytes / seconds:7.1f} MB/s  "
            f"{events / seconds:10,.0f} chunks/s"
        )

    decoding = median_seconds(agentkit_decoder, reads, args.repeats)
    report("agentkit SSEDecoder only", decoding)
    ours = median_seconds(agentkit_pipeline, reads, args.repeats)
    report("agentkit + json + ChunkAccumulator", ours)
    others = openai_pipelines()
    if not others:
        print("openai is not installed here: no comparison (see the module docstring)")
        return
    import openai

    print(f"openai {openai.__version__} (ratio: openai's time / agentkit's for the same work):")
    for name, pipeline in others.items():
        result = pipeline(reads)
        if isinstance(result, tuple):
            assert result == (text, arguments), "openai accumulated another answer"
        else:
            assert result == events, f"openai decoded {result} events, not {events}"
        seconds = median_seconds(pipeline, reads, max(args.repeats // 2, 3))
        baseline = decoding if name.endswith("only") else ours
        report(name, seconds)
        print(f"{'':38s} {seconds / baseline:8.1f}x")


if __name__ == "__main__":
    main()
