"""Through this module (gRPC) and through `bedrock-host complete` (no gRPC, no Python), the same
ChatRequest and the same scripted Bedrock answer give the same ChatResponse, and Bedrock
receives the same body.

Normalised before comparing, and why:
- `metadata.request_id`: the emulator numbers the requests it answers (`x-amzn-RequestId`), so the
  two paths see different ids by construction.
Nothing else may differ.
"""

import json

import pytest
from amplifier_core.message_models import ChatRequest, RedactedThinkingBlock, ThinkingBlock

import chat_requests
from cli import cli_complete
from conftest import anthropic_answer


def text_answer(text: str) -> dict:
    return {
        "id": "msg_bdrk_text01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 7},
    }


def normalised(response) -> dict:
    data = response.model_dump(mode="json", exclude_none=True)
    (data.get("metadata") or {}).pop("request_id", None)
    return data


async def both_paths(mounted, emulator, tmp_path, request: ChatRequest, answer: dict):
    """(module response, CLI response, body Bedrock got from the module); bodies must agree."""
    provider, _, _ = mounted
    emulator.push(answer)
    start = len(emulator.requests())
    untouched = request.model_dump_json()
    ours = await provider.complete(request)
    assert request.model_dump_json() == untouched, "complete() must not modify the caller's request"
    emulator.push(answer)
    cli = cli_complete(emulator, request, tmp_path)
    calls = emulator.requests()[start:]
    assert len(calls) == 2, calls
    assert calls[0]["body"] == calls[1]["body"], (
        "Bedrock must receive the same body from both paths"
    )
    assert (calls[0]["model_id"], calls[0]["operation"]) == (
        calls[1]["model_id"],
        calls[1]["operation"],
    )
    assert normalised(ours) == normalised(cli)
    return ours, cli, calls[0]["body"]


@pytest.mark.asyncio
async def test_plain_text(mounted, emulator, tmp_path):
    _, _, recorder = mounted
    ours, _, body = await both_paths(
        mounted, emulator, tmp_path, chat_requests.plain(), text_answer("Bonjour !")
    )
    assert [b.text for b in ours.content] == ["Bonjour !"]
    [request_event] = recorder.named("llm:request")
    [response_event] = recorder.named("llm:response")
    assert request_event["provider"] == response_event["provider"] == "bedrock"
    assert request_event["model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert request_event["message_count"] == 2 and request_event["max_tokens"] == 256
    assert response_event["status"] == "ok" and response_event["finish_reason"] == "stop"
    assert response_event["usage"] == {"input_tokens": 21, "output_tokens": 7, "total_tokens": 28}
    assert isinstance(response_event["duration_ms"], int)
    assert ours.finish_reason == "stop"
    assert ours.usage.input_tokens == 21 and ours.usage.output_tokens == 7
    assert body["system"] and body["temperature"] == 0.5 and body["max_tokens"] == 256


@pytest.mark.asyncio
async def test_thinking_signature_is_replayed_byte_exact(mounted, emulator, tmp_path):
    answer = anthropic_answer("ok_thinking_then_text_sonnet45.json")
    ours, _, _ = await both_paths(
        mounted, emulator, tmp_path, chat_requests.thinking_question(), answer
    )
    thinking = next(b for b in ours.content if isinstance(b, ThinkingBlock))
    recorded = next(b for b in answer["content"] if b["type"] == "thinking")
    assert thinking.signature == recorded["signature"]

    later = chat_requests.thinking_replay(thinking.thinking, thinking.signature)
    _, _, body = await both_paths(mounted, emulator, tmp_path, later, text_answer("370"))
    sent = next(b for b in body["messages"][1]["content"] if b["type"] == "thinking")
    assert sent["signature"] == recorded["signature"]
    assert sent["thinking"] == recorded["thinking"]


@pytest.mark.asyncio
async def test_redacted_thinking(mounted, emulator, tmp_path):
    answer = anthropic_answer("ok_redacted_thinking_sonnet37.json")
    request = chat_requests.plain().model_copy(
        update={"metadata": {"thinking_budget_tokens": 2048}, "max_output_tokens": 4096}
    )
    ours, _, _ = await both_paths(mounted, emulator, tmp_path, request, answer)
    redacted = [b for b in ours.content if isinstance(b, RedactedThinkingBlock)]
    assert [b.data for b in redacted] == [
        b["data"] for b in answer["content"] if b["type"] == "redacted_thinking"
    ]


@pytest.mark.asyncio
async def test_tool_round_trip(mounted, emulator, tmp_path):
    provider, _, _ = mounted
    answer = chat_requests.tool_answer()
    ours, _, body = await both_paths(
        mounted, emulator, tmp_path, chat_requests.tool_call_request(), answer
    )
    assert body["tools"][0]["name"] == "get_weather"
    assert ours.finish_reason == "tool_calls"
    calls = provider.parse_tool_calls(ours)
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("toolu_01Paris", "get_weather", answer["content"][1]["input"])
    ]
    assert ours.usage.cache_read_tokens == 1024 and ours.usage.cache_write_tokens == 96

    _, _, body = await both_paths(
        mounted,
        emulator,
        tmp_path,
        chat_requests.tool_result_request(),
        text_answer("18 °C, clear."),
    )
    [result] = body["messages"][-1]["content"]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "toolu_01Paris",
        "content": '{"temperature_c": 18, "sky": "clear"}',
        # The last user message's cache point: prompt caching is on by default.
        "cache_control": {"type": "ephemeral"},
    }


@pytest.mark.asyncio
async def test_tool_result_as_a_typed_block(mounted, emulator, tmp_path):
    request = chat_requests.tool_result_block_request()
    _, _, body = await both_paths(mounted, emulator, tmp_path, request, text_answer("18 °C."))
    [result] = body["messages"][-1]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01Paris"
    assert json.loads(result["content"]) == {"temperature_c": 18, "sky": "clear"}


@pytest.mark.asyncio
async def test_image(mounted, emulator, tmp_path):
    _, _, body = await both_paths(
        mounted, emulator, tmp_path, chat_requests.with_image(), text_answer("A transparent pixel.")
    )
    image = body["messages"][0]["content"][1]
    assert image["type"] == "image"
    assert image["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": chat_requests.PNG_1X1,
    }


@pytest.mark.asyncio
async def test_kwargs_override_request_fields_on_a_copy(mounted, emulator):
    """Orchestrators may pass ChatRequest fields as kwargs; a dict request is accepted too."""
    provider, _, _ = mounted
    request = chat_requests.plain().model_dump(exclude_none=True)
    emulator.push(text_answer("ok"))
    await provider.complete(request, max_output_tokens=77, temperature=0.125, not_a_field=1)
    body = emulator.requests()[-1]["body"]
    assert (body["max_tokens"], body["temperature"]) == (77, 0.125)
    assert request["max_output_tokens"] == 256 and request["temperature"] == 0.5
