//! Reads a [`ChatRequest`] out of JSON by hand, walking a parsed `serde_json::Value`.
//!
//! Why not `#[derive(Deserialize)]`: the request's content blocks are an internally tagged enum
//! whose variants keep unknown fields (`#[serde(flatten)]`) inside an untagged one, and serde
//! derives that as buffered `Content` values re-read per variant: replacing it took 70–95 KB off
//! the component (README, Size). A `Value` is parsed anyway (serde_json's own code, already in
//! the component), and taking fields out of its maps is a few non-generic functions. The errors
//! keep serde's wording and name the path (`messages[0].content[1].text`), more precisely than the
//! derived untagged enum did ("data did not match any variant").

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::contract::messages::{ChatRequest, ContentBlock, Message, MessageContent, Object, Role, ToolSpec};
use crate::error::ProviderError;

/// What is wrong with a request, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeError {
    /// The field's path from the request's root (`messages[0].role`); empty for the root itself.
    pub path: String,
    /// What is wrong, in serde's words (`invalid type: integer \`42\`, expected a string`).
    pub message: String,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "field `{}`: {}", self.path, self.message)
        }
    }
}

/// Why bytes are not a ChatRequest: its `Display` is the `validation:` message, which names the
/// input (`what`), and the field when the JSON is well-formed but of the wrong shape.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not JSON at all: serde_json's reason (line and column).
    Json {
        /// The input's name in the message ("request").
        what: &'static str,
        /// serde_json's error.
        error: serde_json::Error,
    },
    /// JSON, but not a ChatRequest.
    Shape {
        /// The input's name in the message ("request").
        what: &'static str,
        /// What is wrong, and where.
        error: ShapeError,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One message for the whole input, another for a field: two `write!`s rather than one
        // a case, which is less code in the component.
        let (what, path, detail): (&str, &str, &dyn fmt::Display) = match self {
            ParseError::Json { what, error } => (what, "", error),
            ParseError::Shape { what, error } => (what, &error.path, &error.message),
        };
        if path.is_empty() {
            write!(f, "{what} is not valid JSON of the expected shape: {detail}")
        } else {
            write!(f, "{what} field `{path}`: {detail}")
        }
    }
}

/// Parses `bytes` as an Amplifier ChatRequest. `what` names the input in errors ("request").
pub(crate) fn chat_request(what: &'static str, bytes: &[u8]) -> Result<ChatRequest, ParseError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| ParseError::Json { what, error })?;
    chat_request_from_value(value).map_err(|error| ParseError::Shape { what, error })
}

/// The caller's request: a request that cannot be read is the caller's to fix, and this is the
/// one place its [`ParseError`] becomes the `validation:` error.
pub(crate) fn request(bytes: &[u8]) -> Result<ChatRequest, ProviderError> {
    chat_request("request", bytes).map_err(|e| ProviderError::validation(e.to_string()))
}

/// A ChatRequest from an already parsed JSON value.
pub(crate) fn chat_request_from_value(value: Value) -> Result<ChatRequest, ShapeError> {
    let root = At::Root;
    let mut fields = Fields::of(value, &root)?;
    let messages = fields.required("messages", |v, at| list(v, at, message))?;
    let tools = fields.optional("tools", |v, at| list(v, at, tool_spec))?;
    let response_format = fields.optional("response_format", |v, _| Ok(v))?;
    let temperature = fields.optional("temperature", number)?;
    let top_p = fields.optional("top_p", number)?;
    let max_output_tokens = fields.optional("max_output_tokens", integer)?;
    let conversation_id = fields.optional("conversation_id", string)?;
    let stream = fields.optional("stream", boolean)?;
    let metadata = fields.optional("metadata", object)?;
    let model = fields.optional("model", string)?;
    let tool_choice = fields.optional("tool_choice", |v, _| Ok(v))?;
    let stop = fields.optional("stop", |v, at| list(v, at, string))?;
    let reasoning_effort = fields.optional("reasoning_effort", string)?;
    let timeout = fields.optional("timeout", number)?;
    Ok(ChatRequest {
        messages,
        tools,
        response_format,
        temperature,
        top_p,
        max_output_tokens,
        conversation_id,
        stream,
        metadata,
        model,
        tool_choice,
        stop,
        reasoning_effort,
        timeout,
        extensions: fields.rest(),
    })
}

fn message(value: Value, at: &At<'_>) -> Result<Message, ShapeError> {
    let mut fields = Fields::of(value, at)?;
    let role = fields.required("role", role)?;
    let content = fields.required("content", message_content)?;
    let name = fields.optional("name", string)?;
    let tool_call_id = fields.optional("tool_call_id", string)?;
    let metadata = fields.optional("metadata", object)?;
    Ok(Message { role, content, name, tool_call_id, metadata, extensions: fields.rest() })
}

