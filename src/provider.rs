//! The request pipeline: configuration → validation → translation → signing → transport →
//! response, written against a [`Platform`] so it runs the same under WASI and in unit tests.

use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::bedrock::{self, CallContext};
use crate::config::{ConfigSource, ProviderConfig};
use crate::convert;
use crate::error::{ErrorKind, ProviderError};
use crate::messages::{from_json, ChatRequest, ChatResponse};
use crate::models;
use crate::sign::{self, Unsigned};
use crate::transport::{HttpRequest, HttpResponse, Timeouts, TransportError};
use crate::validate;

/// What the pipeline needs from its surroundings.
pub trait Platform {
    /// Configuration and environment lookups.
    fn source(&self) -> &dyn ConfigSource;
    /// Wall-clock time, for the signature.
    fn now(&self) -> SystemTime;
    /// Sends a request and returns the whole response.
    fn send(
        &self,
        request: &HttpRequest,
        timeouts: &Timeouts,
    ) -> Result<HttpResponse, TransportError>;
}

/// Everything in a model-id path segment is encoded except RFC 3986 unreserved characters,
/// exactly as botocore encodes the `{modelId}` label (`:` → `%3A`, `/` → `%2F`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The Bedrock operation to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `InvokeModel`: one JSON answer.
    Invoke,
    /// `InvokeModelWithResponseStream`: an event stream.
    InvokeStream,
}

/// A fully prepared Bedrock call: what to send and the context for errors.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    /// The signed request.
    pub http: HttpRequest,
    /// Limits for the exchange.
    pub timeouts: Timeouts,
    /// Model id in the URL.
    pub model_id: String,
    /// Signing region.
    pub region: String,
    /// Whether we chose a cross-region profile.
    pub cross_region: bool,
    /// The configuration used.
    pub config: ProviderConfig,
}

impl PreparedCall {
    /// Context for [`bedrock::classify`].
    pub fn context(&self) -> CallContext<'_> {
        CallContext {
            model_id: &self.model_id,
            region: &self.region,
            cross_region: self.cross_region,
        }
    }
}

/// Parses, validates, translates and signs a ChatRequest; no network traffic yet.
pub fn prepare(
    request_json: &[u8],
    platform: &dyn Platform,
    operation: Operation,
) -> Result<PreparedCall, ProviderError> {
    let request: ChatRequest =
        from_json("request", request_json).map_err(ProviderError::validation)?;
    let config = ProviderConfig::resolve(platform.source())
        .map_err(|e| ProviderError::new(ErrorKind::Config, e.to_string()))?;
    validate::validate(&request)?;

    let region = config
        .require_region()
        .map_err(|e| ProviderError::new(ErrorKind::Config, e.to_string()))?
        .to_string();
    let requested = request
        .model
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| config.default_model.clone());
    let model_id =
        models::resolve_model_id(requested.trim(), &region, config.use_cross_region_inference);
    let translated = convert::to_anthropic(&request, &config, models::lookup(&model_id))?;
    let body = serde_json::to_vec(&translated.body)
        .map_err(|e| ProviderError::validation(format!("the request could not be encoded: {e}")))?;

    let endpoint = config
        .endpoint()
        .map_err(|e| ProviderError::new(ErrorKind::Config, e.to_string()))?;
    let action = match operation {
        Operation::Invoke => "invoke",
        Operation::InvokeStream => "invoke-with-response-stream",
    };
    let path = format!(
        "{}/model/{}/{action}",
        endpoint.base_path,
        utf8_percent_encode(&model_id, PATH_SEGMENT)
    );
    let url = format!("{}://{}{path}", endpoint.scheme, endpoint.authority);
    let mut headers: Vec<(String, String)> = match operation {
        Operation::Invoke => vec![
            ("accept".into(), "application/json".into()),
            ("content-type".into(), "application/json".into()),
        ],
        Operation::InvokeStream => vec![
            ("content-type".into(), "application/json".into()),
            ("x-amzn-bedrock-accept".into(), "application/json".into()),
        ],
    };
    let to_sign: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let added = sign::authorize(
        &Unsigned {
            method: "POST",
            url: &url,
            headers: &to_sign,
            body: &body,
        },
        &config.credentials,
        &region,
        platform.now(),
        config.aws_profile.as_deref(),
    )
    .map_err(|e| match e {
        sign::SignError::NoCredentials { .. } => ProviderError::new(ErrorKind::Auth, e.to_string()),
        sign::SignError::Signer(_) => ProviderError::validation(e.to_string()),
    })?;
    headers.extend(added);
    // Added after signing, as botocore does: Content-Length is not a signed header.
    headers.push(("content-length".into(), body.len().to_string()));

    let total = match request.timeout {
        Some(t) if t.is_finite() && t > 0.0 => std::time::Duration::from_secs_f64(t.min(86_400.0)),
        Some(t) => {
            return Err(ProviderError::validation(format!(
                "`timeout` is {t}: it must be a positive number of seconds"
            )))
        }
        None => config.timeout,
    };
    Ok(PreparedCall {
        http: HttpRequest {
            scheme: endpoint.scheme,
            authority: endpoint.authority,
            path,
            headers,
            body,
        },
        timeouts: Timeouts::from_total(total),
        cross_region: model_id != requested.trim(),
        model_id,
        region,
        config,
    })
}

