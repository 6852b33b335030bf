//! `temperature`, `top_p` and `top_k` within the model's rules and thinking's.

use serde_json::{json, Map, Value};

use super::adjustment::Adjustment;
use crate::config::ProviderConfig;
use crate::contract::messages::ChatRequest;
use crate::error::{number, ProviderError};

/// Lowest `top_p` Anthropic accepts while thinking.
const MIN_TOP_P_WITH_THINKING: f64 = 0.95;

/// `temperature`, `top_p` and `top_k` as the model takes them. Only values someone set are
/// sent (the model's own default temperature is 1.0, the configured default too).
pub(super) fn sampling_parameters(
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
