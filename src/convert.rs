//! Amplifier ⇄ Anthropic Messages (Bedrock flavour).
//!
//! `to_anthropic` builds the InvokeModel body from a ChatRequest, adjusted to the model's
//! rules (see [`crate::models::CATALOG`]) so that no request Bedrock would refuse for a known
//! rule is sent; every change it makes is recorded as an [`Adjustment`] and reported in
//! `ChatResponse.degradation`. `from_anthropic` turns Bedrock's message back into a
//! ChatResponse. Both are pure functions over JSON values.

use serde_json::{json, Map, Value};

use crate::config::ProviderConfig;
use crate::error::{number, ProviderError};
use crate::messages::{ChatRequest, ChatResponse, ContentBlock, MessageContent, Object, Role, Usage};
use crate::models::ModelSpec;
use crate::wire::Api;

/// Bedrock's required Anthropic API version in an InvokeModel body.
pub const ANTHROPIC_VERSION: &str = crate::wire::invoke::ANTHROPIC_VERSION;
/// The beta flag that lets Claude think between tool calls.
pub const INTERLEAVED_THINKING_BETA: &str = "interleaved-thinking-2025-05-14";
/// The key Bedrock adds to a guarded answer (the body, or a stream's last event):
/// `INTERVENED` or `NONE`.
pub const GUARDRAIL_ACTION: &str = "amazon-bedrock-guardrailAction";
/// The key of Bedrock's trace beside it (`{"guardrail": …}`), when the trace is on.
pub const BEDROCK_TRACE: &str = "amazon-bedrock-trace";
/// Amplifier's finish reason for an answer a guardrail stopped.
pub const CONTENT_FILTER: &str = "content_filter";
/// Smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;
/// Lowest `top_p` Anthropic accepts while thinking.
const MIN_TOP_P_WITH_THINKING: f64 = 0.95;
/// The tool whose input is the answer when `response_format` asks for JSON: Anthropic's
/// documented way to get JSON (a forced tool), turned back into text in the response.
pub const ANSWER_TOOL: &str = "json_answer";

/// One change made to the request so the model accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The request field changed (`top_p`, `temperature`, `max_tokens`, `thinking`, `model`, …).
    pub field: &'static str,
    /// What was asked for.
    pub requested: String,
    /// What was sent.
    pub actual: String,
    /// Why.
    pub reason: String,
}

/// `ChatResponse.degradation` for the adjustments made, `None` when there were none: the
/// kernel's `Degradation` (`requested`, `actual`, `reason`), each a list in the same order
/// (`top_p=0.9, temperature=0.3` → `top_p=not sent, temperature=1`), so it survives every
/// transport of the kernel's type (the gRPC one carries only these three fields).
pub fn degradation(adjustments: &[Adjustment]) -> Option<Value> {
    if adjustments.is_empty() {
        return None;
    }
    let join = |f: &dyn Fn(&Adjustment) -> String, sep: &str| adjustments.iter().map(f).collect::<Vec<_>>().join(sep);
    Some(json!({
        "requested": join(&|a| format!("{}={}", a.field, a.requested), ", "),
        "actual": join(&|a| format!("{}={}", a.field, a.actual), ", "),
        "reason": join(&|a| a.reason.clone(), "; "),
    }))
}

/// What the caller needs beside the body: the limits that were actually applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
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
    /// Set when the answer comes as the input of [`ANSWER_TOOL`] (JSON `response_format`).
    pub answer_tool: Option<String>,
}

/// The rules of a model this catalog does not know: those of the newest models of its API, the
/// strictest (one of temperature and top_p; on the Messages API adaptive thinking with the
/// effort levels every adaptive model takes).
fn rules(model: Option<&ModelSpec>, api: Api) -> (u32, crate::models::Thinking, crate::models::Sampling, &str) {
    use crate::models::{Sampling, Thinking};
    match (model, api) {
        (Some(m), _) => (m.max_output_tokens, m.thinking, m.sampling, m.display_name),
        (None, Api::Messages) => (
            u32::MAX,
            Thinking { budget: false, adaptive: true, interleaved: false, efforts: &["low", "medium", "high"] },
            Sampling { accepted: true, temperature_xor_top_p: true, top_k: true },
            "this model",
        ),
        (None, _) => (
            u32::MAX,
            Thinking { budget: true, adaptive: false, interleaved: true, efforts: &[] },
            Sampling { accepted: true, temperature_xor_top_p: true, top_k: true },
            "this model",
        ),
    }
}

/// The thinking a request asks for, before the model's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Off,
    /// A token budget (metadata or the `thinking_budget_tokens` config key).
    Budget(u32),
    /// A `reasoning_effort` level.
    Effort(&'static str),
}

/// The thinking sent, after the model's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Budget(u32),
    Adaptive(Option<&'static str>),
}

/// The thinking budgets `reasoning_effort` stands for on a model without adaptive thinking.
const EFFORT_BUDGETS: &[(&str, u32)] = &[("low", 4_096), ("medium", 16_000), ("high", 32_000), ("xhigh", 48_000), ("max", 64_000)];

