//! Extended thinking: what the request asks for (a budget, an effort level, or the configured
//! budget), what the model takes (budget or adaptive thinking, its effort levels), and the room
//! `max_tokens` must leave for an answer after it.

use serde_json::{json, Map, Value};

use super::adjustment::Adjustment;
use super::rules::Rules;
use super::turns::Turn;
use crate::contract::messages::{ChatRequest, Role};
use crate::error::ProviderError;

/// The beta flag that lets Claude think between tool calls.
pub(crate) const INTERLEAVED_THINKING_BETA: &str = "interleaved-thinking-2025-05-14";

/// The thinking sent for `request` on a model with `rules`, every change recorded: `None` for
/// none.
pub(super) fn decide(
    request: &ChatRequest,
    configured: u32,
    rules: &Rules,
    turns: &[Turn],
    adjustments: &mut Vec<Adjustment>,
) -> Result<Option<Sent>, ProviderError> {
    let asked = thinking_asked(request, configured, adjustments)?;
    let sent = thinking_for(asked, &rules.thinking, rules.name, adjustments);
    if let Some(sent) = sent {
        if let Some(reason) = open_tool_turn_without_thinking(turns) {
            let requested = match sent {
                Sent::Budget(b) => format!("budget {b}"),
                Sent::Adaptive(_) => "adaptive".into(),
            };
            adjustments.push(Adjustment { field: "thinking", requested, actual: "off".into(), reason });
            return Ok(None);
        }
    }
    Ok(sent)
}

/// Puts the thinking sent into `body`, raising `max_tokens` above a budget where the model
/// allows (and cutting the budget where it does not); the budget sent, for budget thinking.
pub(super) fn apply(
    sent: Option<Sent>,
    max_tokens: &mut u32,
    has_tools: bool,
    display: &str,
    rules: &Rules,
    body: &mut Map<String, Value>,
    adjustments: &mut Vec<Adjustment>,
) -> Result<Option<u32>, ProviderError> {
    let (model_max, model_name) = (rules.max_output, rules.name);
    match sent {
        Some(Sent::Budget(asked)) => {
            // Anthropic requires budget_tokens < max_tokens; make room for an answer after the thinking.
            if asked >= *max_tokens {
                let raised = asked.saturating_add(4096).min(model_max);
                if raised > *max_tokens {
                    adjustments.push(Adjustment {
                        field: "max_tokens",
                        requested: max_tokens.to_string(),
                        actual: raised.to_string(),
                        reason: format!("max_tokens must be above the thinking budget ({asked})"),
                    });
                    *max_tokens = raised;
                }
            }
            let max_tokens = *max_tokens;
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
            if rules.thinking.interleaved && has_tools {
                body.insert("anthropic_beta".into(), json!([INTERLEAVED_THINKING_BETA]));
            }
            Ok(Some(budget))
        }
        Some(Sent::Adaptive(effort)) => {
            body.insert("thinking".into(), json!({"type": "adaptive", "display": display}));
            if let Some(effort) = effort {
                body.insert("output_config".into(), json!({"effort": effort}));
            }
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Smallest thinking budget Anthropic accepts.
pub(super) const MIN_THINKING_BUDGET: u32 = 1024;

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
pub(super) enum Sent {
    /// Budget thinking with this many tokens.
    Budget(u32),
    /// Adaptive thinking, at this effort level when one is sent.
    Adaptive(Option<&'static str>),
}

impl Sent {
    /// The `output_config.effort` sent with it.
    pub(super) fn effort(self) -> Option<&'static str> {
        match self {
            Sent::Adaptive(effort) => effort,
            Sent::Budget(_) => None,
        }
    }
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

/// When the conversation ends inside an assistant tool turn (its last user turn holds tool
/// results) and that assistant turn has no thinking block, Claude refuses thinking for the
/// request ("a final `assistant` message must start with a thinking block"): the turn was
/// made without thinking, which can resume at the next user turn. The reason, in that case.
fn open_tool_turn_without_thinking(turns: &[Turn]) -> Option<String> {
    let [.., (Role::Assistant, assistant), (Role::User, last)] = turns else { return None };
    let in_tool_turn = last.iter().any(|b| b["type"] == "tool_result");
    let starts_with_thinking = matches!(assistant.first().and_then(|b| b["type"].as_str()), Some("thinking" | "redacted_thinking"));
    (in_tool_turn && !starts_with_thinking).then(|| {
        "the assistant tool turn in progress was made without thinking, and Claude requires it to start with a thinking block; thinking resumes with the next user turn".to_string()
    })
}
