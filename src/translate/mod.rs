//! Amplifier ⇄ Anthropic Messages (Bedrock flavour).
//!
//! [`to_anthropic`] builds the InvokeModel body from a ChatRequest, adjusted to the model's
//! rules (see [`crate::models::CATALOG`]) so that no request Bedrock would refuse for a known
//! rule is sent; every change it makes is recorded as an [`Adjustment`] and reported in
//! `ChatResponse.degradation`. Its steps, each in its own file: the conversation (`turns`),
//! thinking, sampling, tools and the answer's format (`tools`), prompt caching (`cache`).
//! [`from_anthropic`] (`response`) turns Bedrock's message back into a ChatResponse. All are
//! pure functions over JSON values.

mod adjustment;
mod cache;
mod rules;
mod sampling;
mod thinking;
mod tools;
mod turns;

use serde_json::{json, Map, Value};

pub(crate) use adjustment::{degradation, Adjustment};
use rules::Rules;
#[cfg(test)]
use thinking::INTERLEAVED_THINKING_BETA;
#[cfg(test)]
use tools::ANSWER_TOOL;

use crate::config::ProviderConfig;
use crate::contract::messages::ChatRequest;
use crate::error::ProviderError;
use crate::models::Api;
use crate::models::ModelSpec;

/// The `anthropic_version` InvokeModel requires in the body (the Messages API sends its own
/// version as a header instead, `wire/messages.rs`).
pub(crate) const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// What the caller needs beside the body: the limits that were actually applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Translated {
    /// The InvokeModel request body.
    pub body: Value,
    /// `max_tokens` as sent.
    pub max_tokens: u32,
    /// Thinking budget as sent, when budget thinking is on.
    pub thinking_budget: Option<u32>,
    /// Adaptive thinking is on (the model picks its own budget).
    pub adaptive_thinking: bool,
    /// `output_config.effort` as sent.
    pub effort: Option<&'static str>,
    /// Changes made to fit the model's rules.
    pub adjustments: Vec<Adjustment>,
    /// Set when the answer comes as the input of [`ANSWER_TOOL`](tools::ANSWER_TOOL) (JSON `response_format`).
    pub answer_tool: Option<String>,
}

/// Builds the Anthropic Messages body in InvokeModel's form (`anthropic_version`, betas in
/// `anthropic_beta`); never sets `model` or `stream`, which InvokeModel rejects.
/// [`crate::wire::messages::body`] turns it into a Messages API body.
///
/// The request's messages are moved into the body (their text and image/document sources are
/// not copied: a big request is held once, not twice); `request.messages` is left empty.
pub(crate) fn to_anthropic(
    request: &mut ChatRequest,
    config: &ProviderConfig,
    model: Option<&ModelSpec>,
    api: Api,
) -> Result<Translated, ProviderError> {
    let rules = Rules::of(model, api);
    let mut adjustments = Vec::new();
    let turns::Conversation { system, mut turns } = turns::conversation(std::mem::take(&mut request.messages), &mut adjustments)?;
    turns::check_inputs(&turns, model)?;
    // Thinking: what was asked for, within what the model and this conversation allow.
    let sent = thinking::decide(request, config.thinking_budget_tokens, &rules, &turns, &mut adjustments)?;
    if !rules.thinking.budget && !rules.thinking.adaptive {
        turns::drop_thinking_blocks(&mut turns, rules.name, &mut adjustments);
    }
    let messages = turns::into_messages(turns);
    let mut max_tokens = max_tokens(request, config.max_tokens, &rules, &mut adjustments)?;

    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!(ANTHROPIC_VERSION));
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let has_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty());
    let budget = thinking::apply(sent, &mut max_tokens, has_tools, config.thinking_display, &rules, &mut body, &mut adjustments)?;
    let thinking_on = sent.is_some();
    body.insert("max_tokens".into(), json!(max_tokens));
    sampling::sampling_parameters(request, config, thinking_on, rules.sampling, rules.name, &mut body, &mut adjustments)?;
    if let Some(stop) = request.stop.as_ref().filter(|s| !s.is_empty()) {
        body.insert("stop_sequences".into(), json!(stop));
    }
    let answer_tool = tools::apply(request, thinking_on, model.is_some_and(|m| m.structured_output), &mut body)?;
    cache::apply(config, model, rules.name, &mut body, &mut adjustments)?;
    if config.enable_long_context {
        long_context(model, rules.name, &mut body, &mut adjustments);
    }
    Ok(Translated {
        body: Value::Object(body),
        max_tokens,
        thinking_budget: budget,
        adaptive_thinking: matches!(sent, Some(thinking::Sent::Adaptive(_))),
        effort: sent.and_then(thinking::Sent::effort),
        adjustments,
        answer_tool,
    })
}

