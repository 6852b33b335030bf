//! The emulator's own answer to a checked call with nothing queued: the guardrail's block if it
//! intervenes, else its model's text (which echoes the prompt, or counts when asked to),
//! continuing an assistant prefill, cut at `max_tokens`, with `usage` through the prompt cache.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::cache::{words, InputUsage, PromptCache};
use super::guardrail::{guardrail, user_texts, GUARDRAIL_BLOCKED_MESSAGE, GUARDRAIL_DENIED_TOPIC};
use super::models::bare_model;
use super::rules::prefill;

/// The largest N the default answer counts to for "count from 1 to N" (a long answer on demand,
/// for `max_tokens` stops and continuation).
const MAX_COUNT_TO: u64 = 100_000;

/// The answer to a checked call with nothing queued: the guardrail's block if it intervenes,
/// else the emulator's model, through the prompt cache.
pub(super) fn default_answer(
    body: &Value,
    model_id: &str,
    headers: &[(String, String)],
    cache: &mut PromptCache,
    n: u64,
    now: Instant,
) -> Value {
    let Ok(Some(guardrail)) = guardrail(headers) else {
        return default_message(body, model_id, n, cache.admit(body, model_id, now));
    };
    let texts = user_texts(body);
    let blocked = texts.iter().any(|t| t.to_lowercase().contains(GUARDRAIL_DENIED_TOPIC));
    let mut message = if blocked {
        // The model is not called: no tokens, no cache.
        json!({
            "id": format!("msg_bdrk_emulator{n:06}"),
            "type": "message",
            "role": "assistant",
            "model": bare_model(model_id),
            "content": [{"type": "text", "text": GUARDRAIL_BLOCKED_MESSAGE}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": InputUsage::default().json(0),
        })
    } else {
        default_message(body, model_id, n, cache.admit(body, model_id, now))
    };
    message["amazon-bedrock-guardrailAction"] = json!(if blocked { "INTERVENED" } else { "NONE" });
    if guardrail.trace {
        let characters = texts.iter().map(|t| t.chars().count() as u64).sum::<u64>();
        let topics = match blocked {
            true => json!([{"name": "Emulator denied topic", "type": "DENY", "action": "BLOCKED", "detected": true}]),
            false => json!([]),
        };
        let assessment = json!({
            "topicPolicy": {"topics": topics},
            "invocationMetrics": {
                "guardrailProcessingLatency": 12,
                // Guardrails bill a text unit per 1000 characters.
                "usage": {"topicPolicyUnits": characters.div_ceil(1000).max(1)},
                "guardrailCoverage": {"textCharacters": {"guarded": characters, "total": characters}},
            },
        });
        let input = Map::from_iter([(guardrail.identifier, assessment)]);
        message["amazon-bedrock-trace"] = json!({"guardrail": {"input": input}});
    }
    message
}

/// The emulator's model answering: a short text that shows which prompt it saw (or a count,
/// when asked to count), continuing a prefill, cut at `max_tokens`.
fn default_message(body: &Value, model_id: &str, n: u64, input: InputUsage) -> Value {
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(u64::MAX);
    if let Some((call, tokens)) = forced_tool_call(body, n) {
        return json!({
            "id": format!("msg_bdrk_emulator{n:06}"),
            "type": "message",
            "role": "assistant",
            "model": bare_model(model_id),
            "content": [call],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": input.json(tokens),
        });
    }
    // Structured output (`output_config.format`): a JSON document for the schema.
    let full = match body["output_config"]["format"].get("schema") {
        Some(schema) => example_of(schema).to_string(),
        None => model_text(body),
    };
    let (text, output_tokens, stop_reason) = cut_at_max_tokens(full, max_tokens);
    let content = if text.trim().is_empty() { json!([]) } else { json!([{"type": "text", "text": text}]) };
    json!({
        "id": format!("msg_bdrk_emulator{n:06}"),
        "type": "message",
        "role": "assistant",
        "model": bare_model(model_id),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": input.json(output_tokens),
    })
}

/// The call of the tool a request forces, and its output tokens: Anthropic guarantees a call
/// of the tool `tool_choice` names (`{"type": "tool", "name"}`), or of the only tool with
/// `{"type": "any"}`, so the emulator's model makes it, its input a value for the tool's
/// `input_schema`. `None` when no tool is forced.
pub(super) fn forced_tool_call(body: &Value, n: u64) -> Option<(Value, u64)> {
    let tools = body["tools"].as_array()?;
    let tool = match body["tool_choice"]["type"].as_str()? {
        "tool" => tools.iter().find(|t| t["name"] == body["tool_choice"]["name"])?,
        "any" if tools.len() == 1 => &tools[0],
        _ => return None,
    };
    let input = example_of(&tool["input_schema"]);
    let tokens = words(&input.to_string()).max(1);
    Some((json!({"type": "tool_use", "id": format!("toolu_emulator{n:06}"), "name": tool["name"], "input": input}), tokens))
}

/// `full` as written within `max_tokens`: (the text kept, its tokens, the stop reason —
/// `max_tokens` when it was cut, else `end_turn`).
pub(super) fn cut_at_max_tokens(full: String, max_tokens: u64) -> (String, u64, &'static str) {
    match words(&full) {
        w if w > max_tokens => {
            // Kept as the model would have written it: a continuation starts with its space.
            let lead = if full.starts_with(char::is_whitespace) { " " } else { "" };
            let kept = full.split_whitespace().take(max_tokens as usize).collect::<Vec<_>>().join(" ");
            (format!("{lead}{kept}"), max_tokens, "max_tokens")
        }
        w => (full, w, "end_turn"),
    }
}

/// What the emulator's model writes, before `max_tokens`: the greeting that echoes the last
/// user text, or "1 2 … N" for "count from 1 to N"; after a prefill, only its continuation.
pub(super) fn model_text(body: &Value) -> String {
    let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let last_user_text = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" "),
            _ => String::new(),
        })
        .unwrap_or_default();
    let prefill = prefill(messages).map(|texts| texts.concat());
    let Some(to) = count_to(&last_user_text) else {
        let full = format!("Hello from the local Bedrock emulator! You said: {last_user_text}");
        return continuation(full, prefill.as_deref());
    };
    // A prefill that stops at a number k is continued from k+1, right after it.
    let from = prefill.as_deref().and_then(|p| p.split_whitespace().last()).and_then(|w| w.parse::<u64>().ok());
    match from {
        Some(k) => (k.saturating_add(1)..=to).map(|i| format!(" {i}")).collect(),
        None => continuation((1..=to).map(|i| i.to_string()).collect::<Vec<_>>().join(" "), prefill.as_deref()),
    }
}

