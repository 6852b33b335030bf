//! Bedrock's answer back into Amplifier's shape.

mod message;

pub use message::{answer_as_text, finish_reason, from_anthropic, usage, BEDROCK_TRACE, CONTENT_FILTER, GUARDRAIL_ACTION};
