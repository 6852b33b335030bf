//! The Claude models on Bedrock and how a model id becomes the id actually called.
//!
//! Cross-region inference profiles (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `us-gov.`) are
//! offered per model and per geography, so the catalog records which ones each model has.

/// The model used when neither the request nor the configuration names one.
pub const DEFAULT_MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Anthropic's two prompt-cache lifetimes, the values of the `prompt_cache_ttl` config key;
/// `1h` only on the models with [`ModelSpec::cache_ttl_1h`].
pub const CACHE_TTLS: &[&str] = &["5m", "1h"];

/// The beta flag of the 1M-token context window (Claude Sonnet 4 and 4.5 on Bedrock).
pub const LONG_CONTEXT_BETA: &str = "context-1m-2025-08-07";

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

/// How a model takes the sampling parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Bedrock refuses `temperature` together with `top_p` ("`temperature` and `top_p` cannot
    /// both be specified for this model. Please use only one.").
    pub temperature_xor_top_p: bool,
    /// `top_k` is accepted.
    pub top_k: bool,
}

/// How a model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thinking {
    /// Extended thinking with a token budget (`{"type": "enabled", "budget_tokens": n}`).
    pub budget: bool,
    /// Adaptive thinking (`{"type": "adaptive"}`), where the model picks its own budget.
    pub adaptive: bool,
    /// Thinking between tool calls, with the interleaved-thinking beta flag.
    pub interleaved: bool,
}

/// One Claude model as Bedrock offers it: the one capability table every request rule reads.
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
    /// Whether a `global.` inference profile exists (routes to any commercial region).
    pub global_profile: bool,
    /// Extended thinking support.
    pub thinking: Thinking,
    /// Sampling-parameter rules.
    pub sampling: Sampling,
    /// Image input.
    pub vision: bool,
    /// PDF document input.
    pub documents: bool,
    /// Prompt caching (`cache_control`).
    pub prompt_caching: bool,
    /// The 1-hour cache lifetime (`"ttl": "1h"`) on Bedrock, besides the 5-minute one.
    pub cache_ttl_1h: bool,
    /// The context window with Anthropic's 1M-token beta ([`LONG_CONTEXT_BETA`]), for the
    /// models Bedrock offers it on.
    pub long_context_window: Option<u32>,
    /// On-demand price per million input tokens, USD.
    pub usd_per_mtok_in: f64,
    /// On-demand price per million output tokens, USD.
    pub usd_per_mtok_out: f64,
    /// Amplifier cost tier: `low`, `medium`, `high`.
    pub cost_tier: &'static str,
}

/// Thinking as every Claude 4.x model offers it.
const CLAUDE4_THINKING: Thinking = Thinking { budget: true, adaptive: false, interleaved: true };
/// The 4.5 generation and Opus 4.1: one of temperature / top_p, and top_k.
const ONE_OF_TEMPERATURE_TOP_P: Sampling = Sampling { temperature_xor_top_p: true, top_k: true };
/// Earlier models: temperature, top_p and top_k together.
const ALL_SAMPLING: Sampling = Sampling { temperature_xor_top_p: false, top_k: true };

