//! Amplifier's side of a call: the provider contract's types (ChatRequest, ChatResponse and
//! their parts), how request JSON is read into them, and the conversation rules checked (or
//! repaired) before anything is sent.

pub mod messages;
pub(crate) mod parse;
pub(crate) mod validate;
