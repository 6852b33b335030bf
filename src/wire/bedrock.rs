//! Bedrock's HTTP errors, turned into errors that say what to do.
//!
//! Bedrock names the error in `x-amzn-ErrorType` (`Code:namespace`) and explains it in the
//! JSON body's `message`; the status code is the fallback.

use serde_json::Value;

use crate::error::{ErrorKind, ProviderError};
use crate::wire::transport::HttpResponse;

/// What was being called, for the hints.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallContext<'a> {
    /// The model id in the URL.
    pub model_id: &'a str,
    /// The signing region.
    pub region: &'a str,
    /// Whether the id got a cross-region prefix from us.
    pub cross_region: bool,
    /// Whether the `use_cross_region_inference` config key is on.
    pub cross_region_enabled: bool,
    /// Whether other ids for the model remain to fall back to.
    pub more_ids: bool,
}

/// What a failed attempt allows next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Nothing: the error is final.
    Stop,
    /// The same request again, after a backoff (at least `after`, when the service said how
    /// long to wait).
    Retry {
        /// The service's own wait (`retry-after`), when it sent one.
        after: Option<std::time::Duration>,
    },
    /// The same request with the model's next id (geographic → `global.` → bare).
    OtherModelId,
}

/// Whether Bedrock refused the id itself: an unknown profile or model id, or a model that
/// cannot be called on demand with this id.
fn refuses_the_id(code: &str, message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    code == "ValidationException" && (lower.contains("on-demand throughput") || lower.contains("model identifier is invalid"))
}

/// Bedrock's error code: the header's part before `:`, else the body's `__type`, else by status.
pub(crate) fn error_code(status: u16, error_type_header: Option<&str>, body: &Value) -> String {
    if let Some(code) = error_type_header.and_then(|h| h.split(':').next()).filter(|c| !c.is_empty()) {
        return code.to_string();
    }
    if let Some(code) = body.get("__type").and_then(Value::as_str) {
        return code.rsplit('#').next().unwrap_or(code).to_string();
    }
    match status {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        // Bedrock never redirects; whatever did (a proxy, a captive portal) is not followed.
        300..=399 => "Redirect",
        _ => "InternalServerException",
    }
    .to_string()
}

/// Whether an error code is worth retrying: capacity and transient server faults only.
pub(crate) fn is_retryable(code: &str) -> bool {
    matches!(code, "ThrottlingException" | "ServiceUnavailableException" | "InternalServerException" | "ModelNotReadyException")
}

/// A non-2xx Bedrock answer: the error, and what may be tried next.
pub(crate) fn classify_response(response: &HttpResponse, ctx: &CallContext<'_>) -> (ProviderError, Next) {
    let json: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = error_code(response.status, response.header("x-amzn-errortype"), &json);
    let error = classify_parsed(response.status, &code, &json, &response.body, response.header("x-amzn-requestid"), ctx);
    let message = json.get("message").and_then(Value::as_str).unwrap_or_default();
    let next = if is_retryable(&code) {
        Next::Retry { after: None }
    } else if ctx.more_ids && refuses_the_id(&code, message) {
        Next::OtherModelId
    } else {
        Next::Stop
    };
    (error, next)
}