/// What `asked` becomes on a model with `rules`, every change recorded.
fn thinking_for(asked: Asked, rules: &crate::models::Thinking, model_name: &str, adjustments: &mut Vec<Adjustment>) -> Option<Sent> {
    let mut adjust = |requested: String, actual: String, reason: String| {
        adjustments.push(Adjustment { field: "thinking", requested, actual, reason });
    };
    match asked {
        Asked::Off => None,
        Asked::Budget(b) if rules.budget => Some(Sent::Budget(b)),
        Asked::Budget(b) if rules.adaptive => {
            adjust(format!("budget {b}"), "adaptive".into(), format!("{model_name} thinks adaptively only (it refuses a token budget)"));
            Some(Sent::Adaptive(None))
        }
        Asked::Effort(level) if rules.adaptive => {
            let Some(rank) = EFFORT_BUDGETS.iter().position(|(l, _)| *l == level) else { return Some(Sent::Adaptive(None)) };
            // The highest level the model takes at or below the one asked for.
            let taken = EFFORT_BUDGETS[..=rank].iter().rev().map(|(l, _)| *l).find(|l| rules.efforts.contains(l));
            if taken != Some(level) {
                adjust(
                    format!("effort {level}"),
                    taken.map_or_else(|| "adaptive".to_string(), |t| format!("effort {t}")),
                    format!(
                        "{model_name} takes the effort levels {}",
                        if rules.efforts.is_empty() { "none".into() } else { rules.efforts.join(", ") }
                    ),
                );
            }
            Some(Sent::Adaptive(taken))
        }
        Asked::Effort(level) if rules.budget => {
            EFFORT_BUDGETS.iter().find(|(l, _)| *l == level).map(|(_, b)| Sent::Budget((*b).max(MIN_THINKING_BUDGET)))
        }
        Asked::Budget(b) => {
            adjust(format!("budget {b}"), "off".into(), format!("{model_name} does not support extended thinking"));
            None
        }
        Asked::Effort(level) => {
            adjust(format!("effort {level}"), "off".into(), format!("{model_name} does not support extended thinking"));
            None
        }
    }
}

