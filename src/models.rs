//! The Claude models on Bedrock and how a model id becomes the id actually called.
//!
//! Cross-region inference profiles (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `us-gov.`) are
//! offered per model and per geography, so the catalog records which ones each model has; the
//! Messages API takes the bare id only. Which API serves an id is decided here too.

/// Which Bedrock API a call goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Api {
    /// InvokeModel / InvokeModelWithResponseStream on `bedrock-runtime`.
    Invoke,
    /// The Messages API on `bedrock-mantle` (`POST /anthropic/v1/messages`).
    Messages,
}

impl Api {
    /// Every API, in the order the `api` config key lists them.
    pub const ALL: [Api; 2] = [Api::Invoke, Api::Messages];

    /// The name the `api` config key, `info` and `models` use for it: the one spelling of it.
    pub const fn name(self) -> &'static str {
        match self {
            Api::Invoke => "invoke",
            Api::Messages => "messages",
        }
    }

    /// The API of that [`name`](Self::name).
    pub fn named(name: &str) -> Option<Api> {
        Self::ALL.into_iter().find(|api| api.name() == name)
    }
}

/// The values of the `api` config key: `auto` lets the model catalog choose; then each API's
/// [`Api::name`].
pub const API_CHOICES: &[&str] = &["auto", Api::ALL[0].name(), Api::ALL[1].name()];

/// Which API calls go through: the `api` config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiChoice {
    /// The model catalog decides, per model (see [`crate::models::api_for`]).
    Auto,
    /// Always this API.
    Fixed(Api),
}

/// The model used when neither the request nor the configuration names one.
pub const DEFAULT_MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Anthropic's two prompt-cache lifetimes, the values of the `prompt_cache_ttl` config key;
/// `1h` only on the models with [`ModelSpec::cache_ttl_1h()`].
pub const CACHE_TTLS: &[&str] = &["5m", "1h"];

/// The beta flag of the 1M-token context window (Claude Sonnet 4 and 4.5 on Bedrock).
pub const LONG_CONTEXT_BETA: &str = "context-1m-2025-08-07";

/// A geography with a cross-region inference profile prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub struct Sampling {
    /// `temperature`, `top_p` and `top_k` are accepted at all (models that refuse them answer
    /// 400, so they are dropped and reported in `degradation`).
    pub(crate) accepted: bool,
    /// Bedrock refuses `temperature` together with `top_p` ("`temperature` and `top_p` cannot
    /// both be specified for this model. Please use only one.").
    pub(crate) temperature_xor_top_p: bool,
    /// `top_k` is accepted.
    pub(crate) top_k: bool,
}

impl Sampling {
    /// `temperature`, `top_p` and `top_k` are accepted at all (models that refuse them answer
    /// 400, so they are dropped and reported in `degradation`).
    pub const fn accepted(&self) -> bool {
        self.accepted
    }

    /// Bedrock refuses `temperature` together with `top_p` ("`temperature` and `top_p` cannot
    /// both be specified for this model. Please use only one.").
    pub const fn temperature_xor_top_p(&self) -> bool {
        self.temperature_xor_top_p
    }

    /// `top_k` is accepted.
    pub const fn top_k(&self) -> bool {
        self.top_k
    }
}

/// How a model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Thinking {
    /// Extended thinking with a token budget (`{"type": "enabled", "budget_tokens": n}`).
    pub(crate) budget: bool,
    /// Adaptive thinking (`{"type": "adaptive"}`), where the model picks its own budget.
    pub(crate) adaptive: bool,
    /// Thinking between tool calls, with the interleaved-thinking beta flag (budget thinking;
    /// adaptive thinking interleaves by itself).
    pub(crate) interleaved: bool,
    /// The `output_config.effort` levels the model takes, lowest first; empty when it takes
    /// none (then `reasoning_effort` picks a thinking budget).
    pub(crate) efforts: &'static [&'static str],
}

impl Thinking {
    /// Extended thinking with a token budget (`{"type": "enabled", "budget_tokens": n}`).
    pub const fn budget(&self) -> bool {
        self.budget
    }

