"""Writes converter goldens with amplifier-core's own converters (PyPI amplifier-core==2.0.2).

    python3 testdata/grpc/make_goldens.py   # in a venv with amplifier-core==2.0.2

`requests.json`: proto `ChatRequest`s (base64 of the wire bytes) and the Amplifier JSON that
`amplifier_core._engine.proto_chat_request_to_json` makes of them. `responses.json`: Amplifier
ChatResponse JSON and the proto bytes `_engine.json_to_proto_chat_response` makes of it.
The Rust tests (host-test/src/grpc/convert.rs) check our converters against these; the Python
suite (python/tests/test_goldens.py) checks that the installed amplifier-core still agrees.
"""

import base64
import json
import pathlib

from amplifier_core import _engine
from amplifier_core._grpc_gen import amplifier_module_pb2 as pb

HERE = pathlib.Path(__file__).parent


def blocks(*items):
    return pb.ContentBlockList(blocks=list(items))


def requests():
    yield "plain_text", pb.ChatRequest(messages=[pb.Message(role=pb.ROLE_USER, text_content="Hello")])
    yield "every_scalar", pb.ChatRequest(
        messages=[
            pb.Message(role=pb.ROLE_SYSTEM, text_content="Be brief.", name="sys", metadata_json='{"source": "bundle"}'),
            pb.Message(role=pb.ROLE_DEVELOPER, text_content="<context_file>notes</context_file>"),
            pb.Message(role=pb.ROLE_USER, text_content="Hi"),
        ],
        temperature=0.25,
        top_p=0.9,
        max_output_tokens=1024,
        conversation_id="conv-1",
        stream=True,
        metadata_json='{"thinking_budget_tokens": 2048}',
        model="us.anthropic.claude-haiku-4-5-20251001-v1:0",
        tool_choice="auto",
        stop=["STOP", "END"],
        reasoning_effort="medium",
        timeout=42.5,
    )
    yield "thinking_replayed_with_tools", pb.ChatRequest(
        messages=[
            pb.Message(role=pb.ROLE_USER, text_content="Weather in Oslo?"),
            pb.Message(
                role=pb.ROLE_ASSISTANT,
                block_content=blocks(
                    pb.ContentBlock(thinking_block=pb.ThinkingBlock(thinking="I should call the tool.", signature="EqQBCkYIBxgCKkA=")),
                    pb.ContentBlock(thinking_block=pb.ThinkingBlock(thinking="", signature="signature-only")),
                    pb.ContentBlock(redacted_thinking_block=pb.RedactedThinkingBlock(data="EmwKAhgBEgy3va3pzix")),
                    pb.ContentBlock(text_block=pb.TextBlock(text="Checking."), visibility=pb.VISIBILITY_LLM_ONLY),
                    pb.ContentBlock(tool_call_block=pb.ToolCallBlock(id="toolu_01", name="get_weather", input_json='{"city": "Oslo", "days": [1, 2]}')),
                ),
            ),
            pb.Message(
                role=pb.ROLE_TOOL,
                tool_call_id="toolu_01",
                block_content=blocks(pb.ContentBlock(tool_result_block=pb.ToolResultBlock(tool_call_id="toolu_01", output_json='{"temp_c": 4}'))),
            ),
        ],
        tools=[pb.ToolSpecProto(name="get_weather", description="Weather by city", parameters_json='{"type": "object", "properties": {"city": {"type": "string"}}}')],
        tool_choice='{"type": "tool", "name": "get_weather"}',
    )
    source = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    yield "image_and_formats", pb.ChatRequest(
        messages=[
            pb.Message(
                role=pb.ROLE_USER,
                block_content=blocks(
                    pb.ContentBlock(text_block=pb.TextBlock(text="What is this?"), visibility=pb.VISIBILITY_USER_ONLY),
                    pb.ContentBlock(image_block=pb.ImageBlock(media_type="image/png", data=source["data"].encode(), source_json=json.dumps(source))),
                    pb.ContentBlock(reasoning_block=pb.ReasoningBlock(content=['"step"'], summary=['{"text": "s"}']), visibility=pb.VISIBILITY_ALL),
                ),
            )
        ],
        response_format=pb.ResponseFormat(json_schema=pb.JsonSchemaFormat(schema_json='{"type": "object"}', strict=True)),
    )
    yield "json_format", pb.ChatRequest(messages=[pb.Message(role=pb.ROLE_USER, text_content="JSON please")], response_format=pb.ResponseFormat(json=True))


def responses():
    yield "text", {
        "content": [{"type": "text", "text": "Hello ✓"}],
        "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        "finish_reason": "stop",
        "metadata": {"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "request_id": "r-1", "stop_reason": "end_turn"},
    }
    yield "thinking_tools_cache", {
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCkYIBxgCKkA="},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_call", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "tool_calls": [{"id": "toolu_01", "name": "get_weather", "arguments": {"city": "Oslo"}}],
        "usage": {"input_tokens": 120, "output_tokens": 40, "total_tokens": 160, "cache_read_tokens": 100, "cache_write_tokens": 7},
        "degradation": {"requested": "a", "actual": "b", "reason": "c"},
        "finish_reason": "tool_calls",
        "metadata": {"model": "m", "request_id": "r-2"},
    }


def main():
    reqs = [
        {"name": name, "proto_base64": base64.b64encode(r.SerializeToString()).decode(), "upstream_json": json.loads(_engine.proto_chat_request_to_json(r.SerializeToString()))}
        for name, r in requests()
    ]
    resps = [
        {"name": name, "json": r, "upstream_proto_base64": base64.b64encode(_engine.json_to_proto_chat_response(json.dumps(r))).decode()}
        for name, r in responses()
    ]
    (HERE / "requests.json").write_text(json.dumps(reqs, indent=2, ensure_ascii=False) + "\n")
    (HERE / "responses.json").write_text(json.dumps(resps, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
