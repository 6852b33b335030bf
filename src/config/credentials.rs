//! Credentials and endpoint overrides: what signing and the transport are given.

use std::fmt;

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

/// A Bedrock endpoint override, split so the signer and the transport agree on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`, exactly as given (a default port is dropped).
    pub authority: String,
    /// A path prefix without trailing slash, often empty.
    pub base_path: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| "an absolute URL such as https://bedrock-runtime.us-east-1.amazonaws.com".to_string())?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err("an http:// or https:// URL".into());
        }
        if rest.contains(['?', '#', '@']) {
            return Err("a URL without query, fragment or user info".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "-.:[]_".contains(c);
        if authority.is_empty() || !authority.chars().all(valid_char) {
            return Err("a URL with a host name, e.g. http://127.0.0.1:8080".into());
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority).to_ascii_lowercase();
        Ok(Endpoint { scheme, authority, base_path: path.to_string() })
    }

    /// `scheme://authority` as the component's requests to this endpoint carry it (lower-case,
    /// no default port): what a host's outbound policy allows, so the host and the component
    /// cannot read one `endpoint_url` two ways.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}