/// Builds the Anthropic Messages body in InvokeModel's form (`anthropic_version`, betas in
/// `anthropic_beta`); never sets `model` or `stream`, which InvokeModel rejects.
/// [`crate::wire::messages::body`] turns it into a Messages API body.
///
/// The request's messages are moved into the body (their text and image/document sources are
/// not copied: a big request is held once, not twice); `request.messages` is left empty.
pub fn to_anthropic(
    request: &mut ChatRequest,
    config: &ProviderConfig,
    model: Option<&ModelSpec>,
    api: Api,
) -> Result<Translated, ProviderError> {
    let (model_max, thinking_rules, sampling, model_name) = rules(model, api);
    let mut adjustments = Vec::new();
    let mut system: Vec<Value> = Vec::new();
    // Developer messages are context, not instructions: sent first as user content wrapped in
    // <context_file>, as the original module (and Anthropic's provider) do.
    let mut context: Vec<Value> = Vec::new();
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();

    for (index, message) in std::mem::take(&mut request.messages).into_iter().enumerate() {
        match message.role {
            Role::System => system.extend(system_blocks(index, message.content)?),
            Role::Developer => context.extend(context_blocks(index, &message.content)?),
            Role::User => push_turn(&mut turns, Role::User, user_blocks(index, message.content)?),
            Role::Assistant => push_turn(&mut turns, Role::Assistant, assistant_blocks(index, message.content, &mut adjustments)?),
            Role::Tool | Role::Function => {
                let id = message.tool_call_id.clone().ok_or_else(|| {
                    ProviderError::validation(format!(
                        "messages[{index}] has role `{}` but no `tool_call_id`: set it to the id of the tool_call it answers",
                        if message.role == Role::Tool { "tool" } else { "function" }
                    ))
                })?;
                let output = match message.content {
                    // The answer may come as tool_result blocks (upstream's proto converter gives a
                    // tool message that shape): those blocks are the results themselves.
                    MessageContent::Blocks(blocks) if blocks.iter().any(|b| matches!(b, ContentBlock::ToolResult { .. })) => {
                        push_turn(&mut turns, Role::User, user_blocks(index, MessageContent::Blocks(blocks))?);
                        continue;
                    }
                    MessageContent::Text(t) => Value::String(t),
                    MessageContent::Blocks(blocks) => Value::Array(blocks.iter().map(block_without_visibility).collect()),
                };
                push_turn(&mut turns, Role::User, vec![tool_result(&id, output, &message.extensions)]);
            }
        }
    }
    if !context.is_empty() {
        match turns.first_mut() {
            Some((Role::User, content)) => {
                context.append(content);
                *content = context;
            }
            _ => turns.insert(0, (Role::User, context)),
        }
    }

    check_inputs(&turns, model)?;

    // Thinking: what was asked for, within what the model and this conversation allow.
    let asked = thinking_asked(request, config.thinking_budget_tokens, &mut adjustments)?;
    let mut sent = thinking_for(asked, &thinking_rules, model_name, &mut adjustments);
    if sent.is_some() {
        if let Some(reason) = open_tool_turn_without_thinking(&turns) {
            let requested = match sent {
                Some(Sent::Budget(b)) => format!("budget {b}"),
                _ => "adaptive".into(),
            };
            adjustments.push(Adjustment { field: "thinking", requested, actual: "off".into(), reason });
            sent = None;
        }
    }
    if !thinking_rules.budget && !thinking_rules.adaptive {
        drop_thinking_blocks(&mut turns, model_name, &mut adjustments);
    }

    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| {
            let (role, content) = match role {
                Role::Assistant => ("assistant", content),
                // Claude requires a user turn's tool results before anything else in it.
                _ => {
                    let (mut results, rest): (Vec<Value>, Vec<Value>) = content.into_iter().partition(|b| b["type"] == "tool_result");
                    results.extend(rest);
                    ("user", results)
                }
            };
            // Built by hand: `json!` would copy the content (its text, its images) once more.
            let mut turn = Object::new();
            turn.insert("role".into(), Value::from(role));
            turn.insert("content".into(), Value::Array(content));
            Value::Object(turn)
        })
        .collect();

    let requested_max = match request.max_output_tokens {
        Some(n) if n < 1 => return Err(ProviderError::validation(format!("`max_output_tokens` is {n}: it must be at least 1"))),
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => config.max_tokens,
    };
    let mut max_tokens = requested_max.min(model_max);
    if max_tokens < requested_max {
        adjustments.push(Adjustment {
            field: "max_tokens",
            requested: requested_max.to_string(),
            actual: max_tokens.to_string(),
            reason: format!("{model_name} writes at most {model_max} output tokens"),
        });
    }

    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!(ANTHROPIC_VERSION));
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    let budget = match sent {
        Some(Sent::Budget(asked)) => {
            // Anthropic requires budget_tokens < max_tokens; make room for an answer after the thinking.
            if asked >= max_tokens {
                let raised = asked.saturating_add(4096).min(model_max);
                if raised > max_tokens {
                    adjustments.push(Adjustment {
                        field: "max_tokens",
                        requested: max_tokens.to_string(),
                        actual: raised.to_string(),
                        reason: format!("max_tokens must be above the thinking budget ({asked})"),
                    });
                    max_tokens = raised;
                }
            }
            let budget = asked.min(max_tokens.saturating_sub(1));
            if budget < MIN_THINKING_BUDGET {
                return Err(ProviderError::validation(format!(
                    "extended thinking needs max_tokens above {MIN_THINKING_BUDGET} (the smallest thinking budget), but max_tokens is {max_tokens}: raise `max_output_tokens` or turn thinking off"
                )));
            }
            if budget < asked {
                adjustments.push(Adjustment {
                    field: "thinking_budget",
                    requested: asked.to_string(),
                    actual: budget.to_string(),
                    reason: format!("the budget must be below max_tokens, and {model_name} writes at most {model_max} tokens"),
                });
            }
            body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
            if thinking_rules.interleaved && request.tools.as_ref().is_some_and(|t| !t.is_empty()) {
                body.insert("anthropic_beta".into(), json!([INTERLEAVED_THINKING_BETA]));
            }
            Some(budget)
        }
        Some(Sent::Adaptive(effort)) => {
            body.insert("thinking".into(), json!({"type": "adaptive", "display": config.thinking_display}));
            if let Some(effort) = effort {
                body.insert("output_config".into(), json!({"effort": effort}));
            }
            None
        }
        None => None,
    };
    let thinking_on = sent.is_some();
    body.insert("max_tokens".into(), json!(max_tokens));
    sampling_parameters(request, config, thinking_on, sampling, model_name, &mut body, &mut adjustments)?;

    if let Some(stop) = request.stop.as_ref().filter(|s| !s.is_empty()) {
        body.insert("stop_sequences".into(), json!(stop));
    }
    let mut tools: Vec<Value> = request.tools.iter().flatten().map(tool_spec).collect();
    let native_format = model.is_some_and(|m| m.structured_output);
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
    if config.enable_prompt_caching && model.is_none_or(|m| m.prompt_caching) {
        let one_hour = config.prompt_cache_ttl == "1h" && model.is_none_or(|m| m.cache_ttl_1h);
        if config.prompt_cache_ttl == "1h" && !one_hour {
            adjustments.push(Adjustment {
                field: "prompt_cache_ttl",
                requested: "1h".into(),
                actual: "5m".into(),
                reason: format!("{model_name} has no 1-hour prompt cache on Bedrock"),
            });
        }
        place_cache_points(&mut body, one_hour)?;
    }
    if config.enable_long_context {
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
    Ok(Translated {
        body: Value::Object(body),
        max_tokens,
        thinking_budget: budget,
        adaptive_thinking: matches!(sent, Some(Sent::Adaptive(_))),
        effort: match sent {
            Some(Sent::Adaptive(effort)) => effort,
            _ => None,
        },
        adjustments,
        answer_tool: answer_tool.map(|_| ANSWER_TOOL.to_string()),
    })
}

/// Most `cache_control` marks Anthropic takes in one request.
pub const MAX_CACHE_POINTS: usize = 4;

