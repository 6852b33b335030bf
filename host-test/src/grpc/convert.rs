//! Amplifier JSON ⇄ `amplifier.module` proto messages.
//!
//! The field conventions are amplifier-core's own (its `generated/conversions.rs`): scalar
//! sentinels (`0`, `""`, `false`) mean "not set", JSON-valued fields travel as strings
//! (`metadata_json`, `input_json`, …), `Usage.cache_creation_tokens` is Amplifier's
//! `cache_write_tokens`, and a `ChatResponse` fills both `content_blocks` and the deprecated
//! `content` (the block list as a JSON string). Where upstream logs a warning and substitutes a
//! default (a field that is not JSON, a message without content, an unspecified role), this
//! side refuses with an error naming the field: a silently changed request is worse than a
//! clear rejection. Goldens made with upstream's converters (`testdata/grpc/`) keep the two in
//! step.

use std::fmt;

use serde_json::{json, Map, Value};

use crate::grpc::proto;
use crate::grpc::proto::content_block::Block;

/// A proto message that cannot be expressed as Amplifier JSON, or the reverse. Names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    field: String,
    problem: String,
}

impl ConvertError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConvertError { field: field.into(), problem: problem.into() }
    }

    /// The field that could not be converted, as a path (`messages[2].metadata_json`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The field and what is wrong with it, without a prefix: the caller's request is a
    /// `validation:` error ([`Display`](fmt::Display)), the component's answer our bug.
    pub fn describe(&self) -> String {
        format!("{} {}", self.field, self.problem)
    }
}

impl fmt::Display for ConvertError {
    /// As a fault of the caller's request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", amplifier_provider_bedrock::error::ErrorKind::Validation.prefix(), self.describe())
    }
}

impl std::error::Error for ConvertError {}

type Result<T> = std::result::Result<T, ConvertError>;

/// Parses a JSON-valued string field; empty means "not set".
fn parse_json(field: &str, text: &str) -> Result<Option<Value>> {
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ConvertError::new(field, format!("is not valid JSON ({e}): send JSON text, or an empty string for none")))
}

/// Like [`parse_json`], for fields whose value must be a JSON object.
fn parse_object(field: &str, text: &str) -> Result<Option<Map<String, Value>>> {
    match parse_json(field, text)? {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ConvertError::new(field, format!("must be a JSON object, not {}", type_name(&other)))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn to_json_string(v: &Value) -> String {
    serde_json::to_string(v).expect("a JSON value serialises")
}

/// Inserts `value` under `key` unless it is the proto's "not set" sentinel.
fn insert_nonempty(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.into(), json!(value));
    }
}

fn role_name(field: &str, role: i32) -> Result<&'static str> {
    Ok(match proto::Role::try_from(role) {
        Ok(proto::Role::System) => "system",
        Ok(proto::Role::User) => "user",
        Ok(proto::Role::Assistant) => "assistant",
        Ok(proto::Role::Tool) => "tool",
        Ok(proto::Role::Function) => "function",
        Ok(proto::Role::Developer) => "developer",
        Ok(proto::Role::Unspecified) | Err(_) => {
            return Err(ConvertError::new(
                field,
                format!(
                    "is {role}, which is no role: use ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL, ROLE_FUNCTION or ROLE_DEVELOPER"
                ),
            ))
        }
    })
}

fn visibility_name(visibility: i32) -> Option<&'static str> {
    match proto::Visibility::try_from(visibility) {
        Ok(proto::Visibility::LlmOnly) => Some("internal"),
        Ok(proto::Visibility::All) => Some("developer"),
        Ok(proto::Visibility::UserOnly) => Some("user"),
        Ok(proto::Visibility::Unspecified) | Err(_) => None,
    }
}

fn visibility_value(field: &str, name: Option<&Value>) -> Result<i32> {
    Ok(match name.and_then(Value::as_str) {
        None => proto::Visibility::Unspecified,
        Some("internal") => proto::Visibility::LlmOnly,
        Some("developer") => proto::Visibility::All,
        Some("user") => proto::Visibility::UserOnly,
        Some(other) => return Err(ConvertError::new(field, format!("is `{other}`: use `internal`, `developer` or `user`"))),
    } as i32)
}

