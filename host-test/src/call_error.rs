//! Why a call produced no result, typed from where it failed to the host's boundaries.
//!
//! The component reports its failures through our WIT interfaces as `errors.error` (a kind and
//! the prefixed message); the host adds its own (the deadline, the memory cap, a trap). Each
//! boundary chooses its status from [`CallError::kind`] through one table,
//! [`FailureKind::statuses`] (gRPC code and exit status): nothing reads a message to recover
//! its kind.

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

    /// The gRPC status code `serve` answers with (a row of [`FailureKind::statuses`]).
    pub fn grpc_code(self) -> tonic::Code {
        self.statuses().grpc
    }

    /// The exit status `bedrock-host` ends with (a row of [`FailureKind::statuses`]).
    pub fn exit_status(self) -> u8 {
        self.statuses().exit
    }

    /// What each boundary answers for this kind: the one table from kind to status.
    ///
    /// gRPC: not `RESOURCE_EXHAUSTED` for the memory cap, since clients read that as a rate limit
    /// and retry, which cannot help. Model, config and Bedrock errors are `INTERNAL` as in
    /// Amplifier's own gRPC providers, whose Python side raises by the message's prefix.
    ///
    /// Exit statuses are BSD `sysexits.h`'s, which scripts and service managers already read, and
    /// tell a script what to do: 75 (`EX_TEMPFAIL`) try again later; 65 (`EX_DATAERR`) fix the
    /// request; 78 (`EX_CONFIG`) fix the configuration; 77 (`EX_NOPERM`) fix credentials or
    /// permissions; 69 (`EX_UNAVAILABLE`) the model is not there; 76 (`EX_PROTOCOL`) Bedrock
    /// failed otherwise; 70 (`EX_SOFTWARE`) the host stopped or failed the call itself.
    pub fn statuses(self) -> Statuses {
        use tonic::Code;
        let (grpc, exit) = match self {
            FailureKind::Provider(kind) => match kind {
                ErrorKind::Validation => (Code::InvalidArgument, sysexits::DATAERR),
                ErrorKind::Config => (Code::Internal, sysexits::CONFIG),
                ErrorKind::Unauthenticated => (Code::Unauthenticated, sysexits::NOPERM),
                ErrorKind::AccessDenied => (Code::PermissionDenied, sysexits::NOPERM),
                ErrorKind::Model => (Code::Internal, sysexits::UNAVAILABLE),
                ErrorKind::Throttled => (Code::ResourceExhausted, sysexits::TEMPFAIL),
                ErrorKind::TimedOut => (Code::DeadlineExceeded, sysexits::TEMPFAIL),
                ErrorKind::Unreachable => (Code::Unavailable, sysexits::TEMPFAIL),
                ErrorKind::Unavailable => (Code::Unavailable, sysexits::TEMPFAIL),
                ErrorKind::Bedrock => (Code::Internal, sysexits::PROTOCOL),
                // `ErrorKind` is non-exhaustive: a kind added to the component without a row
                // here is an internal failure until it gets one (a test lists every kind's row).
                _ => (Code::Internal, sysexits::SOFTWARE),
            },
            FailureKind::Host(kind) => match kind {
                HostFailureKind::DeadlineExceeded => (Code::DeadlineExceeded, sysexits::TEMPFAIL),
                HostFailureKind::MemoryCap | HostFailureKind::Internal => (Code::Internal, sysexits::SOFTWARE),
            },
        };
        Statuses { grpc, exit }
    }
}

/// A failure's status at each of the host's boundaries, from [`FailureKind::statuses`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statuses {
    /// `serve`'s gRPC status code.
    pub grpc: tonic::Code,
    /// `bedrock-host`'s exit status.
    pub exit: u8,
}

/// The `sysexits.h` codes the table uses, named as there.
mod sysexits {
    pub(super) const DATAERR: u8 = 65;
    pub(super) const UNAVAILABLE: u8 = 69;
    pub(super) const SOFTWARE: u8 = 70;
    pub(super) const TEMPFAIL: u8 = 75;
    pub(super) const PROTOCOL: u8 = 76;
    pub(super) const NOPERM: u8 = 77;
    pub(super) const CONFIG: u8 = 78;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_kind_has_its_grpc_code_and_exit_status() {
        let expected = [
            (ErrorKind::Validation, Code::InvalidArgument, 65),
            (ErrorKind::Config, Code::Internal, 78),
            (ErrorKind::Unauthenticated, Code::Unauthenticated, 77),
            (ErrorKind::AccessDenied, Code::PermissionDenied, 77),
            (ErrorKind::Model, Code::Internal, 69),
            (ErrorKind::Throttled, Code::ResourceExhausted, 75),
            (ErrorKind::TimedOut, Code::DeadlineExceeded, 75),
            (ErrorKind::Unreachable, Code::Unavailable, 75),
            (ErrorKind::Unavailable, Code::Unavailable, 75),
            (ErrorKind::Bedrock, Code::Internal, 76),
        ];
        assert_eq!(expected.map(|(k, _, _)| k), ErrorKind::ALL, "one row per kind, in ErrorKind::ALL's order");
        for (kind, grpc, exit) in expected {
            assert_eq!(FailureKind::Provider(kind).statuses(), Statuses { grpc, exit }, "{kind:?}");
        }
        let host = [
            (HostFailureKind::DeadlineExceeded, Code::DeadlineExceeded, 75),
            (HostFailureKind::MemoryCap, Code::Internal, 70),
            (HostFailureKind::Internal, Code::Internal, 70),
        ];
        assert_eq!(host.map(|(k, _, _)| k), FailureKind::HOST);
        for (kind, grpc, exit) in host {
            let kind = FailureKind::Host(kind);
            assert_eq!((kind.grpc_code(), kind.exit_status()), (grpc, exit), "{kind:?}");
        }
    }

    #[test]
    fn no_exit_status_is_one_the_cli_uses_for_itself() {
        // 0 success, 1 a chat with failed turns, 2 usage (clap's own): a call's failure is never
        // read as one of those.
        for kind in ErrorKind::ALL.map(FailureKind::Provider).into_iter().chain(FailureKind::HOST.map(FailureKind::Host)) {
            assert!(kind.exit_status() > 2, "{kind:?}");
        }
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