/// Places this provider's cache points: the last system block, the last tool definition and
/// the last block of the last user message, in that order of preference while fewer than
/// [`MAX_CACHE_POINTS`] marks are set (the caller's own marks count and are kept). A point
/// takes the lifetime that keeps Anthropic's order rule (no 1-hour mark after a 5-minute one in
/// the order tools, system, messages) with the caller's marks, and is left out when none does.
fn place_cache_points(body: &mut Map<String, Value>, one_hour: bool) -> Result<(), ProviderError> {
    // Every block that can carry a mark, in prefix order, as (section, message, block).
    let mut slots: Vec<(&'static str, usize, usize)> = Vec::new();
    let len = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    slots.extend((0..len(body.get("tools"))).map(|i| ("tools", 0, i)));
    slots.extend((0..len(body.get("system"))).map(|i| ("system", 0, i)));
    for (m, message) in body.get("messages").and_then(Value::as_array).into_iter().flatten().enumerate() {
        slots.extend((0..len(message.get("content"))).map(|i| ("messages", m, i)));
    }
    fn block<'a>(body: &'a mut Map<String, Value>, (section, m, i): (&str, usize, usize)) -> Option<&'a mut Map<String, Value>> {
        let list = body.get_mut(section)?;
        let item = if section == "messages" { list.get_mut(m)?.get_mut("content")?.get_mut(i)? } else { list.get_mut(i)? };
        item.as_object_mut()
    }
    // The caller's marks: where they are and whether each lasts an hour.
    let marks: Vec<(usize, bool)> = slots
        .iter()
        .enumerate()
        .filter_map(|(at, slot)| {
            let cc = block(body, *slot)?.get("cache_control")?;
            Some((at, cc.get("ttl").and_then(Value::as_str) == Some("1h")))
        })
        .collect();
    if marks.len() > MAX_CACHE_POINTS {
        return Err(ProviderError::validation(format!(
            "the request marks {} blocks with `cache_control`, but Bedrock takes at most {MAX_CACHE_POINTS}: remove some marks, or leave caching to this provider (`enable_prompt_caching`)",
            marks.len()
        )));
    }
    let last_of = |section: &str| slots.iter().rposition(|s| s.0 == section);
    let last_user = body.get("messages").and_then(Value::as_array).and_then(|m| m.iter().rposition(|m| m["role"] == "user"));
    let last_user_block = last_user.and_then(|m| slots.iter().rposition(|s| s.0 == "messages" && s.1 == m));
    let mut free = MAX_CACHE_POINTS - marks.len();
    for at in [last_of("system"), last_of("tools"), last_user_block].into_iter().flatten() {
        if free == 0 || marks.iter().any(|(m, _)| *m == at) {
            continue;
        }
        let five_minute_before = marks.iter().any(|(m, hour)| *m < at && !hour);
        let one_hour_after = marks.iter().any(|(m, hour)| *m > at && *hour);
        let hour = match (five_minute_before, one_hour_after) {
            (true, true) => continue,
            (true, false) => false,
            (false, true) if !one_hour => continue,
            (false, true) => true,
            (false, false) => one_hour,
        };
        let Some(target) = block(body, slots[at]) else { continue };
        // Anthropic refuses a mark on a thinking block, and an empty text cannot be cached.
        if matches!(target.get("type").and_then(Value::as_str), Some("thinking" | "redacted_thinking")) {
            continue;
        }
        let mark = if hour { json!({"type": "ephemeral", "ttl": "1h"}) } else { json!({"type": "ephemeral"}) };
        target.insert("cache_control".into(), mark);
        free -= 1;
    }
    Ok(())
}

/// `temperature`, `top_p` and `top_k` as the model takes them. Only values someone set are
/// sent (the model's own default temperature is 1.0, the configured default too).
fn sampling_parameters(
    request: &ChatRequest,
    config: &ProviderConfig,
    thinking: bool,
    sampling: crate::models::Sampling,
    model_name: &str,
    body: &mut Map<String, Value>,
    adjustments: &mut Vec<Adjustment>,
) -> Result<(), ProviderError> {
    let unit = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(ProviderError::validation(format!("`{name}` is {}: it must be from 0.0 to 1.0", number(v))))
        }
    };
    let mut temperature = request.temperature.map(|t| unit("temperature", t)).transpose()?;
    let temperature_from_request = temperature.is_some();
    if temperature.is_none() {
        temperature = config.temperature;
    }
    let mut top_p = request.top_p.map(|p| unit("top_p", p)).transpose()?;
    let mut top_k = match request.extensions.get("top_k") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|k| *k >= 1)
                .ok_or_else(|| ProviderError::validation(format!("`top_k` is {v}: it must be a whole number of at least 1")))?,
        ),
    };
    if !sampling.accepted {
        for (field, value) in [("temperature", temperature.take()), ("top_p", top_p.take()), ("top_k", top_k.take().map(|k| k as f64))] {
            if let Some(v) = value {
                adjustments.push(Adjustment {
                    field,
                    requested: number(v),
                    actual: "not sent".into(),
                    reason: format!("{model_name} takes no sampling parameters (it answers 400 to them)"),
                });
            }
        }
    }
    if thinking {
        // Thinking runs at temperature 1 only, without top_k, and with top_p of 0.95 or more.
        if let Some(t) = temperature.take().filter(|t| *t != 1.0) {
            adjustments.push(Adjustment {
                field: "temperature",
                requested: number(t),
                actual: "1".into(),
                reason: "extended thinking runs at temperature 1".into(),
            });
        }
        if let Some(p) = top_p.filter(|p| *p < MIN_TOP_P_WITH_THINKING) {
            top_p = None;
            adjustments.push(Adjustment {
                field: "top_p",
                requested: number(p),
                actual: "not sent".into(),
                reason: format!("extended thinking takes top_p of {} or more only", number(MIN_TOP_P_WITH_THINKING)),
            });
        }
        if let Some(k) = top_k.take() {
            adjustments.push(Adjustment {
                field: "top_k",
                requested: k.to_string(),
                actual: "not sent".into(),
                reason: "extended thinking does not take top_k".into(),
            });
        }
    }
    if let (Some(t), Some(p)) = (temperature, top_p) {
        if sampling.temperature_xor_top_p {
            // Keep the one the caller set: the request's temperature over its top_p, its
            // top_p over a configured temperature.
            if temperature_from_request {
                top_p = None;
                adjustments.push(Adjustment {
                    field: "top_p",
                    requested: number(p),
                    actual: "not sent".into(),
                    reason: format!("{model_name} takes only one of temperature and top_p; the temperature ({}) was kept", number(t)),
                });
            } else {
                temperature = None;
                adjustments.push(Adjustment {
                    field: "temperature",
                    requested: number(t),
                    actual: "not sent".into(),
                    reason: format!("{model_name} takes only one of temperature and top_p; the request's top_p ({}) was kept", number(p)),
                });
            }
        }
    }
    if let Some(k) = top_k.filter(|_| !sampling.top_k) {
        top_k = None;
        adjustments.push(Adjustment {
            field: "top_k",
            requested: k.to_string(),
            actual: "not sent".into(),
            reason: format!("{model_name} does not take top_k"),
        });
    }
    if let Some(t) = temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = top_k {
        body.insert("top_k".into(), json!(k));
    }
    Ok(())
}

