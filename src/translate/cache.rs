//! Prompt caching: where this provider places `cache_control` marks, beside the caller's.

use serde_json::{json, Map, Value};

use super::adjustment::Adjustment;
use crate::config::ProviderConfig;
use crate::error::ProviderError;
use crate::models::ModelSpec;

/// The cache points for a request when `enable_prompt_caching` is on and the model caches,
/// at the configured lifetime where the model has it (a shorter one reported otherwise).
pub(super) fn apply(
    config: &ProviderConfig,
    model: Option<&ModelSpec>,
    model_name: &str,
    body: &mut Map<String, Value>,
    adjustments: &mut Vec<Adjustment>,
) -> Result<(), ProviderError> {
    if !config.enable_prompt_caching || !model.is_none_or(|m| m.prompt_caching) {
        return Ok(());
    }
    let one_hour = config.prompt_cache_ttl == "1h" && model.is_none_or(|m| m.cache_ttl_1h);
    if config.prompt_cache_ttl == "1h" && !one_hour {
        adjustments.push(Adjustment {
            field: "prompt_cache_ttl",
            requested: "1h".into(),
            actual: "5m".into(),
            reason: format!("{model_name} has no 1-hour prompt cache on Bedrock"),
        });
    }
    place_cache_points(body, one_hour)
}

/// Most `cache_control` marks Anthropic takes in one request.
pub(super) const MAX_CACHE_POINTS: usize = 4;

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
