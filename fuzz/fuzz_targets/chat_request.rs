//! Any bytes as an Amplifier ChatRequest, through the whole pipeline (parse, validate,
//! translate, sign) to a fixed good Bedrock answer: a response or a prefixed error that says
//! what to fix; never a panic. Both the InvokeModel and the stream path.
#![no_main]

use amplifier_provider_bedrock::provider::{complete, CompletionStream};
use amplifier_provider_bedrock::testing::FakePlatform;
use libfuzzer_sys::fuzz_target;

const ANSWER: &str = r#"{"id":"m","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#;

fuzz_target!(|data: &[u8]| {
    let platform = FakePlatform::answering(200, "application/json", ANSWER.as_bytes().to_vec(), 64);
    if let Err(e) = complete(data, &platform) {
        let shown = e.to_string();
        assert!(shown.contains(": "), "an error without its prefix: {shown}");
    }
    if let Ok(mut stream) = CompletionStream::open(data, &platform, false) {
        // The fake answers JSON where a stream is expected: the stream must end, not spin.
        for _ in 0..64 {
            match stream.next_event() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
});
