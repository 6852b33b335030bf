//! The Claude models the emulator knows: InvokeModel's (by inference profile) and the forms of
//! their ids, and the Messages API's with what each accepts.

/// The Claude models InvokeModel serves, with the inference profiles each has (the emulator's
/// own copy of Bedrock's list, independent of the component's table; Anthropic's "Claude on
/// Amazon Bedrock (legacy)" page, Dec 2026, for global / us / eu / jp / apac, the original
/// module's table for au / us-gov). Any other id is refused as Bedrock refuses it: "The
/// provided model identifier is invalid."
pub(super) const PROFILES: &[(&str, &[&str])] = &[
    ("anthropic.claude-opus-4-6", &["us", "eu", "jp", "apac", "global"]),
    ("anthropic.claude-sonnet-4-6", &["us", "eu", "jp", "global"]),
    ("anthropic.claude-sonnet-4-5-20250929", &["us", "us-gov", "eu", "jp", "au", "global"]),
    ("anthropic.claude-haiku-4-5-20251001", &["us", "eu", "au", "global"]),
    ("anthropic.claude-opus-4-5-20251101", &["us", "eu", "global"]),
    ("anthropic.claude-opus-4-1-20250805", &["us"]),
    ("anthropic.claude-sonnet-4-20250514", &["us", "eu", "apac", "global"]),
    ("anthropic.claude-opus-4-20250514", &["us"]),
    ("anthropic.claude-3-5-haiku-20241022", &["us"]),
];

/// The models of [`PROFILES`] that may also be called by their bare id (on demand); the
/// others answer that on-demand throughput is not supported.
pub(super) const ON_DEMAND: &[&str] = &["anthropic.claude-3-5-haiku-20241022"];

/// `anthropic.claude-sonnet-4-5-20250929` from `anthropic.claude-sonnet-4-5-20250929-v1:0`.
pub(super) fn without_version(id: &str) -> &str {
    id.rsplit_once("-v").map(|(b, _)| b).unwrap_or(id)
}

/// `claude-sonnet-4-5-20250929` from `us.anthropic.claude-sonnet-4-5-20250929-v1:0`.
pub(super) fn bare_model(model_id: &str) -> String {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let after_vendor = tail.split_once("anthropic.").map(|(_, r)| r).unwrap_or(tail);
    after_vendor.split("-v").next().unwrap_or(after_vendor).to_string()
}

/// What one model of the Messages API (`POST /anthropic/v1/messages`) accepts.
#[derive(Debug)]
pub(super) struct MessagesModel {
    /// The id the body's `model` names: `anthropic.` and the bare name, no date, no version,
    /// no profile prefix.
    pub(super) id: &'static str,
    /// Input tokens a prompt may have.
    pub(super) context_window: u64,
    /// The largest `max_tokens`.
    pub(super) max_output_tokens: u64,
    /// `"thinking": {"type": "adaptive"}` is accepted.
    pub(super) adaptive_thinking: bool,
    /// `"thinking": {"type": "enabled", "budget_tokens": n}` is accepted.
    pub(super) budget_thinking: bool,
    /// `"thinking": {"type": "disabled"}` is accepted (models whose thinking is always on
    /// refuse it).
    pub(super) disabled_thinking: bool,
    /// The `output_config.effort` values accepted (none: effort is refused).
    pub(super) efforts: &'static [&'static str],
    /// `temperature`, `top_p` and `top_k` are refused (under every API version; under
    /// `2026-10-21` they are refused on every model).
    pub(super) sampling_refused: bool,
    /// `anthropic-version: 2026-10-21` is accepted.
    pub(super) version_2026_10_21: bool,
}

/// Every effort level.
const ALL_EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max"];

