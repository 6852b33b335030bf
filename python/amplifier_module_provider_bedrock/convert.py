"""Conversions between amplifier-core's pydantic models and the `amplifier.module` protobuf types.

The field conventions are those of amplifier-core's own Rust converters (`conversions.rs`), so a
request encoded here decodes in the kernel (and in `bedrock-host serve`) to the same ChatRequest,
and a ChatResponse decoded here equals what the kernel decodes from the same bytes:

- scalar sentinels mean "unset": 0 / 0.0 / "" / false become None (so an explicit
  ``temperature=0.0`` travels as "unset", exactly as upstream);
- JSON-valued fields travel as JSON strings (``metadata_json``, ``input_json``, ``output_json``,
  ``parameters_json``, ``source_json``, ``arguments_json``, ``defaults_json``);
- Usage ``prompt_tokens``/``completion_tokens``/``cache_creation_tokens`` are amplifier-core's
  ``input_tokens``/``output_tokens``/``cache_write_tokens``;
- a ChatResponse carries its content twice: typed ``content_blocks`` and the deprecated
  ``content`` JSON string; readers prefer ``content_blocks``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from amplifier_core._grpc_gen import amplifier_module_pb2 as pb
from amplifier_core.message_models import (
    ChatRequest,
    ChatResponse,
    Degradation,
    ImageBlock,
    Message,
    ReasoningBlock,
    RedactedThinkingBlock,
    ResponseFormatJson,
    ResponseFormatJsonSchema,
    ResponseFormatText,
    TextBlock,
    ThinkingBlock,
    ToolCall,
    ToolCallBlock,
    ToolResultBlock,
    ToolSpec,
    Usage,
)
from amplifier_core.models import ConfigField, ModelInfo, Pricing, ProviderInfo

_I32_MAX = 2**31 - 1

_ROLE_TO_PROTO = {
    "system": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
    "function": pb.ROLE_FUNCTION,
    "developer": pb.ROLE_DEVELOPER,
}
_ROLE_FROM_PROTO = {v: k for k, v in _ROLE_TO_PROTO.items()}

# amplifier-core's visibility names versus the proto's (upstream's mapping, not a renaming by us).
_VISIBILITY_TO_PROTO = {
    None: pb.VISIBILITY_UNSPECIFIED,
    "internal": pb.VISIBILITY_LLM_ONLY,
    "developer": pb.VISIBILITY_ALL,
    "user": pb.VISIBILITY_USER_ONLY,
}
_VISIBILITY_FROM_PROTO = {v: k for k, v in _VISIBILITY_TO_PROTO.items()}

_FIELD_TYPE_FROM_PROTO = {
    pb.CONFIG_FIELD_TYPE_SECRET: "secret",
    pb.CONFIG_FIELD_TYPE_BOOLEAN: "boolean",
}


def dump_json(value: Any) -> str:
    """Compact JSON, as serde_json writes it (non-ASCII kept as UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _load_json(text: str, default: Any) -> Any:
    """Parse a JSON string field; an empty or unparsable one is `default`, as upstream reads it."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _i32(value: int) -> int:
    """Clamp to the proto's int32 range, as upstream does."""
    return min(int(value), _I32_MAX)


# --- content blocks ----------------------------------------------------------------------------


def block_to_proto(block: Any) -> pb.ContentBlock:
    """One amplifier-core content block as a proto ContentBlock."""
    out = pb.ContentBlock(visibility=_VISIBILITY_TO_PROTO[block.visibility])
    if isinstance(block, TextBlock):
        out.text_block.text = block.text
    elif isinstance(block, ThinkingBlock):
        out.thinking_block.thinking = block.thinking
        out.thinking_block.signature = block.signature or ""
        if block.content is not None:
            out.thinking_block.content = dump_json(block.content)
    elif isinstance(block, RedactedThinkingBlock):
        out.redacted_thinking_block.data = block.data
    elif isinstance(block, ToolCallBlock):
        out.tool_call_block.id = block.id
        out.tool_call_block.name = block.name
        out.tool_call_block.input_json = dump_json(block.input)
    elif isinstance(block, ToolResultBlock):
        out.tool_result_block.tool_call_id = block.tool_call_id
        out.tool_result_block.output_json = dump_json(block.output)
    elif isinstance(block, ImageBlock):
        media_type = block.source.get("media_type")
        data = block.source.get("data")
        out.image_block.media_type = media_type if isinstance(media_type, str) else ""
        # Upstream puts the (base64) text of source.data as bytes; source_json is authoritative.
        out.image_block.data = data.encode() if isinstance(data, str) else b""
        out.image_block.source_json = dump_json(block.source)
    elif isinstance(block, ReasoningBlock):
        out.reasoning_block.content.extend(dump_json(v) for v in block.content)
        out.reasoning_block.summary.extend(dump_json(v) for v in block.summary)
    else:
        raise TypeError(f"unsupported content block type {type(block).__name__}")
    return out


def block_from_proto(block: pb.ContentBlock) -> Any:
    """One proto ContentBlock as an amplifier-core content block (None if it has no variant)."""
    vis = _VISIBILITY_FROM_PROTO.get(block.visibility)
    kind = block.WhichOneof("block")
    if kind == "text_block":
        return TextBlock(text=block.text_block.text, visibility=vis)
    if kind == "thinking_block":
        tb = block.thinking_block
        return ThinkingBlock(
            thinking=tb.thinking,
            signature=tb.signature or None,
            content=_load_json(tb.content, None),
            visibility=vis,
        )
    if kind == "redacted_thinking_block":
        return RedactedThinkingBlock(data=block.redacted_thinking_block.data, visibility=vis)
    if kind == "tool_call_block":
        tc = block.tool_call_block
        return ToolCallBlock(
            id=tc.id, name=tc.name, input=_load_json(tc.input_json, {}), visibility=vis
        )
    if kind == "tool_result_block":
        tr = block.tool_result_block
        return ToolResultBlock(
            tool_call_id=tr.tool_call_id, output=_load_json(tr.output_json, None), visibility=vis
        )
    if kind == "image_block":
        return ImageBlock(source=_load_json(block.image_block.source_json, {}), visibility=vis)
    if kind == "reasoning_block":
        rb = block.reasoning_block
        return ReasoningBlock(
            content=[json.loads(v) for v in rb.content],
            summary=[json.loads(v) for v in rb.summary],
            visibility=vis,
        )
    return None


# --- requests ----------------------------------------------------------------------------------


def message_to_proto(message: Message) -> pb.Message:
    """A conversation message as a proto Message (text or block content)."""
    out = pb.Message(
        role=_ROLE_TO_PROTO[message.role],
        name=message.name or "",
        tool_call_id=message.tool_call_id or "",
    )
    if isinstance(message.content, str):
        out.text_content = message.content
    else:
        out.block_content.SetInParent()
        out.block_content.blocks.extend(block_to_proto(b) for b in message.content)
    if message.metadata is not None:
        out.metadata_json = dump_json(message.metadata)
    return out


def request_to_proto(request: ChatRequest) -> pb.ChatRequest:
    """A ChatRequest as the proto ChatRequest that `ProviderService.Complete` takes.

    Reads the request only; the caller's object is never modified.
    """
    out = pb.ChatRequest(
        messages=[message_to_proto(m) for m in request.messages],
        temperature=request.temperature or 0.0,
        top_p=request.top_p or 0.0,
        max_output_tokens=_i32(request.max_output_tokens or 0),
        conversation_id=request.conversation_id or "",
        stream=bool(request.stream),
        model=request.model or "",
        stop=list(request.stop or []),
        reasoning_effort=request.reasoning_effort or "",
        timeout=request.timeout or 0.0,
    )
    for tool in request.tools or []:
        out.tools.add(
            name=tool.name,
            description=tool.description or "",
            parameters_json=dump_json(tool.parameters),
        )
    fmt = request.response_format
    if isinstance(fmt, ResponseFormatText):
        out.response_format.text = True
    elif isinstance(fmt, ResponseFormatJson):
        out.response_format.json = True
    elif isinstance(fmt, ResponseFormatJsonSchema):
        out.response_format.json_schema.schema_json = dump_json(fmt.json_schema)
        out.response_format.json_schema.strict = bool(fmt.strict)
    if request.metadata is not None:
        out.metadata_json = dump_json(request.metadata)
    if isinstance(request.tool_choice, str):
        out.tool_choice = request.tool_choice
    elif request.tool_choice is not None:
        out.tool_choice = dump_json(request.tool_choice)
    return out


def request_from_proto(request: pb.ChatRequest) -> ChatRequest:
    """The inverse of `request_to_proto` (upstream's reading of a proto ChatRequest)."""
    messages = []
    for m in request.messages:
        kind = m.WhichOneof("content")
        if kind is None:
            continue  # upstream skips a message without content
        content: Any = (
            m.text_content
            if kind == "text_content"
            else [b for b in map(block_from_proto, m.block_content.blocks) if b is not None]
        )
        messages.append(
            Message(
                role=_ROLE_FROM_PROTO.get(m.role, "user"),
                content=content,
                name=m.name or None,
                tool_call_id=m.tool_call_id or None,
                metadata=_load_json(m.metadata_json, None),
            )
        )
    fmt: Any = None
    which = (
        request.response_format.WhichOneof("format")
        if request.HasField("response_format")
        else None
    )
    if which == "text":
        fmt = ResponseFormatText()
    elif which == "json":
        fmt = ResponseFormatJson()
    elif which == "json_schema":
        js = request.response_format.json_schema
        fmt = ResponseFormatJsonSchema(
            json_schema=_load_json(js.schema_json, {}), strict=True if js.strict else None
        )
    tool_choice: Any = None
    if request.tool_choice:
        parsed = _load_json(request.tool_choice, None)
        tool_choice = parsed if isinstance(parsed, dict) else request.tool_choice
    return ChatRequest(
        messages=messages,
        tools=[
            ToolSpec(
                name=t.name,
                description=t.description or None,
                parameters=_load_json(t.parameters_json, {}),
            )
            for t in request.tools
        ]
        or None,
        response_format=fmt,
        temperature=request.temperature or None,
        top_p=request.top_p or None,
        max_output_tokens=request.max_output_tokens or None,
        conversation_id=request.conversation_id or None,
        stream=request.stream,
        metadata=_load_json(request.metadata_json, None),
        model=request.model or None,
        tool_choice=tool_choice,
        stop=list(request.stop) or None,
        reasoning_effort=request.reasoning_effort or None,
        timeout=request.timeout or None,
    )


# --- responses ---------------------------------------------------------------------------------


def usage_to_proto(usage: Usage) -> pb.Usage:
    """Usage with amplifier-core names as the proto's prompt/completion/cache_creation names."""
    out = pb.Usage(
        prompt_tokens=_i32(usage.input_tokens),
        completion_tokens=_i32(usage.output_tokens),
        total_tokens=_i32(usage.total_tokens),
    )
    if usage.reasoning_tokens is not None:
        out.reasoning_tokens = _i32(usage.reasoning_tokens)
    if usage.cache_read_tokens is not None:
        out.cache_read_tokens = _i32(usage.cache_read_tokens)
    if usage.cache_write_tokens is not None:
        out.cache_creation_tokens = _i32(usage.cache_write_tokens)
    if usage.cost_usd is not None:
        out.cost_usd = str(usage.cost_usd)
    return out


def usage_from_proto(usage: pb.Usage) -> Usage:
    """The inverse of `usage_to_proto`; unset optional counts stay None."""
    return Usage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        reasoning_tokens=usage.reasoning_tokens if usage.HasField("reasoning_tokens") else None,
        cache_read_tokens=usage.cache_read_tokens if usage.HasField("cache_read_tokens") else None,
        cache_write_tokens=(
            usage.cache_creation_tokens if usage.HasField("cache_creation_tokens") else None
        ),
        cost_usd=Decimal(usage.cost_usd) if usage.HasField("cost_usd") else None,
    )


