//! The model's rules a translation follows: the catalog's row, or for a model it does not know,
//! the strictest rules of its API.

use crate::models::{Api, ModelSpec, Sampling, Thinking};

/// The model's rules the translation follows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// The most output tokens the model writes.
    pub(super) max_output: u32,
    pub(super) thinking: Thinking,
    pub(super) sampling: Sampling,
    /// The model's name, for the reasons given in adjustments and errors.
    pub(super) name: &'static str,
}

/// The rules of `model`; for a model this catalog does not know, those of the newest models of
/// its API, the strictest (one of temperature and top_p; on the Messages API adaptive thinking
/// with the effort levels every adaptive model takes).
impl Rules {
    pub(super) fn of(model: Option<&ModelSpec>, api: Api) -> Rules {
        let sampling = Sampling { accepted: true, temperature_xor_top_p: true, top_k: true };
        match (model, api) {
            (Some(m), _) => Rules { max_output: m.max_output_tokens, thinking: m.thinking, sampling: m.sampling, name: m.display_name },
            (None, Api::Messages) => Rules {
                max_output: u32::MAX,
                thinking: Thinking { budget: false, adaptive: true, interleaved: false, efforts: &["low", "medium", "high"] },
                sampling,
                name: "this model",
            },
            (None, _) => Rules {
                max_output: u32::MAX,
                thinking: Thinking { budget: true, adaptive: false, interleaved: true, efforts: &[] },
                sampling,
                name: "this model",
            },
        }
    }
}
