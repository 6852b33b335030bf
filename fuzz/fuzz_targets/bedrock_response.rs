//! Any Bedrock answer (status from the first byte, body in pieces of the second byte's size)
//! to a good request: parsed into a ChatResponse or classified into a prefixed error; never a
//! panic, and the error stays short whatever the body holds.
#![no_main]

use amplifier_provider_bedrock::provider::complete;
use amplifier_provider_bedrock::testing::FakePlatform;
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 400, 403, 404, 408, 429, 500, 503];

fuzz_target!(|data: &[u8]| {
    let [status, piece, body @ ..] = data else { return };
    let status = STATUSES[usize::from(*status) % STATUSES.len()];
    let platform = FakePlatform::answering(status, "application/json", body.to_vec(), usize::from(*piece));
    let request = br#"{"messages": [{"role": "user", "content": "Hello"}]}"#;
    if let Err(e) = complete(request, &platform) {
        let shown = e.to_string();
        assert!(shown.contains(": "), "an error without its prefix: {shown}");
        assert!(shown.len() < 16 * 1024, "an error of {} bytes", shown.len());
    }
});
