//! AWS credentials on the host, from the standard chain `aws-config` implements: environment,
//! shared config and credentials files, named profiles, SSO, assume-role, web identity,
//! container and instance metadata.
//!
//! Resolved lazily on the first call, cached, and refreshed five minutes before they expire,
//! so a long-running host keeps working across rotations without reloading the component.
//! Those times are read from the chain's [`Clock`] (the system's unless
//! [`AwsCredentialChain::with_clock`] gives another), so tests move time on instead of waiting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Mutex;

use crate::call_error::{ErrorKind, ProviderFailure};
use crate::clock::{SharedClock, SystemClock};

/// Credentials for one call: the component's own type, so the host and the component mean one
/// thing by it. The host hands them over as the config entries the component reads them from
/// ([`Credentials::config_entries`]). `Debug` shows no secret.
pub use amplifier_provider_bedrock::config::Credentials;

/// Refresh this long before expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// After a failed refresh, keep using still-valid credentials this long before trying again,
/// so a broken STS or SSO endpoint is not asked on every call.
const RETRY_REFRESH_AFTER: Duration = Duration::from_secs(30);

/// The standard AWS credential chain for one profile.
#[derive(Clone)]
pub struct AwsCredentialChain {
    profile: Option<String>,
    region: Option<String>,
    provider: Option<SharedCredentialsProvider>,
    cached: Arc<Mutex<Option<Cached>>>,
    /// What expiry and the refresh back-off are measured against.
    clock: SharedClock,
}

/// Credentials with the time they stop being valid (`None`: long-lived keys).
#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    expiry: Option<SystemTime>,
    /// Set by a failed refresh: no new attempt before then.
    next_refresh: Option<SystemTime>,
}

impl std::fmt::Debug for AwsCredentialChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentialChain").field("profile", &self.profile).field("region", &self.region).finish_non_exhaustive()
    }
}

/// The files the shared-config loader reads, as the AWS CLI names them.
pub fn shared_files() -> (PathBuf, PathBuf) {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let config = std::env::var_os("AWS_CONFIG_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/config"));
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/credentials"));
    (config, credentials)
}

/// An error and its causes as one line of their messages (no `Debug` dumps), repeated
/// messages dropped, at most 400 characters.
fn plain_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        // One line: the SDK's chain error lists every provider it tried on lines of their own.
        let text = e.to_string();
        let text = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
            .replace(". Attempted:;", ":")
            .replace(" Attempted:;", "");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let line = parts.join(": ");
    match line.char_indices().nth(400) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

