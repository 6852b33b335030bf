//! InvokeModel on Bedrock Runtime: `POST /model/{id}/invoke` (one JSON answer),
//! `/invoke-with-response-stream` (an AWS event stream) and `/count-tokens`, signed for the
//! service `bedrock`, with `anthropic_version` in the body and betas as its `anthropic_beta`.
//! Its errors are read by [`crate::wire::bedrock`].

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::{Endpoint, ProviderConfig};
use crate::wire::exchange::Operation;

/// The SigV4 signing name of Bedrock Runtime (not `bedrock-runtime`).
pub(crate) const SIGNING_NAME: &str = "bedrock";

/// Everything in a model-id path segment is encoded except RFC 3986 unreserved characters,
/// exactly as botocore encodes the `{modelId}` label (`:` → `%3A`, `/` → `%2F`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The path of `operation` on `model_id`, under the endpoint's base path.
pub(crate) fn path(endpoint: &Endpoint, model_id: &str, operation: Operation) -> String {
    let action = match operation {
        Operation::Complete => "invoke",
        Operation::Stream => "invoke-with-response-stream",
        Operation::CountTokens => "count-tokens",
    };
    format!("{}/model/{}/{action}", endpoint.base_path(), utf8_percent_encode(model_id, PATH_SEGMENT))
}

/// The headers signed with the request: the content types botocore sends, and the guardrail,
/// signed with the rest so nobody on the way can strip or swap it.
pub(crate) fn headers(operation: Operation, config: &ProviderConfig) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = match operation {
        Operation::Complete | Operation::CountTokens => {
            vec![("accept".into(), "application/json".into()), ("content-type".into(), "application/json".into())]
        }
        Operation::Stream => {
            vec![("content-type".into(), "application/json".into()), ("x-amzn-bedrock-accept".into(), "application/json".into())]
        }
    };
    if let (Some(g), Operation::Complete | Operation::Stream) = (&config.guardrail, operation) {
        headers.push(("x-amzn-bedrock-guardrailidentifier".into(), g.identifier.clone()));
        headers.push(("x-amzn-bedrock-guardrailversion".into(), g.version.clone()));
        headers.push(("x-amzn-bedrock-trace".into(), g.trace.clone()));
    }
    headers
}
