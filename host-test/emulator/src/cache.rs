//! The emulator's token count and Anthropic's prompt cache: the prompt cut into pieces in
//! prefix order and measured in one pass ([`input_tokens`]), and the cache those prefixes are
//! written to and read from (breakpoints, lookback, minimum lengths, TTLs, expiry), which makes
//! the input side of `usage`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::models::bare_model;

/// The parts of a prompt in the order Anthropic processes them: the order of a cache prefix.
const PROMPT_PARTS: [&str; 3] = ["tools", "system", "messages"];

/// Added to the words of the prompt by [`input_tokens`], as a stand-in for the tokens Anthropic
/// adds around a prompt (and the emulator's count since its first version).
const INPUT_TOKENS_OVERHEAD: u64 = 3;

/// How many block boundaries up to and including a breakpoint Anthropic checks for an earlier
/// cache entry, which is what lets a conversation that moves its breakpoint forward read what
/// the previous turn wrote.
const CACHE_LOOKBACK_BLOCKS: usize = 20;

/// Lifetime of a cache entry written with the default TTL (`"5m"`) and with `"1h"`.
const CACHE_TTL_5M: Duration = Duration::from_secs(5 * 60);
/// See [`CACHE_TTL_5M`].
const CACHE_TTL_1H: Duration = Duration::from_secs(60 * 60);

/// Minimum cacheable prefix, in tokens, by bare-model prefix; shorter prefixes are never cached.
const MIN_CACHEABLE_TOKENS: &[(&str, u64)] = &[("claude-haiku-4-5", 4096), ("claude-opus-4-5", 4096), ("claude-3-5-haiku", 2048)];
/// Minimum cacheable prefix of every other model (Sonnet 4.5, Sonnet 4, Opus 4 and 4.1, unknown).
const DEFAULT_MIN_CACHEABLE_TOKENS: u64 = 1024;

/// The emulator's token count of a request body, the one measure behind `usage`, the cache,
/// the context window and CountTokens: the whitespace-separated words of the JSON of `tools`,
/// `system` and `messages` (each when present, without `cache_control`, which is no part of
/// the prompt), plus 3. Deterministic and cheap, so tests can predict every count.
pub fn input_tokens(body: &Value) -> u64 {
    measure(body).total + INPUT_TOKENS_OVERHEAD
}

/// One piece of a prompt in prefix order: a tool definition, a system block, a message's own
/// fields, one of its content blocks.
#[derive(Debug)]
pub(super) struct Piece<'a> {
    /// Index into [`PROMPT_PARTS`].
    part: usize,
    /// Where it is, as Anthropic's error messages name it (`messages.2.content.1`).
    pub(super) path: String,
    value: &'a Value,
    /// A key left out: a message's `content`, whose blocks are pieces of their own.
    skip: Option<&'static str>,
    /// A block boundary: where a breakpoint may sit and where cache lookups land.
    block: bool,
}

impl<'a> Piece<'a> {
    /// The `cache_control` of a block that marks a breakpoint.
    pub(super) fn cache_control(&self) -> Option<&'a Value> {
        self.value.get("cache_control").filter(|_| self.block)
    }
}

/// The prompt cut into [`Piece`]s, in the order Anthropic caches it.
pub(super) fn pieces(body: &Value) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for (part, key) in PROMPT_PARTS.into_iter().enumerate() {
        let Some(v) = body.get(key) else {
            continue;
        };
        let piece = |path: String, value, skip, block| Piece { part, path, value, skip, block };
        match v {
            Value::Array(items) if key == "messages" => {
                for (i, m) in items.iter().enumerate() {
                    match &m["content"] {
                        Value::Array(blocks) => {
                            out.push(piece(format!("messages.{i}"), m, Some("content"), false));
                            for (j, b) in blocks.iter().enumerate() {
                                out.push(piece(format!("messages.{i}.content.{j}"), b, None, true));
                            }
                        }
                        _ => out.push(piece(format!("messages.{i}"), m, None, true)),
                    }
                }
            }
            Value::Array(items) => {
                out.extend(items.iter().enumerate().map(|(i, item)| piece(format!("{key}.{i}"), item, None, true)));
            }
            _ => out.push(piece(key.to_string(), v, None, true)),
        }
    }
    out
}

