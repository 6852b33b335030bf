"""The server's proto ChatResponses are what amplifier-core's own converter makes of the same
native response, and the server's ParseToolCalls agrees with the module's parse_tool_calls.

The native response comes from `bedrock-host complete --json` for the same request and the same
scripted answer; `_engine.json_to_proto_chat_response` is the kernel's native→proto encoder.
`metadata.request_id` is dropped from both: the emulator numbers each request it answers.
"""

import pytest
from amplifier_core import _engine
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb

from amplifier_module_provider_bedrock import convert

import chat_requests
from cli import cli_complete
from conftest import anthropic_answer
from protojson import with_json_parsed

CASES = {
    "thinking": (
        chat_requests.thinking_question,
        lambda: anthropic_answer("ok_thinking_then_text_sonnet45.json"),
    ),
    "redacted_thinking": (
        chat_requests.thinking_question,
        lambda: anthropic_answer("ok_redacted_thinking_sonnet37.json"),
    ),
    "text_then_tool_use": (
        chat_requests.tool_call_request,
        lambda: anthropic_answer("ok_text_then_tool_use_haiku45.json"),
    ),
    "cache_usage": (
        chat_requests.plain,
        lambda: anthropic_answer("ok_prompt_cache_usage_sonnet45.json"),
    ),
    "max_tokens": (chat_requests.plain, lambda: anthropic_answer("ok_max_tokens_sonnet45.json")),
    "tool_use_cache_counts": (chat_requests.tool_call_request, chat_requests.tool_answer),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", sorted(CASES))
async def test_server_encodes_responses_as_the_kernel_does(server, emulator, tmp_path, case):
    make_request, make_answer = CASES[case]
    request = make_request()
    emulator.push(make_answer())
    sent = await server.provider.Complete(
        convert.request_to_proto(request), metadata=server.metadata
    )
    emulator.push(make_answer())
    native = cli_complete(emulator, request, tmp_path)
    kernel = pb.ChatResponse.FromString(
        _engine.json_to_proto_chat_response(native.model_dump_json(exclude_none=True))
    )
    assert with_json_parsed(sent, ["request_id"]) == with_json_parsed(kernel, ["request_id"])
    assert len(sent.content_blocks) == len(native.content) > 0

    parsed = await server.provider.ParseToolCalls(sent, metadata=server.metadata)
    module_view = convert.response_from_proto(sent)
    assert convert.tool_calls_from_proto(parsed.tool_calls) == (module_view.tool_calls or [])