/// The tool spec in Anthropic's shape.
fn tool_spec(t: &crate::messages::ToolSpec) -> Value {
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

/// Images and documents only for models that take them: refused here, not by Bedrock.
fn check_inputs(turns: &[(Role, Vec<Value>)], model: Option<&ModelSpec>) -> Result<(), ProviderError> {
    let Some(m) = model else { return Ok(()) };
    fn kinds(v: &Value, out: &mut Vec<String>) {
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            out.push(t.to_string());
        }
        if let Some(items) = v.get("content").and_then(Value::as_array) {
            items.iter().for_each(|i| kinds(i, out));
        }
    }
    let mut found = Vec::new();
    turns.iter().flat_map(|(_, blocks)| blocks).for_each(|b| kinds(b, &mut found));
    for (kind, supported) in [("image", m.vision), ("document", m.documents)] {
        if !supported && found.iter().any(|k| k == kind) {
            return Err(ProviderError::validation(format!(
                "{} does not take {kind} input on Bedrock: remove the {kind} blocks or pick a Claude 4 model",
                m.display_name
            )));
        }
    }
    Ok(())
}

/// When the conversation ends inside an assistant tool turn (its last user turn holds tool
/// results) and that assistant turn has no thinking block, Claude refuses thinking for the
/// request ("a final `assistant` message must start with a thinking block"): the turn was
/// made without thinking, which can resume at the next user turn. The reason, in that case.
fn open_tool_turn_without_thinking(turns: &[(Role, Vec<Value>)]) -> Option<String> {
    let [.., (Role::Assistant, assistant), (Role::User, last)] = turns else { return None };
    let in_tool_turn = last.iter().any(|b| b["type"] == "tool_result");
    let starts_with_thinking = matches!(assistant.first().and_then(|b| b["type"].as_str()), Some("thinking" | "redacted_thinking"));
    (in_tool_turn && !starts_with_thinking).then(|| {
        "the assistant tool turn in progress was made without thinking, and Claude requires it to start with a thinking block; thinking resumes with the next user turn".to_string()
    })
}

/// Removes thinking blocks for a model that cannot take them (a conversation moved from a
/// thinking model).
fn drop_thinking_blocks(turns: &mut [(Role, Vec<Value>)], model_name: &str, adjustments: &mut Vec<Adjustment>) {
    let mut dropped = 0;
    for (_, blocks) in turns.iter_mut() {
        let before = blocks.len();
        blocks.retain(|b| !matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")));
        dropped += before - blocks.len();
    }
    if dropped > 0 {
        adjustments.push(Adjustment {
            field: "thinking_blocks",
            requested: dropped.to_string(),
            actual: "0".into(),
            reason: format!("{model_name} cannot take the earlier turns' thinking blocks"),
        });
    }
}

fn push_turn(turns: &mut Vec<(Role, Vec<Value>)>, role: Role, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        // Consecutive same-role turns merge: tool results from several `tool` messages
        // must arrive in the one user turn that follows the assistant's tool_use blocks.
        Some((last, content)) if *last == role => content.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

/// Copies `cache_control` from an Amplifier block onto the Anthropic block.
fn with_cache_control(mut block: Value, extensions: &Object) -> Value {
    if let (Some(cc), Some(obj)) = (extensions.get("cache_control"), block.as_object_mut()) {
        obj.insert("cache_control".into(), cc.clone());
    }
    block
}

/// An Anthropic block of `kind` with `field` set to `value`, which is moved, not copied
/// (`json!` serialises its values afresh: a copy of a big text or image).
fn block_with(kind: &str, field: &str, value: Value) -> Value {
    let mut block = Object::new();
    block.insert("type".into(), Value::from(kind));
    block.insert(field.into(), value);
    Value::Object(block)
}

fn system_blocks(index: usize, content: MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Ok(vec![]),
        MessageContent::Text(t) => Ok(vec![block_with("text", "text", Value::String(t))]),
        MessageContent::Blocks(blocks) => blocks
            .into_iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text, .. } if text.is_empty() => None,
                ContentBlock::Text { text, extensions } => {
                    Some(Ok(with_cache_control(block_with("text", "text", Value::String(text)), &extensions)))
                }
                other => Some(Err(ProviderError::validation(format!(
                    "messages[{index}] is a system message with a `{}` block: system messages take text blocks only",
                    block_type(&other)
                )))),
            })
            .collect(),
    }
}

