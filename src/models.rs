//! The Claude models on Bedrock and how a model id becomes the id actually called.
//!
//! Cross-region inference profiles (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `us-gov.`) are
//! offered per model and per geography, so the catalog records which ones each model has.

use serde_json::{json, Value};

/// The model used when neither the request nor the configuration names one.
pub const DEFAULT_MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// A geography with a cross-region inference profile prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geo {
    /// `us.`: US commercial regions.
    Us,
    /// `us-gov.`: AWS GovCloud (US).
    UsGov,
    /// `eu.`: European regions.
    Eu,
    /// `apac.`: Asia Pacific regions.
    Apac,
    /// `jp.`: Japan only (Tokyo, Osaka).
    Jp,
    /// `au.`: Australia only (Sydney, Melbourne).
    Au,
}

impl Geo {
    /// The model-id prefix, dot included.
    pub fn prefix(self) -> &'static str {
        match self {
            Geo::Us => "us.",
            Geo::UsGov => "us-gov.",
            Geo::Eu => "eu.",
            Geo::Apac => "apac.",
            Geo::Jp => "jp.",
            Geo::Au => "au.",
        }
    }

    /// Geographies whose profiles a client in `region` may call, most specific first.
    pub fn for_region(region: &str) -> &'static [Geo] {
        if region.starts_with("us-gov-") {
            &[Geo::UsGov]
        } else if region.starts_with("us-") {
            &[Geo::Us]
        } else if region.starts_with("eu-") {
            &[Geo::Eu]
        } else if matches!(region, "ap-northeast-1" | "ap-northeast-3") {
            &[Geo::Jp, Geo::Apac]
        } else if matches!(region, "ap-southeast-2" | "ap-southeast-4") {
            &[Geo::Au, Geo::Apac]
        } else if region.starts_with("ap-") {
            &[Geo::Apac]
        } else {
            &[]
        }
    }
}

/// Every prefix that marks an id as an inference profile already.
const PROFILE_PREFIXES: &[&str] = &["us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global."];

/// One Claude model as Bedrock offers it.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// The bare Bedrock model id.
    pub id: &'static str,
    /// Name people use.
    pub display_name: &'static str,
    /// Context window in tokens.
    pub context_window: u32,
    /// Largest `max_tokens` Bedrock accepts.
    pub max_output_tokens: u32,
    /// Geographies with a cross-region inference profile for this model.
    pub profiles: &'static [Geo],
    /// Whether the model supports extended thinking.
    pub thinking: bool,
    /// On-demand price per million input tokens, USD.
    pub usd_per_mtok_in: f64,
    /// On-demand price per million output tokens, USD.
    pub usd_per_mtok_out: f64,
    /// Amplifier cost tier: `low`, `medium`, `high`.
    pub cost_tier: &'static str,
}

/// The current Claude 4.x models on Bedrock, default first.
pub const CATALOG: &[ModelSpec] = &[
    ModelSpec {
        id: DEFAULT_MODEL,
        display_name: "Claude Sonnet 4.5",
        context_window: 200_000,
        max_output_tokens: 64_000,
        profiles: &[Geo::Us, Geo::UsGov, Geo::Eu, Geo::Jp, Geo::Au],
        thinking: true,
        usd_per_mtok_in: 3.0,
        usd_per_mtok_out: 15.0,
        cost_tier: "medium",
    },
    ModelSpec {
        id: "anthropic.claude-opus-4-5-20251101-v1:0",
        display_name: "Claude Opus 4.5",
        context_window: 200_000,
        max_output_tokens: 64_000,
        profiles: &[Geo::Us, Geo::Eu],
        thinking: true,
        usd_per_mtok_in: 5.0,
        usd_per_mtok_out: 25.0,
        cost_tier: "high",
    },
    ModelSpec {
        id: "anthropic.claude-opus-4-1-20250805-v1:0",
        display_name: "Claude Opus 4.1",
        context_window: 200_000,
        max_output_tokens: 32_000,
        profiles: &[Geo::Us],
        thinking: true,
        usd_per_mtok_in: 15.0,
        usd_per_mtok_out: 75.0,
        cost_tier: "high",
    },
    ModelSpec {
        id: "anthropic.claude-haiku-4-5-20251001-v1:0",
        display_name: "Claude Haiku 4.5",
        context_window: 200_000,
        max_output_tokens: 64_000,
        profiles: &[Geo::Us, Geo::Eu, Geo::Jp, Geo::Au],
        thinking: true,
        usd_per_mtok_in: 1.0,
        usd_per_mtok_out: 5.0,
        cost_tier: "low",
    },
    ModelSpec {
        id: "anthropic.claude-sonnet-4-20250514-v1:0",
        display_name: "Claude Sonnet 4",
        context_window: 200_000,
        max_output_tokens: 64_000,
        profiles: &[Geo::Us, Geo::Eu, Geo::Apac],
        thinking: true,
        usd_per_mtok_in: 3.0,
        usd_per_mtok_out: 15.0,
        cost_tier: "medium",
    },
    ModelSpec {
        id: "anthropic.claude-opus-4-20250514-v1:0",
        display_name: "Claude Opus 4",
        context_window: 200_000,
        max_output_tokens: 32_000,
        profiles: &[Geo::Us],
        thinking: true,
        usd_per_mtok_in: 15.0,
        usd_per_mtok_out: 75.0,
        cost_tier: "high",
    },
];