def response_to_proto(response: ChatResponse) -> pb.ChatResponse:
    """A ChatResponse as the proto ChatResponse, content written both typed and as JSON."""
    out = pb.ChatResponse(
        content=dump_json([b.model_dump(mode="json", exclude_none=True) for b in response.content]),
        content_blocks=[block_to_proto(b) for b in response.content],
        finish_reason=response.finish_reason or "",
    )
    for call in response.tool_calls or []:
        out.tool_calls.add(id=call.id, name=call.name, arguments_json=dump_json(call.arguments))
    if response.usage is not None:
        out.usage.CopyFrom(usage_to_proto(response.usage))
    if response.degradation is not None:
        d = response.degradation
        out.degradation.CopyFrom(
            pb.Degradation(requested=d.requested, actual=d.actual, reason=d.reason)
        )
    if response.metadata is not None:
        out.metadata_json = dump_json(response.metadata)
    return out


def tool_calls_from_proto(calls: Any) -> list[ToolCall]:
    """Proto ToolCallMessages as amplifier-core ToolCalls (arguments parsed from JSON)."""
    return [
        ToolCall(id=c.id, name=c.name, arguments=_load_json(c.arguments_json, {})) for c in calls
    ]


def response_from_proto(response: pb.ChatResponse) -> ChatResponse:
    """A proto ChatResponse as amplifier-core's ChatResponse, read as the kernel reads it."""
    if len(response.content_blocks):
        content = [b for b in map(block_from_proto, response.content_blocks) if b is not None]
    else:
        content = _load_json(response.content, [])
    degradation = None
    if response.HasField("degradation"):
        d = response.degradation
        degradation = Degradation(requested=d.requested, actual=d.actual, reason=d.reason)
    return ChatResponse(
        content=content,
        tool_calls=tool_calls_from_proto(response.tool_calls) or None,
        usage=usage_from_proto(response.usage) if response.HasField("usage") else None,
        degradation=degradation,
        finish_reason=response.finish_reason or None,
        metadata=_load_json(response.metadata_json, None),
    )


