//! Why a call produced no result, typed from where it failed to the host's boundaries.
//!
//! The component reports its failures through our WIT interfaces as `errors.error` (a kind and
//! the prefixed message); the host adds its own (the deadline, the memory cap, a trap). Each
//! boundary chooses its status from [`CallError::kind`] through one table,
//! [`FailureKind::grpc_code`]: nothing reads a message to recover its kind.

use std::fmt;

pub use amplifier_provider_bedrock::error::ErrorKind;

/// Why a call produced no result.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// The component answered with an error: a stable prefix (`validation:`, `auth:`, …) and
    /// what to do. Shown to users as is.
    Provider(ProviderFailure),
    /// The host stopped the call: trap, memory cap, deadline. Carries the reason.
    Host(HostFailure),
}

impl CallError {
    /// A failure the component would report, made on the host's side of a call (credentials
    /// the host resolves, a gRPC request it cannot convert): the same kinds and prefixes.
    pub fn provider(kind: ErrorKind, message: impl fmt::Display) -> Self {
        CallError::Provider(ProviderFailure::new(kind, message))
    }

    /// What failed, for choosing a status code.
    pub fn kind(&self) -> FailureKind {
        match self {
            CallError::Provider(p) => FailureKind::Provider(p.kind),
            CallError::Host(h) => FailureKind::Host(h.kind),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Provider(p) => fmt::Display::fmt(p, f),
            CallError::Host(h) => write!(f, "host: {h}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<anyhow::Error> for CallError {
    /// An unexpected host failure (linking, instantiating, an invalid answer): our bug.
    fn from(e: anyhow::Error) -> Self {
        CallError::Host(HostFailure::new(HostFailureKind::Internal, e))
    }
}

/// A failure the component reported (or the host made in its name): a kind and the message,
/// prefix included, as `provider.complete` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    kind: ErrorKind,
    message: String,
}

impl ProviderFailure {
    /// `message` prefixed with `kind`'s prefix. Used where the host itself fails in the
    /// component's terms; the component's own errors arrive with their prefix.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        ProviderFailure { kind, message: format!("{}: {message}", kind.prefix()) }
    }

    /// A failure as the component reported it: its kind and its prefixed message.
    pub(crate) fn reported(kind: ErrorKind, message: String) -> Self {
        ProviderFailure { kind, message }
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The whole message, prefix first: what users are shown.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A call the host stopped. A [`CallError`] shows it as `host: …`.
#[derive(Debug)]
pub struct HostFailure {
    kind: HostFailureKind,
    error: anyhow::Error,
}

impl HostFailure {
    /// A failure of `kind`, explained by `error`.
    pub fn new(kind: HostFailureKind, error: anyhow::Error) -> Self {
        HostFailure { kind, error }
    }

    /// Why the host stopped the call.
    pub fn kind(&self) -> HostFailureKind {
        self.kind
    }
}

impl fmt::Display for HostFailure {
    /// The reason alone; [`CallError`] shows it after `host: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Why the host stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostFailureKind {
    /// The call (or a stream step) outlived its deadline.
    DeadlineExceeded,
    /// The component needed more memory than its call's cap.
    MemoryCap,
    /// Anything else: a trap, a failed instantiation, an answer that is not JSON. Our bug.
    Internal,
}

/// What failed, from the component or from the host: what boundaries map to their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The component's (or its prefix's) kind.
    Provider(ErrorKind),
    /// The host's.
    Host(HostFailureKind),
}

impl FailureKind {
    /// Every host kind, for tables and tests.
    pub const HOST: [HostFailureKind; 3] = [HostFailureKind::DeadlineExceeded, HostFailureKind::MemoryCap, HostFailureKind::Internal];

    /// The kind's name where types do not travel (`serve`'s [`ERROR_KIND_METADATA_KEY`]
    /// metadata): the component's WIT name (`access-denied`, …), or `host-…` for the host's.
    ///
    /// [`ERROR_KIND_METADATA_KEY`]: crate::grpc::ERROR_KIND_METADATA_KEY
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Provider(kind) => kind.name(),
            FailureKind::Host(HostFailureKind::DeadlineExceeded) => "host-deadline-exceeded",
            FailureKind::Host(HostFailureKind::MemoryCap) => "host-memory-cap",
            FailureKind::Host(HostFailureKind::Internal) => "host-internal",
        }
    }

    /// The gRPC status code `serve` answers with: the one table from kind to code.
    ///
    /// Not `RESOURCE_EXHAUSTED` for the memory cap: clients read that as a rate limit and
    /// retry, which cannot help. Model, config and Bedrock errors are `INTERNAL` as in
    /// Amplifier's own gRPC providers, whose Python side raises by the message's prefix.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            FailureKind::Provider(kind) => match kind {
                ErrorKind::Validation => Code::InvalidArgument,
                ErrorKind::Unauthenticated => Code::Unauthenticated,
                ErrorKind::AccessDenied => Code::PermissionDenied,
                ErrorKind::Throttled => Code::ResourceExhausted,
                ErrorKind::TimedOut => Code::DeadlineExceeded,
                ErrorKind::Unreachable | ErrorKind::Unavailable => Code::Unavailable,
                ErrorKind::Config | ErrorKind::Model | ErrorKind::Bedrock => Code::Internal,
                // `ErrorKind` is non-exhaustive: a kind added to the component without a row
                // here is INTERNAL until it gets one (a test lists every kind's code).
                _ => Code::Internal,
            },
            FailureKind::Host(kind) => match kind {
                HostFailureKind::DeadlineExceeded => Code::DeadlineExceeded,
                HostFailureKind::MemoryCap | HostFailureKind::Internal => Code::Internal,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_kind_has_its_grpc_code() {
        let expected = [
            (ErrorKind::Validation, Code::InvalidArgument),
            (ErrorKind::Config, Code::Internal),
            (ErrorKind::Unauthenticated, Code::Unauthenticated),
            (ErrorKind::AccessDenied, Code::PermissionDenied),
            (ErrorKind::Model, Code::Internal),
            (ErrorKind::Throttled, Code::ResourceExhausted),
            (ErrorKind::TimedOut, Code::DeadlineExceeded),
            (ErrorKind::Unreachable, Code::Unavailable),
            (ErrorKind::Unavailable, Code::Unavailable),
            (ErrorKind::Bedrock, Code::Internal),
        ];
        assert_eq!(expected.map(|(k, _)| k), ErrorKind::ALL, "one row per kind, in ErrorKind::ALL's order");
        for (kind, code) in expected {
            assert_eq!(FailureKind::Provider(kind).grpc_code(), code, "{kind:?}");
        }
        assert_eq!(FailureKind::Host(HostFailureKind::DeadlineExceeded).grpc_code(), Code::DeadlineExceeded);
        assert_eq!(FailureKind::Host(HostFailureKind::MemoryCap).grpc_code(), Code::Internal);
        assert_eq!(FailureKind::Host(HostFailureKind::Internal).grpc_code(), Code::Internal);
    }

    #[test]
    fn a_host_made_failure_has_its_kinds_prefix_and_host_failures_say_host() {
        let e = CallError::provider(ErrorKind::Unauthenticated, "no AWS credentials found");
        assert_eq!(
            (e.to_string().as_str(), e.kind()),
            ("auth: no AWS credentials found", FailureKind::Provider(ErrorKind::Unauthenticated))
        );
        let h = CallError::Host(HostFailure::new(HostFailureKind::MemoryCap, anyhow::anyhow!("needed more memory")));
        assert_eq!(h.to_string(), "host: needed more memory");
    }
}
