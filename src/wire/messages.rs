//! Bedrock's Messages API ("Claude in Amazon Bedrock"): `POST {base}/v1/messages` on
//! `https://bedrock-mantle.{region}.api.aws/anthropic`, signed for the service
//! `bedrock-mantle` (or a Bedrock API key as `Authorization: Bearer`), `anthropic-version` as a
//! header, betas as the `anthropic-beta` header, the model id in the body, server-sent events
//! when streaming, and Anthropic's error bodies.
//!
//! Sources: anthropic-sdk-python `src/anthropic/lib/bedrock/_mantle.py` (base URL,
//! `DEFAULT_SERVICE_NAME = "bedrock-mantle"`, `ANTHROPIC_BEDROCK_MANTLE_BASE_URL`, the API key
//! from `AWS_BEARER_TOKEN_BEDROCK` as `Authorization: Bearer`, `anthropic-version: 2023-06-01`,
//! the error class per status), anthropic-sdk-typescript `packages/bedrock-sdk/src/mantle-client.ts`
//! (the same), platform.claude.com/docs/en/build-with-claude/claude-in-amazon-bedrock (the
//! endpoint, SSE streaming, the `request-id` to quote to support), and Anthropic's
//! errors page (error types and statuses). Not documented for mantle, so not relied on: its
//! rate-limit headers; `retry-after` is honoured when present, as Anthropic's SDKs do.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::config::Endpoint;
use crate::error::{ErrorKind, ProviderError};
use crate::models::Api;
use crate::wire::bedrock::{CallContext, Next};
use crate::wire::exchange::Decoded;
use crate::wire::exchange::Operation;
use crate::wire::sse::SseEvent;
use crate::wire::transport::HttpResponse;

/// The SigV4 signing name of the Messages API's endpoint.
pub(crate) const SIGNING_NAME: &str = "bedrock-mantle";

/// The `anthropic-version` header every request carries (what the SDKs' mantle clients send).
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The header that carries the request id Anthropic asks for in support requests.
pub(crate) const REQUEST_ID_HEADER: &str = "request-id";

/// The path of `operation` under the API base. The Messages API has no token counting that
/// Bedrock documents, so [`Operation::CountTokens`] never gets here (see `call/prepare.rs`).
pub(crate) fn path(endpoint: &Endpoint, _operation: Operation) -> String {
    format!("{}/v1/messages", endpoint.base_path())
}

/// The headers signed with the request. Betas travel as one comma-separated header, as the
/// Anthropic SDKs send them.
pub(crate) fn headers(beta: Option<&str>) -> Vec<(String, String)> {
    let mut headers = vec![("anthropic-version".into(), ANTHROPIC_VERSION.into()), ("content-type".into(), "application/json".into())];
    if let Some(beta) = beta {
        headers.push(("anthropic-beta".into(), beta.into()));
    }
    headers
}

/// The translated (InvokeModel-shaped) body made into a Messages API body: the model id in
/// it, `stream` when streaming, no `anthropic_version` (the version is a header here) and the
/// betas taken out for the `anthropic-beta` header, which this returns.
pub(crate) fn body(mut body: Map<String, Value>, model_id: &str, operation: Operation) -> (Map<String, Value>, Option<String>) {
    body.remove("anthropic_version");
    let betas = match body.remove("anthropic_beta") {
        Some(Value::Array(list)) => {
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            (!names.is_empty()).then(|| names.join(","))
        }
        _ => None,
    };
    body.insert("model".into(), json!(model_id));
    if operation == Operation::Stream {
        body.insert("stream".into(), json!(true));
    }
    (body, betas)
}

/// A server-sent event whose data is not JSON: the event's name and serde_json's reason. The
/// stream is corrupt (a `bedrock:` error, made where the stream is decoded).
#[derive(Debug)]
pub(crate) struct DataError<'a> {
    event: &'a str,
    error: serde_json::Error,
}

impl std::fmt::Display for DataError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an `{}` event whose data is not JSON ({})", self.event, self.error)
    }
}

/// What one server-sent event means: an Anthropic event, an in-band `error`, or nothing
/// (`ping`). An event whose data is not JSON is an error naming the event.
pub(crate) fn interpret(event: &SseEvent) -> Result<Decoded, DataError<'_>> {
    if event.event == "ping" {
        return Ok(Decoded::Skip);
    }
    // From bytes, as all other JSON the component reads: one instance of the parser.
    let data: Value = serde_json::from_slice(event.data.as_bytes()).map_err(|error| DataError { event: &event.event, error })?;
    if event.event == "error" || data.get("type").and_then(Value::as_str) == Some("error") {
        let (kind, message) = error_fields(&data).unwrap_or(("error", ""));
        return Ok(Decoded::Failure { api: Api::Messages, kind: kind.to_string(), message: message.to_string() });
    }
    Ok(Decoded::Event(data))
}

