//! Embedding the provider in your own host: load once, call many times, get events.
//!
//! Runs offline against the local emulator:
//! `cargo run -p bedrock-host --example embed`
//!
//! Against real Bedrock, drop the emulator lines and use
//! `.credential_chain(AwsCredentialChain::load(None).await)` and your region.

use bedrock_emulator::{self as emulator, Emulator};
use bedrock_host::{Credentials, HostEvent, Limits, Provider};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emulator = Emulator::start().await?;

    // Compile (or load from the on-disk cache) once; every call then gets a fresh sandbox.
    let provider = Provider::builder()
        .config("aws_region", "us-east-1")
        .config("endpoint_url", emulator.endpoint_url())
        .credentials(Credentials::Aws {
            access_key_id: emulator::ACCESS_KEY_ID.into(),
            secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
            session_token: None,
        })
        .limits(Limits::default())
        .on_event(|e: &HostEvent| {
            if e.name == "llm:response" {
                eprintln!("[{}] {} in {} ms, usage {}", e.name, e.data["status"], e.data["duration_ms"], e.data["usage"]);
            }
        })
        .build()?;

    let request = json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello from an embedding host"}
    ]});

    // One answer.
    let response = provider.complete(&request).await?;
    println!("complete: {}", response["content"][0]["text"]);

    // The same question, streamed.
    print!("stream:   ");
    provider
        .stream(&request, |event| {
            if let Some(text) = event.get("text").and_then(|t| t.as_str()) {
                print!("{text}");
            }
        })
        .await?;
    println!();

    // Tool calls from a response, through the contract's parse-tool-calls.
    let calls = provider.parse_tool_calls(&response).await?;
    println!("tool calls: {calls}");
    Ok(())
}