/// Strips an inference-profile prefix, giving the bare model id.
pub fn base_model_id(id: &str) -> &str {
    PROFILE_PREFIXES.iter().find_map(|p| id.strip_prefix(p)).unwrap_or(id)
}

/// The catalog entry for a bare or prefixed id, or for an inference-profile ARN naming one.
pub fn lookup(id: &str) -> Option<&'static ModelSpec> {
    let tail = id.rsplit('/').next().unwrap_or(id);
    let base = base_model_id(tail);
    CATALOG.iter().find(|m| m.id == base)
}

/// The id to put in the URL: prefixed ids and ARNs pass unchanged; a bare id gets the
/// region's profile prefix when cross-region inference is on and the model offers one.
pub fn resolve_model_id(requested: &str, region: &str, cross_region: bool) -> String {
    let already_routed = requested.starts_with("arn:") || PROFILE_PREFIXES.iter().any(|p| requested.starts_with(p));
    if already_routed || !cross_region {
        return requested.to_string();
    }
    let geos = Geo::for_region(region);
    let geo = match lookup(requested) {
        Some(spec) => geos.iter().find(|g| spec.profiles.contains(g)),
        // An id newer than this catalog: the broad geography is the one AWS offers first.
        None => geos.iter().find(|g| matches!(g, Geo::Us | Geo::UsGov | Geo::Eu | Geo::Apac)),
    };
    match geo {
        Some(g) => format!("{}{requested}", g.prefix()),
        None => requested.to_string(),
    }
}

/// ModelInfo JSON for every catalog model, in the Amplifier kernel's shape.
pub fn model_infos() -> Value {
    Value::Array(
        CATALOG
            .iter()
            .map(|m| {
                let mut caps = vec!["tools", "streaming", "vision"];
                if m.thinking {
                    caps.push("thinking");
                }
                if m.cost_tier == "low" {
                    caps.push("fast");
                }
                json!({
                    "id": m.id,
                    "display_name": m.display_name,
                    "context_window": m.context_window,
                    "max_output_tokens": m.max_output_tokens,
                    "capabilities": caps,
                    "defaults": {"max_tokens": 8192, "temperature": 1.0},
                    "cost_per_input_token": m.usd_per_mtok_in / 1e6,
                    "cost_per_output_token": m.usd_per_mtok_out / 1e6,
                    "metadata": {
                        "cost_tier": m.cost_tier,
                        "inference_profiles": m.profiles.iter().map(|g| g.prefix().trim_end_matches('.')).collect::<Vec<_>>(),
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
    fn cross_region_prefix_by_region() {
        let cases = [
            ("us-east-1", DEFAULT_MODEL, "us."),
            ("us-west-2", DEFAULT_MODEL, "us."),
            ("eu-west-1", DEFAULT_MODEL, "eu."),
            ("eu-central-1", "anthropic.claude-haiku-4-5-20251001-v1:0", "eu."),
            ("ap-northeast-1", DEFAULT_MODEL, "jp."),
            ("ap-northeast-1", "anthropic.claude-sonnet-4-20250514-v1:0", "apac."),
            ("ap-southeast-2", DEFAULT_MODEL, "au."),
            ("ap-south-1", "anthropic.claude-sonnet-4-20250514-v1:0", "apac."),
            ("us-gov-west-1", DEFAULT_MODEL, "us-gov."),
            ("us-east-1", "anthropic.claude-opus-4-1-20250805-v1:0", "us."),
        ];
        for (region, model, prefix) in cases {
            assert_eq!(resolve_model_id(model, region, true), format!("{prefix}{model}"), "{region} {model}");
        }
    }

    #[test]
    fn ids_that_are_already_routed_pass_unchanged() {
        for id in [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
        ] {
            assert_eq!(resolve_model_id(id, "us-east-1", true), id);
        }
        assert_eq!(resolve_model_id(DEFAULT_MODEL, "us-east-1", false), DEFAULT_MODEL);
        // No geography offers this model here: call the bare id and let Bedrock say why.
        assert_eq!(
            resolve_model_id("anthropic.claude-opus-4-1-20250805-v1:0", "eu-west-1", true),
            "anthropic.claude-opus-4-1-20250805-v1:0"
        );
        assert_eq!(resolve_model_id("anthropic.claude-future-9", "eu-west-3", true), "eu.anthropic.claude-future-9");
        assert_eq!(resolve_model_id("anthropic.claude-future-9", "sa-east-1", true), "anthropic.claude-future-9");
    }

    #[test]
    fn lookup_sees_through_prefixes_and_arns() {
        assert_eq!(lookup("eu.anthropic.claude-haiku-4-5-20251001-v1:0").unwrap().display_name, "Claude Haiku 4.5");
        assert_eq!(
            lookup("arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0").unwrap().max_output_tokens,
            32_000
        );
        assert!(lookup("anthropic.claude-v2").is_none());
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
