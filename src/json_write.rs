//! Writes a `serde_json::Value` as JSON: byte for byte what `serde_json::to_writer` (and
//! `to_string_pretty`) write. Everything the component writes goes through here.
//!
//! Why our own: a streamed answer's text is written into one JSON event per delta, so writing
//! strings is per-byte work on the stream's path. serde_json's string writer is generic, so it
//! is compiled with the component's size-first `opt-level`, where it calls an out-of-line
//! `split_at` for every byte; this one skips eight bytes at a time while none needs an escape,
//! in plain loops that stay inline at any `opt-level`. One writer also spares the component a
//! copy of serde's serialiser code for each kind of output (bytes, `String`, pretty).

use serde_json::Value;

/// `value` as compact JSON, in a buffer sized for it up front: a stream's events carry up to
/// 64 KB of text each, and growing the buffer by doubling from a few bytes costs more than
/// writing the JSON itself (it halved the stream's throughput, measured).
pub(crate) fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity(value));
    write_value(&mut out, value);
    out
}

/// Room for `value` as JSON: its top-level strings (where a stream event's text is) with an
/// allowance for escapes, and the rest.
pub(crate) fn capacity(value: &Value) -> usize {
    let strings: usize = value.as_object().map_or(0, |o| o.values().filter_map(Value::as_str).map(str::len).sum());
    strings + strings / 8 + 256
}

/// The length of `value` written as compact JSON, exactly, without writing it: a request body
/// is sized (against Bedrock's limit) and then written into a buffer of just that size, never
/// grown by doubling (which held up to three copies of a big body at once).
pub(crate) fn written_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => str_len(s),
        // Brackets, and a comma between items.
        Value::Array(items) => 1 + items.iter().map(|v| written_len(v) + 1).sum::<usize>().max(1),
        // Braces, `"key":` and a comma between members.
        Value::Object(map) => 1 + map.iter().map(|(k, v)| str_len(k) + 1 + written_len(v) + 1).sum::<usize>().max(1),
    }
}

/// The length of `text` as a JSON string, quotes and escapes included.
fn str_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match ESCAPES[b as usize] {
            0 => 1,
            b'u' => 6,
            _ => 2,
        })
        .sum::<usize>()
}

/// `value` as compact JSON text.
pub(crate) fn to_string(value: &Value) -> String {
    String::from_utf8(to_vec(value)).expect("JSON written from strings is UTF-8")
}

/// `value` as JSON indented by two spaces, as `serde_json::to_string_pretty` writes it (the
/// command line's answers).
#[cfg(any(target_arch = "wasm32", test))]
pub(crate) fn to_string_pretty(value: &Value) -> String {
    let mut out = Vec::new();
    write(&mut out, value, Some(0));
    String::from_utf8(out).expect("JSON written from strings is UTF-8")
}

/// `value` as compact JSON appended to `out`.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    write(out, value, None);
}

/// `indent`: `None` for compact JSON, else the depth of `value` in a pretty-printed document.
fn write(out: &mut Vec<u8>, value: &Value, indent: Option<usize>) {
    let items: Box<dyn Iterator<Item = (Option<&str>, &Value)>> = match value {
        Value::Null => return out.extend_from_slice(b"null"),
        Value::Bool(true) => return out.extend_from_slice(b"true"),
        Value::Bool(false) => return out.extend_from_slice(b"false"),
        // serde_json's `Display` for a number is what its serialiser writes.
        Value::Number(n) => return out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => return write_str(out, s),
        Value::Array(items) => Box::new(items.iter().map(|v| (None, v))),
        Value::Object(map) => Box::new(map.iter().map(|(k, v)| (Some(k.as_str()), v))),
    };
    let (open, close) = if value.is_array() { (b'[', b']') } else { (b'{', b'}') };
    out.push(open);
    let inner = indent.map(|depth| depth + 1);
    let mut empty = true;
    for (key, item) in items {
        if !empty {
            out.push(b',');
        }
        empty = false;
        newline(out, inner);
        if let Some(key) = key {
            write_str(out, key);
            out.extend_from_slice(if indent.is_some() { b": " } else { b":" });
        }
        write(out, item, inner);
    }
    if !empty {
        newline(out, indent);
    }
    out.push(close);
}

fn newline(out: &mut Vec<u8>, depth: Option<usize>) {
    if let Some(depth) = depth {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    }
}

/// What follows the `\` of each byte's escape (`u`: `\u00XX`); 0 where the byte is copied as is.
/// JSON's rules as serde_json applies them: controls, `"` and `\`.
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// The eight bytes of `bytes` from `i` as one little-endian word, for the loops that test eight
/// bytes at a time (here and in the SSE line splitter). Needs `i + 8 <= bytes.len()`.
#[inline(always)]
pub(crate) fn word_at(bytes: &[u8], i: usize) -> u64 {
    u64::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3], bytes[i + 4], bytes[i + 5], bytes[i + 6], bytes[i + 7]])
}

/// `text` as a JSON string (quoted, escaped) appended to `out`.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let word = word_at(bytes, i);
            if !any_needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let escape = ESCAPES[bytes[i] as usize];
        if escape != 0 {
            out.extend_from_slice(&bytes[copied..i]);
            if escape == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(bytes[i] >> 4) as usize], HEX[(bytes[i] & 0xf) as usize]]);
            } else {
                out.extend_from_slice(&[b'\\', escape]);
            }
            copied = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// Whether any of the eight bytes of `word` is a control, `"` or `\` (the classic "has a byte
/// less than n" and "has a zero byte" word tricks; exact for the word as a whole).
#[inline(always)]
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    (below(word, 0x20) | below(word ^ (ONES * b'"' as u64), 1) | below(word ^ (ONES * b'\\' as u64), 1)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn written(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, value);
        out
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for value in [
            json!(null),
            json!({"type": "delta", "index": 3, "text": "a \"quoted\" \\ line\nwith\ttabs, \u{1} \u{1f} \u{7f} é 🦀 </script>"}),
            json!([1.5, -0.0, 1e300, 18446744073709551615u64, -9223372036854775808i64, true, false, {}, []]),
            json!({"nested": {"list": ["0123456789abcdef\"0123456789abcdef\\"], "empty": [], "none": {}}}),
        ] {
            assert_eq!(String::from_utf8(written(&value)).unwrap(), serde_json::to_string(&value).unwrap());
            assert_eq!(to_string_pretty(&value), serde_json::to_string_pretty(&value).unwrap());
        }
    }

    #[test]
    fn presized_json_is_the_same_json() {
        for v in [json!({"type": "delta", "index": 3, "text": "é\"\n".repeat(1000)}), json!([1, "x"]), json!("s"), json!(null)] {
            assert_eq!(to_vec(&v), serde_json::to_vec(&v).unwrap());
        }
    }

    #[test]
    fn the_written_length_is_the_length_written() {
        for v in [
            json!(null),
            json!(true),
            json!(false),
            json!([]),
            json!({}),
            json!([1, -2.5, "x"]),
            json!({"a": {"b": [null, {"c\n": "\u{1}\"\\é"}]}, "": []}),
        ] {
            assert_eq!(written_len(&v), to_vec(&v).len(), "{v}");
        }
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(text in "(?s).{0,80}", ascii in "[\\x00-\\x7f]{0,80}") {
            for s in [&text, &ascii] {
                let value = json!({"k": s, s.clone(): [s]});
                prop_assert_eq!(written(&value), serde_json::to_vec(&value).unwrap());
                prop_assert_eq!(written_len(&value), written(&value).len());
            }
        }
    }
}
