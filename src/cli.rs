//! The `wasi:cli/run` entry point's argument handling, so `wasmtime run` can drive the
//! component like a small command-line client.

use serde_json::{json, Value};

/// Usage text printed by `--help`, without the key list (see [`usage`]).
const USAGE: &str = "\
amplifier-provider-bedrock: Anthropic Claude on AWS Bedrock as a WebAssembly component

Usage:
  wasmtime run -S http -S config -S config-var=aws_region=us-east-1 \\
      --env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY [--env AWS_SESSION_TOKEN] \\
      provider.wasm [OPTIONS] [PROMPT]...

Sends PROMPT (or standard input, when no PROMPT is given) to Claude and prints the answer.

Options:
  --model ID       Bedrock model id or inference profile (default: the `default_model` config key)
  --system TEXT    System prompt
  --stream         Print the answer as it arrives
  --json           Print the ChatResponse JSON (with --stream: one JSON event per line)
  --events         Print hook events (llm:request, llm:response, …) to stderr as JSON lines
  --help           Print this help
";

/// The `--help` text: [`USAGE`], the error prefixes from [`ErrorKind::prefixes`] and every
/// configuration key from the one key table, so neither list can go stale.
///
/// [`ErrorKind::prefixes`]: crate::error::ErrorKind::prefixes
pub fn usage() -> String {
    let mut text = USAGE.to_string();
    text.push_str("\nErrors start with a stable prefix (");
    for (i, prefix) in crate::error::ErrorKind::prefixes().enumerate() {
        text.push_str(if i == 0 { "" } else { ", " });
        text.push_str(prefix);
        text.push(':');
    }
    text.push_str(").\n");
    if cfg!(feature = "wasi-config") {
        text.push_str("\nConfiguration keys (-S config-var=KEY=VALUE):\n");
    } else {
        text.push_str("\nConfiguration keys (this portable build reads each from the environment: --env BEDROCK_KEY=VALUE):\n");
    }
    for k in crate::config::KEYS {
        let default = k.default.map(|d| format!(" (default {d})")).unwrap_or_default();
        text.push_str(&format!("  {:<28} {}{default}\n", k.name, k.help));
    }
    text
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Print usage.
    Help,
    /// Send a prompt.
    Complete(Options),
}

/// Options of a completion from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Options {
    /// Prompt words joined by spaces; `None` means read standard input.
    pub prompt: Option<String>,
    /// Model override.
    pub model: Option<String>,
    /// System prompt.
    pub system: Option<String>,
    /// Stream the answer.
    pub stream: bool,
    /// Print JSON instead of text.
    pub json: bool,
    /// Print hook events to stderr.
    pub events: bool,
}

/// Parses arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut o = Options::default();
    let mut words: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value; see --help"));
        match a.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--stream" => o.stream = true,
            "--json" => o.json = true,
            "--events" => o.events = true,
            "--model" => o.model = Some(value("--model")?),
            "--system" => o.system = Some(value("--system")?),
            "--" => {
                words.extend(it.by_ref().cloned());
                break;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}; see --help")),
            word => words.push(word.to_string()),
        }
    }
    if !words.is_empty() {
        o.prompt = Some(words.join(" "));
    }
    Ok(Command::Complete(o))
}

/// The ChatRequest JSON for `options` with prompt text `prompt`.
pub fn request_for(options: &Options, prompt: &str) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &options.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let mut request = json!({"messages": messages});
    if let Some(model) = &options.model {
        request["model"] = json!(model);
    }
    request
}

/// The text of a ChatResponse's text blocks, for printing.
pub fn answer_text(response: &crate::contract::messages::ChatResponse) -> String {
    response
        .content
        .iter()
        .filter_map(|b| match b {
            crate::contract::messages::ContentBlock::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help_lists_every_config_key_from_the_key_table() {
        let text = usage();
        for k in crate::config::KEYS {
            assert!(text.contains(&format!("  {:<28} ", k.name)), "--help lacks `{}`", k.name);
        }
        assert!(text.contains("stream_idle_timeout") && text.contains("(default 120)"), "{text}");
    }

    #[test]
    fn parses_flags_and_prompt_words() {
        let Command::Complete(o) = parse(&args(&["--model", "m", "Hello", "there", "--json"])).unwrap() else { panic!() };
        assert_eq!(
            o,
            Options { prompt: Some("Hello there".into()), model: Some("m".into()), system: None, stream: false, json: true, events: false }
        );
        assert_eq!(parse(&args(&["--help"])).unwrap(), Command::Help);
        assert!(parse(&args(&["--model"])).unwrap_err().contains("--model needs a value"));
        assert!(parse(&args(&["--bogus"])).unwrap_err().contains("unknown option --bogus"));
        let req = request_for(&Options { system: Some("S".into()), ..Options::default() }, "P");
        assert_eq!(req["messages"][0]["role"], "system");
    }
}
