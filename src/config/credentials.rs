//! Credentials and endpoint overrides: what signing and the transport are given.

use std::fmt;

use crate::models::Api;

/// Credentials for one request. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Nothing configured.
    None,
    /// IAM credentials for SigV4.
    Aws {
        /// Access key id (not secret, but kept out of errors anyway).
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Session token of temporary credentials.
        session_token: Option<String>,
    },
    /// A Bedrock API key, sent as `Authorization: Bearer`; wins over IAM credentials, as in botocore.
    BedrockApiKey(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("Credentials::None"),
            Credentials::Aws { session_token, .. } => write!(
                f,
                "Credentials::Aws {{ access_key_id: <redacted>, secret_access_key: <redacted>, session_token: {} }}",
                if session_token.is_some() { "<redacted>" } else { "None" }
            ),
            Credentials::BedrockApiKey(_) => f.write_str("Credentials::BedrockApiKey(<redacted>)"),
        }
    }
}

impl Credentials {
    /// Every secret value, so outputs can be scrubbed of them.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::None => Vec::new(),
            Credentials::Aws { access_key_id, secret_access_key, session_token } => {
                let mut v = vec![access_key_id.as_str(), secret_access_key.as_str()];
                v.extend(session_token.as_deref());
                v
            }
            Credentials::BedrockApiKey(t) => vec![t.as_str()],
        }
    }

    /// The config keys these credentials are read from, with their values: what a host puts in
    /// the component's `wasi:config` store (or environment) to hand them over. The inverse of
    /// how [`ProviderConfig::resolve`](super::ProviderConfig::resolve) reads them.
    pub fn config_entries(&self) -> Vec<(&'static str, String)> {
        match self {
            Credentials::None => Vec::new(),
            Credentials::Aws { access_key_id, secret_access_key, session_token } => {
                let mut v = vec![("aws_access_key_id", access_key_id.clone()), ("aws_secret_access_key", secret_access_key.clone())];
                v.extend(session_token.iter().map(|t| ("aws_session_token", t.clone())));
                v
            }
            Credentials::BedrockApiKey(k) => vec![("aws_bearer_token_bedrock", k.clone())],
        }
    }
}

/// Where the Messages API lives on its service endpoint: the SDKs' `base_url` ends in it, and
/// the AWS-style endpoint variables name the service endpoint above it.
pub(crate) const MESSAGES_API_BASE_PATH: &str = "/anthropic";

/// A Bedrock endpoint override, split so the signer and the transport agree on it. The parts
/// are read through accessors: only [`Endpoint::parse`] and the regions' standard endpoints make
/// one, so every `Endpoint`'s scheme and authority are lower-case, without a default port, and
/// its path prefix has no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: String,
    authority: String,
    base_path: String,
}

/// Why an endpoint URL was refused; its `Display` says what is accepted instead (the config
/// error quotes it after "it must be").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://`: not an absolute URL.
    NotAbsolute,
    /// A scheme other than `http` or `https`.
    Scheme,
    /// A query, a fragment or user info, none of which an endpoint may carry.
    Extras,
    /// No host, or a host with characters no host name has.
    Host,
}

impl EndpointError {
    /// What an endpoint URL must be instead: the config error's "it must be …" and this
    /// error's `Display`.
    pub fn expected(self) -> &'static str {
        match self {
            EndpointError::NotAbsolute => "an absolute URL such as https://bedrock-runtime.us-east-1.amazonaws.com",
            EndpointError::Scheme => "an http:// or https:// URL",
            EndpointError::Extras => "a URL without query, fragment or user info",
            EndpointError::Host => "a URL with a host name, e.g. http://127.0.0.1:8080",
        }
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected())
    }
}

impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let (scheme, rest) = url.split_once("://").ok_or(EndpointError::NotAbsolute)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(EndpointError::Scheme);
        }
        if rest.contains(['?', '#', '@']) {
            return Err(EndpointError::Extras);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "-.:[]_".contains(c);
        if authority.is_empty() || !authority.chars().all(valid_char) {
            return Err(EndpointError::Host);
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority).to_ascii_lowercase();
        Ok(Endpoint { scheme, authority, base_path: path.to_string() })
    }

    /// The standard endpoint of `api` in `region`: Bedrock Runtime's for InvokeModel; for the
    /// Messages API, its API base on `bedrock-mantle` (the SDKs' default `base_url`).
    pub(crate) fn standard(api: Api, region: &str) -> Endpoint {
        match api {
            Api::Invoke => Endpoint::https(format!("bedrock-runtime.{region}.amazonaws.com"), ""),
            Api::Messages => Endpoint::https(format!("bedrock-mantle.{region}.api.aws"), MESSAGES_API_BASE_PATH),
        }
    }

    /// A region's standard HTTPS endpoint at `authority` (already lower-case, no port), with the
    /// API under `base_path`.
    pub(crate) fn https(authority: String, base_path: &str) -> Endpoint {
        Endpoint { scheme: "https".into(), authority, base_path: base_path.into() }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `host[:port]`, lower-case, a default port dropped.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path prefix requests go under, without a trailing slash; often empty.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// This endpoint with `suffix` appended to its path prefix (an API's base under a service
    /// endpoint).
    pub(crate) fn under(mut self, suffix: &str) -> Endpoint {
        self.base_path.push_str(suffix);
        self
    }

    /// Scheme and authority, moved out: what a request to this endpoint is sent to.
    pub(crate) fn into_scheme_and_authority(self) -> (String, String) {
        (self.scheme, self.authority)
    }

    /// `scheme://authority` as the component's requests to this endpoint carry it (lower-case,
    /// no default port): what a host's outbound policy allows, so the host and the component
    /// cannot read one `endpoint_url` two ways.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}