/// A value serialised as `serde_json` does, without `cache_control` anywhere and without the
/// top-level key given: what the model sees of a piece.
struct Canonical<'a>(&'a Value, Option<&'static str>);

impl serde::Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(o) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in o.iter().filter(|(k, _)| k.as_str() != "cache_control" && Some(k.as_str()) != self.1) {
                    map.serialize_entry(k, &Canonical(v, None))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Canonical(v, None))?;
                }
                seq.end()
            }
            other => serde::Serialize::serialize(other, s),
        }
    }
}

/// A piece with its canonical JSON and the tokens of the prompt up to and including it.
#[derive(Debug)]
struct MeasuredPiece {
    path: String,
    json: String,
    tokens: u64,
    block: bool,
    /// The TTL of the breakpoint it marks, if it marks one.
    breakpoint: Option<Duration>,
}

/// The prompt measured piece by piece (one pass, so a megabyte prompt costs one serialisation).
#[derive(Debug)]
struct Measured {
    pieces: Vec<MeasuredPiece>,
    /// The words of the prompt: [`input_tokens`] without the overhead.
    total: u64,
}

/// Cuts the prompt into pieces and counts the words of every prefix that ends with one.
fn measure(body: &Value) -> Measured {
    // Compact JSON has whitespace only inside strings, and every string lies within one piece:
    // the words of a part are 1 plus the whitespace runs of its pieces, so the words of any
    // prefix are the parts begun plus the runs so far, and the whole prefix is the total.
    let present: Vec<bool> = PROMPT_PARTS.iter().map(|k| body.get(k).is_some()).collect();
    let begun = |part: usize| present[..=part].iter().filter(|p| **p).count() as u64;
    let mut runs = 0;
    let pieces = pieces(body)
        .into_iter()
        .map(|p| {
            let json = serde_json::to_string(&Canonical(p.value, p.skip)).unwrap_or_default();
            runs += words(&json).saturating_sub(1);
            let breakpoint = p.cache_control().map(|cc| if cc["ttl"] == "1h" { CACHE_TTL_1H } else { CACHE_TTL_5M });
            MeasuredPiece { tokens: begun(p.part) + runs, path: p.path, json, block: p.block, breakpoint }
        })
        .collect();
    Measured { pieces, total: begun(PROMPT_PARTS.len() - 1) + runs }
}

/// The emulator's tokens: whitespace-separated words.
pub(super) fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Anthropic's prompt cache: prefixes (by model and hash of their canonical JSON) and when
/// each expires.
#[derive(Debug, Default)]
pub(super) struct PromptCache {
    entries: HashMap<(String, [u8; 32]), CacheEntry>,
}

#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    expires: Instant,
    ttl: Duration,
}

/// The input side of `usage`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct InputUsage {
    /// All input tokens, cached or not.
    total: u64,
    read: u64,
    write_5m: u64,
    write_1h: u64,
}

impl InputUsage {
    /// Anthropic's `usage`: `input_tokens` counts only what was neither read from nor written
    /// to the cache.
    pub(super) fn json(&self, output_tokens: u64) -> Value {
        let write = self.write_5m + self.write_1h;
        json!({
            "input_tokens": self.total.saturating_sub(self.read + write),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": self.read,
            "cache_creation": {"ephemeral_5m_input_tokens": self.write_5m, "ephemeral_1h_input_tokens": self.write_1h},
        })
    }
}

