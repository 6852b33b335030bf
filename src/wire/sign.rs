//! Request authentication: SigV4 with `aws-sigv4`, or a Bedrock API key as a bearer token.
//!
//! The signer sees the request exactly as it goes on the wire (the model id already
//! percent-encoded in the path) and no `Host` or `Content-Length` header, which reproduces
//! botocore's canonical requests byte for byte (`testdata/sigv4`).

use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::config::Credentials;

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum SignError {
    /// No credentials were configured at all.
    NoCredentials {
        /// The profile named in config, if any, for the hint.
        profile: Option<String>,
    },
    /// The signer rejected the request (a malformed header or URL); carries its reason.
    Signer(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::NoCredentials { profile: Some(p) } => write!(
                f,
                "no AWS credentials reached the component, although `aws_profile` is {p:?}: the component \
                 cannot read ~/.aws itself, so run it through `bedrock-host` (which resolves profiles, SSO and \
                 roles) or pass `aws_access_key_id` / `aws_secret_access_key` (and `aws_session_token`) as config"
            ),
            SignError::NoCredentials { profile: None } => write!(
                f,
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with wasmtime: \
                 `--env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY`), the `aws_access_key_id` / \
                 `aws_secret_access_key` config keys, or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK"
            ),
            SignError::Signer(reason) => write!(f, "the request could not be signed: {reason}"),
        }
    }
}

impl std::error::Error for SignError {}

/// A request about to be signed: everything the signature covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unsigned<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The full URL as sent, path already percent-encoded.
    pub url: &'a str,
    /// Headers to sign, without `Host` (taken from the URL) and without `Content-Length`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// Returns the headers to add to `request`: `Authorization` plus `X-Amz-Date` (and
/// `X-Amz-Security-Token`) for SigV4, or just `Authorization: Bearer` for an API key.
pub(crate) fn authorize(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    signing_name: &str,
    time: SystemTime,
    profile: Option<&str>,
) -> Result<Vec<(String, String)>, SignError> {
    match credentials {
        Credentials::None => Err(SignError::NoCredentials { profile: profile.map(str::to_string) }),
        Credentials::BedrockApiKey(token) => Ok(vec![("authorization".into(), format!("Bearer {token}"))]),
        Credentials::Aws { access_key_id, secret_access_key, session_token } => {
            let identity = aws_credential_types::Credentials::new(
                access_key_id.clone(),
                secret_access_key.clone(),
                session_token.clone(),
                None,
                "amplifier-provider-bedrock",
            )
            .into();
            // Defaults match botocore for Bedrock: double percent-encoding, path normalisation,
            // no x-amz-content-sha256 header, session token signed.
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(signing_name)
                .time(time)
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| SignError::Signer(e.to_string()))?
                .into();
            let signable =
                SignableRequest::new(request.method, request.url, request.headers.iter().copied(), SignableBody::Bytes(request.body))
                    .map_err(|e| SignError::Signer(e.to_string()))?;
            let (instructions, _signature) = sign(signable, &params).map_err(|e| SignError::Signer(e.to_string()))?.into_parts();
            Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
    use serde_json::Value;
    use std::time::{Duration, UNIX_EPOCH};

    /// `20250929T120000Z` → SystemTime, via the civil-from-days algorithm.
    fn parse_amz_date(s: &str) -> SystemTime {
        let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
        let (y, m, d) = (n(0..4), n(4..6), n(6..8));
        let (hh, mm, ss) = (n(9..11), n(11..13), n(13..15));
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        UNIX_EPOCH + Duration::from_secs((days * 86_400 + hh * 3600 + mm * 60 + ss) as u64)
    }

    fn vectors() -> Vec<(String, Value)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sigv4");
        let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key].as_str().unwrap_or_else(|| panic!("vector field {key}"))
    }

    #[test]
    fn every_botocore_vector_signs_identically() {
        let vectors = vectors();
        assert!(vectors.len() >= 30, "expected the botocore vectors, found {}", vectors.len());
        for (name, v) in &vectors {
            let inputs = &v["inputs"];
            let expected = &v["expected"];
            let headers: Vec<(&str, &str)> = inputs["headers_before_signing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
                .collect();
            let body = BASE64.decode(str_of(inputs, "body_base64")).unwrap();
            let bearer = str_of(expected, "auth_scheme") == "bearer";
            let credentials = if bearer {
                // The token is an input of the vector, never read back from the expected header.
                Credentials::BedrockApiKey(str_of(inputs, "bearer_token").to_string())
            } else {
                Credentials::Aws {
                    access_key_id: str_of(inputs, "access_key_id").into(),
                    secret_access_key: str_of(inputs, "secret_access_key").into(),
                    session_token: inputs["session_token"].as_str().map(str::to_string),
                }
            };
            let time = inputs["timestamp"].as_str().map(parse_amz_date).unwrap_or(UNIX_EPOCH);
            let req = Unsigned { method: str_of(inputs, "method"), url: str_of(inputs, "url"), headers: &headers, body: &body };
            let added = authorize(&req, &credentials, str_of(inputs, "region"), str_of(inputs, "service"), time, None).unwrap();
            let get = |k: &str| added.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
            assert_eq!(get("authorization"), Some(str_of(expected, "authorization")), "{name}: Authorization");
            if bearer {
                assert_eq!(get("x-amz-date"), None, "{name}: bearer requests carry no X-Amz-Date");
                continue;
            }
            assert!(str_of(expected, "authorization").ends_with(&format!("Signature={}", str_of(expected, "signature"))), "{name}");
            for pair in expected["headers_added_by_signer"].as_array().unwrap() {
                let (k, want) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                assert_eq!(get(k), Some(want), "{name}: header {k}");
            }
            assert_eq!(added.len(), expected["headers_added_by_signer"].as_array().unwrap().len(), "{name}: {added:?}");
        }
    }

    #[test]
    fn missing_credentials_say_what_to_set() {
        let req =
            Unsigned { method: "POST", url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke", headers: &[], body: b"{}" };
        let e = authorize(&req, &Credentials::None, "us-east-1", "bedrock", UNIX_EPOCH, None).unwrap_err().to_string();
        assert!(e.contains("AWS_ACCESS_KEY_ID") && e.contains("AWS_BEARER_TOKEN_BEDROCK"), "{e}");
        let e = authorize(&req, &Credentials::None, "us-east-1", "bedrock", UNIX_EPOCH, Some("work")).unwrap_err().to_string();
        assert!(e.contains("\"work\"") && e.contains("bedrock-host"), "{e}");
    }
}