/// One proto content block as an Amplifier content block.
pub fn block_to_json(field: &str, block: &proto::ContentBlock) -> Result<Value> {
    let mut out = Map::new();
    match &block.block {
        None => return Err(ConvertError::new(field, "has no block set: set one of text_block, thinking_block, … tool_call_block")),
        Some(Block::TextBlock(b)) => {
            out.insert("type".into(), json!("text"));
            out.insert("text".into(), json!(b.text));
        }
        Some(Block::ThinkingBlock(b)) => {
            out.insert("type".into(), json!("thinking"));
            out.insert("thinking".into(), json!(b.thinking));
            insert_nonempty(&mut out, "signature", &b.signature);
            if let Some(content) = parse_json(&format!("{field}.thinking_block.content"), &b.content)? {
                out.insert("content".into(), content);
            }
        }
        Some(Block::RedactedThinkingBlock(b)) => {
            out.insert("type".into(), json!("redacted_thinking"));
            out.insert("data".into(), json!(b.data));
        }
        Some(Block::ToolCallBlock(b)) => {
            out.insert("type".into(), json!("tool_call"));
            out.insert("id".into(), json!(b.id));
            out.insert("name".into(), json!(b.name));
            let input = parse_object(&format!("{field}.tool_call_block.input_json"), &b.input_json)?.unwrap_or_default();
            out.insert("input".into(), Value::Object(input));
        }
        Some(Block::ToolResultBlock(b)) => {
            out.insert("type".into(), json!("tool_result"));
            out.insert("tool_call_id".into(), json!(b.tool_call_id));
            let output = parse_json(&format!("{field}.tool_result_block.output_json"), &b.output_json)?.unwrap_or(Value::Null);
            out.insert("output".into(), output);
        }
        Some(Block::ImageBlock(b)) => {
            out.insert("type".into(), json!("image"));
            let source = match parse_object(&format!("{field}.image_block.source_json"), &b.source_json)? {
                Some(source) => source,
                // Upstream writes `source_json` itself; a client that only sets the typed fields
                // still means a base64 image.
                None => {
                    let data = String::from_utf8(b.data.clone()).map_err(|_| {
                        ConvertError::new(
                            format!("{field}.image_block.data"),
                            "must hold the base64 text of the image (as upstream sends it)",
                        )
                    })?;
                    let mut s = Map::new();
                    s.insert("type".into(), json!("base64"));
                    s.insert("media_type".into(), json!(b.media_type));
                    s.insert("data".into(), json!(data));
                    s
                }
            };
            out.insert("source".into(), Value::Object(source));
        }
        Some(Block::ReasoningBlock(b)) => {
            out.insert("type".into(), json!("reasoning"));
            for (key, items) in [("content", &b.content), ("summary", &b.summary)] {
                let parsed = items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| parse_json(&format!("{field}.reasoning_block.{key}[{i}]"), s).map(|v| v.unwrap_or(Value::Null)))
                    .collect::<Result<Vec<_>>>()?;
                out.insert(key.into(), Value::Array(parsed));
            }
        }
    }
    if let Some(v) = visibility_name(block.visibility) {
        out.insert("visibility".into(), json!(v));
    }
    Ok(Value::Object(out))
}

