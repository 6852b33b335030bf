//! `bedrock-host`: talk to Claude on Bedrock through the sandboxed component, or run the
//! local emulator.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use bedrock_host::emulator::{self, Emulator};
use bedrock_host::{CallError, Credentials, Provider};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(name = "bedrock-host", version, about = "Anthropic Claude on AWS Bedrock through a sandboxed WebAssembly component")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send one prompt and print the answer.
    Complete {
        /// The prompt.
        prompt: Option<String>,
        /// System prompt.
        #[arg(long)]
        system: Option<String>,
        /// Bedrock model id or inference profile.
        #[arg(long)]
        model: Option<String>,
        /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION).
        #[arg(long)]
        region: Option<String>,
        /// Any config key, as key=value (repeatable).
        #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Print events as they arrive.
        #[arg(long)]
        stream: bool,
        /// Print JSON (the ChatResponse; with --stream one event per line).
        #[arg(long)]
        json: bool,
        /// Start the local emulator and use it (no AWS account needed).
        #[arg(long)]
        emulator: bool,
    },
    /// List the models the provider knows.
    Models {
        /// Print the ModelInfo JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the provider's metadata.
    Info {
        /// Print the ProviderInfo JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the local Bedrock emulator until interrupted.
    Emulator {
        /// Port on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("usage error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Call(e)) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Call(String),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Call(format!("host: {e:#}"))
    }
}

fn load(builder: bedrock_host::ProviderBuilder) -> Result<Provider, Failure> {
    let interactive = std::io::stderr().is_terminal();
    let provider = builder.build_with_progress(&|| {
        if interactive {
            eprintln!("compiling the component (first run only; later runs use the cache)…");
        }
    })?;
    Ok(provider)
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Complete { prompt, system, model, region, config, stream, json, emulator } => {
            let prompt = prompt.ok_or_else(|| Failure::Usage("give a PROMPT".into()))?;
            let mut builder = Provider::builder();
            let mut _running = None;
            if emulator {
                let emu = Emulator::start().await?;
                builder = builder
                    .config("endpoint_url", emu.endpoint_url())
                    .config("aws_region", region.clone().unwrap_or_else(|| "us-east-1".into()))
                    .credentials(Credentials::Aws {
                        access_key_id: emulator::ACCESS_KEY_ID.into(),
                        secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
                        session_token: None,
                    });
                _running = Some(emu);
            } else {
                builder = configure_from_environment(builder, region.as_deref());
            }
            for pair in &config {
                let (k, v) = pair.split_once('=').ok_or_else(|| Failure::Usage(format!("-c {pair}: write KEY=VALUE")))?;
                builder = builder.config(k.trim(), v.trim());
            }
            let provider = load(builder)?;
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(json!({"role": "system", "content": s}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            let mut request = json!({"messages": messages});
            if let Some(m) = model {
                request["model"] = json!(m);
            }
            if stream {
                let mut out = std::io::stdout();
                provider
                    .stream(&request, |event| {
                        if json {
                            let _ = writeln!(out, "{event}");
                        } else if let Some(text) = event.get("text").and_then(Value::as_str) {
                            let _ = write!(out, "{text}");
                            let _ = out.flush();
                        } else if event["type"] == "done" {
                            let _ = writeln!(out);
                        }
                    })
                    .await?;
            } else {
                let response = provider.complete(&request).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&response).expect("JSON"));
                } else {
                    let text: String = response["content"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect();
                    println!("{text}");
                }
            }
            Ok(())
        }
        Command::Models { json } => {
            let models = load(Provider::builder())?.list_models().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models).expect("JSON"));
            } else {
                for m in models.as_array().into_iter().flatten() {
                    println!(
                        "{:<48} {:<20} context {:>7}  max output {:>6}",
                        m["id"].as_str().unwrap_or(""),
                        m["display_name"].as_str().unwrap_or(""),
                        m["context_window"],
                        m["max_output_tokens"]
                    );
                }
            }
            Ok(())
        }
        Command::Info { json } => {
            let info = load(Provider::builder())?.get_info().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info).expect("JSON"));
            } else {
                println!("{} ({})", info["display_name"].as_str().unwrap_or(""), info["id"].as_str().unwrap_or(""));
                println!("capabilities: {}", info["capabilities"]);
                println!("defaults: {}", info["defaults"]);
                println!("config keys:");
                for f in info["config_fields"].as_array().into_iter().flatten() {
                    println!("  {:<28} {}", f["id"].as_str().unwrap_or(""), f["prompt"].as_str().unwrap_or(""));
                }
            }
            Ok(())
        }
        Command::Emulator { port } => {
            let emu = Emulator::start_on(port).await?;
            println!("Bedrock emulator listening on {}", emu.endpoint_url());
            println!("credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}", emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY);
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        }
    }
}

/// Region, endpoint and static credentials from the standard AWS environment variables.
fn configure_from_environment(mut builder: bedrock_host::ProviderBuilder, region: Option<&str>) -> bedrock_host::ProviderBuilder {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if let Some(r) = region.map(str::to_string).or_else(|| var("AWS_REGION")).or_else(|| var("AWS_DEFAULT_REGION")) {
        builder = builder.config("aws_region", r);
    }
    if let Some(e) = var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").or_else(|| var("AWS_ENDPOINT_URL")) {
        builder = builder.config("endpoint_url", e);
    }
    if let Some(key) = var("AWS_BEARER_TOKEN_BEDROCK") {
        builder = builder.credentials(Credentials::BedrockApiKey(key));
    } else if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        builder =
            builder.credentials(Credentials::Aws { access_key_id: id, secret_access_key: secret, session_token: var("AWS_SESSION_TOKEN") });
    }
    builder
}