impl PromptCache {
    /// Runs a (checked) request's prompt through the cache at `now`: the longest cached prefix
    /// found from any breakpoint is read, the rest up to the last breakpoint written, and every
    /// breakpoint prefix long enough is kept for its TTL.
    pub(super) fn admit(&mut self, body: &Value, model_id: &str, now: Instant) -> InputUsage {
        let Measured { pieces, total } = measure(body);
        let mut usage = InputUsage { total: total + INPUT_TOKENS_OVERHEAD, ..InputUsage::default() };
        let breakpoints: Vec<usize> = (0..pieces.len()).filter(|&i| pieces[i].breakpoint.is_some()).collect();
        let Some(&last) = breakpoints.last() else {
            return usage;
        };
        self.entries.retain(|_, e| e.expires > now);
        let model = bare_model(model_id);
        let mut hasher = Sha256::new();
        let keys: Vec<(String, [u8; 32])> = pieces
            .iter()
            .map(|p| {
                for bytes in [p.path.as_bytes(), b"\0", p.json.as_bytes(), b"\0"] {
                    hasher.update(bytes);
                }
                (model.clone(), hasher.clone().finalize().into())
            })
            .collect();
        let hit = breakpoints
            .iter()
            .flat_map(|&b| (0..=b).rev().filter(|&i| pieces[i].block).take(CACHE_LOOKBACK_BLOCKS))
            .filter(|&i| self.entries.contains_key(&keys[i]))
            .max_by_key(|&i| pieces[i].tokens);
        if let Some(i) = hit {
            usage.read = pieces[i].tokens;
            if let Some(e) = self.entries.get_mut(&keys[i]) {
                e.expires = now + e.ttl;
            }
        }
        let min = MIN_CACHEABLE_TOKENS.iter().find(|(m, _)| model.starts_with(m)).map_or(DEFAULT_MIN_CACHEABLE_TOKENS, |(_, n)| *n);
        if !self.entries.contains_key(&keys[last]) && pieces[last].tokens >= min {
            // Each breakpoint's TTL covers the stretch since the one before it.
            let mut done = usage.read;
            for &b in &breakpoints {
                let end = pieces[b].tokens;
                if end > done {
                    if pieces[b].breakpoint == Some(CACHE_TTL_1H) {
                        usage.write_1h += end - done;
                    } else {
                        usage.write_5m += end - done;
                    }
                    done = end;
                }
            }
        }
        for &b in breakpoints.iter().filter(|&&b| pieces[b].tokens >= min) {
            let ttl = pieces[b].breakpoint.unwrap_or(CACHE_TTL_5M);
            let e = self.entries.entry(keys[b].clone()).or_insert(CacheEntry { expires: now, ttl });
            e.ttl = e.ttl.max(ttl);
            e.expires = e.expires.max(now + ttl);
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{request, text_of, HAIKU_45, SONNET_4, SONNET_45};

    #[test]
    fn input_tokens_are_the_words_of_tools_system_and_messages_plus_3() {
        let messages = json!([{"role": "user", "content": "Hello there, emulator"}]);
        let plain = request(messages.clone(), json!({}));
        let words_of = |v: &Value| v.to_string().split_whitespace().count() as u64;
        assert_eq!(input_tokens(&plain), words_of(&messages) + 3, "the count the emulator always gave");
        let tools = json!([{"name": "weather", "description": "The weather in a city", "input_schema": {"type": "object"}}]);
        let system = json!([{"type": "text", "text": "Be brief and kind."}]);
        let full = request(messages.clone(), json!({"tools": tools, "system": system}));
        assert_eq!(input_tokens(&full), words_of(&tools) + words_of(&system) + words_of(&messages) + 3);
        let mut marked = full.clone();
        marked["tools"][0]["cache_control"] = json!({"type": "ephemeral", "ttl": "odd value"});
        marked["system"][0]["cache_control"] = json!({"type": "ephemeral"});
        assert_eq!(input_tokens(&marked), input_tokens(&full), "cache_control is no part of the prompt");
        let m = measure(&marked);
        assert_eq!(m.pieces.last().unwrap().tokens + 3, input_tokens(&full), "the whole prompt's prefix is all of it");
        assert_eq!(m.pieces[0].tokens, words_of(&tools), "a prefix ending with the tools is their words");
    }

    #[test]
    fn a_cached_prefix_is_written_once_then_read_until_it_expires() {
        let body = request(
            json!([{"role": "user", "content": "Hi"}]),
            json!({"system": [{"type": "text", "text": text_of(1100), "cache_control": {"type": "ephemeral"}}]}),
        );
        let (mut cache, t0) = (PromptCache::default(), Instant::now());
        let first = cache.admit(&body, SONNET_45, t0);
        assert_eq!(first, InputUsage { total: 1104, read: 0, write_5m: 1100, write_1h: 0 });
        assert_eq!(
            first.json(7),
            json!({"input_tokens": 4, "output_tokens": 7, "cache_creation_input_tokens": 1100, "cache_read_input_tokens": 0,
                   "cache_creation": {"ephemeral_5m_input_tokens": 1100, "ephemeral_1h_input_tokens": 0}})
        );
        let hit = InputUsage { total: 1104, read: 1100, write_5m: 0, write_1h: 0 };
        assert_eq!(cache.admit(&body, SONNET_45, t0 + Duration::from_secs(240)), hit);
        assert_eq!(cache.admit(&body, SONNET_45, t0 + Duration::from_secs(480)), hit, "the hit at 4 minutes refreshed it");
        assert_eq!(cache.admit(&body, SONNET_4, t0), first, "each model has its own cache");
        assert_eq!(cache.admit(&body, SONNET_45, t0 + Duration::from_secs(480 + 301)), first, "expired: written again");

        let mut long = body.clone();
        long["system"][0]["cache_control"]["ttl"] = json!("1h");
        let mut cache = PromptCache::default();
        assert_eq!(cache.admit(&long, SONNET_45, t0), InputUsage { total: 1104, read: 0, write_5m: 0, write_1h: 1100 });
        assert_eq!(cache.admit(&long, SONNET_45, t0 + Duration::from_secs(3000)).read, 1100);

        let mut cache = PromptCache::default();
        let too_short = InputUsage { total: 1104, ..InputUsage::default() };
        assert_eq!(cache.admit(&body, HAIKU_45, t0), too_short, "Haiku 4.5 caches 4096 tokens or more");
        assert_eq!(cache.admit(&body, HAIKU_45, t0), too_short);
        let no_marks = request(json!([{"role": "user", "content": text_of(2000)}]), json!({}));
        assert_eq!(cache.admit(&no_marks, SONNET_45, t0), InputUsage { total: 2003, ..InputUsage::default() });
    }

    #[test]
    fn a_breakpoint_moved_forward_reads_the_previous_turns_prefix_and_writes_the_rest() {
        let long = json!({"type": "text", "text": text_of(1100)});
        let mut marked = long.clone();
        marked["cache_control"] = json!({"type": "ephemeral"});
        let turn1 = request(json!([{"role": "user", "content": [marked]}]), json!({}));
        let turn2 = request(
            json!([
                {"role": "user", "content": [long]},
                {"role": "assistant", "content": "Sure thing"},
                {"role": "user", "content": [{"type": "text", "text": "tell me more", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
            ]),
            json!({"system": [{"type": "text", "text": "unmarked", "cache_control": {"type": "ephemeral"}}]}),
        );
        let (mut cache, t0) = (PromptCache::default(), Instant::now());
        assert_eq!(cache.admit(&turn1, SONNET_45, t0).write_5m, 1100);
        // turn2 has a system part: its prefixes differ from turn1's, so it starts cold.
        assert_eq!(cache.admit(&turn2, SONNET_45, t0).read, 0);
        let mut turn2 = turn2;
        turn2.as_object_mut().unwrap().remove("system");
        let mut cache = PromptCache::default();
        cache.admit(&turn1, SONNET_45, t0);
        let u = cache.admit(&turn2, SONNET_45, t0);
        // 1100 read; "Sure thing" and "tell me more" add 1 + 2 words.
        assert_eq!(u, InputUsage { total: 1106, read: 1100, write_5m: 0, write_1h: 3 });
        assert_eq!(cache.admit(&turn2, SONNET_45, t0).read, 1103);
    }
}