/// One Amplifier content block as a proto content block.
pub fn block_to_proto(field: &str, block: &Value) -> Result<proto::ContentBlock> {
    let str_of = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let json_of = |key: &str| block.get(key).map(to_json_string).unwrap_or_default();
    let kind = block.get("type").and_then(Value::as_str).unwrap_or_default();
    let inner = match kind {
        "text" => Block::TextBlock(proto::TextBlock { text: str_of("text") }),
        "thinking" => Block::ThinkingBlock(proto::ThinkingBlock {
            thinking: str_of("thinking"),
            signature: str_of("signature"),
            content: block.get("content").filter(|c| !c.is_null()).map(to_json_string).unwrap_or_default(),
        }),
        "redacted_thinking" => Block::RedactedThinkingBlock(proto::RedactedThinkingBlock { data: str_of("data") }),
        "tool_call" => Block::ToolCallBlock(proto::ToolCallBlock { id: str_of("id"), name: str_of("name"), input_json: json_of("input") }),
        "tool_result" => Block::ToolResultBlock(proto::ToolResultBlock { tool_call_id: str_of("tool_call_id"), output_json: json_of("output") }),
        "image" => {
            let source = block.get("source").cloned().unwrap_or_else(|| json!({}));
            Block::ImageBlock(proto::ImageBlock {
                media_type: source.get("media_type").and_then(Value::as_str).unwrap_or_default().into(),
                data: source.get("data").and_then(Value::as_str).unwrap_or_default().as_bytes().to_vec(),
                source_json: to_json_string(&source),
            })
        }
        "reasoning" => {
            let items = |key: &str| block.get(key).and_then(Value::as_array).into_iter().flatten().map(to_json_string).collect();
            Block::ReasoningBlock(proto::ReasoningBlock { content: items("content"), summary: items("summary") })
        }
        other => {
            return Err(ConvertError::new(
                format!("{field}.type"),
                format!("is `{other}`, which amplifier_module.proto cannot carry (it has text, thinking, redacted_thinking, tool_call, tool_result, image and reasoning blocks)"),
            ))
        }
    };
    Ok(proto::ContentBlock { block: Some(inner), visibility: visibility_value(&format!("{field}.visibility"), block.get("visibility"))? })
}

/// A proto conversation message as an Amplifier message.
fn message_to_json(field: &str, m: &proto::Message) -> Result<Value> {
    let mut out = Map::new();
    out.insert("role".into(), json!(role_name(&format!("{field}.role"), m.role)?));
    let content = match &m.content {
        None => return Err(ConvertError::new(field, "has no content: set text_content or block_content")),
        Some(proto::message::Content::TextContent(text)) => json!(text),
        Some(proto::message::Content::BlockContent(list)) => Value::Array(
            list.blocks
                .iter()
                .enumerate()
                .map(|(i, b)| block_to_json(&format!("{field}.block_content.blocks[{i}]"), b))
                .collect::<Result<_>>()?,
        ),
    };
    out.insert("content".into(), content);
    insert_nonempty(&mut out, "name", &m.name);
    insert_nonempty(&mut out, "tool_call_id", &m.tool_call_id);
    if let Some(meta) = parse_object(&format!("{field}.metadata_json"), &m.metadata_json)? {
        out.insert("metadata".into(), Value::Object(meta));
    }
    Ok(Value::Object(out))
}

/// A proto `ChatRequest` as the Amplifier ChatRequest JSON the component takes.
pub fn chat_request_to_json(r: &proto::ChatRequest) -> Result<Value> {
    let mut out = Map::new();
    let messages = r
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message_to_json(&format!("ChatRequest.messages[{i}]"), m))
        .collect::<Result<Vec<_>>>()?;
    out.insert("messages".into(), Value::Array(messages));
    if !r.tools.is_empty() {
        let tools = r
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut tool = Map::new();
                tool.insert("name".into(), json!(t.name));
                let params = parse_object(&format!("ChatRequest.tools[{i}].parameters_json"), &t.parameters_json)?.unwrap_or_default();
                tool.insert("parameters".into(), Value::Object(params));
                insert_nonempty(&mut tool, "description", &t.description);
                Ok(Value::Object(tool))
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(format) = r.response_format.as_ref().and_then(|f| f.format.as_ref()) {
        let value = match format {
            proto::response_format::Format::Text(_) => json!({"type": "text"}),
            proto::response_format::Format::Json(_) => json!({"type": "json"}),
            proto::response_format::Format::JsonSchema(s) => {
                let schema = parse_object("ChatRequest.response_format.json_schema.schema_json", &s.schema_json)?.unwrap_or_default();
                let mut v = json!({"type": "json_schema", "schema": schema});
                if s.strict {
                    v["strict"] = json!(true);
                }
                v
            }
        };
        out.insert("response_format".into(), value);
    }
    if r.temperature != 0.0 {
        out.insert("temperature".into(), json!(r.temperature));
    }
    if r.top_p != 0.0 {
        out.insert("top_p".into(), json!(r.top_p));
    }
    if r.max_output_tokens != 0 {
        out.insert("max_output_tokens".into(), json!(r.max_output_tokens));
    }
    insert_nonempty(&mut out, "conversation_id", &r.conversation_id);
    if r.stream {
        out.insert("stream".into(), json!(true));
    }
    if let Some(meta) = parse_object("ChatRequest.metadata_json", &r.metadata_json)? {
        out.insert("metadata".into(), Value::Object(meta));
    }
    insert_nonempty(&mut out, "model", &r.model);
    if !r.tool_choice.is_empty() {
        // As upstream: a JSON object is an object choice, anything else the plain string.
        let choice = match serde_json::from_str::<Map<String, Value>>(&r.tool_choice) {
            Ok(object) => Value::Object(object),
            Err(_) => json!(r.tool_choice),
        };
        out.insert("tool_choice".into(), choice);
    }
    if !r.stop.is_empty() {
        out.insert("stop".into(), json!(r.stop));
    }
    insert_nonempty(&mut out, "reasoning_effort", &r.reasoning_effort);
    if r.timeout != 0.0 {
        out.insert("timeout".into(), json!(r.timeout));
    }
    Ok(Value::Object(out))
}