/// The Messages-API models (the emulator's own copy, independent of the component's table).
/// The facts and their sources were collected in 2026-12 (the research notes' section B).
/// Thinking: AWS's `claude-messages-adaptive-thinking` page (ja_jp copy) lists the models that
/// take only adaptive thinking, refusing both `enabled` and `disabled` with a 400: Opus 4.7 and
/// Fable 5 here; the comparison tables say thinking is "always on" on Fable 5.1 and Opus 5.5.
/// Effort levels: Anthropic's pages list low / medium / high / xhigh / max without a per-model
/// table; Amplifier's matrix (xhigh from Opus 4.7, max from Opus 4.8) is itself unconfirmed, so
/// every adaptive model takes all five here. `2026-10-21`: "available on Bedrock for 4.7+
/// models" (platform.claude.com/docs/en/api/versioning), so not on Haiku 4.5.
pub(super) const MESSAGES_MODELS: &[MessagesModel] = &[
    // Source: AWS model card model-card-anthropic-claude-opus-4-7 (1M context, 128K output,
    // adaptive thinking only: `enabled` and `disabled` are a 400, also per AWS's adaptive-thinking
    // page). Effort and sampling: Unconfirmed.
    MessagesModel {
        id: "anthropic.claude-opus-4-7",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: false,
        disabled_thinking: false,
        efforts: ALL_EFFORTS,
        sampling_refused: false,
        version_2026_10_21: true,
    },
    // Source: platform.claude.com/docs/en/about-claude/models/opus-4-8/overview (1M, 128K,
    // adaptive). Budget and disabled thinking, effort and sampling: Unconfirmed.
    MessagesModel {
        id: "anthropic.claude-opus-4-8",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: true,
        disabled_thinking: true,
        efforts: ALL_EFFORTS,
        sampling_refused: false,
        version_2026_10_21: true,
    },
    // Source: the comparison table of the Opus 5.5 overview (1M, 128K, adaptive, default effort
    // high). Budget and disabled thinking, effort levels and sampling: Unconfirmed.
    MessagesModel {
        id: "anthropic.claude-sonnet-5",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: true,
        disabled_thinking: true,
        efforts: ALL_EFFORTS,
        sampling_refused: false,
        version_2026_10_21: true,
    },
    // Source: AWS claude-messages-adaptive-thinking (adaptive thinking only: `enabled` and
    // `disabled` are a 400). 1M and 128K from a third party: Unconfirmed, as are effort and
    // sampling.
    MessagesModel {
        id: "anthropic.claude-fable-5",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: false,
        disabled_thinking: false,
        efforts: ALL_EFFORTS,
        sampling_refused: false,
        version_2026_10_21: true,
    },
    // Source: the models comparison tables (1M, 128K, adaptive thinking always on, default effort
    // high). That `disabled` is a 400 (rather than ignored), effort levels and sampling:
    // Unconfirmed.
    MessagesModel {
        id: "anthropic.claude-fable-5-1",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: false,
        disabled_thinking: false,
        efforts: ALL_EFFORTS,
        sampling_refused: false,
        version_2026_10_21: true,
    },
    // Source: the models comparison tables (200K, 64K, extended thinking with a budget, no
    // effort). `temperature` with `top_p` is refused as on InvokeModel (rules.rs).
    MessagesModel {
        id: "anthropic.claude-haiku-4-5",
        context_window: 200_000,
        max_output_tokens: 64_000,
        adaptive_thinking: false,
        budget_thinking: true,
        disabled_thinking: true,
        efforts: &[],
        sampling_refused: false,
        version_2026_10_21: false,
    },
    // Source: platform.claude.com/docs/en/about-claude/models/opus-5/overview (1M, 128K) and AWS
    // claude-messages-adaptive-thinking (adaptive, no budget). Sampling refused: a third-party
    // README ("Opus 5 rejects temperature/top_p/top_k with 400"), Unconfirmed; `disabled` and
    // effort Unconfirmed.
    MessagesModel {
        id: "anthropic.claude-opus-5",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: false,
        disabled_thinking: true,
        efforts: ALL_EFFORTS,
        sampling_refused: true,
        version_2026_10_21: true,
    },
    // Source: the models comparison tables (1M, 128K, adaptive thinking always on, default effort
    // medium; "cannot be disabled"). Its Bedrock id (not on Anthropic's Bedrock page), that
    // `disabled` is a 400, effort levels and sampling: Unconfirmed.
    MessagesModel {
        id: "anthropic.claude-opus-5-5",
        context_window: 1_000_000,
        max_output_tokens: 128_000,
        adaptive_thinking: true,
        budget_thinking: false,
        disabled_thinking: false,
        efforts: ALL_EFFORTS,
        sampling_refused: false,
        version_2026_10_21: true,
    },
];

/// Messages-API models served only by invitation: a call is a 403 `permission_error`.
/// Source: platform.claude.com/docs/en/build-with-claude/claude-in-amazon-bedrock (Mythos
/// Preview needs an invitation).
pub(super) const INVITATION_ONLY_MODELS: &[&str] = &["anthropic.claude-mythos-preview"];

/// The Messages-API model with this id.
pub(super) fn messages_model(id: &str) -> Option<&'static MessagesModel> {
    MESSAGES_MODELS.iter().find(|m| m.id == id)
}
