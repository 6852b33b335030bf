//! What `bedrock-host serve` does with a gRPC request before the component sees it: any
//! protobuf bytes decode and convert, or fail naming a field; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

/// The generated `amplifier.module` messages (the target uses a few of them), at the path the
/// host's converters import them from (`crate::grpc::proto`).
mod grpc {
    #[allow(dead_code, clippy::all)]
    pub mod proto {
        include!(concat!(env!("OUT_DIR"), "/amplifier.module.rs"));
    }
}
use grpc::proto;

/// The host's converters, compiled here against the same messages.
#[allow(dead_code)]
#[path = "../../host-test/src/grpc/convert.rs"]
mod convert;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = proto::ChatRequest::decode(data) {
        if let Err(e) = convert::chat_request_to_json(&request) {
            assert!(e.field().starts_with("ChatRequest."), "{e}");
        }
    }
    if let Ok(response) = proto::ChatResponse::decode(data) {
        match convert::chat_response_to_json(&response) {
            // What converts back must convert forth again (ParseToolCalls, then the answer).
            Ok(json) => {
                let _ = convert::chat_response_to_proto(&json);
            }
            Err(e) => assert!(e.field().starts_with("ChatResponse."), "{e}"),
        }
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = convert::chat_response_to_proto(&json);
        let _ = convert::stream_event_to_proto(&json);
    }
});