impl AwsCredentialChain {
    /// Loads the chain for `profile` (default: `AWS_PROFILE`, else `default`). Nothing is
    /// fetched yet; the region is read from the environment and the profile.
    pub async fn load(profile: Option<&str>) -> AwsCredentialChain {
        if let Some(chain) = Self::from_environment_alone(profile) {
            return chain;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let config = loader.load().await;
        AwsCredentialChain {
            profile: profile.map(str::to_string).or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty())),
            region: config.region().map(|r| r.to_string()),
            provider: config.credentials_provider(),
            cached: Arc::default(),
            clock: SystemClock::shared(),
        }
    }

    /// The chain when the environment decides everything: keys in `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY` (the default chain's first provider, so they win there too), a
    /// region in `AWS_REGION` / `AWS_DEFAULT_REGION`, and no profile named. Building the whole
    /// default chain then gives the same answer after reading the profile files and setting up
    /// the SSO, web-identity and IMDS providers: about 7 ms of a one-shot `complete` (bench).
    fn from_environment_alone(profile: Option<&str>) -> Option<AwsCredentialChain> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if profile.is_some() || var("AWS_PROFILE").is_some() || var("AWS_ACCESS_KEY_ID").is_none() || var("AWS_SECRET_ACCESS_KEY").is_none()
        {
            return None;
        }
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"))?;
        let provider = aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new();
        Some(AwsCredentialChain {
            profile: None,
            region: Some(region),
            provider: Some(SharedCredentialsProvider::new(provider)),
            cached: Arc::default(),
            clock: SystemClock::shared(),
        })
    }

    /// The chain reading `clock` instead of the system's to decide when cached credentials are
    /// due for a refresh, have expired, or may be asked for again after a failed refresh: what
    /// lets a test check those decisions with a [`ManualClock`](crate::ManualClock) instead of
    /// waiting. Credentials cached so far are kept.
    pub fn with_clock(mut self, clock: SharedClock) -> AwsCredentialChain {
        self.clock = clock;
        self
    }

    /// The region the chain found (environment or profile), if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The profile in use, if one was named.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// Credentials for the next call: cached until five minutes before they expire, then
    /// refreshed. A failed refresh keeps the cached credentials while they are still valid (and
    /// tries again after a while); only expired credentials fail the call.
    pub async fn credentials(&self) -> Result<Credentials, ProviderFailure> {
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(c) = cached.as_ref() {
            let fresh = c.expiry.is_none_or(|e| now + REFRESH_MARGIN < e);
            let backing_off = c.next_refresh.is_some_and(|t| now < t) && c.expiry.is_some_and(|e| now < e);
            if fresh || backing_off {
                return Ok(c.credentials.clone());
            }
        }
        let provider = self.provider.as_ref().ok_or_else(|| self.explain("no credential provider is configured"))?;
        match provider.provide_credentials().await {
            Ok(c) => {
                let creds = Credentials::Aws {
                    access_key_id: c.access_key_id().to_string(),
                    secret_access_key: c.secret_access_key().to_string(),
                    session_token: c.session_token().map(str::to_string),
                };
                *cached = Some(Cached { credentials: creds.clone(), expiry: c.expiry(), next_refresh: None });
                Ok(creds)
            }
            Err(e) => match cached.as_mut().filter(|c| c.expiry.is_some_and(|e| now < e)) {
                Some(still_valid) => {
                    still_valid.next_refresh = Some(now + RETRY_REFRESH_AFTER);
                    Ok(still_valid.credentials.clone())
                }
                None => Err(self.explain(&plain_cause(&e))),
            },
        }
    }

    /// An `auth:` error that says where the host looked and what to do.
    fn explain(&self, detail: &str) -> ProviderFailure {
        let (kind, message) = self.explanation(detail);
        ProviderFailure::new(kind, message)
    }

    /// What [`explain`](Self::explain) says, by what the credential provider reported: its
    /// errors are the AWS SDK's text, so they are read here, where they enter the host.
    fn explanation(&self, detail: &str) -> (ErrorKind, String) {
        let (config, credentials) = shared_files();
        let files = format!("{} and {}", config.display(), credentials.display());
        let lower = detail.to_ascii_lowercase();
        if let Some(p) = self.profile.as_deref().filter(|_| {
            lower.contains("profile") && (lower.contains("not defined") || lower.contains("could not find") || lower.contains("not found"))
        }) {
            return (ErrorKind::Unauthenticated, format!("AWS profile `{p}` was not found in {files}: check the name (`aws configure list-profiles`), or set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE ({detail})"));
        }
        if lower.contains("sso") {
            let p = self.profile.as_deref().unwrap_or("default");
            return (
                ErrorKind::Unauthenticated,
                format!("the SSO session for profile `{p}` is missing or expired: run `aws sso login --profile {p}` ({detail})"),
            );
        }
        let profile = self.profile.as_deref().map(|p| format!(" for profile `{p}`")).unwrap_or_default();
        if lower.contains("not authorized") || lower.contains("accessdenied") || lower.contains("access denied") {
            return (
                ErrorKind::AccessDenied,
                format!(
                    "fetching AWS credentials{profile} was refused: check the role's trust policy and the source credentials ({detail})"
                ),
            );
        }
        (
            ErrorKind::Unauthenticated,
            format!(
                "no AWS credentials found{profile}: the host looked in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), \
             {files}, SSO, web identity, the container and instance metadata; run `aws configure` or `aws sso login`, \
             export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or set AWS_BEARER_TOKEN_BEDROCK ({detail})"
            ),
        )
    }
}