    /// Adaptive thinking (`{"type": "adaptive"}`), where the model picks its own budget.
    pub const fn adaptive(&self) -> bool {
        self.adaptive
    }

    /// Thinking between tool calls, with the interleaved-thinking beta flag (budget thinking;
    /// adaptive thinking interleaves by itself).
    pub const fn interleaved(&self) -> bool {
        self.interleaved
    }

    /// The `output_config.effort` levels the model takes, lowest first; empty when it takes
    /// none (then `reasoning_effort` picks a thinking budget).
    pub const fn efforts(&self) -> &'static [&'static str] {
        self.efforts
    }
}

/// One Claude model as Bedrock offers it: the one capability table every request rule reads.
///
/// Rows exist only in [`CATALOG`] (its tests hold them to one another and to their sources), so
/// a `ModelSpec` is always a model the catalog describes; code outside this crate reads one (and
/// its [`Thinking`] and [`Sampling`]) through the accessors.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ModelSpec {
    /// The bare Bedrock model id.
    pub(crate) id: &'static str,
    /// Name people use.
    pub(crate) display_name: &'static str,
    /// The API that serves this id.
    pub(crate) api: Api,
    /// Context window in tokens.
    pub(crate) context_window: u32,
    /// Largest `max_tokens` Bedrock accepts.
    pub(crate) max_output_tokens: u32,
    /// Geographies with a cross-region inference profile for this model (InvokeModel only).
    pub(crate) profiles: &'static [Geo],
    /// Whether a `global.` inference profile exists (routes to any commercial region).
    global_profile: bool,
    /// Extended thinking support.
    pub(crate) thinking: Thinking,
    /// Sampling-parameter rules.
    pub(crate) sampling: Sampling,
    /// Image input.
    pub(crate) vision: bool,
    /// PDF document input.
    pub(crate) documents: bool,
    /// Prompt caching (`cache_control`).
    pub(crate) prompt_caching: bool,
    /// The 1-hour cache lifetime (`"ttl": "1h"`) on Bedrock, besides the 5-minute one.
    pub(crate) cache_ttl_1h: bool,
    /// Native structured output (`output_config.format` with a JSON schema) through this API;
    /// elsewhere a JSON `response_format` is a forced answer tool.
    pub(crate) structured_output: bool,
    /// The context window with Anthropic's 1M-token beta ([`LONG_CONTEXT_BETA`]), for the
    /// models Bedrock offers it on.
    pub(crate) long_context_window: Option<u32>,
    /// Why the model should no longer be chosen, when Bedrock marks it deprecated (reported as
    /// a `provider:model_deprecated` event and in `models`).
    pub(crate) deprecated: Option<&'static str>,
    /// On-demand price per million input tokens, USD (0 where no price is published).
    pub(crate) usd_per_mtok_in: f64,
    /// On-demand price per million output tokens, USD (0 where no price is published).
    pub(crate) usd_per_mtok_out: f64,
    /// Amplifier cost tier: `low`, `medium`, `high`.
    pub(crate) cost_tier: &'static str,
}