const ROLES: &[(&str, Role)] = &[
    ("system", Role::System),
    ("developer", Role::Developer),
    ("user", Role::User),
    ("assistant", Role::Assistant),
    ("function", Role::Function),
    ("tool", Role::Tool),
];

fn role(value: Value, at: &At<'_>) -> Result<Role, ShapeError> {
    let name = string(value, at)?;
    ROLES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r).ok_or_else(|| unknown_variant(at, &name, ROLES.iter().map(|(n, _)| *n)))
}

fn message_content(value: Value, at: &At<'_>) -> Result<MessageContent, ShapeError> {
    match value {
        Value::String(text) => Ok(MessageContent::Text(text)),
        Value::Array(_) => Ok(MessageContent::Blocks(list(value, at, content_block)?)),
        other => Err(invalid_type(at, &other, "a string or a list of content blocks")),
    }
}

const BLOCK_TYPES: &[&str] = &["text", "thinking", "redacted_thinking", "tool_call", "tool_result", "image", "document", "reasoning"];

/// One content block: `type` picks the variant; the other keys it does not name are kept.
pub(crate) fn content_block(value: Value, at: &At<'_>) -> Result<ContentBlock, ShapeError> {
    let mut fields = Fields::of(value, at)?;
    let kind = fields.required("type", string)?;
    let block = match kind.as_str() {
        "text" => ContentBlock::Text { text: fields.required("text", string)?, extensions: Object::new() },
        "thinking" => ContentBlock::Thinking {
            thinking: fields.required("thinking", string)?,
            signature: fields.optional("signature", string)?,
            extensions: Object::new(),
        },
        "redacted_thinking" => ContentBlock::RedactedThinking { data: fields.required("data", string)?, extensions: Object::new() },
        "tool_call" => ContentBlock::ToolCall {
            id: fields.required("id", string)?,
            name: fields.required("name", string)?,
            input: fields.required("input", object)?,
            extensions: Object::new(),
        },
        "tool_result" => ContentBlock::ToolResult {
            tool_call_id: fields.required("tool_call_id", string)?,
            output: fields.required("output", |v, _| Ok(v))?,
            extensions: Object::new(),
        },
        "image" => ContentBlock::Image { source: fields.required("source", object)?, extensions: Object::new() },
        "document" => ContentBlock::Document { source: fields.required("source", object)?, extensions: Object::new() },
        "reasoning" => ContentBlock::Reasoning {
            content: fields.required("content", |v, at| list(v, at, |v, _| Ok(v)))?,
            summary: fields.required("summary", |v, at| list(v, at, |v, _| Ok(v)))?,
            extensions: Object::new(),
        },
        other => return Err(unknown_variant(&At::Key(at, "type"), other, BLOCK_TYPES.iter().copied())),
    };
    Ok(with_extensions(block, fields.rest()))
}

fn with_extensions(mut block: ContentBlock, rest: Object) -> ContentBlock {
    match &mut block {
        ContentBlock::Text { extensions, .. }
        | ContentBlock::Thinking { extensions, .. }
        | ContentBlock::RedactedThinking { extensions, .. }
        | ContentBlock::ToolCall { extensions, .. }
        | ContentBlock::ToolResult { extensions, .. }
        | ContentBlock::Image { extensions, .. }
        | ContentBlock::Document { extensions, .. }
        | ContentBlock::Reasoning { extensions, .. } => *extensions = rest,
    }
    block
}

fn tool_spec(value: Value, at: &At<'_>) -> Result<ToolSpec, ShapeError> {
    let mut fields = Fields::of(value, at)?;
    let name = fields.required("name", string)?;
    let parameters = fields.required("parameters", object)?;
    let description = fields.optional("description", string)?;
    Ok(ToolSpec { name, parameters, description, extensions: fields.rest() })
}

/// Through a `Value` and [`chat_request_from_value`] (tests and other callers use serde's API).
impl<'de> Deserialize<'de> for ChatRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        chat_request_from_value(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Through a `Value` and [`content_block`].
impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        content_block(Value::deserialize(deserializer)?, &At::Root).map_err(serde::de::Error::custom)
    }
}

