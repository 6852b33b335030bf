//! Helpers the emulator's unit tests share: request bodies, model ids, headers, and a client
//! that calls the emulator over HTTP.

use std::time::SystemTime;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{sign_with_emulator_key, Emulator};

/// A request body for `model` with these messages and extra fields.
pub(super) fn request(messages: Value, extra: Value) -> Value {
    let mut b = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8192, "messages": messages});
    for (k, v) in extra.as_object().into_iter().flatten() {
        b[k] = v.clone();
    }
    b
}

/// `n` words of text.
pub(super) fn text_of(n: usize) -> String {
    vec!["lorem"; n].join(" ")
}

pub(super) const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
pub(super) const SONNET_4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
pub(super) const HAIKU_45: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

/// Headers as a request carries them (names lower-cased).
pub(super) fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A CountTokens request body carrying `body`.
pub(super) fn count_request(body: &Value) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body.to_string());
    json!({"input": {"invokeModel": {"body": encoded}}}).to_string().into_bytes()
}

/// How [`send_http`] authenticates.
#[derive(Debug, Clone, Copy)]
pub(super) enum Auth<'a> {
    /// SigV4 with the emulator's key, for this service.
    SigV4(&'a str),
    /// `Authorization: Bearer <key>`.
    Bearer(&'a str),
    /// `x-api-key: <key>`.
    XApiKey(&'a str),
    /// No credentials.
    None,
}

/// An answer as [`send_http`] read it.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: u16,
    /// Headers, names lower-cased.
    pub(super) headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub(super) body: String,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The first header `name` (lower-case).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `POST path` with `body` and `extra` headers (after `content-type: application/json`)
/// over a fresh connection, authenticated as `auth`, and reads the whole answer.
pub(super) async fn send_http(emu: &Emulator, auth: Auth<'_>, path: &str, body: &[u8], extra: &[(&str, &str)]) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut headers: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    match auth {
        Auth::SigV4(service) => {
            let url = format!("{}{path}", emu.endpoint_url());
            let to_sign: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let signed = sign_with_emulator_key("POST", &url, &to_sign, body, "us-east-1", service, SystemTime::now(), None).unwrap();
            headers.extend(signed.into_iter().filter(|(k, _)| k != "host"));
        }
        Auth::Bearer(key) => headers.push(("authorization".into(), format!("Bearer {key}"))),
        Auth::XApiKey(key) => headers.push(("x-api-key".into(), key.to_string())),
        Auth::None => {}
    }
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\nconnection: close\r\n", emu.addr(), body.len());
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Reply { status: head[9..12].parse().unwrap(), headers, body }
}

/// A chunked body's data.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
