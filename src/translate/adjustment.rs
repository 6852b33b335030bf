//! What the translation changed so the model accepts the request, and how that is reported
//! (`ChatResponse.degradation`, `llm:response`).

use serde_json::{json, Value};

/// One change made to the request so the model accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Adjustment {
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
pub(crate) fn degradation(adjustments: &[Adjustment]) -> Option<Value> {
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