/// Token counts are `int32` on the wire; a count beyond that is clamped, as upstream does.
fn count(v: &Value) -> i32 {
    v.as_i64().map(|n| n.clamp(0, i64::from(i32::MAX)) as i32).unwrap_or(0)
}

/// Amplifier usage as proto `Usage`.
pub fn usage_to_proto(u: &Value) -> proto::Usage {
    let optional = |key: &str| u.get(key).filter(|v| !v.is_null()).map(count);
    proto::Usage {
        prompt_tokens: count(&u["input_tokens"]),
        completion_tokens: count(&u["output_tokens"]),
        total_tokens: count(&u["total_tokens"]),
        reasoning_tokens: optional("reasoning_tokens"),
        cache_read_tokens: optional("cache_read_tokens"),
        cache_creation_tokens: optional("cache_write_tokens"),
        cost_usd: None,
    }
}

/// Proto `Usage` as Amplifier usage.
pub fn usage_to_json(u: &proto::Usage) -> Value {
    let mut out = json!({"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens, "total_tokens": u.total_tokens});
    for (key, value) in [
        ("reasoning_tokens", u.reasoning_tokens),
        ("cache_read_tokens", u.cache_read_tokens),
        ("cache_write_tokens", u.cache_creation_tokens),
    ] {
        if let Some(v) = value {
            out[key] = json!(v);
        }
    }
    out
}

/// Amplifier tool calls (`[{id, name, arguments}]`) as proto tool call messages.
fn tool_calls_to_proto(calls: Option<&Value>) -> Vec<proto::ToolCallMessage> {
    calls
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| proto::ToolCallMessage {
            id: c["id"].as_str().unwrap_or_default().into(),
            name: c["name"].as_str().unwrap_or_default().into(),
            arguments_json: to_json_string(c.get("arguments").unwrap_or(&json!({}))),
        })
        .collect()
}

/// An Amplifier ChatResponse (as the component returns it) as a proto `ChatResponse`.
pub fn chat_response_to_proto(r: &Value) -> Result<proto::ChatResponse> {
    let content = r.get("content").cloned().unwrap_or_else(|| json!([]));
    let blocks = content
        .as_array()
        .ok_or_else(|| ConvertError::new("ChatResponse.content", format!("must be a list of blocks, not {}", type_name(&content))))?
        .iter()
        .enumerate()
        .map(|(i, b)| block_to_proto(&format!("ChatResponse.content[{i}]"), b))
        .collect::<Result<Vec<_>>>()?;
    let degradation = r.get("degradation").filter(|d| !d.is_null()).map(|d| proto::Degradation {
        requested: d["requested"].as_str().unwrap_or_default().into(),
        actual: d["actual"].as_str().unwrap_or_default().into(),
        reason: d["reason"].as_str().unwrap_or_default().into(),
    });
    Ok(proto::ChatResponse {
        content: to_json_string(&content),
        tool_calls: tool_calls_to_proto(r.get("tool_calls")),
        usage: r.get("usage").filter(|u| !u.is_null()).map(usage_to_proto),
        degradation,
        finish_reason: r.get("finish_reason").and_then(Value::as_str).unwrap_or_default().into(),
        metadata_json: r.get("metadata").filter(|m| !m.is_null()).map(to_json_string).unwrap_or_default(),
        content_blocks: blocks,
    })
}

/// A proto `ChatResponse` as Amplifier ChatResponse JSON (what `parse-tool-calls` reads).
pub fn chat_response_to_json(r: &proto::ChatResponse) -> Result<Value> {
    let content = if !r.content_blocks.is_empty() {
        Value::Array(
            r.content_blocks
                .iter()
                .enumerate()
                .map(|(i, b)| block_to_json(&format!("ChatResponse.content_blocks[{i}]"), b))
                .collect::<Result<_>>()?,
        )
    } else {
        parse_json("ChatResponse.content", &r.content)?.unwrap_or_else(|| json!([]))
    };
    let mut out = Map::new();
    out.insert("content".into(), content);
    if !r.tool_calls.is_empty() {
        let calls = r
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let arguments =
                    parse_object(&format!("ChatResponse.tool_calls[{i}].arguments_json"), &c.arguments_json)?.unwrap_or_default();
                Ok(json!({"id": c.id, "name": c.name, "arguments": arguments}))
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(u) = &r.usage {
        out.insert("usage".into(), usage_to_json(u));
    }
    if let Some(d) = &r.degradation {
        out.insert("degradation".into(), json!({"requested": d.requested, "actual": d.actual, "reason": d.reason}));
    }
    insert_nonempty(&mut out, "finish_reason", &r.finish_reason);
    if let Some(meta) = parse_object("ChatResponse.metadata_json", &r.metadata_json)? {
        out.insert("metadata".into(), Value::Object(meta));
    }
    Ok(Value::Object(out))
}

/// One event of the component's stream as a `CompleteStreaming` message: the event itself in
/// `metadata_json` (`{"stream_event": …}`, so nothing is lost), the piece of content it carries
/// in `content_blocks`, and on `done` the finish reason, tool calls, usage and metadata. Text
/// and thinking arrive as deltas: concatenating the pieces per block gives the answer.
pub fn stream_event_to_proto(event: &Value) -> proto::ChatResponse {
    let piece = |block: Block| vec![proto::ContentBlock { block: Some(block), visibility: 0 }];
    let content_blocks = match event["type"].as_str() {
        Some("delta") => {
            if let Some(text) = event["text"].as_str() {
                piece(Block::TextBlock(proto::TextBlock { text: text.into() }))
            } else if let Some(thinking) = event["thinking"].as_str() {
                piece(Block::ThinkingBlock(proto::ThinkingBlock { thinking: thinking.into(), ..Default::default() }))
            } else if let Some(signature) = event["signature"].as_str() {
                piece(Block::ThinkingBlock(proto::ThinkingBlock { signature: signature.into(), ..Default::default() }))
            } else {
                vec![]
            }
        }
        Some("block_start") => match event["block"]["type"].as_str() {
            Some("redacted_thinking") => piece(Block::RedactedThinkingBlock(proto::RedactedThinkingBlock {
                data: event["block"]["data"].as_str().unwrap_or_default().into(),
            })),
            Some("tool_call") => piece(Block::ToolCallBlock(proto::ToolCallBlock {
                id: event["block"]["id"].as_str().unwrap_or_default().into(),
                name: event["block"]["name"].as_str().unwrap_or_default().into(),
                input_json: String::new(),
            })),
            _ => vec![],
        },
        _ => vec![],
    };
    let done = event["type"] == "done";
    let blocks_json: Vec<Value> = content_blocks.iter().filter_map(|b| block_to_json("", b).ok()).collect();
    proto::ChatResponse {
        content: to_json_string(&Value::Array(blocks_json)),
        tool_calls: if done { tool_calls_to_proto(event.get("tool_calls")) } else { vec![] },
        usage: event.get("usage").filter(|u| !u.is_null()).map(usage_to_proto),
        degradation: None,
        finish_reason: if done { event["finish_reason"].as_str().unwrap_or_default().into() } else { String::new() },
        metadata_json: {
            let mut meta = json!({"stream_event": event});
            if done {
                if let Some(m) = event.get("metadata").filter(|m| m.is_object()) {
                    for (k, v) in m.as_object().into_iter().flatten() {
                        meta[k] = v.clone();
                    }
                }
            }
            to_json_string(&meta)
        },
        content_blocks,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use prost::Message as _;

    use super::*;

    fn golden(name: &str) -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/grpc").join(name);
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn unbase64(v: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
    }

    #[test]
    fn requests_convert_as_amplifier_core_converts_them() {
        for case in golden("requests.json") {
            let request = proto::ChatRequest::decode(unbase64(&case["proto_base64"]).as_slice()).unwrap();
            assert_eq!(chat_request_to_json(&request).unwrap(), case["upstream_json"], "{}", case["name"]);
        }
    }

    #[test]
    fn responses_convert_as_amplifier_core_converts_them() {
        for case in golden("responses.json") {
            let upstream = proto::ChatResponse::decode(unbase64(&case["upstream_proto_base64"]).as_slice()).unwrap();
            let ours = chat_response_to_proto(&case["json"]).unwrap();
            // The deprecated `content` is the block list as JSON text; key order is not meaning.
            let parsed = |r: &proto::ChatResponse| serde_json::from_str::<Value>(&r.content).unwrap();
            assert_eq!(parsed(&ours), parsed(&upstream), "{}", case["name"]);
            let without_content = |r: &proto::ChatResponse| proto::ChatResponse { content: String::new(), ..r.clone() };
            let (ours, upstream) = (without_content(&ours), without_content(&upstream));
            // Likewise metadata_json and the JSON-valued fields inside blocks and calls.
            assert_eq!(chat_response_to_json(&ours).unwrap(), chat_response_to_json(&upstream).unwrap(), "{}", case["name"]);
            assert_eq!(ours.content_blocks.len(), upstream.content_blocks.len());
            assert_eq!(ours.usage, upstream.usage, "{}", case["name"]);
            assert_eq!(ours.finish_reason, upstream.finish_reason);
        }
    }

    fn text_message(role: proto::Role, text: &str) -> proto::Message {
        proto::Message { role: role as i32, content: Some(proto::message::Content::TextContent(text.into())), ..Default::default() }
    }

    #[test]
    fn a_request_converts_with_upstreams_sentinels() {
        let r = proto::ChatRequest {
            messages: vec![text_message(proto::Role::User, "hi")],
            temperature: 0.5,
            tool_choice: "auto".into(),
            ..Default::default()
        };
        let j = chat_request_to_json(&r).unwrap();
        assert_eq!(j, json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "tool_choice": "auto"}));
    }

    #[test]
    fn bad_fields_are_named_not_defaulted() {
        let mut m = text_message(proto::Role::User, "hi");
        m.metadata_json = "{not json".into();
        let e = chat_request_to_json(&proto::ChatRequest { messages: vec![m], ..Default::default() }).unwrap_err();
        assert_eq!(e.field(), "ChatRequest.messages[0].metadata_json");
        assert!(e.to_string().starts_with("validation: ChatRequest.messages[0].metadata_json is not valid JSON"), "{e}");

        let unspecified = text_message(proto::Role::Unspecified, "hi");
        let e = chat_request_to_json(&proto::ChatRequest { messages: vec![unspecified], ..Default::default() }).unwrap_err();
        assert_eq!(e.field(), "ChatRequest.messages[0].role");

        let empty = proto::Message { role: proto::Role::User as i32, ..Default::default() };
        let e = chat_request_to_json(&proto::ChatRequest { messages: vec![empty], ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("has no content"), "{e}");

        let e = chat_response_to_proto(&json!({"content": [{"type": "document", "source": {}}]})).unwrap_err();
        assert_eq!(e.field(), "ChatResponse.content[0].type");
    }

    #[test]
    fn every_block_the_component_produces_round_trips() {
        let response = json!({
            "content": [
                {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCkYIBxgCKkA="},
                {"type": "thinking", "thinking": "", "signature": "sig-only"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
                {"type": "text", "text": "Hello ✓"},
                {"type": "tool_call", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2]}},
            ],
            "tool_calls": [{"id": "toolu_01", "name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}],
            "usage": {"input_tokens": 120, "output_tokens": 40, "total_tokens": 160, "cache_read_tokens": 100, "cache_write_tokens": 7},
            "finish_reason": "tool_calls",
            "metadata": {"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "request_id": "abc", "stop_reason": "tool_use"},
        });
        let p = chat_response_to_proto(&response).unwrap();
        assert_eq!(p.content_blocks.len(), 5);
        assert_eq!(serde_json::from_str::<Value>(&p.content).unwrap(), response["content"], "the deprecated field carries the same blocks");
        assert_eq!(p.usage.as_ref().unwrap().cache_creation_tokens, Some(7));
        assert_eq!(chat_response_to_json(&p).unwrap(), response);
    }

    #[test]
    fn stream_events_carry_their_piece_and_the_event() {
        let delta = stream_event_to_proto(&json!({"type": "delta", "index": 0, "text": "Hel"}));
        assert_eq!(
            delta.content_blocks,
            vec![proto::ContentBlock { block: Some(Block::TextBlock(proto::TextBlock { text: "Hel".into() })), visibility: 0 }]
        );
        let meta: Value = serde_json::from_str(&delta.metadata_json).unwrap();
        assert_eq!(meta["stream_event"]["text"], "Hel");

        let done = stream_event_to_proto(&json!({
            "type": "done", "finish_reason": "stop", "tool_calls": [],
            "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
            "metadata": {"model": "m", "request_id": "r"},
        }));
        assert_eq!(done.finish_reason, "stop");
        assert_eq!(done.usage.unwrap().total_tokens, 5);
        let meta: Value = serde_json::from_str(&done.metadata_json).unwrap();
        assert_eq!(meta["request_id"], "r");
    }

    mod properties {
        //! Bounded property runs of the converters (the fuzz targets run them unbounded).

        use proptest::prelude::*;

        use super::*;

        fn block() -> impl Strategy<Value = Value> {
            let text = ".{0,40}";
            prop_oneof![
                text.prop_map(|t| json!({"type": "text", "text": t})),
                (text, "[A-Za-z0-9+/=]{0,40}").prop_map(|(t, s)| if s.is_empty() {
                    json!({"type": "thinking", "thinking": t})
                } else {
                    json!({"type": "thinking", "thinking": t, "signature": s})
                }),
                "[A-Za-z0-9+/=]{1,40}".prop_map(|d| json!({"type": "redacted_thinking", "data": d})),
                ("toolu_[a-z0-9]{1,8}", "[a-z_]{1,12}", text)
                    .prop_map(|(id, name, v)| json!({"type": "tool_call", "id": id, "name": name, "input": {"v": v}})),
            ]
        }

        fn response() -> impl Strategy<Value = Value> {
            (proptest::collection::vec(block(), 0..6), 0i64..1_000_000, 0i64..100_000, proptest::option::of(0i64..5000), "[a-z_]{1,12}")
                .prop_map(|(content, input, output, cache_read, finish)| {
                    let mut usage = json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output});
                    if let Some(n) = cache_read {
                        usage["cache_read_tokens"] = json!(n);
                    }
                    json!({"content": content, "usage": usage, "finish_reason": finish, "metadata": {"model": "m"}})
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn responses_round_trip(r in response()) {
                let p = chat_response_to_proto(&r).unwrap();
                prop_assert_eq!(chat_response_to_json(&p).unwrap(), r);
            }

            #[test]
            fn any_wire_bytes_convert_or_name_a_field(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(request) = proto::ChatRequest::decode(bytes.as_slice()) {
                    if let Err(e) = chat_request_to_json(&request) {
                        prop_assert!(e.field().starts_with("ChatRequest."), "{}", e);
                    }
                }
                if let Ok(response) = proto::ChatResponse::decode(bytes.as_slice()) {
                    if let Err(e) = chat_response_to_json(&response) {
                        prop_assert!(e.field().starts_with("ChatResponse."), "{}", e);
                    }
                }
            }

            #[test]
            fn any_json_response_converts_or_names_a_field(v in any_json()) {
                if let Err(e) = chat_response_to_proto(&json!({"content": v})) {
                    prop_assert!(e.field().starts_with("ChatResponse.content"), "{}", e);
                }
            }
        }

        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                ".{0,12}".prop_map(Value::String),
                prop_oneof![Just("text"), Just("thinking"), Just("tool_call"), Just("image"), Just("reasoning")]
                    .prop_map(|t| json!({"type": t})),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }
    }
}