/// `complete`: ChatRequest JSON → ChatResponse JSON.
pub fn complete(
    request_json: &[u8],
    platform: &dyn Platform,
) -> Result<ChatResponse, ProviderError> {
    let call = prepare(request_json, platform, Operation::Invoke)?;
    let response = platform
        .send(&call.http, &call.timeouts)
        .map_err(|e| ProviderError::new(ErrorKind::Network, e.to_string()))?;
    let request_id = response.header("x-amzn-requestid").map(str::to_string);
    if !(200..300).contains(&response.status) {
        return Err(bedrock::classify(
            response.status,
            response.header("x-amzn-errortype"),
            &response.body,
            request_id.as_deref(),
            &call.context(),
        ));
    }
    let message: Value = serde_json::from_slice(&response.body).map_err(|e| {
        ProviderError::new(
            ErrorKind::Bedrock,
            format!(
                "Bedrock answered HTTP {} with a body that is not JSON ({e})",
                response.status
            ),
        )
        .with_request_id(request_id.clone())
    })?;
    convert::from_anthropic(&message, &call.model_id, request_id.as_deref()).map_err(|e| {
        ProviderError::new(
            ErrorKind::Bedrock,
            format!("unexpected response shape: {e}"),
        )
        .with_request_id(request_id)
    })
}

/// `parse-tool-calls`: ChatResponse JSON → the tool calls in its content.
pub fn parse_tool_calls(
    response_json: &[u8],
) -> Result<Vec<crate::messages::ToolCall>, ProviderError> {
    let response: ChatResponse =
        from_json("response", response_json).map_err(ProviderError::validation)?;
    Ok(match response.tool_calls {
        Some(calls) if !calls.is_empty() => calls,
        _ => ChatResponse::collect_tool_calls(&response.content),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::time::UNIX_EPOCH;

    struct Fake {
        config: HashMap<&'static str, &'static str>,
        answer: HttpResponse,
        sent: RefCell<Vec<HttpRequest>>,
    }

    impl ConfigSource for Fake {
        fn config(&self, key: &str) -> Result<Option<String>, String> {
            Ok(self.config.get(key).map(|v| v.to_string()))
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    impl Platform for Fake {
        fn source(&self) -> &dyn ConfigSource {
            self
        }
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + std::time::Duration::from_secs(1_759_147_200)
        }
        fn send(
            &self,
            request: &HttpRequest,
            _: &Timeouts,
        ) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(request.clone());
            Ok(self.answer.clone())
        }
    }

    fn fake(config: &[(&'static str, &'static str)], status: u16, body: &str) -> Fake {
        Fake {
            config: config.iter().copied().collect(),
            answer: HttpResponse {
                status,
                headers: vec![("x-amzn-RequestId".into(), "rid-1".into())],
                body: body.as_bytes().to_vec(),
            },
            sent: RefCell::new(vec![]),
        }
    }

    const CREDS: [(&str, &str); 3] = [
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "AKIDEXAMPLE"),
        ("aws_secret_access_key", "SECRETKEY"),
    ];

    #[test]
    fn complete_sends_a_signed_invoke_and_maps_the_answer() {
        let f = fake(
            &CREDS,
            200,
            r#"{"content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        );
        let r = complete(br#"{"messages":[{"role":"user","content":"Hello"}]}"#, &f).unwrap();
        let sent = f.sent.borrow();
        assert_eq!(
            sent[0].path,
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
        );
        assert_eq!(sent[0].authority, "bedrock-runtime.us-east-1.amazonaws.com");
        let auth = sent[0]
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap();
        assert!(auth.1.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250929/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date,"), "{}", auth.1);
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.metadata.unwrap()["request_id"], "rid-1");
    }

    #[test]
    fn errors_stop_before_the_network() {
        let f = fake(
            &[("aws_access_key_id", "A"), ("aws_secret_access_key", "S")],
            200,
            "{}",
        );
        let e = complete(br#"{"messages":[{"role":"user","content":"Hello"}]}"#, &f)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("config: no AWS region"), "{e}");
        let f = fake(&[("aws_region", "us-east-1")], 200, "{}");
        let e = complete(br#"{"messages":[{"role":"user","content":"Hello"}]}"#, &f)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("auth: no AWS credentials"), "{e}");
        let e = complete(br#"{"messages":[]}"#, &fake(&CREDS, 200, "{}"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("validation:"), "{e}");
        assert!(f.sent.borrow().is_empty());
    }

    #[test]
    fn bedrock_errors_are_classified_with_the_request_id() {
        let f = fake(
            &CREDS,
            429,
            r#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        let e = complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("throttled: Too many requests")
                && e.ends_with("(Bedrock request id: rid-1)"),
            "{e}"
        );
    }

    #[test]
    fn parse_tool_calls_reads_content_when_tool_calls_is_absent() {
        let calls = parse_tool_calls(
            br#"{"content":[{"type":"tool_call","id":"a","name":"f","input":{"x":1}}]}"#,
        )
        .unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].arguments["x"], 1);
    }
}
