//! Where the component may connect: Bedrock Runtime over https, and the configured endpoint.
//!
//! The component is sandboxed code; even a correct one should not be able to send signed
//! requests (or anything else) to arbitrary hosts. Every outgoing request passes
//! [`OutboundPolicy::check`]; refusals are recorded for the caller. Allowed requests go out
//! through the provider's keep-alive [`HttpClient`], shared by every call and store.

use std::sync::{Arc, Mutex};

use wasmtime_wasi_http::WasiBody as HyperOutgoingBody;
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use crate::http_client::HttpClient;

/// The destinations one call may reach.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Regions whose `bedrock-runtime[-fips]` endpoints are allowed; empty allows any region.
    pub regions: Vec<String>,
    /// The configured endpoint, as `scheme://authority` (lower-case), allowed exactly.
    pub endpoint: Option<String>,
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
        let origin = format!("{scheme}://{}", authority.as_str().to_ascii_lowercase());
        if self.endpoint.as_deref() == Some(origin.as_str()) {
            return true;
        }
        if scheme != "https" || authority.port_u16().is_some_and(|p| p != 443) {
            return false;
        }
        let host = authority.host().to_ascii_lowercase();
        let Some(region) = host
            .strip_prefix("bedrock-runtime.")
            .or_else(|| host.strip_prefix("bedrock-runtime-fips."))
            .and_then(|rest| rest.strip_suffix(".amazonaws.com"))
        else {
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
            endpoint: endpoint.map(str::to_string),
            ..Default::default()
        }
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