/// `max_tokens`: the request's `max_output_tokens` (else the configured one) within what the
/// model writes.
fn max_tokens(request: &ChatRequest, configured: u32, rules: &Rules, adjustments: &mut Vec<Adjustment>) -> Result<u32, ProviderError> {
    let requested_max = match request.max_output_tokens {
        Some(n) if n < 1 => return Err(ProviderError::validation(format!("`max_output_tokens` is {n}: it must be at least 1"))),
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => configured,
    };
    let max_tokens = requested_max.min(rules.max_output);
    if max_tokens < requested_max {
        adjustments.push(Adjustment {
            field: "max_tokens",
            requested: requested_max.to_string(),
            actual: max_tokens.to_string(),
            reason: format!("{} writes at most {} output tokens", rules.name, rules.max_output),
        });
    }
    Ok(max_tokens)
}

/// `enable_long_context`: the 1M-token context beta where the model has it, reported where it
/// does not.
fn long_context(model: Option<&ModelSpec>, model_name: &str, body: &mut Map<String, Value>, adjustments: &mut Vec<Adjustment>) {
    match model.and_then(|m| m.long_context_window) {
        // A model whose own window is 1M needs no beta.
        None if model.is_some_and(|m| m.context_window >= 1_000_000) => {}
        Some(_) => {
            let betas = body.entry("anthropic_beta").or_insert_with(|| json!([]));
            if let Some(list) = betas.as_array_mut() {
                list.push(json!(crate::models::LONG_CONTEXT_BETA));
            }
        }
        None => adjustments.push(Adjustment {
            field: "context_window",
            requested: "1000000".into(),
            actual: model.map_or_else(|| "the model's own".into(), |m| m.context_window.to_string()),
            reason: format!("{model_name} has no 1M-token context on Bedrock (Claude Sonnet 4.5 and Sonnet 4 do)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, ProviderConfig};
    use crate::models::lookup;

    struct Empty;
    impl ConfigSource for Empty {
        fn config(&self, _: &str) -> Result<Option<String>, String> {
            Ok(None)
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn translate(req: Value) -> Result<Translated, ProviderError> {
        let mut req: ChatRequest = serde_json::from_value(req).unwrap();
        to_anthropic(&mut req, &ProviderConfig::resolve(&Empty).unwrap(), lookup(crate::models::DEFAULT_MODEL), Api::Invoke)
    }

    #[test]
    fn system_tool_and_thinking_translate() {
        let t = translate(json!({
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "two calls", "signature": "sig=="},
                    {"type": "tool_call", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_call", "id": "t2", "name": "weather", "input": {"city": "Rome"}}
                ]},
                {"role": "tool", "tool_call_id": "t1", "content": "18C"},
                {"role": "tool", "tool_call_id": "t2", "content": "24C"}
            ],
            "tools": [{"name": "weather", "description": "Weather", "parameters": {"properties": {"city": {"type": "string"}}}}],
            "tool_choice": "auto",
            "reasoning_effort": "low",
            "stop": ["END"],
        }))
        .unwrap();
        let b = &t.body;
        assert_eq!(b["anthropic_version"], ANTHROPIC_VERSION);
        assert!(b.get("model").is_none() && b.get("stream").is_none());
        let cached = json!({"type": "ephemeral"});
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "Be brief.", "cache_control": cached}]),
            "a cache point on the system prompt"
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([
                {"type": "text", "text": "<context_file>\nUse tools.\n</context_file>", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Weather in Paris and Rome?"}
            ]),
            "developer messages are context at the top of the first user turn"
        );
        assert_eq!(b["messages"].as_array().unwrap().len(), 3, "the two tool messages merge into one user turn");
        assert_eq!(b["messages"][1]["content"][0], json!({"type": "thinking", "thinking": "two calls", "signature": "sig=="}));
        assert_eq!(b["messages"][1]["content"][2]["type"], "tool_use");
        assert_eq!(
            b["messages"][2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "24C", "cache_control": cached}
            ]),
            "a cache point on the last user message; the caller's own mark (the context) is the fourth"
        );
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(b["tools"][0]["cache_control"], cached, "a cache point on the last tool");
        assert_eq!(b["tool_choice"], json!({"type": "auto"}));
        assert_eq!(b["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
        assert!(b.get("temperature").is_none(), "thinking runs at the model's default temperature, 1");
        assert_eq!(b["anthropic_beta"], json!([INTERLEAVED_THINKING_BETA]));
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["max_tokens"], json!(8192));
    }

    #[test]
    fn max_tokens_are_capped_and_make_room_for_thinking() {
        let t = translate(json!({"messages": [{"role": "user", "content": "x"}], "max_output_tokens": 1_000_000})).unwrap();
        assert_eq!(t.max_tokens, 64_000);
        let t = translate(json!({"messages": [{"role": "user", "content": "x"}], "max_output_tokens": 2000, "metadata": {"thinking_budget_tokens": 8000}})).unwrap();
        assert_eq!((t.max_tokens, t.thinking_budget), (12_096, Some(8000)));
        assert_eq!(t.adjustments[0].field, "max_tokens");
        assert_eq!((t.adjustments[0].requested.as_str(), t.adjustments[0].actual.as_str()), ("2000", "12096"));
        assert!(translate(json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"}))
            .unwrap_err()
            .to_string()
            .contains("reasoning_effort"));
    }

    #[test]
    fn sampling_follows_the_model_and_every_change_is_recorded() {
        let user = json!([{"role": "user", "content": "x"}]);
        // Sonnet 4.5 takes one of temperature and top_p: the request's temperature wins.
        let t = translate(json!({"messages": user, "temperature": 0.3, "top_p": 0.9})).unwrap();
        assert_eq!((t.body["temperature"].as_f64(), t.body.get("top_p")), (Some(0.3), None));
        assert_eq!(t.adjustments[0].field, "top_p");
        let d = degradation(&t.adjustments).unwrap();
        assert_eq!((d["requested"].as_str(), d["actual"].as_str()), (Some("top_p=0.9"), Some("top_p=not sent")));
        // top_p alone goes through; no default temperature is added beside it.
        let t = translate(json!({"messages": user, "top_p": 0.9, "top_k": 40})).unwrap();
        assert_eq!((t.body.get("temperature"), t.body["top_p"].as_f64(), t.body["top_k"].as_u64()), (None, Some(0.9), Some(40)));
        assert!(t.adjustments.is_empty());
        // Sonnet 4 takes both.
        let mut req: ChatRequest = serde_json::from_value(json!({"messages": user, "temperature": 0.3, "top_p": 0.9})).unwrap();
        let t = to_anthropic(
            &mut req,
            &ProviderConfig::resolve(&Empty).unwrap(),
            lookup("anthropic.claude-sonnet-4-20250514-v1:0"),
            Api::Invoke,
        )
        .unwrap();
        assert_eq!((t.body["temperature"].as_f64(), t.body["top_p"].as_f64()), (Some(0.3), Some(0.9)));
        // Thinking: temperature 1, no top_k, recorded.
        let t = translate(json!({"messages": user, "temperature": 0.2, "top_k": 5, "reasoning_effort": "low"})).unwrap();
        assert!(t.body.get("temperature").is_none() && t.body.get("top_k").is_none());
        let fields: Vec<&str> = t.adjustments.iter().map(|a| a.field).collect();
        assert_eq!(fields, ["temperature", "top_k"]);
        assert!(translate(json!({"messages": user, "top_p": 1.5})).unwrap_err().to_string().starts_with("validation: `top_p` is 1.5"));
    }

    #[test]
    fn thinking_blocks_go_first_and_an_open_tool_turn_without_thinking_turns_it_off() {
        let t = translate(json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "thinking", "thinking": "", "signature": "sig-only"},
                {"type": "tool_call", "id": "t1", "name": "f", "input": {}}
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": "r"}
        ], "reasoning_effort": "low"}))
        .unwrap();
        assert_eq!(t.body["messages"][1]["content"][0], json!({"type": "thinking", "thinking": "", "signature": "sig-only"}));
        assert!(t.body.get("thinking").is_some());
        let t = translate(json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_call", "id": "t1", "name": "f", "input": {}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "r"}
        ], "reasoning_effort": "low"}))
        .unwrap();
        assert!(t.body.get("thinking").is_none());
        assert_eq!((t.adjustments[0].field, t.adjustments[0].actual.as_str()), ("thinking", "off"));
    }

    #[test]
    fn reasoning_effort_is_adaptive_thinking_with_effort_where_the_model_has_it() {
        let ask = |effort: &str, model: &str| {
            translate_with(json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": effort}), &[], model).unwrap()
        };
        let t = ask("high", "anthropic.claude-sonnet-5");
        assert_eq!(t.body["thinking"], json!({"type": "adaptive", "display": "summarized"}));
        assert_eq!(t.body["output_config"], json!({"effort": "high"}));
        assert_eq!((t.effort, t.adaptive_thinking, t.thinking_budget), (Some("high"), true, None));
        assert!(t.adjustments.is_empty());
        // Opus 4.7 takes xhigh but not max: the nearest lower level, reported.
        let t = ask("max", "anthropic.claude-opus-4-7");
        assert_eq!(t.body["output_config"]["effort"], "xhigh");
        assert_eq!((t.adjustments[0].requested.as_str(), t.adjustments[0].actual.as_str()), ("effort max", "effort xhigh"));
        // A budget-thinking model gets the level's budget.
        let t = ask("xhigh", "anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(t.body["thinking"], json!({"type": "enabled", "budget_tokens": 48_000}));
        assert!(t.body.get("output_config").is_none());
        let e = translate(json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"})).unwrap_err().to_string();
        assert!(e.contains("use none, low, medium, high, xhigh or max"), "{e}");
        // A budget on a model that thinks only adaptively: adaptive, reported; display from config.
        let t = translate_with(
            json!({"messages": [{"role": "user", "content": "x"}], "metadata": {"thinking_budget_tokens": 8000}}),
            &[("thinking_display", "omitted")],
            "anthropic.claude-opus-4-8",
        )
        .unwrap();
        assert_eq!(t.body["thinking"], json!({"type": "adaptive", "display": "omitted"}));
        assert_eq!((t.adjustments[0].field, t.adjustments[0].actual.as_str()), ("thinking", "adaptive"));
        // Haiku 4.5 on the Messages API thinks with a budget only.
        let t = ask("low", "anthropic.claude-haiku-4-5");
        assert_eq!(t.body["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
    }

    #[test]
    fn sampling_parameters_a_model_refuses_are_dropped_and_reported() {
        let t = translate_with(
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "top_k": 5}),
            &[],
            "anthropic.claude-sonnet-5",
        )
        .unwrap();
        assert!(t.body.get("temperature").is_none() && t.body.get("top_k").is_none(), "{}", t.body);
        let fields: Vec<&str> = t.adjustments.iter().map(|a| a.field).collect();
        assert_eq!(fields, ["temperature", "top_k"]);
        // Opus 4.7 keeps them; a 1M-window model needs no long-context beta.
        let t = translate_with(
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": 0.2}),
            &[("enable_long_context", "true")],
            "anthropic.claude-opus-4-7",
        )
        .unwrap();
        assert_eq!(t.body["temperature"], 0.2);
        assert!(t.body.get("anthropic_beta").is_none() && t.adjustments.is_empty(), "{:?}", t.adjustments);
    }

    #[test]
    fn json_response_format_is_native_where_the_model_has_it() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        let req = json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}});
        let t = translate(req.clone()).unwrap();
        assert_eq!(t.body["output_config"]["format"], json!({"type": "json_schema", "schema": schema}));
        assert!(t.body.get("tools").is_none() && t.answer_tool.is_none());
        // The Messages API does not take structured outputs (Claude in Amazon Bedrock page).
        let t = translate_with(req, &[], "anthropic.claude-sonnet-5").unwrap();
        assert!(t.body.get("output_config").and_then(|c| c.get("format")).is_none());
        assert_eq!(t.answer_tool.as_deref(), Some(ANSWER_TOOL));
    }

    #[test]
    fn json_response_format_is_a_forced_answer_tool() {
        let t = translate_with(json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}), &[], "anthropic.claude-sonnet-4-20250514-v1:0").unwrap();
        assert_eq!(t.body["tools"][0]["name"], ANSWER_TOOL);
        assert_eq!(t.body["tool_choice"], json!({"type": "tool", "name": ANSWER_TOOL}));
        assert_eq!(t.answer_tool.as_deref(), Some(ANSWER_TOOL));
        let e =
            translate(json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}})).unwrap_err().to_string();
        assert!(e.starts_with("validation: `response_format` type \"xml\""), "{e}");
        let mut r = crate::response::from_anthropic(
            json!({"content": [{"type": "tool_use", "id": "a", "name": ANSWER_TOOL, "input": {"name": "Paris"}}], "stop_reason": "tool_use"}),
            "m",
            None,
        )
        .unwrap();
        crate::response::answer_as_text(&mut r, ANSWER_TOOL);
        assert_eq!(serde_json::to_value(&r.content).unwrap(), json!([{"type": "text", "text": "{\"name\":\"Paris\"}"}]));
        assert_eq!((r.finish_reason.as_deref(), r.tool_calls.is_none()), (Some("stop"), true));
    }

    #[test]
    fn documents_keep_title_context_and_cache_control() {
        let t = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "Contract", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Summarise"}
        ]}]}))
        .unwrap();
        assert_eq!(
            t.body["messages"][0]["content"][0],
            json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "Contract", "cache_control": {"type": "ephemeral"}})
        );
    }

    fn translate_with(req: Value, config: &[(&'static str, &'static str)], model: &str) -> Result<Translated, ProviderError> {
        let pairs = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let source = crate::config::MapSource(&pairs);
        let mut req: ChatRequest = serde_json::from_value(req).unwrap();
        let spec = lookup(model);
        to_anthropic(&mut req, &ProviderConfig::resolve(&source).unwrap(), spec, spec.map_or(Api::Invoke, |m| m.api))
    }

    #[test]
    fn cache_points_count_the_callers_marks_and_keep_the_ttl_order() {
        let long = |n: usize| "word ".repeat(n);
        let tool = json!({"name": "f", "parameters": {"type": "object"}});
        let marked = |ttl: &str| json!({"type": "text", "text": "ctx", "cache_control": {"type": "ephemeral", "ttl": ttl}});
        // Three caller marks leave room for one: the system prompt, the first choice.
        let t = translate_with(
            json!({"messages": [
                {"role": "system", "content": long(10)},
                {"role": "user", "content": [marked("5m"), marked("5m"), marked("5m"), {"type": "text", "text": "q"}]}
            ], "tools": [tool]}),
            &[],
            crate::models::DEFAULT_MODEL,
        )
        .unwrap();
        assert!(t.body["system"][0]["cache_control"].is_object());
        assert!(t.body["tools"][0].get("cache_control").is_none(), "no room left");
        assert!(t.body["messages"][0]["content"][3].get("cache_control").is_none());
        // Five marks are refused before sending, naming the limit.
        let five: Vec<Value> = (0..5).map(|_| marked("5m")).collect();
        let e = translate_with(json!({"messages": [{"role": "user", "content": five}]}), &[], crate::models::DEFAULT_MODEL).unwrap_err();
        assert!(e.to_string().contains("at most 4"), "{e}");
        // 1h where the model has it; never after the caller's 5-minute mark.
        let t = translate_with(
            json!({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [marked("5m"), {"type": "text", "text": "q"}]}]}),
            &[("prompt_cache_ttl", "1h")],
            crate::models::DEFAULT_MODEL,
        )
        .unwrap();
        assert_eq!(t.body["system"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
        assert_eq!(t.body["messages"][0]["content"][1]["cache_control"], json!({"type": "ephemeral"}), "after a 5m mark: 5m");
        let t = translate_with(
            json!({"messages": [{"role": "user", "content": "q"}]}),
            &[("prompt_cache_ttl", "1h")],
            "anthropic.claude-opus-4-1-20250805-v1:0",
        )
        .unwrap();
        assert_eq!(t.body["messages"][0]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
        assert_eq!(t.adjustments[0].field, "prompt_cache_ttl", "Opus 4.1 has no 1-hour cache: reported");
        // Off: nothing placed, the caller's marks kept.
        let t = translate_with(
            json!({"messages": [{"role": "user", "content": [marked("5m")]}], "tools": [tool]}),
            &[("enable_prompt_caching", "false")],
            crate::models::DEFAULT_MODEL,
        )
        .unwrap();
        assert!(t.body["tools"][0].get("cache_control").is_none());
        assert_eq!(t.body["messages"][0]["content"][0]["cache_control"]["ttl"], "5m");
    }

    #[test]
    fn long_context_beta_only_where_the_model_has_it() {
        let req = json!({"messages": [{"role": "user", "content": "q"}], "tools": [{"name": "f", "parameters": {"type": "object"}}], "reasoning_effort": "low"});
        let t = translate_with(req.clone(), &[("enable_long_context", "true")], crate::models::DEFAULT_MODEL).unwrap();
        assert_eq!(t.body["anthropic_beta"], json!([INTERLEAVED_THINKING_BETA, crate::models::LONG_CONTEXT_BETA]));
        let t = translate_with(req, &[("enable_long_context", "true")], "anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        assert_eq!(t.body["anthropic_beta"], json!([INTERLEAVED_THINKING_BETA]));
        assert_eq!(degradation(&t.adjustments).unwrap()["requested"], "context_window=1000000");
    }
}