/// Anthropic's `{"type": "error", "error": {"type", "message"}}`: the error's type and message.
fn error_fields(body: &Value) -> Option<(&str, &str)> {
    let error = body.get("error")?;
    let kind = error.get("type").and_then(Value::as_str)?;
    Some((kind, error.get("message").and_then(Value::as_str).unwrap_or_default()))
}

/// The error type Anthropic's API gives each status, for an answer whose body says none (a
/// proxy's page, an empty body): the SDKs' own status → error class table.
fn kind_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// Whether an error of this type is worth retrying: rate limits, overload and server faults.
pub(crate) fn is_retryable(kind: &str) -> bool {
    matches!(kind, "rate_limit_error" | "overloaded_error" | "api_error")
}

/// A non-2xx Messages API answer: the error, and what may be tried next. AWS's own front
/// door answers some failures (a bad signature, an unknown access key) in Bedrock's form,
/// which [`crate::wire::bedrock`] reads.
pub(crate) fn classify_response(response: &HttpResponse, ctx: &CallContext<'_>) -> (ProviderError, Next) {
    let json: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let request_id = response.header(REQUEST_ID_HEADER).or_else(|| response.header("x-amzn-requestid")).map(str::to_string);
    let (kind, message) = match error_fields(&json) {
        Some(fields) => fields,
        None if response.header("x-amzn-errortype").is_some() || json.get("message").is_some() => {
            let (error, next) = crate::wire::bedrock::classify_response(response, ctx);
            return (error.with_request_id(request_id), next);
        }
        None => (kind_for_status(response.status), ""),
    };
    let message = if message.is_empty() {
        String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).trim().to_string()
    } else {
        message.to_string()
    };
    let error = classify(kind, &message, response.status, ctx).with_request_id(request_id);
    let next = match is_retryable(kind) || matches!(response.status, 500..=599) {
        true => Next::Retry { after: retry_after(response) },
        false => Next::Stop,
    };
    (error, next)
}

/// The `retry-after` header as a wait (whole seconds, as Anthropic sends it), capped at a
/// minute so a wrong value cannot stall a call.
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let seconds = crate::config::parse_number(response.header("retry-after")?)?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(60.0)))
}