impl ModelSpec {
    /// The bare Bedrock model id.
    pub const fn id(&self) -> &'static str {
        self.id
    }

    /// Name people use.
    pub const fn display_name(&self) -> &'static str {
        self.display_name
    }

    /// The API that serves this id.
    pub const fn api(&self) -> Api {
        self.api
    }

    /// Context window in tokens.
    pub const fn context_window(&self) -> u32 {
        self.context_window
    }

    /// Largest `max_tokens` Bedrock accepts.
    pub const fn max_output_tokens(&self) -> u32 {
        self.max_output_tokens
    }

    /// Geographies with a cross-region inference profile for this model (InvokeModel only).
    pub const fn profiles(&self) -> &'static [Geo] {
        self.profiles
    }

    /// Whether a `global.` inference profile exists (routes to any commercial region).
    pub const fn global_profile(&self) -> bool {
        self.global_profile
    }

    /// Extended thinking support.
    pub const fn thinking(&self) -> Thinking {
        self.thinking
    }

    /// Sampling-parameter rules.
    pub const fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// Image input.
    pub const fn vision(&self) -> bool {
        self.vision
    }

    /// PDF document input.
    pub const fn documents(&self) -> bool {
        self.documents
    }

    /// Prompt caching (`cache_control`).
    pub const fn prompt_caching(&self) -> bool {
        self.prompt_caching
    }

    /// The 1-hour cache lifetime (`"ttl": "1h"`) on Bedrock, besides the 5-minute one.
    pub const fn cache_ttl_1h(&self) -> bool {
        self.cache_ttl_1h
    }

    /// Native structured output (`output_config.format` with a JSON schema) through this API;
    /// elsewhere a JSON `response_format` is a forced answer tool.
    pub const fn structured_output(&self) -> bool {
        self.structured_output
    }

    /// The context window with Anthropic's 1M-token beta ([`LONG_CONTEXT_BETA`]), for the
    /// models Bedrock offers it on.
    pub const fn long_context_window(&self) -> Option<u32> {
        self.long_context_window
    }

    /// Why the model should no longer be chosen, when Bedrock marks it deprecated (reported as
    /// a `provider:model_deprecated` event and in `models`).
    pub const fn deprecated(&self) -> Option<&'static str> {
        self.deprecated
    }

    /// On-demand price per million input tokens, USD (0 where no price is published).
    pub const fn usd_per_mtok_in(&self) -> f64 {
        self.usd_per_mtok_in
    }

    /// On-demand price per million output tokens, USD (0 where no price is published).
    pub const fn usd_per_mtok_out(&self) -> f64 {
        self.usd_per_mtok_out
    }

    /// Amplifier cost tier: `low`, `medium`, `high`.
    pub const fn cost_tier(&self) -> &'static str {
        self.cost_tier
    }
}

/// Budget thinking as every Claude 4.x InvokeModel model up to 4.5 offers it.
const CLAUDE4_THINKING: Thinking = Thinking { budget: true, adaptive: false, interleaved: true, efforts: &[] };
/// Adaptive thinking beside the (deprecated) budget form: Opus 4.6 and Sonnet 4.6 (AWS,
/// claude-messages-adaptive-thinking). Effort levels beyond `high` are not documented for them.
const ADAPTIVE_AND_BUDGET: Thinking = Thinking { budget: true, adaptive: true, interleaved: true, efforts: &["low", "medium", "high"] };
/// Adaptive thinking only (`enabled` answers 400): Opus 4.7 and later, Fable (AWS,
/// claude-messages-adaptive-thinking; AWS model card of Opus 4.7). `xhigh` from Opus 4.7 on as
/// Amplifier's Anthropic provider offers it (not confirmed by Anthropic's pages here).
const ADAPTIVE_XHIGH: Thinking =
    Thinking { budget: false, adaptive: true, interleaved: false, efforts: &["low", "medium", "high", "xhigh"] };
/// [`ADAPTIVE_XHIGH`] and `max`, from Opus 4.8 on (Amplifier's Anthropic provider's matrix;
/// not confirmed by Anthropic's pages here).
const ADAPTIVE_MAX: Thinking =
    Thinking { budget: false, adaptive: true, interleaved: false, efforts: &["low", "medium", "high", "xhigh", "max"] };
/// The 4.5 generation and Opus 4.1: one of temperature / top_p, and top_k.
const ONE_OF_TEMPERATURE_TOP_P: Sampling = Sampling { accepted: true, temperature_xor_top_p: true, top_k: true };
/// Earlier models: temperature, top_p and top_k together.
const ALL_SAMPLING: Sampling = Sampling { accepted: true, temperature_xor_top_p: false, top_k: true };
/// Models that answer 400 to any sampling parameter (reported for Opus 5; the 5 generation
/// alike; not confirmed by Anthropic's pages, which state it only for API version 2026-10-21).
const NO_SAMPLING: Sampling = Sampling { accepted: false, temperature_xor_top_p: true, top_k: false };

