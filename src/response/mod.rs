//! Bedrock's answer back into Amplifier's shape: a message into a ChatResponse (message.rs),
//! a stream's events assembled into ours and into the message (assembler.rs), the stream
//! event schema hosts read (events.rs), and the answer finished for the caller.

pub mod assembler;
pub(crate) mod events;
mod message;

pub(crate) use message::{answer_as_text, finish_reason, from_anthropic, usage, BEDROCK_TRACE, CONTENT_FILTER, GUARDRAIL_ACTION};

use crate::call::prepare::Report;
use crate::contract::messages::ChatResponse;

/// The ChatResponse as the caller gets it: the answer tool's input as text, and what was
/// changed from the request in `degradation`.
pub(crate) fn finish(mut response: ChatResponse, report: &Report) -> ChatResponse {
    if let Some(tool) = &report.answer_tool {
        crate::response::answer_as_text(&mut response, tool);
    }
    response.degradation = crate::translate::degradation(&report.adjustments);
    response
}