/// A developer message as context: one text block wrapped in `<context_file>`, keeping the
/// last block's `cache_control` (where a caller marks a cache breakpoint).
fn context_blocks(index: usize, content: &MessageContent) -> Result<Vec<Value>, ProviderError> {
    let (text, extensions) = match content {
        MessageContent::Text(t) => (t.clone(), Object::new()),
        MessageContent::Blocks(blocks) => {
            let mut texts = Vec::new();
            let mut last = Object::new();
            for b in blocks {
                match b {
                    ContentBlock::Text { text, extensions } => {
                        texts.push(text.as_str());
                        last = extensions.clone();
                    }
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is a developer message with a `{}` block: developer messages take text blocks only",
                            block_type(other)
                        )))
                    }
                }
            }
            (texts.join("\n"), last)
        }
    };
    if text.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![with_cache_control(json!({"type": "text", "text": format!("<context_file>\n{text}\n</context_file>")}), &extensions)])
}

/// A content block as JSON without Amplifier's `visibility` (display metadata Claude refuses
/// as an extra input).
fn block_without_visibility(b: &ContentBlock) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("visibility");
    }
    v
}

/// Bedrock refuses an empty text block ("text content blocks must be non-empty").
fn empty_text(index: usize) -> ProviderError {
    ProviderError::validation(format!("messages[{index}] has empty text, which Bedrock refuses: put text in it or remove the message"))
}

fn user_blocks(index: usize, content: MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Err(empty_text(index)),
        MessageContent::Text(t) => Ok(vec![block_with("text", "text", Value::String(t))]),
        MessageContent::Blocks(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    ContentBlock::Text { text, .. } if text.is_empty() => return Err(empty_text(index)),
                    ContentBlock::Text { text, extensions } => {
                        out.push(with_cache_control(block_with("text", "text", Value::String(text)), &extensions))
                    }
                    ContentBlock::Image { source, extensions } => {
                        out.push(with_cache_control(block_with("image", "source", Value::Object(source)), &extensions))
                    }
                    ContentBlock::Document { source, extensions } => {
                        let mut doc = block_with("document", "source", Value::Object(source));
                        for key in ["title", "context", "citations"] {
                            if let Some(v) = extensions.get(key) {
                                doc[key] = v.clone();
                            }
                        }
                        out.push(with_cache_control(doc, &extensions));
                    }
                    ContentBlock::ToolResult { tool_call_id, output, extensions } => {
                        out.push(tool_result(&tool_call_id, output, &extensions))
                    }
                    // Another provider's reasoning means nothing to Claude; dropping it is lossless for Claude.
                    ContentBlock::Reasoning { .. } => {}
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is a user message with a `{}` block: only assistant messages carry it",
                            block_type(&other)
                        )))
                    }
                }
            }
            Ok(out)
        }
    }
}

/// An assistant message's blocks. Thinking blocks go back byte-exact (signature-only ones with
/// their empty text too) and first, as Claude requires of a turn that thinks; a thinking block
/// without a signature (written by another provider) cannot be verified and is left out.
fn assistant_blocks(index: usize, content: MessageContent, adjustments: &mut Vec<Adjustment>) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Ok(vec![]),
        MessageContent::Text(t) => Ok(vec![block_with("text", "text", Value::String(t))]),
        MessageContent::Blocks(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    // Anthropic rejects empty text blocks; an empty one carries nothing.
                    ContentBlock::Text { text, .. } if text.is_empty() => {}
                    ContentBlock::Text { text, extensions } => {
                        out.push(with_cache_control(block_with("text", "text", Value::String(text)), &extensions))
                    }
                    ContentBlock::Thinking { thinking, signature: Some(sig), .. } => {
                        out.push(json!({"type": "thinking", "thinking": thinking, "signature": sig}))
                    }
                    ContentBlock::Thinking { signature: None, .. } => adjustments.push(Adjustment {
                        field: "thinking_blocks",
                        requested: format!("messages[{index}]"),
                        actual: "left out".into(),
                        reason: "a thinking block without a signature cannot be sent back to Claude".into(),
                    }),
                    ContentBlock::RedactedThinking { data, .. } => out.push(json!({"type": "redacted_thinking", "data": data})),
                    ContentBlock::ToolCall { id, name, input, extensions } => {
                        out.push(with_cache_control(json!({"type": "tool_use", "id": id, "name": name, "input": input}), &extensions))
                    }
                    ContentBlock::Reasoning { .. } => {}
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is an assistant message with a `{}` block: send tool results and images in user or tool messages",
                            block_type(&other)
                        )))
                    }
                }
            }
            let is_thinking = |b: &Value| matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking"));
            if out.first().is_some_and(|b| !is_thinking(b)) && out.iter().any(is_thinking) {
                let (mut thinking, rest): (Vec<Value>, Vec<Value>) = out.into_iter().partition(is_thinking);
                thinking.extend(rest);
                out = thinking;
            }
            Ok(out)
        }
    }
}