/// The Claude models on Bedrock, default first.
///
/// Sources: the original Python module's model table (ids, profiles by geography, limits),
/// Anthropic's model documentation (context windows, output limits; thinking needs
/// temperature 1, a budget of at least 1,024 tokens and below `max_tokens`; interleaved
/// thinking is a beta of the Claude 4 models; the 4.5 models and Opus 4.1 take only one of
/// `temperature` and `top_p`; every Claude model takes `top_k`; vision, PDF documents and
/// prompt caching on Claude 4.x), and Bedrock's inference-profile list (the `global.`
/// profiles of Sonnet 4, Sonnet 4.5, Haiku 4.5 and Opus 4.5), Bedrock's prompt-caching page
/// (1-hour cache lifetime for Sonnet 4.5, Haiku 4.5 and Opus 4.5) and Anthropic's 1M-token
/// context beta, which Bedrock offers for Sonnet 4 and Sonnet 4.5. Claude 3.5 Haiku is the one
/// model here without thinking, images or documents on Bedrock.
pub const CATALOG: &[ModelSpec] = &[
    ModelSpec {
        id: DEFAULT_MODEL,
        display_name: "Claude Sonnet 4.5",
        context_window: 200_000,
        max_output_tokens: 64_000,
        profiles: &[Geo::Us, Geo::UsGov, Geo::Eu, Geo::Jp, Geo::Au],
        global_profile: true,
        thinking: CLAUDE4_THINKING,
        sampling: ONE_OF_TEMPERATURE_TOP_P,
        vision: true,
        documents: true,
        prompt_caching: true,
        cache_ttl_1h: true,
        long_context_window: Some(1_000_000),
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
        global_profile: true,
        thinking: CLAUDE4_THINKING,
        sampling: ONE_OF_TEMPERATURE_TOP_P,
        vision: true,
        documents: true,
        prompt_caching: true,
        cache_ttl_1h: true,
        long_context_window: None,
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
        global_profile: false,
        thinking: CLAUDE4_THINKING,
        sampling: ONE_OF_TEMPERATURE_TOP_P,
        vision: true,
        documents: true,
        prompt_caching: true,
        cache_ttl_1h: false,
        long_context_window: None,
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
        global_profile: true,
        thinking: CLAUDE4_THINKING,
        sampling: ONE_OF_TEMPERATURE_TOP_P,
        vision: true,
        documents: true,
        prompt_caching: true,
        cache_ttl_1h: true,
        long_context_window: None,
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
        global_profile: true,
        thinking: CLAUDE4_THINKING,
        sampling: ALL_SAMPLING,
        vision: true,
        documents: true,
        prompt_caching: true,
        cache_ttl_1h: false,
        long_context_window: Some(1_000_000),
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
        global_profile: false,
        thinking: CLAUDE4_THINKING,
        sampling: ALL_SAMPLING,
        vision: true,
        documents: true,
        prompt_caching: true,
        cache_ttl_1h: false,
        long_context_window: None,
        usd_per_mtok_in: 15.0,
        usd_per_mtok_out: 75.0,
        cost_tier: "high",
    },
    ModelSpec {
        id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        display_name: "Claude 3.5 Haiku",
        context_window: 200_000,
        max_output_tokens: 8_192,
        profiles: &[Geo::Us],
        global_profile: false,
        thinking: Thinking { budget: false, adaptive: false, interleaved: false },
        sampling: ALL_SAMPLING,
        vision: false,
        documents: false,
        prompt_caching: true,
        cache_ttl_1h: false,
        long_context_window: None,
        usd_per_mtok_in: 0.8,
        usd_per_mtok_out: 4.0,
        cost_tier: "low",
    },
];

/// Strips an inference-profile prefix, giving the bare model id.
pub fn base_model_id(id: &str) -> &str {
    PROFILE_PREFIXES.iter().find_map(|p| id.strip_prefix(p)).unwrap_or(id)
}

/// The model without its version suffix (`-v1:0`, `-v2`): the key of the capability table,
/// so a new version of a known model keeps its rules.
fn without_version(id: &str) -> &str {
    match id.rfind("-v") {
        Some(i) if id[i + 2..].split(':').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) => &id[..i],
        _ => id,
    }
}

/// The catalog entry for a bare or prefixed id, a versioned or unversioned one, or an
/// inference-profile / foundation-model ARN naming one.
pub fn lookup(id: &str) -> Option<&'static ModelSpec> {
    let tail = id.rsplit('/').next().unwrap_or(id);
    let base = without_version(base_model_id(tail));
    CATALOG.iter().find(|m| without_version(m.id) == base)
}

/// Whether `id` was routed by the caller (a profile id or an ARN), which we never change.
pub fn is_routed(id: &str) -> bool {
    id.starts_with("arn:") || PROFILE_PREFIXES.iter().any(|p| id.starts_with(p))
}

/// The ids to try for `requested`, best first: the region's geographic profile, then the
/// `global.` profile, then the bare id. A caller's own profile id or ARN, or cross-region
/// inference turned off, gives exactly one candidate. For a model newer than the catalog the
/// region's broad geography is assumed, as the original module does.
pub fn candidates(requested: &str, region: &str, cross_region: bool) -> Vec<String> {
    if is_routed(requested) || !cross_region {
        return vec![requested.to_string()];
    }
    let geos = Geo::for_region(region);
    let mut out = Vec::new();
    match lookup(requested) {
        Some(spec) => {
            if let Some(g) = geos.iter().find(|g| spec.profiles.contains(g)) {
                out.push(format!("{}{requested}", g.prefix()));
            }
            if spec.global_profile {
                out.push(format!("global.{requested}"));
            }
        }
        None => {
            if let Some(g) = geos.iter().find(|g| matches!(g, Geo::Us | Geo::UsGov | Geo::Eu | Geo::Apac)) {
                out.push(format!("{}{requested}", g.prefix()));
            }
        }
    }
    out.push(requested.to_string());
    out
}

/// The id to put in the URL first: see [`candidates`].
pub fn resolve_model_id(requested: &str, region: &str, cross_region: bool) -> String {
    candidates(requested, region, cross_region).swap_remove(0)
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
}
