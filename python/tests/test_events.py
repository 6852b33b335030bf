"""The component's own hook events (continuation, config warnings, stream blocks, debug and raw
events, …) reach the Amplifier session's hooks: `bedrock-host serve` returns them in the call's
gRPC metadata, and the module emits them between its `llm:request` and `llm:response`, all under
the one `request_id` the kernel pairs the call by."""

import json

import pytest
from amplifier_core import AmplifierSession
from amplifier_core.llm_errors import AuthenticationError
from amplifier_core.message_models import ChatRequest
from amplifier_core.testing import MockCoordinator

import amplifier_module_provider_bedrock
from amplifier_module_provider_bedrock.provider import EVENTS_METADATA_KEY, _events_from_metadata

from conftest import COMPONENT_EVENTS, Recorder
from procs import serve_children

UUID_LENGTH = 36


def count_to(n: int) -> str:
    return " ".join(str(i) for i in range(1, n + 1))


def ask_to_count(n: int) -> ChatRequest:
    """A request the emulator answers with "1 2 … n" (n output tokens)."""
    return ChatRequest(
        messages=[{"role": "user", "content": f"Count from 1 to {n}"}], max_output_tokens=64000
    )


def assert_one_call(recorder: Recorder, status: str) -> str:
    """The recorded events are one call: llm:request first, llm:response last, one request_id."""
    names = recorder.names()
    assert names[0] == "llm:request" and names[-1] == "llm:response", names
    assert names.count("llm:request") == names.count("llm:response") == 1, names
    assert recorder.named("llm:response")[0]["status"] == status
    request_id = recorder.events[0][1]["request_id"]
    assert isinstance(request_id, str) and len(request_id) == UUID_LENGTH, request_id
    for name, data in recorder.events:
        assert data.get("request_id") == request_id, f"{name} is not paired with its call: {data}"
    return request_id


@pytest.mark.asyncio
async def test_a_sessions_hooks_see_the_components_events_in_order(emulator):
    # A typo'd key (a config warning on every call) and an answer cut at max_tokens twice
    # (two continuation rounds), with debug and raw events on: all come back from the server.
    config = {
        **emulator.provider_config(),
        "max_tokens": 10,
        "max_continuations": 3,
        "max_continuation": 1,
        "debug": True,
        "raw_debug": True,
    }
    session = AmplifierSession(
        {
            "session": {"orchestrator": "loop-single-turn", "context": "context-list"},
            "providers": [{"module": "provider-bedrock", "config": config}],
        }
    )
    recorder = Recorder().register(session.coordinator.hooks)
    try:
        await session.initialize()
        answer = await session.execute("Count from 1 to 25")
    finally:
        await session.cleanup()

    assert answer == count_to(25)
    assert_one_call(recorder, "ok")
    # Each of the three attempts (the first answer and two continuations) warns about the key
    # and has its request and response in debug and raw form; the component's own llm:request
    # and llm:response per attempt are not forwarded (the module emits one of each per call).
    attempt = [
        "provider:config_warning",
        "llm:request:debug",
        "llm:request:raw",
        "llm:response:debug",
        "llm:response:raw",
    ]
    assert recorder.names() == [
        "llm:request",
        *attempt,
        "provider:continuation",
        *attempt,
        "provider:continuation",
        *attempt,
        "llm:response",
    ]
    warning = recorder.named("provider:config_warning")[0]
    assert (warning["key"], warning["closest_key"]) == ("max_continuation", "max_continuations")
    assert "max_continuations" in warning["message"]
    rounds = recorder.named("provider:continuation")
    assert [r["round"] for r in rounds] == [1, 2]
    for r in rounds:
        assert {"max_continuations", "output_tokens", "characters", "provider", "model"} <= set(r)
        assert r["max_continuations"] == 3
    assert recorder.named("llm:response")[0]["usage"]["output_tokens"] == 25
    seen = json.dumps(recorder.events)
    assert emulator.secret_access_key not in seen, "the component scrubbed its events"
    assert "Signature=" in seen, "the raw events (signature redacted) were among those checked"
    assert serve_children() == []


@pytest.mark.asyncio
async def test_a_streamed_completion_reports_its_blocks(mounted):
    provider, coordinator, recorder = mounted
    recorder.register(coordinator.hooks, COMPONENT_EVENTS)
    response = await provider.complete(
        ChatRequest(messages=[{"role": "user", "content": "stream me"}], stream=True)
    )
    assert_one_call(recorder, "ok")
    assert recorder.names() == [
        "llm:request",
        "llm:stream_block_start",
        "llm:stream_block_delta",
        "llm:stream_block_end",
        "llm:response",
    ]
    [start], [delta], [end] = (
        recorder.named(f"llm:stream_block_{n}") for n in ("start", "delta", "end")
    )
    assert (start["block_index"], start["block_type"]) == (0, "text")
    assert (delta["sequence"], delta["text"]) == (0, response.content[0].text)
    assert (end["block_index"], end["block_type"]) == (0, "text")