# --- provider and model metadata ---------------------------------------------------------------


def _config_field_from_proto(field: pb.ConfigField) -> ConfigField:
    """A proto ConfigField; the proto has no "choice" type, so choices imply it."""
    field_type = (
        "choice" if len(field.choices) else _FIELD_TYPE_FROM_PROTO.get(field.field_type, "text")
    )
    return ConfigField(
        id=field.id,
        display_name=field.display_name,
        field_type=field_type,
        prompt=field.prompt,
        env_var=field.env_var or None,
        choices=list(field.choices) or None,
        required=field.required,
        default=field.default_value or None,
        show_when=dict(field.show_when) or None,
        requires_model=field.requires_model,
    )


def provider_info_from_proto(info: pb.ProviderInfo) -> ProviderInfo:
    """The server's ProviderInfo as amplifier-core's."""
    return ProviderInfo(
        id=info.id,
        display_name=info.display_name,
        credential_env_vars=list(info.credential_env_vars),
        capabilities=list(info.capabilities),
        defaults=_load_json(info.defaults_json, {}),
        config_fields=[_config_field_from_proto(f) for f in info.config_fields],
    )


def model_info_from_proto(model: pb.ModelInfo) -> ModelInfo:
    """One of the server's ModelInfo entries as amplifier-core's."""
    pricing = _load_json(model.pricing_json, None)
    return ModelInfo(
        id=model.id,
        display_name=model.display_name,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        capabilities=list(model.capabilities),
        defaults=_load_json(model.defaults_json, {}),
        pricing=Pricing(**pricing) if isinstance(pricing, dict) else None,
    )