/// The rest of `full` after a prefill it starts with; all of it when it does not.
fn continuation(full: String, prefill: Option<&str>) -> String {
    match prefill.and_then(|p| full.strip_prefix(p)) {
        Some(rest) => rest.to_string(),
        None => full,
    }
}

/// N, when the text asks to "count from 1 to N" (any case) with 1 ≤ N ≤ [`MAX_COUNT_TO`].
fn count_to(text: &str) -> Option<u64> {
    let lower = text.to_lowercase();
    let (_, rest) = lower.split_once("count from 1 to ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| (1..=MAX_COUNT_TO).contains(n))
}

/// A value valid for a simple JSON schema: an object with each required property filled by
/// its own schema; a string `"emulated"`, a number 0, a boolean `true`, an array `[]`; an
/// `enum`'s or `const`'s first value; the first of `anyOf` / `oneOf` or of a list of types
/// (other than null).
pub(super) fn example_of(schema: &Value) -> Value {
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = ["anyOf", "oneOf"].iter().find_map(|k| schema[*k].as_array().and_then(|o| o.first())) {
        return example_of(first);
    }
    let kind = match &schema["type"] {
        Value::Array(types) => types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        Value::String(t) => t.as_str(),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let required = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str);
            Value::Object(required.map(|name| (name.to_string(), example_of(&schema["properties"][name]))).collect())
        }
        "array" => json!([]),
        "number" | "integer" => json!(0),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!("emulated"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::eventstream::stream_events;
    use crate::rules::{check_body, check_invoke};
    use crate::test_support::{headers, request, HAIKU_45, SONNET_4, SONNET_45};

    #[test]
    fn a_guardrail_blocks_the_denied_topic_and_reports_what_it_did() {
        let g = |trace: &str| {
            headers(&[
                ("x-amzn-bedrock-guardrailidentifier", "gr-emu"),
                ("x-amzn-bedrock-guardrailversion", "1"),
                ("x-amzn-bedrock-trace", trace),
            ])
        };
        let asking = request(
            json!([{"role": "user", "content": [{"type": "text", "text": "Tell me about EMULATOR-DENIED-TOPIC please"}]}]),
            json!({}),
        );
        let mut cache = PromptCache::default();
        let blocked = default_answer(&asking, SONNET_45, &g("ENABLED"), &mut cache, 7, Instant::now());
        let text_len = "Tell me about EMULATOR-DENIED-TOPIC please".len();
        assert_eq!(
            blocked,
            json!({
                "id": "msg_bdrk_emulator000007", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": GUARDRAIL_BLOCKED_MESSAGE}], "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}},
                "amazon-bedrock-guardrailAction": "INTERVENED",
                "amazon-bedrock-trace": {"guardrail": {"input": {"gr-emu": {
                    "topicPolicy": {"topics": [{"name": "Emulator denied topic", "type": "DENY", "action": "BLOCKED", "detected": true}]},
                    "invocationMetrics": {"guardrailProcessingLatency": 12, "usage": {"topicPolicyUnits": 1},
                                          "guardrailCoverage": {"textCharacters": {"guarded": text_len, "total": text_len}}}}}}},
            })
        );
        let quiet = default_answer(&asking, SONNET_45, &g("DISABLED"), &mut cache, 7, Instant::now());
        assert_eq!(quiet["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert!(quiet.get("amazon-bedrock-trace").is_none());

        let fine = request(json!([{"role": "user", "content": "What is the weather?"}]), json!({}));
        let passed = default_answer(&fine, SONNET_45, &g("ENABLED_FULL"), &mut cache, 8, Instant::now());
        assert_eq!(passed["content"][0]["text"], "Hello from the local Bedrock emulator! You said: What is the weather?");
        assert_eq!(passed["amazon-bedrock-guardrailAction"], "NONE");
        assert_eq!(passed["amazon-bedrock-trace"]["guardrail"]["input"]["gr-emu"]["topicPolicy"], json!({"topics": []}));
        let plain = default_answer(&fine, SONNET_45, &[], &mut cache, 8, Instant::now());
        assert!(plain.get("amazon-bedrock-guardrailAction").is_none(), "no guardrail, no guardrail fields");

        let events = stream_events(&blocked);
        let (first, last) = (events.first().unwrap(), events.last().unwrap());
        assert!(first["message"].get("amazon-bedrock-guardrailAction").is_none());
        assert_eq!(first["message"]["usage"]["cache_read_input_tokens"], 0, "message_start carries the cache fields");
        assert_eq!(last["type"], "message_stop");
        assert_eq!(last["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert_eq!(last["amazon-bedrock-trace"], blocked["amazon-bedrock-trace"]);
        assert!(last.get("amazon-bedrock-invocationMetrics").is_some());
    }

    #[test]
    fn default_answers_stop_at_max_tokens_and_continue_a_prefill() {
        let ask = |text: &str, max: u64, prefill: Option<&str>| {
            let mut messages = vec![json!({"role": "user", "content": text})];
            messages.extend(prefill.map(|p| json!({"role": "assistant", "content": [{"type": "text", "text": p}]})));
            let body = request(Value::Array(messages), json!({"max_tokens": max}));
            assert_eq!(check_body(&body, SONNET_45), Ok(()));
            let m = default_message(&body, SONNET_45, 1, InputUsage::default());
            (
                m["content"][0]["text"].as_str().unwrap_or("<none>").to_string(),
                m["stop_reason"].clone(),
                m["usage"]["output_tokens"].clone(),
            )
        };
        assert_eq!(ask("Please Count From 1 To 10.", 100, None), ("1 2 3 4 5 6 7 8 9 10".into(), json!("end_turn"), json!(10)));
        assert_eq!(ask("count from 1 to 10", 4, None), ("1 2 3 4".into(), json!("max_tokens"), json!(4)));
        assert_eq!(ask("count from 1 to 10", 100, Some("1 2 3 4")), (" 5 6 7 8 9 10".into(), json!("end_turn"), json!(6)));
        assert_eq!(ask("count from 1 to 10", 2, Some("Sure: 1 2 3 4")), (" 5 6".into(), json!("max_tokens"), json!(2)));
        assert_eq!(ask("count from 1 to 10", 100, Some("1 2 3 4 5 6 7 8 9 10")), ("<none>".into(), json!("end_turn"), json!(0)));
        assert_eq!(ask("count from 1 to 100001", 100, None).0, "Hello from the local Bedrock emulator! You said: count from 1 to 100001");
        let (long, stop, out) = ask("count from 1 to 100000", 64_000, None);
        assert_eq!((long.split(' ').count(), stop, out), (64_000, json!("max_tokens"), json!(64_000)));
        assert_eq!(ask("hi", 100, None), ("Hello from the local Bedrock emulator! You said: hi".into(), json!("end_turn"), json!(9)));
        assert_eq!(ask("hi", 3, None), ("Hello from the".into(), json!("max_tokens"), json!(3)));
        assert_eq!(ask("hi", 100, Some("Hello from")), (" the local Bedrock emulator! You said: hi".into(), json!("end_turn"), json!(7)));
        assert_eq!(ask("hi", 100, Some("Bonjour")).0, "Hello from the local Bedrock emulator! You said: hi");

        let trailing = request(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "1 2 "}]), json!({}));
        assert_eq!(check_body(&trailing, SONNET_45).unwrap_err(), "messages: final assistant content cannot end with trailing whitespace");
        let thinking = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2000});
        let prefilled = request(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "1 2"}]), thinking.clone());
        assert!(check_body(&prefilled, SONNET_45)
            .unwrap_err()
            .contains("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`"));
        let after_thinking = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "1 2"}]}]);
        assert!(check_body(&request(after_thinking, thinking), SONNET_45)
            .unwrap_err()
            .starts_with("messages.1: prefilling the `assistant` response is not supported when `thinking` is enabled"));
    }

    #[test]
    fn betas_and_the_context_window_follow_bedrock() {
        let with_betas = |betas: Value| request(json!([{"role": "user", "content": "x"}]), json!({"anthropic_beta": betas}));
        assert_eq!(check_body(&with_betas(json!(["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"])), SONNET_45), Ok(()));
        assert_eq!(check_body(&with_betas(json!(["context-1m-2025-08-07"])), SONNET_4), Ok(()));
        for (betas, model) in
            [(json!(["context-1m-2025-08-07"]), HAIKU_45), (json!(["made-up-2099-01-01"]), SONNET_45), (json!([7]), SONNET_45)]
        {
            assert_eq!(check_body(&with_betas(betas), model).unwrap_err(), "invalid beta flag");
        }
        assert!(check_body(&with_betas(json!("context-1m-2025-08-07")), SONNET_45)
            .unwrap_err()
            .contains("expected type: JSONArray, found: String"));

        // About 2 MB: every step on the way must stay linear.
        let started = std::time::Instant::now();
        let huge = request(json!([{"role": "user", "content": vec!["lorem1234"; 250_000].join(" ")}]), json!({}));
        assert_eq!(check_invoke(SONNET_45, &[], &huge).unwrap().2, "prompt is too long: 250003 tokens > 200000 maximum");
        let mut one_m = huge.clone();
        one_m["anthropic_beta"] = json!(["context-1m-2025-08-07"]);
        one_m["system"] = json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]);
        one_m["messages"][0]["content"] =
            json!([{"type": "text", "text": huge["messages"][0]["content"], "cache_control": {"type": "ephemeral"}}]);
        assert_eq!(check_invoke(SONNET_45, &[], &one_m), None);
        let answer = default_answer(&one_m, SONNET_45, &[], &mut PromptCache::default(), 1, Instant::now());
        assert_eq!(answer["usage"]["cache_creation_input_tokens"], 250_003 + 2 - 3);
        assert_eq!(answer["stop_reason"], "max_tokens");
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
        let mut too_big = one_m.clone();
        too_big["messages"][0]["content"][0]["text"] = json!(vec!["w"; 1_000_001].join(" "));
        assert_eq!(check_invoke(SONNET_45, &[], &too_big).unwrap().2, "prompt is too long: 1000006 tokens > 1000000 maximum");
    }

    #[test]
    fn examples_fit_their_schemas() {
        assert_eq!(example_of(&json!({"type": "integer"})), json!(0));
        assert_eq!(example_of(&json!({"anyOf": [{"type": "boolean"}, {"type": "string"}]})), json!(true));
        assert_eq!(example_of(&json!({"const": "x"})), json!("x"));
        assert_eq!(example_of(&json!({"properties": {"a": {"type": "array"}}, "required": ["a"]})), json!({"a": []}));
    }
}