fn classify_parsed(status: u16, code: &str, json: &Value, body: &[u8], request_id: Option<&str>, ctx: &CallContext<'_>) -> ProviderError {
    let said = json
        .get("message")
        .or_else(|| json.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    classify_said(status, code, &said, request_id, ctx)
}

/// An error Bedrock named (`code`) and explained (`said`), as a [`ProviderError`]: how an
/// exception frame in a stream is read, without a body to parse.
pub(crate) fn classify_said(status: u16, code: &str, said: &str, request_id: Option<&str>, ctx: &CallContext<'_>) -> ProviderError {
    // Bedrock's words go into our error, but never a credential it (or a proxy) echoed.
    let message = crate::scrub::scrub(said, &[]);
    let CallContext { model_id, region, .. } = *ctx;
    let lower = message.to_ascii_lowercase();
    let (kind, text) = match code {
        "AccessDeniedException" => (ErrorKind::AccessDenied, format!(
            "access denied calling model `{model_id}` in {region} ({message}): the credentials need the IAM actions \
             bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on this model (for an inference profile, on the \
             profile and on the model in every region it routes to), and the account needs access to the model \
             (Bedrock console → Model access)"
        )),
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" | "IncompleteSignatureException" | "InvalidClientTokenId" => {
            let hint = if code == "ExpiredTokenException" {
                "the temporary credentials have expired: refresh them (`aws sso login`, assume the role again) and retry"
            } else if code == "InvalidSignatureException" {
                "the secret access key does not match the access key id, or the clock is off: check both, and the system time"
            } else {
                "the access key id or session token is not valid: check AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN or the profile's credentials"
            };
            (ErrorKind::Unauthenticated, format!("{code}: {message}: {hint}"))
        }
        "ValidationException" if lower.contains("on-demand throughput") => {
            let bare = crate::models::base_model_id(model_id.rsplit('/').next().unwrap_or(model_id));
            let hint = if !ctx.cross_region_enabled {
                format!(
                    "call it through an inference profile: set `use_cross_region_inference=true`, or pass a profile id such as `us.{bare}` or `global.{bare}`, or its ARN"
                )
            } else {
                format!(
                    "no inference profile of this model that {region} can use was accepted: pass a profile id your account can call (e.g. `global.{bare}`) or its ARN, or use a region where the model is offered (Bedrock console → Model access lists them)"
                )
            };
            (ErrorKind::Model, format!("model `{model_id}` cannot be called on demand in {region} ({message}): {hint}"))
        }
        "ValidationException" if lower.contains("model identifier is invalid") => {
            let what = if crate::models::is_routed(model_id) && !model_id.starts_with("arn:") {
                format!(
                    "Bedrock does not know inference profile `{model_id}` in {region} ({message}): pass a profile id that exists for {region} (e.g. `global.{}`), an ARN, or the bare model id; known models: {}",
                    crate::models::base_model_id(model_id),
                    known_ids()
                )
            } else {
                format!("Bedrock does not know model `{model_id}` in {region} ({message}): use one of {}", known_ids())
            };
            (ErrorKind::Model, what)
        }
        "ResourceNotFoundException" => (ErrorKind::Model, format!(
            "model `{model_id}` is not available in {region} ({message}): {}",
            if lower.contains("use case") {
                "submit the Anthropic use case form in the Bedrock console (Model access) and retry"
            } else if lower.contains("end of its life") {
                "this model version is retired: switch to a current one such as anthropic.claude-sonnet-4-5-20250929-v1:0"
            } else {
                "check the id and region; known ids are listed by list-models"
            }
        )),
        "ValidationException" => (ErrorKind::Validation, format!("Bedrock rejected the request: {message}")),
        "ThrottlingException" => (ErrorKind::Throttled, format!("{message}: wait and retry, lower the request rate, or ask for a higher Bedrock quota for `{model_id}` in {region}")),
        "ServiceQuotaExceededException" => (ErrorKind::Throttled, format!("{message}: request a quota increase for `{model_id}` in {region} (Service Quotas → Amazon Bedrock) or use a cross-region inference profile")),
        "ModelNotReadyException" => (ErrorKind::Throttled, format!("{message}: the model is starting up; retry in a few seconds")),
        "ModelTimeoutException" => (ErrorKind::Bedrock, format!("{message}: ask for fewer output tokens or stream the answer")),
        "Redirect" => (
            ErrorKind::Bedrock,
            format!(
                "the endpoint answered with a redirect (HTTP {status}), which is never followed: check `endpoint_url` and any proxy \
                 between you and Bedrock Runtime"
            ),
        ),
        "ServiceUnavailableException" => (ErrorKind::Unavailable, format!("{code} (HTTP {status}): {message}")),
        _ => (ErrorKind::Bedrock, format!("{code} (HTTP {status}): {message}")),
    };
    ProviderError::new(kind, text).with_request_id(request_id.map(str::to_string))
}

fn known_ids() -> String {
    crate::models::ids_for(crate::models::Api::Invoke).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-2xx answer classified, as the pipeline does it.
    fn classify(status: u16, error_type: Option<&str>, body: &[u8], request_id: Option<&str>, ctx: &CallContext<'_>) -> ProviderError {
        let mut headers: Vec<(String, String)> = error_type.map(|t| ("x-amzn-ErrorType".to_string(), t.to_string())).into_iter().collect();
        headers.extend(request_id.map(|id| ("x-amzn-RequestId".to_string(), id.to_string())));
        classify_response(&HttpResponse { status, headers, body: body.to_vec() }, ctx).0
    }

    const CTX: CallContext<'static> = CallContext {
        model_id: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        region: "us-east-1",
        cross_region: true,
        cross_region_enabled: true,
        more_ids: false,
    };

    #[test]
    fn codes_come_from_header_then_body_then_status() {
        assert_eq!(error_code(400, Some("ThrottlingException:http://internal.amazon.com/coral/"), &Value::Null), "ThrottlingException");
        assert_eq!(error_code(400, None, &serde_json::json!({"__type": "com.amazon#ValidationException"})), "ValidationException");
        assert_eq!(error_code(503, None, &Value::Null), "ServiceUnavailableException");
    }

    #[test]
    fn access_denied_names_model_region_and_actions() {
        let e = classify(403, Some("AccessDeniedException:x"), br#"{"message":"nope"}"#, Some("rid"), &CTX).to_string();
        assert!(e.starts_with("auth: access denied calling model `us.anthropic.claude-sonnet-4-5-20250929-v1:0` in us-east-1"), "{e}");
        assert!(
            e.contains("bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream")
                && e.contains("Model access")
                && e.ends_with("(Bedrock request id: rid)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_model_lists_known_ids() {
        let e = classify(400, Some("ValidationException"), br#"{"message":"The provided model identifier is invalid."}"#, None, &CTX)
            .to_string();
        assert!(e.starts_with("model:") && e.contains("anthropic.claude-haiku-4-5-20251001-v1:0"), "{e}");
    }
}
