//! Tools, `tool_choice` and a JSON `response_format` (native structured output, or the answer
//! tool Claude is made to call).

use serde_json::{json, Map, Value};

use crate::contract::messages::ChatRequest;
use crate::error::ProviderError;

/// Puts the tools, the tool choice and the answer's format into `body`; the answer tool's name
/// when the answer comes as its input.
pub(super) fn apply(
    request: &ChatRequest,
    thinking_on: bool,
    native_format: bool,
    body: &mut Map<String, Value>,
) -> Result<Option<String>, ProviderError> {
    let mut tools: Vec<Value> = request.tools.iter().flatten().map(tool_spec).collect();
    let answer_tool = match answer_format(request, thinking_on, native_format)? {
        Some(AnswerFormat::Native(format)) => {
            let config = body.entry("output_config").or_insert_with(|| json!({}));
            config["format"] = format;
            None
        }
        Some(AnswerFormat::Tool(spec, choice)) => Some((spec, choice)),
        None => None,
    };
    if let Some((spec, _)) = &answer_tool {
        tools.push(spec.clone());
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    match (&answer_tool, &request.tool_choice) {
        (Some((_, choice)), _) => {
            body.insert("tool_choice".into(), choice.clone());
        }
        (None, Some(choice)) if body.contains_key("tools") => {
            let choice = tool_choice(choice)?;
            if thinking_on && matches!(choice["type"].as_str(), Some("any" | "tool")) {
                return Err(ProviderError::validation(
                    "`tool_choice` forces a tool call, which Claude refuses while extended thinking is on: use `auto`, or turn thinking off (`reasoning_effort`: none)",
                ));
            }
            body.insert("tool_choice".into(), choice);
        }
        _ => {}
    }
    Ok(answer_tool.map(|_| ANSWER_TOOL.to_string()))
}

/// The tool whose input is the answer when `response_format` asks for JSON: Anthropic's
/// documented way to get JSON (a forced tool), turned back into text in the response.
pub(super) const ANSWER_TOOL: &str = "json_answer";

/// The tool spec in Anthropic's shape.
fn tool_spec(t: &crate::contract::messages::ToolSpec) -> Value {
    let mut tool = Map::new();
    tool.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        tool.insert("description".into(), json!(d));
    }
    let mut schema = t.parameters.clone();
    schema.entry("type").or_insert_with(|| json!("object"));
    tool.insert("input_schema".into(), Value::Object(schema));
    if let Some(cc) = t.extensions.get("cache_control") {
        tool.insert("cache_control".into(), cc.clone());
    }
    Value::Object(tool)
}

/// How a JSON `response_format` is asked of the model.
#[derive(Debug, Clone, PartialEq)]
enum AnswerFormat {
    /// Native structured output: `output_config.format`, the answer is the text.
    Native(Value),
    /// The answer tool and the `tool_choice` that makes Claude use it.
    Tool(Value, Value),
}

/// For a JSON `response_format`: native structured output where the model has it through this
/// API and a schema is given; else the answer tool and the `tool_choice` that makes Claude use
/// it (forced when there are no other tools; `any` beside the caller's tools, so an agent
/// loop can still call them). `None` for text.
fn answer_format(request: &ChatRequest, thinking: bool, native: bool) -> Result<Option<AnswerFormat>, ProviderError> {
    let Some(format) = &request.response_format else {
        return Ok(None);
    };
    let kind = match format {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("type").and_then(Value::as_str).unwrap_or_default(),
        _ => "",
    };
    let schema = match kind {
        "text" => return Ok(None),
        "json" | "json_object" => json!({"type": "object"}),
        "json_schema" => {
            let spec = format.get("json_schema").unwrap_or(format);
            let schema = spec.get("schema").filter(|s| s.is_object()).ok_or_else(|| {
                ProviderError::validation(
                    "`response_format` is json_schema without a schema: use {\"type\": \"json_schema\", \"json_schema\": {\"name\": …, \"schema\": {…}}}",
                )
            })?;
            if schema.get("type").and_then(Value::as_str).is_some_and(|t| t != "object") {
                return Err(ProviderError::validation(
                    "`response_format` schema must describe an object (Claude returns JSON through a tool whose input is an object): wrap the value in an object property",
                ));
            }
            let mut schema = schema.clone();
            schema.as_object_mut().map(|o| o.entry("type").or_insert_with(|| json!("object")));
            schema
        }
        other => {
            return Err(ProviderError::validation(format!(
                "`response_format` type {other:?} is not supported: use text, json_object or json_schema"
            )))
        }
    };
    if thinking {
        return Err(ProviderError::validation(
            "`response_format` JSON makes Claude answer in a fixed form, which this provider does not combine with extended thinking: turn thinking off (`reasoning_effort`: none) or ask for JSON in the prompt",
        ));
    }
    if native && kind == "json_schema" {
        return Ok(Some(AnswerFormat::Native(json!({"type": "json_schema", "schema": schema}))));
    }
    let has_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty());
    if request.tool_choice.is_some() && has_tools {
        return Err(ProviderError::validation(
            "`response_format` JSON sets the tool choice itself: remove `tool_choice`, or drop `response_format` and ask for JSON in the prompt",
        ));
    }
    if request.tools.iter().flatten().any(|t| t.name == ANSWER_TOOL) {
        return Err(ProviderError::validation(format!(
            "a tool is named `{ANSWER_TOOL}`, the name reserved for the `response_format` answer: rename it"
        )));
    }
    let name = format.get("json_schema").and_then(|s| s.get("name")).and_then(Value::as_str);
    let description = match name {
        Some(n) => format!("Give the final answer ({n}) as this tool's input, which must match the schema."),
        None => "Give the final answer as this tool's input, a JSON object.".to_string(),
    };
    let spec = json!({"name": ANSWER_TOOL, "description": description, "input_schema": schema});
    let choice = if has_tools { json!({"type": "any"}) } else { json!({"type": "tool", "name": ANSWER_TOOL}) };
    Ok(Some(AnswerFormat::Tool(spec, choice)))
}

fn tool_choice(choice: &Value) -> Result<Value, ProviderError> {
    let named = |name: &Value| json!({"type": "tool", "name": name});
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(json!({"type": "auto"})),
            "any" | "required" => Ok(json!({"type": "any"})),
            "none" => Ok(json!({"type": "none"})),
            other => Err(ProviderError::validation(format!(
                "`tool_choice` is {other:?}: use auto, any, required, none, or {{\"type\": \"tool\", \"name\": …}}"
            ))),
        },
        Value::Object(o) => {
            if let Some(name) = o.get("name").filter(|n| n.is_string()) {
                return Ok(named(name));
            }
            if let Some(name) = o.get("function").and_then(|f| f.get("name")).filter(|n| n.is_string()) {
                return Ok(named(name));
            }
            match o.get("type").and_then(Value::as_str) {
                Some(t @ ("auto" | "any" | "none")) => Ok(json!({"type": t})),
                _ => Err(ProviderError::validation("`tool_choice` object names no tool: use {\"type\": \"tool\", \"name\": \"my_tool\"}")),
            }
        }
        _ => Err(ProviderError::validation("`tool_choice` must be a string or an object")),
    }
}
