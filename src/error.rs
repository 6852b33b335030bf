//! The one error type that crosses the WIT boundary.
//!
//! Layers with errors of their own (`ConfigError`, `TransportError`, the event-stream
//! `FrameError`, …) convert them into [`ProviderError`] here, whose `Display` is the WIT
//! `string` error: a stable prefix that callers can match on, then what went wrong and what to
//! do about it. [`ErrorKind::ALL`] is the one list of those prefixes: the `--help` text is built
//! from it, and tests hold the README's table and the Python module's docstring to it.

use std::fmt;

/// A number as people write it (`0.5`, `300`), for messages. Formatted by serde_json's float
/// writer, which the component carries anyway, rather than `f64`'s `Display`, whose decimal
/// formatting code would add some 12 KB to the component for messages alone.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        (v as i64).to_string()
    } else {
        crate::json_write::to_string(&serde_json::Value::from(v))
    }
}

/// What failed, with the distinctions a host needs to choose its own status code (access
/// denied is not bad credentials, a timeout is not an unreachable endpoint). Each kind has one
/// stable [prefix](ErrorKind::prefix), part of the public contract; two pairs share one.
///
/// The WIT `errors.error-kind` enum has the same cases (the component's exports map one onto
/// the other with an exhaustive match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or breaks a conversation rule; fix the request.
    Validation,
    /// A configuration value is missing or invalid; fix the configuration.
    Config,
    /// Credentials are missing, invalid or expired; fix or refresh them.
    Unauthenticated,
    /// The credentials are valid but lack permission (IAM actions, model access); grant it.
    AccessDenied,
    /// The model id is unknown, not enabled, or cannot be called this way.
    Model,
    /// Bedrock refused for rate or quota reasons; retry later or raise the quota.
    Throttled,
    /// No complete answer within a time limit (connect, first byte, idle, the whole call).
    TimedOut,
    /// DNS, connect, TLS, a reset, or a destination the host's policy refused.
    Unreachable,
    /// Bedrock is overloaded or temporarily unavailable (503, 529), still after the retries:
    /// try again later, or elsewhere.
    Unavailable,
    /// Bedrock answered with an error that fits no other category.
    Bedrock,
}

impl ErrorKind {
    /// Every kind, in the order the README's table and the `--help` text list their prefixes
    /// (kinds that share a prefix are adjacent).
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Validation,
        ErrorKind::Config,
        ErrorKind::Unauthenticated,
        ErrorKind::AccessDenied,
        ErrorKind::Model,
        ErrorKind::Throttled,
        ErrorKind::TimedOut,
        ErrorKind::Unreachable,
        ErrorKind::Unavailable,
        ErrorKind::Bedrock,
    ];

    /// The prefix written before the message, without the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Config => "config",
            ErrorKind::Unauthenticated | ErrorKind::AccessDenied => "auth",
            ErrorKind::Model => "model",
            ErrorKind::Throttled => "throttled",
            ErrorKind::TimedOut | ErrorKind::Unreachable => "network",
            ErrorKind::Unavailable | ErrorKind::Bedrock => "bedrock",
        }
    }

    /// The kind's name in the WIT `errors.error-kind` enum (`access-denied`, `timed-out`, …):
    /// how it travels where Rust types do not (gRPC metadata, JavaScript, Python).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Config => "config",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::AccessDenied => "access-denied",
            ErrorKind::Model => "model",
            ErrorKind::Throttled => "throttled",
            ErrorKind::TimedOut => "timed-out",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Bedrock => "bedrock",
        }
    }

    /// The distinct prefixes, in [`ALL`](Self::ALL)'s order: what callers match on, and what the
    /// README's table, the `--help` text and the Python module's docstring list.
    pub fn prefixes() -> impl Iterator<Item = &'static str> {
        let mut last = None;
        Self::ALL.into_iter().map(Self::prefix).filter(move |p| last.replace(*p) != Some(*p))
    }
}

/// An error as the caller sees it: `"{prefix}: {message}[ (Bedrock request id: …)]"`.
///
/// The call fills it in as it goes (the attempts made, Bedrock's request id, the call's
/// credentials scrubbed from the message); code outside this crate only reads it, through the
/// accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderError {
    /// What kind of failure this is.
    pub(crate) kind: ErrorKind,
    /// What went wrong and how to fix it. Never contains a credential.
    pub(crate) message: String,
    /// Bedrock's `x-amzn-RequestId`, when Bedrock answered; AWS support asks for it.
    request_id: Option<String>,
    /// How many attempts were made, when more than one.
    attempts: u32,
}

impl ProviderError {
    /// This error without the call's own credentials in its message (Bedrock may echo a key
    /// id or a token back): the last step before an error leaves the component.
    pub fn without_secrets(mut self, secrets: &[&str]) -> Self {
        self.message = crate::scrub::remove(&self.message, secrets);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What went wrong and how to fix it, without the prefix and the notes `Display` adds.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Bedrock's `x-amzn-RequestId`, when Bedrock answered; AWS support asks for it.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How many attempts were made (1 unless the call was retried).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError { kind, message: message.into(), request_id: None, attempts: 1 }
    }

    /// Shorthand for a [`ErrorKind::Validation`] error.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    /// Records that `attempts` attempts were made (shown when more than one).
    pub fn after_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Attaches Bedrock's request id.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.prefix(), self.message)?;
        if self.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.attempts)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (Bedrock request id: {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_sharing_a_prefix_are_adjacent_so_each_prefix_is_listed_once() {
        let listed: Vec<&str> = ErrorKind::prefixes().collect();
        let mut distinct = listed.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(listed.len(), distinct.len(), "{listed:?}");
        assert_eq!(listed, ["validation", "config", "auth", "model", "throttled", "network", "bedrock"]);
    }

    #[test]
    fn display_has_prefix_and_request_id() {
        let e = ProviderError::new(ErrorKind::Throttled, "slow down").with_request_id(Some("abc-123".into()));
        assert_eq!(e.to_string(), "throttled: slow down (Bedrock request id: abc-123)");
        assert_eq!(ProviderError::validation("bad").to_string(), "validation: bad");
    }
}
