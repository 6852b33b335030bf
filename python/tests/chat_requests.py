"""ChatRequests and scripted Bedrock answers shared by the conversion and parity tests."""

from __future__ import annotations

import base64
from typing import Any

from amplifier_core.message_models import ChatRequest

# A 1×1 transparent PNG: small, but a real image Bedrock would accept.
PNG_1X1 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def plain() -> ChatRequest:
    return ChatRequest(
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello in French — s'il vous plaît."},
        ],
        max_output_tokens=256,
        temperature=0.5,
    )


def with_image() -> ChatRequest:
    return ChatRequest(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1},
                    },
                ],
            }
        ],
    )


def tool_call_request() -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )


def tool_answer() -> dict[str, Any]:
    """Bedrock asking for the weather tool (an Anthropic Messages response)."""
    return {
        "id": "msg_bdrk_tool01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "text", "text": "Let me look that up."},
            {
                "type": "tool_use",
                "id": "toolu_01Paris",
                "name": "get_weather",
                "input": {"city": "Paris", "units": ["C", "F"], "nested": {"n": 1.5, "ok": True}},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 412,
            "output_tokens": 58,
            "cache_read_input_tokens": 1024,
            "cache_creation_input_tokens": 96,
        },
    }


def tool_result_request() -> ChatRequest:
    """The turn after `tool_answer`: the call and its result."""
    return ChatRequest(
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look that up."},
                    {
                        "type": "tool_call",
                        "id": "toolu_01Paris",
                        "name": "get_weather",
                        "input": {
                            "city": "Paris",
                            "units": ["C", "F"],
                            "nested": {"n": 1.5, "ok": True},
                        },
                    },
                ],
            },
            # The form Amplifier's orchestrators add: the output as the tool message's text.
            {
                "role": "tool",
                "tool_call_id": "toolu_01Paris",
                "content": '{"temperature_c": 18, "sky": "clear"}',
            },
        ],
        tools=[WEATHER_TOOL],
    )


def tool_result_block_request() -> ChatRequest:
    """The same turn with the result as a typed tool_result block in a user message."""
    request = tool_result_request()
    result = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_call_id": "toolu_01Paris",
                "output": {"temperature_c": 18, "sky": "clear"},
            }
        ],
    }
    return ChatRequest(messages=[*request.messages[:2], result], tools=request.tools)


def thinking_question() -> ChatRequest:
    """The first turn of the thinking conversation, with a thinking budget."""
    return ChatRequest(
        messages=[{"role": "user", "content": "What is 925 / 5?"}],
        metadata={"thinking_budget_tokens": 2048},
        max_output_tokens=4096,
    )


def thinking_replay(thinking: str, signature: str) -> ChatRequest:
    """A later turn that sends a signed thinking block back, as Anthropic requires."""
    return ChatRequest(
        messages=[
            {"role": "user", "content": "What is 925 / 5?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": thinking, "signature": signature},
                    {"type": "text", "text": "185"},
                ],
            },
            {"role": "user", "content": "And times two?"},
        ],
        metadata={"thinking_budget_tokens": 2048},
        max_output_tokens=4096,
    )


def every_field() -> ChatRequest:
    """Every ChatRequest field and block kind the proto carries, each with a non-sentinel value."""
    return ChatRequest(
        messages=[
            {"role": "developer", "content": "Be exact.", "name": "policy"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi", "visibility": "user"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                ],
                "metadata": {"source": "cli", "n": 3},
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "hm",
                        "signature": "sig==",
                        "visibility": "internal",
                    },
                    {"type": "redacted_thinking", "data": "opaque=="},
                    {
                        "type": "reasoning",
                        "content": ["enc", {"id": "r1"}],
                        "summary": [{"text": "s"}],
                    },
                    {
                        "type": "tool_call",
                        "id": "t1",
                        "name": "calc",
                        "input": {"x": [1, 2]},
                        "visibility": "developer",
                    },
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": [{"type": "tool_result", "tool_call_id": "t1", "output": [3, "three"]}],
            },
        ],
        tools=[WEATHER_TOOL, {"name": "calc", "parameters": {"type": "object"}}],
        response_format={"type": "json_schema", "json_schema": {"type": "object"}, "strict": True},
        temperature=0.25,
        top_p=0.9,
        max_output_tokens=1000,
        conversation_id="conv-1",
        stream=True,
        metadata={"thinking_budget_tokens": 1024, "tags": ["a"]},
        model="us.anthropic.claude-haiku-4-5-20251001-v1:0",
        tool_choice={"type": "tool", "name": "calc"},
        stop=["END", "STOP"],
        reasoning_effort="low",
        timeout=42.5,
    )
