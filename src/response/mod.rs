//! Bedrock's answer back into Amplifier's shape: a message into a ChatResponse (message.rs),
//! a stream's events assembled into ours and into the message (assembler.rs), the stream
//! event schema hosts read (events.rs). The call finishes the answer for its caller
//! (`Report::finish`, call/prepare.rs), since what was changed from the request is the call's.

pub mod assembler;
pub(crate) mod events;
mod message;

pub(crate) use message::{answer_as_text, finish_reason, from_anthropic, usage, BEDROCK_TRACE, CONTENT_FILTER, GUARDRAIL_ACTION};