/// A row's defaults, for the fields most rows share.
const BASE: ModelSpec = ModelSpec {
    id: "",
    display_name: "",
    api: Api::Invoke,
    context_window: 200_000,
    max_output_tokens: 64_000,
    profiles: &[],
    global_profile: false,
    thinking: CLAUDE4_THINKING,
    sampling: ONE_OF_TEMPERATURE_TOP_P,
    vision: true,
    documents: true,
    prompt_caching: true,
    cache_ttl_1h: false,
    structured_output: false,
    long_context_window: None,
    deprecated: None,
    usd_per_mtok_in: 0.0,
    usd_per_mtok_out: 0.0,
    cost_tier: "medium",
};

/// The Claude models on Bedrock, default first: InvokeModel's catalog, then the Messages API's.
///
/// General sources: Anthropic's model pages (context windows, output limits; thinking needs
/// temperature 1, a budget of at least 1,024 tokens and below `max_tokens`; interleaved
/// thinking is a beta of the Claude 4 models; the 4.5 models and Opus 4.1 take only one of
/// `temperature` and `top_p`), Anthropic's "Claude on Amazon Bedrock (legacy)" page (the
/// InvokeModel ids and their inference profiles by geography, Dec 2026, which also marks Opus
/// 4.1, Sonnet 4 and Haiku 3.5 deprecated) and "Claude in Amazon Bedrock" page (the Messages API
/// ids; structured outputs not supported there), AWS's claude-messages-adaptive-thinking page
/// (which models think adaptively, which only so), AWS's claude-messages-structured-outputs page
/// (native structured outputs on InvokeModel for Sonnet 4.5, Haiku 4.5, Opus 4.5 and 4.6),
/// Bedrock's prompt-caching page (1-hour lifetime for Sonnet 4.5, Haiku 4.5 and Opus 4.5), and
/// Anthropic's 1M-token context beta, which Bedrock offers for Sonnet 4 and Sonnet 4.5. The
/// `au.` and `us-gov.` profiles come from the original Python module's table (the legacy page
/// lists global, us, eu, jp and apac only). Each row's `// Source:` comment adds its own, and
/// what could not be confirmed (a test checks that every row has one).
pub const CATALOG: &[ModelSpec] = &[
    // Source: legacy page (profiles: global, us, eu, jp; no apac); limits from Anthropic's model page
    ModelSpec {
        id: DEFAULT_MODEL,
        display_name: "Claude Sonnet 4.5",
        profiles: &[Geo::Us, Geo::UsGov, Geo::Eu, Geo::Jp, Geo::Au],
        global_profile: true,
        cache_ttl_1h: true,
        structured_output: true,
        long_context_window: Some(1_000_000),
        usd_per_mtok_in: 3.0,
        usd_per_mtok_out: 15.0,
        ..BASE
    },
    // Source: legacy page (id, profiles: global, us, eu, jp, apac); AWS adaptive-thinking page; max output 128K
    //   and the price from third-party tables, the context window (200K, 1M reported) unconfirmed
    ModelSpec {
        id: "anthropic.claude-opus-4-6-v1",
        display_name: "Claude Opus 4.6",
        context_window: 200_000,
        max_output_tokens: 128_000,
        profiles: &[Geo::Us, Geo::Eu, Geo::Jp, Geo::Apac],
        global_profile: true,
        thinking: ADAPTIVE_AND_BUDGET,
        structured_output: true,
        usd_per_mtok_in: 5.0,
        usd_per_mtok_out: 25.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: legacy page (id, profiles: global, us, eu, jp; no apac); AWS adaptive-thinking page; max output
    //   128K from third-party tables, the context window and structured outputs unconfirmed
    ModelSpec {
        id: "anthropic.claude-sonnet-4-6",
        display_name: "Claude Sonnet 4.6",
        context_window: 200_000,
        max_output_tokens: 128_000,
        profiles: &[Geo::Us, Geo::Eu, Geo::Jp],
        global_profile: true,
        thinking: ADAPTIVE_AND_BUDGET,
        usd_per_mtok_in: 3.0,
        usd_per_mtok_out: 15.0,
        ..BASE
    },
    // Source: legacy page (profiles: global, us, eu)
    ModelSpec {
        id: "anthropic.claude-opus-4-5-20251101-v1:0",
        display_name: "Claude Opus 4.5",
        profiles: &[Geo::Us, Geo::Eu],
        global_profile: true,
        cache_ttl_1h: true,
        structured_output: true,
        usd_per_mtok_in: 5.0,
        usd_per_mtok_out: 25.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: legacy page (profiles: global, us, eu; no jp, no apac); Anthropic's model page (200K, 64K)
    ModelSpec {
        id: "anthropic.claude-haiku-4-5-20251001-v1:0",
        display_name: "Claude Haiku 4.5",
        profiles: &[Geo::Us, Geo::Eu, Geo::Au],
        global_profile: true,
        cache_ttl_1h: true,
        structured_output: true,
        usd_per_mtok_in: 1.0,
        usd_per_mtok_out: 5.0,
        cost_tier: "low",
        ..BASE
    },
    // Source: legacy page (profiles: us only; deprecated)
    ModelSpec {
        id: "anthropic.claude-opus-4-1-20250805-v1:0",
        display_name: "Claude Opus 4.1",
        max_output_tokens: 32_000,
        profiles: &[Geo::Us],
        deprecated: Some("Claude Opus 4.1 is deprecated on Bedrock: use anthropic.claude-opus-4-6-v1"),
        usd_per_mtok_in: 15.0,
        usd_per_mtok_out: 75.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: legacy page (profiles: global, us, eu, apac; no jp; deprecated)
    ModelSpec {
        id: "anthropic.claude-sonnet-4-20250514-v1:0",
        display_name: "Claude Sonnet 4",
        profiles: &[Geo::Us, Geo::Eu, Geo::Apac],
        global_profile: true,
        sampling: ALL_SAMPLING,
        long_context_window: Some(1_000_000),
        deprecated: Some("Claude Sonnet 4 is deprecated on Bedrock: use Sonnet 4.5 (the default) or anthropic.claude-sonnet-4-6"),
        usd_per_mtok_in: 3.0,
        usd_per_mtok_out: 15.0,
        ..BASE
    },
    // Source: the original module's table; absent from the legacy page's newest copy (its retirement date
    //   unconfirmed)
    ModelSpec {
        id: "anthropic.claude-opus-4-20250514-v1:0",
        display_name: "Claude Opus 4",
        max_output_tokens: 32_000,
        profiles: &[Geo::Us],
        sampling: ALL_SAMPLING,
        deprecated: Some("Claude Opus 4 is no longer in Bedrock's catalog: use anthropic.claude-opus-4-6-v1"),
        usd_per_mtok_in: 15.0,
        usd_per_mtok_out: 75.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: legacy page (profiles: us only; deprecated); no thinking, images or documents on Bedrock
    ModelSpec {
        id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        display_name: "Claude 3.5 Haiku",
        max_output_tokens: 8_192,
        profiles: &[Geo::Us],
        thinking: Thinking { budget: false, adaptive: false, interleaved: false, efforts: &[] },
        sampling: ALL_SAMPLING,
        vision: false,
        documents: false,
        deprecated: Some("Claude 3.5 Haiku is deprecated on Bedrock: use anthropic.claude-haiku-4-5-20251001-v1:0"),
        usd_per_mtok_in: 0.8,
        usd_per_mtok_out: 4.0,
        cost_tier: "low",
        ..BASE
    },
    // The Messages API (bedrock-mantle): bare ids, no inference profiles, 1M context natively.
    // Source: Claude in Amazon Bedrock page (id); Anthropic's model comparison (1M, 128K, adaptive thinking,
    //   $2/$10); effort levels and the refusal of sampling parameters unconfirmed
    ModelSpec {
        id: "anthropic.claude-sonnet-5",
        display_name: "Claude Sonnet 5",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_MAX,
        sampling: NO_SAMPLING,
        usd_per_mtok_in: 2.0,
        usd_per_mtok_out: 10.0,
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id); Anthropic's Opus 4.8 page (1M, 128K, $5/$25); adaptive-only
    //   thinking and the effort levels unconfirmed
    ModelSpec {
        id: "anthropic.claude-opus-4-8",
        display_name: "Claude Opus 4.8",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_MAX,
        usd_per_mtok_in: 5.0,
        usd_per_mtok_out: 25.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id); AWS model card (1M, 128K, adaptive thinking only); the price
    //   unconfirmed
    ModelSpec {
        id: "anthropic.claude-opus-4-7",
        display_name: "Claude Opus 4.7",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_XHIGH,
        usd_per_mtok_in: 5.0,
        usd_per_mtok_out: 25.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id; regional endpoint in us-east-1 only); Anthropic's model
    //   comparison (1M, 128K, adaptive thinking always on, $10/$50); effort levels and sampling rules
    //   unconfirmed
    ModelSpec {
        id: "anthropic.claude-fable-5-1",
        display_name: "Claude Fable 5.1",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_MAX,
        sampling: NO_SAMPLING,
        usd_per_mtok_in: 10.0,
        usd_per_mtok_out: 50.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id); AWS adaptive-thinking page (adaptive only); window, output
    //   limit and price from third-party tables; effort levels and sampling rules unconfirmed
    ModelSpec {
        id: "anthropic.claude-fable-5",
        display_name: "Claude Fable 5",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_MAX,
        sampling: NO_SAMPLING,
        usd_per_mtok_in: 10.0,
        usd_per_mtok_out: 50.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id; access through the console); Anthropic's Opus 5 page (1M,
    //   128K, $5/$25); AWS adaptive-thinking page (adaptive only); sampling refusal reported by third parties
    ModelSpec {
        id: "anthropic.claude-opus-5",
        display_name: "Claude Opus 5",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_MAX,
        sampling: NO_SAMPLING,
        usd_per_mtok_in: 5.0,
        usd_per_mtok_out: 25.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: Anthropic's model comparison (1M, 128K, adaptive thinking always on, $4/$20); the Bedrock id is
    //   listed only in later copies of the Claude in Amazon Bedrock page (unconfirmed)
    ModelSpec {
        id: "anthropic.claude-opus-5-5",
        display_name: "Claude Opus 5.5",
        api: Api::Messages,
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        thinking: ADAPTIVE_MAX,
        sampling: NO_SAMPLING,
        usd_per_mtok_in: 4.0,
        usd_per_mtok_out: 20.0,
        cost_tier: "high",
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id; by invitation only, us-east-1 regional only); AWS
    //   adaptive-thinking page (adaptive only); its window, output limit, effort levels, sampling rules and
    //   price are not published: the 200K / 64K here are the smallest of its family, so nothing sent exceeds
    //   them
    ModelSpec {
        id: "anthropic.claude-mythos-preview",
        display_name: "Claude Mythos Preview",
        api: Api::Messages,
        thinking: ADAPTIVE_XHIGH,
        sampling: NO_SAMPLING,
        cost_tier: "high",
        ..BASE
    },
    // Source: Claude in Amazon Bedrock page (id); Anthropic's model comparison (200K, 64K, budget thinking, no
    //   effort)
    ModelSpec {
        id: "anthropic.claude-haiku-4-5",
        display_name: "Claude Haiku 4.5",
        api: Api::Messages,
        usd_per_mtok_in: 1.0,
        usd_per_mtok_out: 5.0,
        cost_tier: "low",
        ..BASE
    },
];

/// The catalog's ids served by `api`, in catalog order (for hints).
pub fn ids_for(api: Api) -> Vec<&'static str> {
    CATALOG.iter().filter(|m| m.api == api).map(|m| m.id).collect()
}

/// Whether an id carries a date (`-20250929`) or a version suffix (`-v1`, `-v1:0`): the forms
/// of InvokeModel's ids, which the Messages API does not take.
pub fn is_versioned(id: &str) -> bool {
    let dated = id.split('-').any(|part| part.len() == 8 && part.starts_with("20") && part.bytes().all(|b| b.is_ascii_digit()));
    dated || without_version(id) != id
}

/// The API `requested` goes through under `choice`: a fixed choice wins; in `auto` the catalog
/// says, and an id it does not know goes to the Messages API when it is a bare
/// `anthropic.claude-…` id without a date or version (the form of the Messages API's ids),
/// else to InvokeModel (profile ids, ARNs, versioned ids).
pub fn api_for(requested: &str, choice: ApiChoice) -> Api {
    match choice {
        ApiChoice::Fixed(api) => api,
        _ if is_routed(requested) || is_versioned(requested) => Api::Invoke,
        _ => match CATALOG.iter().find(|m| m.id == requested) {
            Some(m) => m.api,
            None if requested.starts_with("anthropic.claude-") => Api::Messages,
            None => Api::Invoke,
        },
    }
}

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

/// The most ids [`candidates`] gives for one request (the geographic profile, `global.`, the
/// bare id): a call makes its attempts on each in turn, so hosts bound a call's time by it.
pub const MAX_CANDIDATES: usize = 3;

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

    /// Hosts bound a call's time by MAX_CANDIDATES: no model, region or id gives more.
    #[test]
    fn no_request_has_more_candidates_than_max_candidates() {
        let regions =
            ["us-east-1", "us-gov-west-1", "eu-west-1", "ap-northeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1", "me-central-1"];
        let mut most = 0;
        for id in ids_for(Api::Invoke).into_iter().chain(ids_for(Api::Messages)).chain(["anthropic.claude-new-model-v1:0"]) {
            for region in regions {
                most = most.max(candidates(id, region, true).len());
            }
        }
        assert_eq!(most, MAX_CANDIDATES, "MAX_CANDIDATES is the most candidates() gives");
    }

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
    fn each_id_goes_to_its_api() {
        let auto = ApiChoice::Auto;
        for (id, api) in [
            (DEFAULT_MODEL, Api::Invoke),
            ("anthropic.claude-sonnet-4-6", Api::Invoke),
            ("anthropic.claude-opus-4-6-v1", Api::Invoke),
            ("anthropic.claude-sonnet-5", Api::Messages),
            ("anthropic.claude-haiku-4-5", Api::Messages),
            ("anthropic.claude-future-9", Api::Messages),
            ("anthropic.claude-future-9-20270101", Api::Invoke),
            ("anthropic.claude-future-9-v2", Api::Invoke),
            ("global.anthropic.claude-sonnet-5", Api::Invoke),
            ("arn:aws:bedrock:us-east-1:1:application-inference-profile/abc", Api::Invoke),
            ("meta.llama-9", Api::Invoke),
        ] {
            assert_eq!(api_for(id, auto), api, "{id}");
        }
        assert_eq!(api_for(DEFAULT_MODEL, ApiChoice::Fixed(Api::Messages)), Api::Messages);
        // Every catalog row is reached by its own id, and every Messages API row is bare.
        for m in CATALOG {
            assert_eq!(api_for(m.id, auto), m.api, "{}", m.id);
            assert!(m.api == Api::Invoke || (m.profiles.is_empty() && !m.global_profile && !is_versioned(m.id)), "{}", m.id);
            assert!(m.thinking.efforts.iter().all(|e| ["low", "medium", "high", "xhigh", "max"].contains(e)), "{}", m.id);
        }
        assert_eq!(CATALOG[0].id, DEFAULT_MODEL, "the default comes first");
    }

    #[test]
    fn every_catalog_row_names_its_source() {
        let text = include_str!("models.rs");
        let rows = text.matches("\n    ModelSpec {\n").count();
        assert_eq!(rows, CATALOG.len(), "the rows of CATALOG");
        assert_eq!(text.matches("\n    // Source: ").count(), rows, "a `// Source:` comment above each row");
    }

    #[test]
    fn profiles_exist_where_the_catalog_says() {
        // Sonnet 4.6 has jp. and global. profiles but no apac. one.
        assert_eq!(candidates("anthropic.claude-sonnet-4-6", "ap-northeast-1", true)[0], "jp.anthropic.claude-sonnet-4-6");
        assert_eq!(
            candidates("anthropic.claude-sonnet-4-6", "ap-south-1", true),
            ["global.anthropic.claude-sonnet-4-6", "anthropic.claude-sonnet-4-6"]
        );
        assert_eq!(candidates("anthropic.claude-opus-4-6-v1", "ap-south-1", true)[0], "apac.anthropic.claude-opus-4-6-v1");
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