/// An Anthropic error (from an HTTP answer or an in-band `error` event) as a [`ProviderError`]
/// that says what to do.
pub(crate) fn classify(kind: &str, message: &str, status: u16, ctx: &CallContext<'_>) -> ProviderError {
    let said = crate::scrub::scrub(message, &[]);
    let CallContext { model_id, region, .. } = *ctx;
    let (error_kind, text) = match kind {
        "invalid_request_error" => (ErrorKind::Validation, format!("Bedrock's Messages API rejected the request: {said}")),
        "request_too_large" => (
            ErrorKind::Validation,
            format!("the request is larger than Bedrock's Messages API accepts ({said}): send fewer or smaller images and documents, or a shorter conversation"),
        ),
        "authentication_error" => (
            ErrorKind::Unauthenticated,
            format!(
                "Bedrock's Messages API did not accept the credentials ({said}): check the Bedrock API key \
                 (AWS_BEARER_TOKEN_BEDROCK) or the AWS access key, secret and session token"
            ),
        ),
        "permission_error" => (
            ErrorKind::AccessDenied,
            format!(
                "access denied calling model `{model_id}` in {region} ({said}): the credentials need the IAM action \
                 bedrock-mantle:CreateInference (an API key also bedrock-mantle:CallWithBearerToken), and the account \
                 access to the model"
            ),
        ),
        "not_found_error" => (
            ErrorKind::Model,
            format!(
                "Bedrock's Messages API does not know model `{model_id}` in {region} ({said}): it takes the bare id without a \
                 date, version or profile prefix, such as {}; InvokeModel ids (`…-v1:0`, `us.…`) need `api` = invoke or auto",
                crate::models::ids_for(Api::Messages).join(", ")
            ),
        ),
        "rate_limit_error" => (
            ErrorKind::Throttled,
            format!("{said}: wait and retry, lower the request rate, or ask for a higher Bedrock quota for `{model_id}` in {region}"),
        ),
        "overloaded_error" => (ErrorKind::Unavailable, format!("Bedrock's Messages API is overloaded (HTTP {status}): {said}; retry in a little while")),
        "api_error" => (ErrorKind::Bedrock, format!("Bedrock's Messages API failed (HTTP {status}): {said}")),
        other => (ErrorKind::Bedrock, format!("{other} (HTTP {status}): {said}")),
    };
    ProviderError::new(error_kind, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: CallContext<'static> = CallContext {
        model_id: "anthropic.claude-sonnet-5",
        region: "us-east-1",
        cross_region: false,
        cross_region_enabled: true,
        more_ids: false,
    };

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn error_body(kind: &str, message: &str) -> String {
        json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
    }

    #[test]
    fn anthropic_error_types_map_to_our_prefixes() {
        let cases = [
            (400, "invalid_request_error", "validation:", Next::Stop),
            (401, "authentication_error", "auth:", Next::Stop),
            (403, "permission_error", "auth:", Next::Stop),
            (404, "not_found_error", "model:", Next::Stop),
            (413, "request_too_large", "validation:", Next::Stop),
            (429, "rate_limit_error", "throttled:", Next::Retry { after: None }),
            (529, "overloaded_error", "bedrock:", Next::Retry { after: None }),
            (500, "api_error", "bedrock:", Next::Retry { after: None }),
        ];
        for (status, kind, prefix, next) in cases {
            let r = answer(status, &[("request-id", "req_011")], &error_body(kind, "details"));
            let (e, n) = classify_response(&r, &CTX);
            let text = e.to_string();
            assert!(text.starts_with(prefix) && text.contains("details"), "{kind}: {text}");
            assert!(text.ends_with("(Bedrock request id: req_011)"), "{kind}: {text}");
            assert_eq!(n, next, "{kind}");
            // Without a body, the status alone says the same.
            let (e, _) = classify_response(&answer(status, &[], ""), &CTX);
            assert_eq!(e.kind, classify(kind, "", status, &CTX).kind, "{status}");
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let r = answer(429, &[("retry-after", "7")], &error_body("rate_limit_error", "slow down"));
        assert_eq!(classify_response(&r, &CTX).1, Next::Retry { after: Some(Duration::from_secs(7)) });
        let r = answer(529, &[("retry-after", "86400")], &error_body("overloaded_error", "busy"));
        assert_eq!(classify_response(&r, &CTX).1, Next::Retry { after: Some(Duration::from_secs(60)) });
        let r = answer(429, &[("retry-after", "soon")], &error_body("rate_limit_error", "slow down"));
        assert_eq!(classify_response(&r, &CTX).1, Next::Retry { after: None });
    }

    #[test]
    fn aws_shaped_errors_are_read_as_bedrock_errors() {
        let r = answer(
            403,
            &[("x-amzn-ErrorType", "UnrecognizedClientException:x")],
            r#"{"message":"The security token included in the request is invalid."}"#,
        );
        let (e, next) = classify_response(&r, &CTX);
        assert!(e.to_string().starts_with("auth: UnrecognizedClientException"), "{e}");
        assert_eq!(next, Next::Stop);
    }

    #[test]
    fn not_found_names_the_messages_api_ids() {
        let r = answer(404, &[], &error_body("not_found_error", "model: us.anthropic.claude-sonnet-5"));
        let e = classify_response(&r, &CTX).0.to_string();
        assert!(e.starts_with("model:") && e.contains("anthropic.claude-sonnet-5") && e.contains("api"), "{e}");
    }

    #[test]
    fn the_body_carries_the_model_and_the_betas_move_to_a_header() {
        let translated =
            json!({"anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["a-1", "b-2"], "max_tokens": 5, "messages": []});
        let Value::Object(map) = translated else { unreachable!() };
        let (streamed, beta) = body(map.clone(), "anthropic.claude-sonnet-5", Operation::Stream);
        assert_eq!(Value::Object(streamed), json!({"model": "anthropic.claude-sonnet-5", "max_tokens": 5, "messages": [], "stream": true}));
        assert_eq!(beta.as_deref(), Some("a-1,b-2"));
        let (whole, beta) = body(map, "anthropic.claude-sonnet-5", Operation::Complete);
        assert!(!whole.contains_key("stream") && beta.is_some());
        assert_eq!(
            headers(None),
            [("anthropic-version".to_string(), "2023-06-01".to_string()), ("content-type".into(), "application/json".into())]
        );
    }

    #[test]
    fn events_ping_and_errors_are_told_apart() {
        let ev = |event: &str, data: &str| SseEvent { event: event.into(), data: data.into() };
        assert_eq!(interpret(&ev("ping", "{\"type\": \"ping\"}")).unwrap(), Decoded::Skip);
        assert_eq!(interpret(&ev("message_stop", "{\"type\":\"message_stop\"}")).unwrap(), Decoded::Event(json!({"type": "message_stop"})));
        assert_eq!(
            interpret(&ev("error", &error_body("overloaded_error", "Overloaded"))).unwrap(),
            Decoded::Failure { api: Api::Messages, kind: "overloaded_error".into(), message: "Overloaded".into() }
        );
        let bad = ev("content_block_delta", "{not json");
        let e = interpret(&bad).unwrap_err().to_string();
        assert!(e.starts_with("an `content_block_delta` event whose data is not JSON (key must be a string"), "{e}");
    }
}