/// Where a value sits in the request; turned into a path string only for an error.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    /// The request itself.
    Root,
    /// A key of an object.
    Key(&'a At<'a>, &'a str),
    /// An item of a list.
    Index(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Key(At::Root, key) => f.write_str(key),
            At::Key(parent, key) => write!(f, "{parent}.{key}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// An object's fields, taken out one by one; what is left over is kept as extensions.
struct Fields<'a> {
    map: Map<String, Value>,
    at: &'a At<'a>,
}

impl<'a> Fields<'a> {
    fn of(value: Value, at: &'a At<'a>) -> Result<Self, ShapeError> {
        Ok(Fields { map: object(value, at)?, at })
    }

    fn required<T>(&mut self, key: &str, read: impl FnOnce(Value, &At<'_>) -> Result<T, ShapeError>) -> Result<T, ShapeError> {
        match self.map.remove(key) {
            Some(v) => read(v, &At::Key(self.at, key)),
            None => Err(ShapeError { path: self.at.to_string(), message: format!("missing field `{key}`") }),
        }
    }

    /// Absent and `null` are both `None`, as serde reads an `Option`.
    fn optional<T>(&mut self, key: &str, read: impl FnOnce(Value, &At<'_>) -> Result<T, ShapeError>) -> Result<Option<T>, ShapeError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => read(v, &At::Key(self.at, key)).map(Some),
        }
    }

    fn rest(self) -> Object {
        self.map
    }
}

fn list<T>(value: Value, at: &At<'_>, item: impl Fn(Value, &At<'_>) -> Result<T, ShapeError>) -> Result<Vec<T>, ShapeError> {
    match value {
        Value::Array(items) => items.into_iter().enumerate().map(|(i, v)| item(v, &At::Index(at, i))).collect(),
        other => Err(invalid_type(at, &other, "a sequence")),
    }
}

fn object(value: Value, at: &At<'_>) -> Result<Object, ShapeError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid_type(at, &other, "a map")),
    }
}

fn string(value: Value, at: &At<'_>) -> Result<String, ShapeError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(invalid_type(at, &other, "a string")),
    }
}

fn boolean(value: Value, at: &At<'_>) -> Result<bool, ShapeError> {
    value.as_bool().ok_or_else(|| invalid_type(at, &value, "a boolean"))
}

fn number(value: Value, at: &At<'_>) -> Result<f64, ShapeError> {
    value.as_f64().ok_or_else(|| invalid_type(at, &value, "f64"))
}

fn integer(value: Value, at: &At<'_>) -> Result<i64, ShapeError> {
    value.as_i64().ok_or_else(|| invalid_type(at, &value, "i64"))
}

fn invalid_type(at: &At<'_>, found: &Value, expected: &str) -> ShapeError {
    let found = match found {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    };
    ShapeError { path: at.to_string(), message: format!("invalid type: {found}, expected {expected}") }
}

fn unknown_variant<'n>(at: &At<'_>, found: &str, known: impl Iterator<Item = &'n str>) -> ShapeError {
    let known: Vec<String> = known.map(|k| format!("`{k}`")).collect();
    ShapeError { path: at.to_string(), message: format!("unknown variant `{found}`, expected one of {}", known.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(request: Value) -> String {
        chat_request("request", request.to_string().as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_path_in_serdes_words() {
        assert_eq!(
            error(json!({"messages": [{"role": "robot", "content": "x"}]})),
            "request field `messages[0].role`: unknown variant `robot`, expected one of `system`, `developer`, `user`, `assistant`, `function`, `tool`"
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": 42}]})),
            "request field `messages[0].content`: invalid type: integer `42`, expected a string or a list of content blocks"
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}]}]})),
            "request field `messages[0].content[1]`: missing field `text`"
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]})),
            "request field `messages[0].content[0].type`: unknown variant `video`, expected one of `text`, `thinking`, `redacted_thinking`, `tool_call`, `tool_result`, `image`, `document`, `reasoning`"
        );
        assert_eq!(
            error(json!({"messages": [], "temperature": "hot"})),
            "request field `temperature`: invalid type: string \"hot\", expected f64"
        );
        assert_eq!(
            error(json!({"messages": [], "max_output_tokens": 1.5})),
            "request field `max_output_tokens`: invalid type: floating point `1.5`, expected i64"
        );
        assert_eq!(error(json!({"model": "x"})), "request is not valid JSON of the expected shape: missing field `messages`");
        assert_eq!(error(json!([1])), "request is not valid JSON of the expected shape: invalid type: sequence, expected a map");
        let e = chat_request("request", b"{\"messages\": [").unwrap_err();
        assert!(matches!(e, ParseError::Json { .. }), "{e:?}");
        assert!(e.to_string().starts_with("request is not valid JSON"), "{e}");
        assert!(matches!(chat_request("request", b"[1]"), Err(ParseError::Shape { .. })));
    }

    #[test]
    fn null_is_absent_and_unknown_keys_are_kept() {
        let r = chat_request_from_value(json!({
            "messages": [{"role": "user", "content": [{"type": "thinking", "thinking": "t", "signature": null, "x": 1}], "name": null}],
            "temperature": null, "max_output_tokens": 7, "custom": true,
        }))
        .unwrap();
        assert_eq!(r.temperature, None);
        assert_eq!(r.max_output_tokens, Some(7));
        assert_eq!(r.extensions, json!({"custom": true}).as_object().unwrap().clone());
        assert_eq!(r.messages[0].name, None);
        match &r.messages[0].content {
            MessageContent::Blocks(b) => assert_eq!(
                b[0],
                ContentBlock::Thinking { thinking: "t".into(), signature: None, extensions: json!({"x": 1}).as_object().unwrap().clone() }
            ),
            other => panic!("{other:?}"),
        }
    }
}
