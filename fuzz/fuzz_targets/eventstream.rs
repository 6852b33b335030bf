//! Bedrock's event stream, as the component reads it off the network: any bytes, split into any
//! pieces, end in frames or a clear error; never a panic, a hang or an unbounded allocation.
#![no_main]

use amplifier_provider_bedrock::eventstream::{interpret, FrameReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the piece size, so the decoder's resumption is fuzzed too.
    let Some((&piece, bytes)) = data.split_first() else { return };
    let piece = usize::from(piece).max(1);
    let mut reader = FrameReader::new();
    for chunk in bytes.chunks(piece) {
        reader.push(chunk);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    let _ = interpret(&frame);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    return;
                }
            }
        }
    }
    let _ = reader.finish();
});
