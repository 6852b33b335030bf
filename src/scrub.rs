//! Credential-looking text removed from what Bedrock says before we show it.
//!
//! Bedrock's error messages are copied into ours so users see its words, but a message can
//! echo a header, a key or a token (a proxy in between may echo anything). The call's own
//! secrets are removed by value; anything else shaped like an AWS credential is removed by
//! shape: access key ids, 40-character secret keys, long tokens, Bedrock API keys and bearer
//! tokens.

/// What replaces a secret.
pub(crate) const REDACTED: &str = "<redacted>";

/// Characters a key, secret or token is made of (base64, plus the URL-safe variants).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=' | '_' | '-')
}

/// Whether one run of token characters is shaped like a credential.
fn looks_like_credential(run: &str) -> bool {
    const KEY_ID_PREFIXES: [&str; 7] = ["AKIA", "ASIA", "AIDA", "AROA", "ANPA", "ANVA", "AGPA"];
    let len = run.len();
    if len == 20 && KEY_ID_PREFIXES.iter().any(|p| run.starts_with(p)) && run.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return true;
    }
    if run.starts_with("ABSK") && len >= 24 {
        return true;
    }
    // Secret keys are 40 characters; session tokens run to hundreds. Ordinary words, ids with
    // dashes and model names are shorter or lack the mix of cases and digits.
    let classes = [
        run.chars().any(|c| c.is_ascii_uppercase()),
        run.chars().any(|c| c.is_ascii_lowercase()),
        run.chars().any(|c| c.is_ascii_digit() || matches!(c, '/' | '+')),
    ];
    len >= 32 && classes.iter().filter(|c| **c).count() == 3 && !run.contains('-')
}

/// `text` with the `known` secrets (the call's own credentials) replaced by `<redacted>`.
pub(crate) fn remove(text: &str, known: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in known.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, REDACTED);
    }
    out
}

/// `text` with `known` secrets and anything credential-shaped replaced by `<redacted>`: for
/// text from outside (Bedrock's messages), which may hold credentials we never had.
pub(crate) fn scrub(text: &str, known: &[&str]) -> String {
    let out = remove(text, known);
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find(token_char) {
        result.push_str(&rest[..start]);
        let run_len = rest[start..].find(|c: char| !token_char(c)).unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        let after_bearer = result.trim_end().to_ascii_lowercase().ends_with("bearer");
        if looks_like_credential(run) || (after_bearer && run.len() >= 8) {
            result.push_str(REDACTED);
        } else {
            result.push_str(run);
        }
        rest = &rest[start + run_len..];
    }
    result.push_str(rest);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_by_value_and_by_shape() {
        let text = "The security token included in the request is invalid: FwoGZXIvYXdzEBYaDHq3token \
                    for AKIAIOSFODNN7EXAMPLE with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, \
                    key ABSKQmVkcm9ja0FQSUtleS1FWEFNUExF, header Authorization: Bearer abc123def456";
        let clean = scrub(text, &["FwoGZXIvYXdzEBYaDHq3token"]);
        for secret in [
            "FwoGZXIvYXdzEBYaDHq3token",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "ABSKQmVkcm9ja0FQSUtleS1FWEFNUExF",
            "abc123def456",
        ] {
            assert!(!clean.contains(secret), "{secret} survived: {clean}");
        }
        assert!(clean.starts_with("The security token included in the request is invalid: <redacted>"), "{clean}");
    }

    #[test]
    fn ordinary_error_text_is_left_alone() {
        for text in [
            "The provided model identifier is invalid.",
            "Invocation of model ID anthropic.claude-sonnet-4-5-20250929-v1:0 with on-demand throughput isn't supported.",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`.",
            "request id 3f2a9c1e-7b4d-4e2a-9f1c-0a1b2c3d4e5f",
            "Too many tokens, please wait before trying again.",
        ] {
            assert_eq!(scrub(text, &[]), text);
        }
    }
}
