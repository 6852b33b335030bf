//! Where the component may connect: Bedrock Runtime and Bedrock's Messages API endpoint
//! (`bedrock-mantle`) over https, and the configured endpoints.
//!
//! The component is sandboxed code; even a correct one should not be able to send signed
//! requests (or anything else) to arbitrary hosts. Every outgoing request passes
//! [`OutboundPolicy::check`]; refusals are recorded for the caller. Allowed requests go out
//! through the provider's keep-alive [`HttpClient`], shared by every call and store.

use std::sync::{Arc, Mutex};

use amplifier_provider_bedrock::config::Endpoint;
use wasmtime_wasi_http::WasiBody as HyperOutgoingBody;
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use crate::http_client::HttpClient;

/// The destinations one call may reach.
///
/// Start from [`OutboundPolicy::default`] and set fields, so a field added later does not
/// break callers.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OutboundPolicy {
    /// Regions whose `bedrock-runtime[-fips]` and `bedrock-mantle` endpoints are allowed; empty
    /// allows any region.
    pub regions: Vec<String>,
    /// The configured endpoints (`endpoint_url`, `mantle_endpoint_url`), each as
    /// `scheme://authority` as the component reads it (`Endpoint::origin`), allowed exactly.
    pub endpoints: Vec<String>,
    /// Requests refused so far, as URLs.
    pub refused: Arc<Mutex<Vec<String>>>,
    /// Sends the allowed requests (the provider's pool; a default one has its own).
    pub client: HttpClient,
    /// Connect timeout (TCP, TLS and HTTP handshakes) for requests whose `wasi:http` options set
    /// none: the `connect_timeout` config key, which the component cannot enforce itself.
    pub connect_timeout: Option<std::time::Duration>,
}

impl OutboundPolicy {
    /// Whether a request to `uri` is allowed.
    pub fn check(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let Some(authority) = uri.authority() else {
            return false;
        };
        // Read by the component's own `Endpoint`, as the allowed ones were (default port dropped,
        // lower case), so a request and its configured endpoint always compare alike.
        let origin = Endpoint::parse(&format!("{scheme}://{authority}")).map(|e| e.origin());
        if origin.is_ok_and(|o| self.endpoints.contains(&o)) {
            return true;
        }
        if scheme != "https" || authority.port_u16().is_some_and(|p| p != 443) {
            return false;
        }
        let host = authority.host().to_ascii_lowercase();
        let runtime = host
            .strip_prefix("bedrock-runtime.")
            .or_else(|| host.strip_prefix("bedrock-runtime-fips."))
            .and_then(|rest| rest.strip_suffix(".amazonaws.com"));
        // The Messages API: `bedrock-mantle.{region}.api.aws` (Anthropic's and AWS's pages).
        let mantle = host.strip_prefix("bedrock-mantle.").and_then(|rest| rest.strip_suffix(".api.aws"));
        let Some(region) = runtime.or(mantle) else {
            return false;
        };
        let well_formed = !region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        well_formed && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
    }
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<HyperOutgoingBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<HyperOutgoingBody>,
                        Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        drop(fut);
        if !self.check(request.uri()) {
            let url = request.uri().to_string();
            self.refused.lock().unwrap_or_else(|p| p.into_inner()).push(url);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let client = self.client.clone();
        let mut options = options.unwrap_or_default();
        options.connect_timeout = options.connect_timeout.or(self.connect_timeout);
        let options = Some(options);
        Box::new(async move {
            let response = client.send(request, options).await?;
            // The connection's own task drives its I/O; nothing is left for wasi:http to poll.
            Ok((response, Box::new(async { Ok(()) }) as Box<dyn std::future::Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(regions: &[&str], endpoint: Option<&str>) -> OutboundPolicy {
        OutboundPolicy {
            regions: regions.iter().map(|s| s.to_string()).collect(),
            endpoints: endpoint.into_iter().map(str::to_string).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn allows_the_messages_api_endpoint_of_the_region_only() {
        let p = policy(&["us-east-1"], None);
        assert!(p.check(&"https://bedrock-mantle.us-east-1.api.aws/anthropic/v1/messages".parse().unwrap()));
        for bad in [
            "http://bedrock-mantle.us-east-1.api.aws/anthropic/v1/messages",
            "https://bedrock-mantle.eu-west-1.api.aws/anthropic/v1/messages",
            "https://bedrock-mantle.us-east-1.api.aws.evil.com/x",
            "https://bedrock-mantle.us-east-1.amazonaws.com/x",
            "https://api.anthropic.com/v1/messages",
        ] {
            assert!(!p.check(&bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn a_configured_default_port_matches_requests_without_it() {
        // Both sides read `endpoint_url` with the component's `Endpoint`: the origin the policy
        // allows is the one the component's requests carry.
        let origin = |url: &str| Endpoint::parse(url).map(|e| e.origin()).ok();
        let p = policy(&[], origin("https://vpce-1.bedrock.example:443/").as_deref());
        assert!(p.check(&"https://vpce-1.bedrock.example/model/x/invoke".parse().unwrap()));
        assert!(p.check(&"https://VPCE-1.bedrock.example:443/model/x/invoke".parse().unwrap()), "the request's own :443 too");
        assert_eq!(origin("HTTP://127.0.0.1:80"), Some("http://127.0.0.1".into()));
        assert_eq!(origin("http://127.0.0.1:4000/x"), Some("http://127.0.0.1:4000".into()));
        assert_eq!(origin("not a url"), None);
    }

    #[test]
    fn allows_bedrock_runtime_and_the_configured_endpoint_only() {
        let p = policy(&["us-east-1"], Some("http://127.0.0.1:4000"));
        for ok in [
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke",
            "https://bedrock-runtime-fips.us-east-1.amazonaws.com:443/x",
            "http://127.0.0.1:4000/model/x/invoke",
        ] {
            assert!(p.check(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "http://bedrock-runtime.us-east-1.amazonaws.com/x",
            "https://bedrock-runtime.eu-west-1.amazonaws.com/x",
            "https://bedrock-runtime.us-east-1.amazonaws.com.evil.com/x",
            "https://bedrock.us-east-1.amazonaws.com/x",
            "https://bedrock-runtime.us-east-1.amazonaws.com:8443/x",
            "http://127.0.0.1:4001/x",
            "https://example.com/",
        ] {
            assert!(!p.check(&bad.parse().unwrap()), "{bad}");
        }
        assert!(policy(&[], None).check(&"https://bedrock-runtime.ap-northeast-1.amazonaws.com/x".parse().unwrap()));
    }
}
