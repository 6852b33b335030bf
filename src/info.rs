//! `get-info`: ProviderInfo, built from the same key table the configuration parser uses.

use serde_json::{json, Value};

use crate::config::{KeyType, KEYS};
use crate::models::{CACHE_TTLS, CATALOG, DEFAULT_MODEL};

/// ProviderInfo `defaults`, read from [`KEYS`] so they cannot drift from the parser's.
fn defaults() -> Value {
    let mut d = crate::config::model_defaults();
    d["model"] = json!(DEFAULT_MODEL);
    let text = |name: &str| KEYS.iter().find(|k| k.name == name).and_then(|k| k.default).unwrap_or_default();
    d["timeout"] = json!(crate::config::parse_number(text("timeout")).map(|n| n as u64));
    d["use_cross_region_inference"] = json!(text("use_cross_region_inference") == "true");
    d
}

/// ProviderInfo JSON in the Amplifier kernel's shape.
pub fn provider_info() -> Value {
    let config_fields: Vec<Value> = KEYS
        .iter()
        .map(|k| {
            let field_type = match k.ty {
                KeyType::Secret => "secret",
                KeyType::Boolean => "boolean",
                KeyType::Choice(_) => "choice",
                KeyType::Text | KeyType::PositiveInteger | KeyType::Count | KeyType::Number => "text",
            };
            json!({
                "id": k.name,
                "display_name": k.label,
                "field_type": field_type,
                "prompt": k.help,
                "env_var": k.env.first(),
                "choices": match k.ty {
                    KeyType::Boolean => json!(["true", "false"]),
                    KeyType::Choice(choices) => json!(choices),
                    _ => Value::Null,
                },
                // Region and credentials may come from the host's AWS chain, so nothing is strictly required here.
                "required": false,
                "default": k.default,
                "show_when": null,
                "requires_model": false,
            })
        })
        .collect();
    json!({
        "id": "bedrock",
        "display_name": "AWS Bedrock (Anthropic Claude)",
        "credential_env_vars": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"],
        "capabilities": ["streaming", "tools", "thinking", "vision"],
        "defaults": defaults(),
        "config_fields": config_fields,
    })
}

/// ModelInfo JSON for every catalog model, in the Amplifier kernel's shape.
pub fn model_infos() -> Value {
    Value::Array(
        CATALOG
            .iter()
            .map(|m| {
                let mut caps = vec!["tools", "streaming"];
                if m.vision {
                    caps.push("vision");
                }
                if m.thinking.budget || m.thinking.adaptive {
                    caps.push("thinking");
                }
                if m.cost_tier == "low" {
                    caps.push("fast");
                }
                if m.prompt_caching {
                    caps.push("prompt_caching");
                }
                if m.long_context_window.is_some() {
                    caps.push("long_context");
                }
                json!({
                    "id": m.id,
                    "display_name": m.display_name,
                    "context_window": m.context_window,
                    "max_output_tokens": m.max_output_tokens,
                    "capabilities": caps,
                    "defaults": crate::config::model_defaults(),
                    "cost_per_input_token": m.usd_per_mtok_in / 1e6,
                    "cost_per_output_token": m.usd_per_mtok_out / 1e6,
                    "metadata": {
                        "cost_tier": m.cost_tier,
                        "inference_profiles": m.profiles.iter().map(|g| g.prefix().trim_end_matches('.')).collect::<Vec<_>>(),
                        "cache_ttls": if m.cache_ttl_1h { json!(CACHE_TTLS) } else { json!(["5m"]) },
                        "long_context_window": m.long_context_window,
                        "api": m.api.name(),
                        "deprecated": m.deprecated,
                    },
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_a_field_per_key_and_secrets_are_marked() {
        let info = provider_info();
        assert_eq!(info["id"], "bedrock");
        let fields = info["config_fields"].as_array().unwrap();
        assert_eq!(fields.len(), KEYS.len());
        let secret = fields.iter().find(|f| f["id"] == "aws_secret_access_key").unwrap();
        assert_eq!(secret["field_type"], "secret");
        assert_eq!(secret["env_var"], "AWS_SECRET_ACCESS_KEY");
        assert_eq!(
            info["defaults"],
            json!({"model": DEFAULT_MODEL, "max_tokens": 8192, "temperature": 1.0, "timeout": 300, "use_cross_region_inference": true})
        );
    }

    #[test]
    fn model_infos_cover_the_seed_models() {
        let infos = model_infos();
        let ids: Vec<&str> = infos.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids[0], DEFAULT_MODEL);
        for seed in ["anthropic.claude-opus-4-1-20250805-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"] {
            assert!(ids.contains(&seed), "{seed}");
        }
    }
}
