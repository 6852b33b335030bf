"""Our proto conversions agree with amplifier-core's own (its Rust converters, via `_engine`).

The kernel decodes a proto ChatRequest with `proto_chat_request_to_native` and encodes a native
ChatResponse with `native_chat_response_to_proto`; `_engine` exposes both. A request we encode
must decode there to the request we started from, and a response decoded by us must be what
the kernel would make of the same bytes.
"""

import json

import pytest
from amplifier_core import _engine
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb
from amplifier_core.message_models import ChatRequest, ChatResponse

from amplifier_module_provider_bedrock import convert

import chat_requests
from protojson import with_json_parsed

REQUESTS = {
    "plain": chat_requests.plain,
    "image": chat_requests.with_image,
    "tool_call": chat_requests.tool_call_request,
    "tool_result": chat_requests.tool_result_request,
    "thinking_replay": lambda: chat_requests.thinking_replay("925 ÷ 5 = 185", "EvQBCkYICxgC+/=="),
    "every_field": chat_requests.every_field,
}


def _canonical(request: ChatRequest) -> dict:
    return request.model_dump(mode="json", exclude_none=True)


def _kernel_request(encoded: bytes) -> ChatRequest:
    """The kernel's reading of proto bytes, as amplifier-core's pydantic ChatRequest.

    The kernel's native JSON names a JSON-schema response format's schema `schema` (the
    pydantic model's serialization alias), which pydantic reads back only as `json_schema`.
    """
    native = json.loads(_engine.proto_chat_request_to_json(encoded))
    fmt = native.get("response_format") or {}
    if "schema" in fmt:
        fmt["json_schema"] = fmt.pop("schema")
    return ChatRequest.model_validate(native)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_kernel_decodes_our_request_to_the_original(name):
    request = REQUESTS[name]()
    before = request.model_dump_json()
    encoded = convert.request_to_proto(request).SerializeToString()
    assert request.model_dump_json() == before, "encoding must not touch the caller's request"
    decoded = _kernel_request(encoded)
    assert _canonical(decoded) == _canonical(request)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_our_request_decoder_inverts_our_encoder(name):
    request = REQUESTS[name]()
    proto = convert.request_to_proto(request)
    assert _canonical(convert.request_from_proto(proto)) == _canonical(request)


def test_sentinels_mean_unset_as_upstream():
    """Upstream's convention: 0 / "" / false on the wire are "not set" (even an explicit 0.0)."""
    request = ChatRequest(
        messages=[{"role": "user", "content": "x"}], temperature=0.0, stream=False
    )
    proto = convert.request_to_proto(request)
    assert proto.temperature == 0.0 and not proto.stream and proto.model == ""
    kernel = json.loads(_engine.proto_chat_request_to_json(proto.SerializeToString()))
    assert "temperature" not in kernel and "stream" not in kernel
    assert convert.request_from_proto(proto).temperature is None


RESPONSES = [
    {
        "content": [
            {"type": "thinking", "thinking": "Let me think…", "signature": "c2ln+/=="},
            {"type": "redacted_thinking", "data": "b3BhcXVl"},
            {"type": "text", "text": "Checking the weather."},
            {
                "type": "tool_call",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        "usage": {
            "input_tokens": 1532,
            "output_tokens": 58,
            "total_tokens": 1590,
            "cache_read_tokens": 1024,
            "cache_write_tokens": 96,
        },
        "finish_reason": "tool_calls",
        "metadata": {
            "model": "claude-sonnet-4-5-20250929",
            "request_id": "r-1",
            "stop_reason": "tool_use",
        },
    },
    {
        "content": [
            {"type": "text", "text": "internal note", "visibility": "internal"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
            },
        ],
        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7, "reasoning_tokens": 2},
        "degradation": {"requested": "json_schema", "actual": "text", "reason": "unsupported"},
        "finish_reason": "stop",
    },
    {"content": []},
]


@pytest.mark.parametrize("index", range(len(RESPONSES)))
def test_we_decode_kernel_encoded_responses_as_the_kernel_does(index):
    native = ChatResponse.model_validate(RESPONSES[index])
    kernel_bytes = _engine.json_to_proto_chat_response(native.model_dump_json(exclude_none=True))
    ours = convert.response_from_proto(pb.ChatResponse.FromString(kernel_bytes))
    assert ours == native


@pytest.mark.parametrize("index", range(len(RESPONSES)))
def test_we_encode_responses_as_the_kernel_does(index):
    native = ChatResponse.model_validate(RESPONSES[index])
    kernel = pb.ChatResponse.FromString(
        _engine.json_to_proto_chat_response(native.model_dump_json(exclude_none=True))
    )
    ours = convert.response_to_proto(native)
    assert with_json_parsed(ours) == with_json_parsed(kernel)