@pytest.mark.asyncio
async def test_large_event_lists_arrive_whole_and_past_the_cap_are_marked(emulator):
    # The raw response event carries the whole body: about 110 KiB of events here, far over
    # gRPC's default 8 KiB of metadata, which the module's channel must accept.
    config = {**emulator.provider_config(), "raw_debug": True}
    coordinator = MockCoordinator()
    recorder = Recorder().register(coordinator.hooks)
    cleanup = await amplifier_module_provider_bedrock.mount(coordinator, config)
    try:
        provider = coordinator.get("providers", "bedrock")
        await provider.complete(ask_to_count(20000))
        assert_one_call(recorder, "ok")
        [raw] = recorder.named("llm:response:raw")
        assert count_to(20000) in json.dumps(raw)
        assert len(json.dumps(recorder.events)) > 100_000
        assert "provider:events_truncated" not in recorder.names()

        # About 350 KiB: over the 256 KiB asked for, so the bulky raw response is left out,
        # the small events stay, and the list ends with the marker.
        recorder.events.clear()
        response = await provider.complete(ask_to_count(60000))
        assert response.content[0].text == count_to(60000)
        request_id = assert_one_call(recorder, "ok")
        assert recorder.names() == [
            "llm:request",
            "llm:request:raw",
            "provider:events_truncated",
            "llm:response",
        ]
        [marker] = recorder.named("provider:events_truncated")
        assert marker["dropped"] == 1
        assert marker["dropped_events"] == {"llm:response:raw": 1}
        assert marker["limit_bytes"] == 256 * 1024
        assert marker["request_id"] == request_id
    finally:
        await cleanup()


@pytest.mark.asyncio
async def test_a_failed_calls_events_arrive_before_its_error(emulator):
    canary = "CANARY-secret-access-key-e7a9"
    config = {
        **emulator.provider_config(),
        "aws_secret_access_key": canary,
        "max_retries": 0,
        "max_continuation": 1,
        "raw_debug": True,
    }
    coordinator = MockCoordinator()
    recorder = Recorder().register(coordinator.hooks)
    cleanup = await amplifier_module_provider_bedrock.mount(coordinator, config)
    try:
        with pytest.raises(AuthenticationError):
            await coordinator.get("providers", "bedrock").complete(
                ChatRequest(messages=[{"role": "user", "content": "leak?"}])
            )
    finally:
        await cleanup()
    assert_one_call(recorder, "error")
    assert recorder.names() == [
        "llm:request",
        "provider:config_warning",
        "llm:request:raw",
        "llm:response:raw",
        "llm:response",
    ]
    assert recorder.named("llm:response:raw")[0]["status"] == 403
    assert canary not in json.dumps(recorder.events)


def test_unreadable_event_metadata_is_skipped_not_fatal(caplog):
    key = EVENTS_METADATA_KEY
    good = [{"name": "provider:retry", "data": {"attempt": 2}}]
    assert _events_from_metadata(None, ((key, json.dumps(good).encode()),)) == [
        ("provider:retry", {"attempt": 2})
    ]
    for bad in (b"{not json", b'{"name": "x"}', b'[{"name": 1, "data": {}}]', b"[[1, 2]]"):
        assert _events_from_metadata(((key, bad),)) == []
    assert caplog.text.count("unreadable x-bedrock-events-bin metadata") == 4


@pytest.mark.asyncio
async def test_a_streamed_messages_api_completion_reports_its_blocks(emulator):
    # default_model anthropic.claude-sonnet-5: Bedrock's Messages API, server-sent events.
    sonnet_5 = "anthropic.claude-sonnet-5"
    coordinator = MockCoordinator()
    recorder = Recorder().register(coordinator.hooks)
    config = {**emulator.provider_config(), "default_model": sonnet_5}
    cleanup = await amplifier_module_provider_bedrock.mount(coordinator, config)
    try:
        provider = coordinator.get("providers", "bedrock")
        response = await provider.complete(
            ChatRequest(messages=[{"role": "user", "content": "stream me"}], stream=True)
        )
    finally:
        await cleanup()

    assert assert_one_call(recorder, "ok")
    assert recorder.names() == [
        "llm:request",
        "llm:stream_block_start",
        "llm:stream_block_delta",
        "llm:stream_block_end",
        "llm:response",
    ]
    [delta] = recorder.named("llm:stream_block_delta")
    assert delta["text"] == response.content[0].text
    assert response.content[0].text == "Hello from the local Bedrock emulator! You said: stream me"
    assert response.metadata["model"] == sonnet_5
    assert recorder.named("llm:response")[0]["model"] == sonnet_5
    [call] = emulator.requests()
    assert (call["path"], call["operation"], call["model_id"]) == (
        "/anthropic/v1/messages",
        "messages",
        sonnet_5,
    )
    assert call["body"]["model"] == sonnet_5 and call["body"]["stream"] is True
    assert serve_children() == []