fn tool_result(id: &str, output: Value, extensions: &Object) -> Value {
    let content = match output {
        Value::String(s) => Value::String(s),
        Value::Null => json!(""),
        Value::Array(items) if items.iter().all(|i| matches!(i.get("type").and_then(Value::as_str), Some("text" | "image"))) => {
            Value::Array(items.iter().map(anthropic_result_item).collect())
        }
        other => json!(crate::json_write::to_string(&other)),
    };
    let mut block = block_with("tool_result", "content", content);
    block["tool_use_id"] = json!(id);
    if extensions.get("is_error").and_then(Value::as_bool) == Some(true) {
        block["is_error"] = json!(true);
    }
    with_cache_control(block, extensions)
}

fn anthropic_result_item(item: &Value) -> Value {
    match item.get("type").and_then(Value::as_str) {
        Some("text") => {
            json!({"type": "text", "text": item.get("text").cloned().unwrap_or(json!(""))})
        }
        _ => json!({"type": "image", "source": item.get("source").cloned().unwrap_or(json!({}))}),
    }
}

fn block_type(b: &ContentBlock) -> &'static str {
    match b {
        ContentBlock::Text { .. } => "text",
        ContentBlock::Thinking { .. } => "thinking",
        ContentBlock::RedactedThinking { .. } => "redacted_thinking",
        ContentBlock::ToolCall { .. } => "tool_call",
        ContentBlock::ToolResult { .. } => "tool_result",
        ContentBlock::Image { .. } => "image",
        ContentBlock::Document { .. } => "document",
        ContentBlock::Reasoning { .. } => "reasoning",
    }
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

/// The thinking asked for: `metadata.thinking_budget_tokens` (or `thinking_budget`) wins;
/// then `reasoning_effort` (none, minimal, low, medium, high, xhigh, max); then the
/// `thinking_budget_tokens` config key. A budget under Anthropic's minimum is raised to it.
fn thinking_asked(request: &ChatRequest, configured: u32, adjustments: &mut Vec<Adjustment>) -> Result<Asked, ProviderError> {
    let from_metadata = request.metadata.as_ref().and_then(|m| m.get("thinking_budget_tokens").or_else(|| m.get("thinking_budget")));
    let budget = match (from_metadata, request.reasoning_effort.as_deref()) {
        (Some(v), _) => match v.as_u64() {
            Some(0) => None,
            Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            None => return Err(ProviderError::validation(format!("`metadata.thinking_budget_tokens` is {v}: it must be a whole number of tokens (at least {MIN_THINKING_BUDGET}) or 0 for off"))),
        },
        (None, Some("none") | Some("minimal")) => None,
        (None, None) => (configured > 0).then_some(configured),
        (None, Some(level)) => match EFFORT_BUDGETS.iter().find(|(l, _)| *l == level) {
            Some((l, _)) => return Ok(Asked::Effort(l)),
            None => {
                return Err(ProviderError::validation(format!(
                    "`reasoning_effort` is {level:?}: use none, low, medium, high, xhigh or max"
                )))
            }
        },
    };
    Ok(match budget {
        None => Asked::Off,
        Some(b) => {
            if b < MIN_THINKING_BUDGET {
                adjustments.push(Adjustment {
                    field: "thinking_budget",
                    requested: b.to_string(),
                    actual: MIN_THINKING_BUDGET.to_string(),
                    reason: format!("the smallest thinking budget is {MIN_THINKING_BUDGET} tokens"),
                });
            }
            Asked::Budget(b.max(MIN_THINKING_BUDGET))
        }
    })
}

/// Maps Anthropic's stop_reason to Amplifier's finish_reason.
pub fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "refusal" => CONTENT_FILTER,
        other => other,
    }
    .to_string()
}

/// Amplifier usage from Anthropic usage, as the provider contract's `llm:response` table
/// defines it: `input_tokens` is fresh plus cache reads; cache writes are reported apart in
/// `cache_write_tokens` (billed on top); `total_tokens` is input plus output.
pub fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (fresh, cache_read, cache_write, output) =
        (n("input_tokens"), n("cache_read_input_tokens"), n("cache_creation_input_tokens"), n("output_tokens"));
    let input = fresh + cache_read;
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
        reasoning_tokens: None,
        cache_read_tokens: (cache_read > 0).then_some(cache_read),
        cache_write_tokens: (cache_write > 0).then_some(cache_write),
        extensions: Map::new(),
    }
}

/// For a JSON `response_format`: the answer tool's input becomes the answer's text (the JSON
/// itself), and a turn that only answered ends as `stop`, not `tool_calls`.
pub fn answer_as_text(response: &mut ChatResponse, answer_tool: &str) {
    let mut answered = false;
    for block in response.content.iter_mut() {
        if let ContentBlock::ToolCall { name, input, .. } = block {
            if name == answer_tool {
                *block = ContentBlock::Text {
                    text: crate::json_write::to_string(&Value::Object(std::mem::take(input))),
                    extensions: Map::new(),
                };
                answered = true;
            }
        }
    }
    if !answered {
        return;
    }
    let calls = ChatResponse::collect_tool_calls(&response.content);
    if calls.is_empty() && response.finish_reason.as_deref() == Some("tool_calls") {
        response.finish_reason = Some("stop".into());
    }
    response.tool_calls = (!calls.is_empty()).then_some(calls);
}

