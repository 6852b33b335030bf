//! Amplifier's side of a call: the provider contract's types (ChatRequest, ChatResponse and
//! their parts), how request JSON is read into them, the conversation rules checked (or
//! repaired) before anything is sent, and the one JSON writer for everything the component
//! writes.

pub(crate) mod json_write;
pub mod messages;
pub(crate) mod parse;
pub(crate) mod validate;