/// Bedrock's Anthropic message → ChatResponse. `model_id` is the id actually called.
pub fn from_anthropic(message: &Value, model_id: &str, request_id: Option<&str>) -> Result<ChatResponse, String> {
    let blocks = message.get("content").and_then(Value::as_array).ok_or("the response has no `content` array")?;
    let mut content = Vec::with_capacity(blocks.len());
    for b in blocks {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match b.get("type").and_then(Value::as_str) {
            Some("text") => content.push(ContentBlock::Text { text: s("text"), extensions: Map::new() }),
            Some("thinking") => content.push(ContentBlock::Thinking {
                thinking: s("thinking"),
                signature: b.get("signature").and_then(Value::as_str).map(str::to_string),
                extensions: Map::new(),
            }),
            Some("redacted_thinking") => content.push(ContentBlock::RedactedThinking { data: s("data"), extensions: Map::new() }),
            Some("tool_use") => content.push(ContentBlock::ToolCall {
                id: s("id"),
                name: s("name"),
                input: b.get("input").and_then(Value::as_object).cloned().unwrap_or_default(),
                extensions: Map::new(),
            }),
            other => return Err(format!("the response has a content block of unknown type {other:?}")),
        }
    }
    let tool_calls = ChatResponse::collect_tool_calls(&content);
    let stop_reason = message.get("stop_reason").and_then(Value::as_str);
    let mut metadata = Map::new();
    metadata.insert("model".into(), json!(model_id));
    if let Some(id) = request_id {
        metadata.insert("request_id".into(), json!(id));
    }
    if let Some(id) = message.get("id") {
        metadata.insert("message_id".into(), id.clone());
    }
    if let Some(r) = stop_reason {
        metadata.insert("stop_reason".into(), json!(r));
    }
    if let Some(seq) = message.get("stop_sequence").filter(|v| !v.is_null()) {
        metadata.insert("stop_sequence".into(), seq.clone());
    }
    let guardrail_action = message.get(GUARDRAIL_ACTION).and_then(Value::as_str);
    if let Some(action) = guardrail_action {
        metadata.insert("guardrail_action".into(), json!(action));
    }
    if let Some(trace) = message.get(BEDROCK_TRACE) {
        metadata.insert("guardrail_trace".into(), trace.get("guardrail").unwrap_or(trace).clone());
    }
    let finish = match guardrail_action {
        Some("INTERVENED") => Some(CONTENT_FILTER.to_string()),
        _ => stop_reason.map(finish_reason),
    };
    Ok(ChatResponse {
        content,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        usage: message.get("usage").map(usage),
        degradation: None,
        finish_reason: finish,
        metadata: Some(metadata),
        extensions: Map::new(),
    })
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
        let mut r = from_anthropic(
            &json!({"content": [{"type": "tool_use", "id": "a", "name": ANSWER_TOOL, "input": {"name": "Paris"}}], "stop_reason": "tool_use"}),
            "m",
            None,
        )
        .unwrap();
        answer_as_text(&mut r, ANSWER_TOOL);
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

    #[test]
    fn response_maps_blocks_usage_and_finish_reason() {
        let r = from_anthropic(
            &json!({
                "id": "msg_1",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "S"},
                    {"type": "redacted_thinking", "data": "D"},
                    {"type": "text", "text": "Calling."},
                    {"type": "tool_use", "id": "tu1", "name": "f", "input": {"a": 1}}
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}
            }),
            "us.model",
            Some("req-1"),
        )
        .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["finish_reason"], "tool_calls");
        assert_eq!(v["tool_calls"], json!([{"id": "tu1", "name": "f", "arguments": {"a": 1}}]));
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 110, "output_tokens": 7, "total_tokens": 117, "cache_read_tokens": 100, "cache_write_tokens": 5}),
            "input is fresh + cache reads; cache writes apart"
        );
        assert_eq!(v["content"][0], json!({"type": "thinking", "thinking": "hmm", "signature": "S"}));
        assert_eq!(v["metadata"]["model"], "us.model");
        assert_eq!(v["metadata"]["request_id"], "req-1");
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("refusal", "content_filter"),
            ("guardrail_intervened", "content_filter"),
        ] {
            assert_eq!(finish_reason(stop), finish);
        }
    }

    fn translate_with(req: Value, config: &[(&'static str, &'static str)], model: &str) -> Result<Translated, ProviderError> {
        let source = crate::testing::ConfigPairs(config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
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

    #[test]
    fn a_guardrail_intervention_is_a_content_filter_finish_with_its_trace() {
        let message = json!({"content": [{"type": "text", "text": "Sorry."}], "stop_reason": "end_turn",
            GUARDRAIL_ACTION: "INTERVENED", BEDROCK_TRACE: {"guardrail": {"input": {"gr": {}}}}});
        let r = from_anthropic(&message, "m", None).unwrap();
        assert_eq!(r.finish_reason.as_deref(), Some(CONTENT_FILTER));
        let meta = r.metadata.unwrap();
        assert_eq!(
            (meta["guardrail_action"].clone(), meta["guardrail_trace"].clone()),
            (json!("INTERVENED"), json!({"input": {"gr": {}}}))
        );
    }
}
