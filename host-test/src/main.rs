//! `bedrock-host`: talk to Claude on Bedrock through the sandboxed component, or run the
//! local emulator.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

mod bench;

use bedrock_emulator::{self as emulator, Emulator};
use bedrock_host::{AwsCredentialChain, CallError, Credentials, HostEvent, Provider, ProviderBuilder};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use bench::scale::ScaleOptions;

#[derive(Parser, Debug)]
#[command(name = "bedrock-host", version, about = "Anthropic Claude on AWS Bedrock through a sandboxed WebAssembly component")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by `complete` and `chat`.
#[derive(Args, Debug, Clone)]
struct Connection {
    /// Bedrock model id, inference profile or ARN.
    #[arg(long)]
    model: Option<String>,
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region).
    #[arg(long)]
    region: Option<String>,
    /// Named AWS profile (default: AWS_PROFILE).
    #[arg(long)]
    profile: Option<String>,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// Extended thinking budget in tokens (at least 1024; a model that thinks only adaptively
    /// thinks adaptively instead).
    #[arg(long, value_name = "BUDGET")]
    thinking: Option<u32>,
    /// Reasoning effort: none, low, medium, high, xhigh or max (adaptive thinking with
    /// `output_config.effort` where the model has it, else a thinking budget).
    #[arg(long, value_name = "LEVEL")]
    effort: Option<String>,
    /// Any config key, as KEY=VALUE (repeatable; wins over --config-file).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A TOML file of config keys (`aws_region = "us-east-1"`, `max_tokens = 4096`, …).
    #[arg(long, value_name = "FILE")]
    config_file: Option<std::path::PathBuf>,
    /// Start the local emulator and use it (no AWS account needed).
    #[arg(long)]
    emulator: bool,
    /// Print hook events (llm:request, llm:response, …) to stderr as JSON lines.
    #[arg(long)]
    events: bool,
    /// Host deadline in seconds for one call, or one step of a stream (default: derived from
    /// the `timeout`, `stream_idle_timeout`, `max_retries` and `retry_budget` keys).
    #[arg(long, value_name = "SECONDS")]
    call_timeout: Option<f64>,
    /// Memory cap of one call, in MiB (default 64): the sandbox's limit for a request of up to
    /// 8 MiB; a bigger request raises its own call's cap by 8 bytes per byte beyond that, up
    /// to 1 GiB.
    #[arg(long, value_name = "MIB")]
    memory_cap: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send one prompt (or a whole ChatRequest) and print the answer.
    Complete {
        /// The prompt.
        prompt: Option<String>,
        /// An Amplifier ChatRequest JSON file instead of PROMPT (`-` reads standard input).
        #[arg(long, value_name = "FILE|-", conflicts_with = "prompt")]
        request: Option<String>,
        /// Print the answer as it arrives.
        #[arg(long)]
        stream: bool,
        /// Print JSON (the ChatResponse; with --stream one event per line).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Count the input tokens a prompt (or a whole ChatRequest) would use, with Bedrock's
    /// CountTokens (free; nothing is generated). Takes the same inputs as `complete`.
    CountTokens {
        /// The prompt.
        prompt: Option<String>,
        /// An Amplifier ChatRequest JSON file instead of PROMPT (`-` reads standard input).
        #[arg(long, value_name = "FILE|-", conflicts_with = "prompt")]
        request: Option<String>,
        /// Print the JSON answer (`input_tokens`, `model`, `request_id`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// An interactive conversation with streamed answers; history is kept. `/exit` or EOF ends it.
    Chat {
        #[command(flatten)]
        connection: Connection,
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
    /// Measure what the sandbox costs against native baselines (prints ratios); `bench scale`:
    /// many concurrent streams through one `serve`.
    Bench {
        #[command(subcommand)]
        mode: Option<BenchMode>,
        /// Round trips per latency measurement.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// A short run of every row (CI runs it so the bench never rots); not for numbers.
        #[arg(long)]
        quick: bool,
    },
    /// Serve the provider to Amplifier over gRPC (amplifier.module ProviderService and
    /// ModuleLifecycle). Prints `READY:<port>` first, then logs one line per call to stderr.
    Serve {
        /// Port (0: any free port, printed in the READY line).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Address to listen on. Anything but loopback needs --token-file.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// A file holding a shared secret; every call must send `authorization: Bearer <secret>`.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
        /// Seconds calls in flight may take to finish after SIGTERM / SIGINT before the server stops anyway.
        #[arg(long, value_name = "SECONDS", default_value_t = bedrock_host::grpc::DEFAULT_GRACE_PERIOD.as_secs_f64())]
        grace_period: f64,
        #[command(flatten)]
        connection: Connection,
    },
    /// Run the local Bedrock emulator until interrupted.
    Emulator {
        /// Port on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Stream the default answer like a model, in this many text deltas (with
        /// --event-delay-ms between them), honouring fault markers in prompts.
        #[arg(long, value_name = "N")]
        stream_events: Option<usize>,
        /// Milliseconds between two events of a paced answer (default 50).
        #[arg(long, value_name = "MS", requires = "stream_events")]
        event_delay_ms: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
enum BenchMode {
    /// N concurrent CompleteStreaming calls through one `serve` (a child process) against the
    /// emulator streaming like a model: completed calls, serve's memory per stream, threads,
    /// CPU, descriptors and the first-event latency it adds (Linux only).
    Scale {
        /// A small run (CI); not for numbers.
        #[arg(long)]
        quick: bool,
        /// Concurrent calls per round, comma-separated (default 100,1000,5000).
        #[arg(long, value_delimiter = ',')]
        streams: Option<Vec<usize>>,
        /// Mix faults in: of every 20 calls two reset mid-way, two get 529, two 503, one silence.
        #[arg(long)]
        faults: bool,
        /// Text deltas per answer.
        #[arg(long)]
        events: Option<usize>,
        /// Milliseconds between two events of an answer.
        #[arg(long)]
        event_delay_ms: Option<u64>,
        /// Milliseconds over which a round's calls start (0: all at once).
        #[arg(long)]
        ramp_ms: Option<u64>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut timings = Timings::from_env();
    let cli = Cli::parse();
    let outcome = run(cli.command, &mut timings).await;
    timings.report();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("usage error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Call(e)) => {
            eprintln!("{e}");
            ExitCode::from(e.kind().exit_status())
        }
        Err(Failure::TurnsFailed { failed, turns }) => {
            eprintln!("chat: {failed} of {turns} {} failed (the error of each is above)", if turns == 1 { "turn" } else { "turns" });
            ExitCode::from(1)
        }
        // The reader went away (`| head`): what it wanted was written.
        Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
    }
}

/// `BEDROCK_HOST_TIMINGS=1`: `complete` prints where its time went, as one JSON line on stderr
/// at the end (`{"timings_ms": [["arguments", 0.2], ...]}`, phases in order). The bench's
/// one-shot breakdown reads it; what the process took beyond the phases is its start and exit.
const TIMINGS_VAR: &str = "BEDROCK_HOST_TIMINGS";

/// Phases of one command, timed when [`TIMINGS_VAR`] is set.
struct Timings {
    enabled: bool,
    last: std::time::Instant,
    phases: Vec<(&'static str, std::time::Duration)>,
}

impl Timings {
    fn from_env() -> Timings {
        Timings::new(std::env::var_os(TIMINGS_VAR).is_some_and(|v| !v.is_empty() && v != "0"))
    }

    /// Timing nothing (commands that do not report).
    fn off() -> Timings {
        Timings::new(false)
    }

    fn new(enabled: bool) -> Timings {
        Timings { enabled, last: std::time::Instant::now(), phases: Vec::new() }
    }

    /// Ends the phase `name`, which began where the previous one ended.
    fn mark(&mut self, name: &'static str) {
        if self.enabled {
            let now = std::time::Instant::now();
            self.phases.push((name, now - self.last));
            self.last = now;
        }
    }

    fn report(&self) {
        if self.enabled {
            let phases: Vec<Value> = self.phases.iter().map(|(name, d)| json!([name, d.as_secs_f64() * 1000.0])).collect();
            eprintln!("{}", json!({ "timings_ms": phases }));
        }
    }
}

/// Why a command ended without success; `main` turns it into the exit status.
enum Failure {
    /// The command line or environment is wrong: exit status 2, as clap's own errors.
    Usage(String),
    /// A call (or the host around it) failed: the exit status of its kind
    /// ([`bedrock_host::FailureKind::exit_status`]).
    Call(CallError),
    /// A `chat` in which turns failed (each said why when it failed): exit status 1.
    TurnsFailed { failed: usize, turns: usize },
    /// The reader of stdout went away: nothing more to do.
    StdoutClosed,
}

/// Writes a line to stdout. A closed stdout (`bedrock-host info --json | head`) ends the
/// command quietly instead of panicking as `println!` does.
fn write_line(text: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::StdoutClosed),
        Err(e) => Err(anyhow::anyhow!("writing to stdout: {e}").into()),
    }
}

/// `println!` that never panics: see [`write_line`].
macro_rules! outln {
    ($($arg:tt)*) => { write_line(format_args!($($arg)*))? };
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e)
    }
}

/// The host itself could not go on (stdout, a signal handler, its own executable): `host: …`,
/// as [`CallError`]'s own conversion makes it.
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Call(e.into())
    }
}

fn load(builder: ProviderBuilder) -> Result<Provider, Failure> {
    let interactive = std::io::stderr().is_terminal();
    let provider = builder.build_with_progress(&|| {
        if interactive {
            eprintln!("compiling the component (first run only; later runs use the cache)…");
        }
    })?;
    Ok(provider)
}

/// Whether a command calls Bedrock at once, so it needs a region now (`complete`, `chat`,
/// `count-tokens`), or may get one later (`serve`: a mount's config can bring it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    Required,
    Later,
}

/// A provider configured from the command line, the config file and the AWS environment.
/// The returned emulator (with `--emulator`) must live as long as the provider is used.
async fn connect(c: &Connection, timings: &mut Timings, region: Region) -> Result<(Provider, Option<Emulator>), Failure> {
    let mut config: Vec<(String, String)> = Vec::new();
    if let Some(path) = &c.config_file {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("--config-file {}: {e}", path.display())))?;
        let table: toml::Table = text.parse().map_err(|e| Failure::Usage(format!("--config-file {}: {e}", path.display())))?;
        for (k, v) in table {
            let value = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(Failure::Usage(format!(
                        "--config-file {}: `{k}` must be a string, number or boolean, not {}",
                        path.display(),
                        other.type_str()
                    )))
                }
            };
            config.push((k, value));
        }
    }
    for pair in &c.config {
        let (k, v) = pair.split_once('=').ok_or_else(|| Failure::Usage(format!("-c {pair}: write KEY=VALUE")))?;
        config.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(t) = c.thinking {
        config.push(("thinking_budget_tokens".into(), t.to_string()));
    }
    let mut builder = Provider::builder();
    let emulator = if c.emulator {
        let emu = Emulator::start().await?;
        builder = builder
            .config("endpoint_url", emu.endpoint_url())
            .config("mantle_endpoint_url", emu.endpoint_url())
            .config("aws_region", c.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .credentials(Credentials::Aws {
                access_key_id: emulator::ACCESS_KEY_ID.into(),
                secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
                session_token: None,
            });
        Some(emu)
    } else {
        builder = from_aws_environment(builder, c, &config, region).await?;
        None
    };
    timings.mark("aws_environment");
    for (k, v) in config {
        builder = builder.config(k, v);
    }
    let mut limits = bedrock_host::Limits::default();
    if let Some(seconds) = c.call_timeout {
        let limit = std::time::Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Failure::Usage(format!("--call-timeout {seconds}: give a positive number of seconds")))?;
        limits.call_timeout = Some(limit);
    }
    if let Some(mib) = c.memory_cap {
        // A component's (32-bit) memory is at most 4 GiB.
        if !(1..=4096).contains(&mib) {
            return Err(Failure::Usage(format!("--memory-cap {mib}: give the cap in MiB, from 1 to 4096")));
        }
        limits.memory_bytes = (mib as usize) << 20;
    }
    builder = builder.limits(limits);
    let events = c.events;
    builder = builder.on_event(move |e: &HostEvent| {
        if events {
            eprintln!("{}", json!({"event": e.name, "data": e.data}));
        } else if e.name == "provider:config_warning" {
            // A misspelt -c key must not pass unnoticed.
            eprintln!("warning: {}", e.data["message"].as_str().unwrap_or_default());
        }
    });
    let provider = load(builder)?;
    timings.mark("engine_and_component");
    Ok((provider, emulator))
}

/// Region, endpoint and credentials the way the AWS CLI finds them.
async fn from_aws_environment(
    mut builder: ProviderBuilder,
    c: &Connection,
    config: &[(String, String)],
    needs: Region,
) -> Result<ProviderBuilder, Failure> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    // The endpoint overrides as the AWS SDKs read them (the service-specific variable, then
    // AWS_ENDPOINT_URL), and the Messages API's as Anthropic's SDKs read it: its API base, with
    // `/anthropic` at the end, which the `mantle_endpoint_url` key leaves out.
    let runtime = var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").map(|v| ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", v));
    let mantle = match (var("AWS_ENDPOINT_URL_BEDROCK_MANTLE"), var("ANTHROPIC_BEDROCK_MANTLE_BASE_URL")) {
        (Some(v), _) => Some(("AWS_ENDPOINT_URL_BEDROCK_MANTLE", v)),
        (None, Some(base)) => match base.trim_end_matches('/').strip_suffix("/anthropic") {
            Some(service) => Some(("ANTHROPIC_BEDROCK_MANTLE_BASE_URL", service.to_string())),
            None => {
                return Err(Failure::Usage(format!(
                    "ANTHROPIC_BEDROCK_MANTLE_BASE_URL {base}: give the API base as Anthropic's SDKs take it, ending in /anthropic \
                     (https://bedrock-mantle.us-east-1.api.aws/anthropic), or set AWS_ENDPOINT_URL_BEDROCK_MANTLE to the endpoint"
                )))
            }
        },
        (None, None) => None,
    };
    let general = var("AWS_ENDPOINT_URL").map(|v| ("AWS_ENDPOINT_URL", v));
    for (key, found) in [("endpoint_url", runtime.or_else(|| general.clone())), ("mantle_endpoint_url", mantle.or(general))] {
        let Some((name, endpoint)) = found else { continue };
        let uri: http::Uri = endpoint.parse().map_err(|e| Failure::Usage(format!("{name}: `{endpoint}` is not a URL ({e})")))?;
        let host = uri.host().unwrap_or_default();
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) || host == "[::1]";
        if uri.scheme_str() == Some("http") && !loopback {
            return Err(Failure::Usage(format!(
                "{name} {endpoint}: plain http is allowed only to loopback (127.0.0.1, localhost); use https"
            )));
        }
        builder = builder.config(key, endpoint);
    }
    let chain = AwsCredentialChain::load(c.profile.as_deref()).await;
    let configured_region = config.iter().any(|(k, v)| k == "aws_region" && !v.trim().is_empty());
    let found = c.region.clone().filter(|r| !r.trim().is_empty()).or_else(|| var("AWS_REGION")).or_else(|| var("AWS_DEFAULT_REGION"));
    match found.or_else(|| chain.region().map(str::to_string)) {
        Some(region) if !configured_region => builder = builder.config("aws_region", region),
        Some(_) => {}
        // Said here, where the command line's own option can be named (the component knows
        // only its config key): the same `config:` error the component gives, with --region.
        None if !configured_region && needs == Region::Required => {
            let profile = match chain.profile() {
                Some(p) => format!("give the profile `{p}` a region (aws configure set region us-east-1 --profile {p})"),
                None => "give your AWS profile a region (aws configure set region us-east-1)".into(),
            };
            return Err(Failure::Call(CallError::provider(
                bedrock_host::ErrorKind::Config,
                format_args!(
                    "no AWS region is configured: pass --region (as in --region us-east-1), set AWS_REGION, {profile}, \
                     or set the config key with -c aws_region=us-east-1"
                ),
            )));
        }
        None => {}
    }
    if let Some(p) = chain.profile() {
        builder = builder.config("aws_profile", p);
    }
    builder = match var("AWS_BEARER_TOKEN_BEDROCK") {
        Some(key) => builder.credentials(Credentials::BedrockApiKey(key)),
        None => builder.credential_chain(chain),
    };
    Ok(builder)
}

fn messages_with_system(system: &Option<String>, mut rest: Vec<Value>) -> Vec<Value> {
    if let Some(s) = system {
        rest.insert(0, json!({"role": "system", "content": s}));
    }
    rest
}

/// The ChatRequest of `complete` and `count-tokens`: a prompt (after `--system`), or a whole
/// request from a file or standard input; `--model` overrides its model.
fn chat_request(prompt: Option<String>, request: Option<String>, connection: &Connection) -> Result<Value, Failure> {
    let mut request = match (prompt, request) {
        (Some(p), None) => json!({"messages": messages_with_system(&connection.system, vec![json!({"role": "user", "content": p})])}),
        (None, Some(file)) => {
            let mut text = String::new();
            let read = if file == "-" {
                std::io::stdin().read_to_string(&mut text).map(|_| ())
            } else {
                std::fs::read_to_string(&file).map(|t| text = t)
            };
            read.map_err(|e| Failure::Usage(format!("--request {file}: {e}")))?;
            serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("--request {file}: not JSON ({e})")))?
        }
        _ => return Err(Failure::Usage("give a PROMPT or --request FILE".into())),
    };
    if let Some(m) = &connection.model {
        request["model"] = json!(m);
    }
    if let Some(effort) = &connection.effort {
        request["reasoning_effort"] = json!(effort);
    }
    Ok(request)
}

async fn run(command: Command, timings: &mut Timings) -> Result<(), Failure> {
    match command {
        Command::Complete { prompt, request, stream, json, connection } => {
            let request = chat_request(prompt, request, &connection)?;
            timings.mark("arguments");
            let (provider, _emulator) = connect(&connection, timings, Region::Required).await?;
            if timings.enabled {
                // Resolved ahead only to time it apart: the chain caches them for the call.
                if let Some(chain) = provider.credential_chain() {
                    chain.credentials().await.map_err(|e| Failure::Call(CallError::Provider(e)))?;
                }
                timings.mark("credentials");
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
                // The answer was written as it arrived: its output is part of the call.
                timings.mark("call");
            } else {
                let response = provider.complete(&request).await?;
                timings.mark("call");
                if json {
                    outln!("{}", serde_json::to_string_pretty(&response).expect("JSON"));
                } else {
                    outln!("{}", text_of(&response["content"]));
                }
            }
            timings.mark("output");
            Ok(())
        }
        Command::CountTokens { prompt, request, json, connection } => {
            let request = chat_request(prompt, request, &connection)?;
            let (provider, _emulator) = connect(&connection, timings, Region::Required).await?;
            let counted = provider.count_tokens(&request).await?;
            if json {
                outln!("{counted}");
            } else {
                outln!("{} input tokens ({})", counted["input_tokens"], counted["model"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        Command::Chat { connection } => chat(connection).await,
        Command::Serve { port, bind, token_file, grace_period, connection } => {
            let grace = std::time::Duration::try_from_secs_f64(grace_period)
                .map_err(|_| Failure::Usage(format!("--grace-period {grace_period}: give a number of seconds, 0 or more")))?;
            serve(port, bind, token_file, grace, connection).await
        }
        Command::Models { json } => {
            let models = load(Provider::builder())?.list_models().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&models).expect("JSON"));
            } else {
                for m in models.as_array().into_iter().flatten() {
                    let long = if m["metadata"]["long_context_window"].is_u64() { " (1M: enable_long_context)" } else { "" };
                    let deprecated = if m["metadata"]["deprecated"].is_string() { " (deprecated)" } else { "" };
                    outln!(
                        "{:<42} {:<18} {:<8} context {:>7}  max output {:>6}{long}{deprecated}",
                        m["id"].as_str().unwrap_or(""),
                        m["display_name"].as_str().unwrap_or(""),
                        m["metadata"]["api"].as_str().unwrap_or(""),
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
                outln!("{}", serde_json::to_string_pretty(&info).expect("JSON"));
            } else {
                outln!("{} ({})", info["display_name"].as_str().unwrap_or(""), info["id"].as_str().unwrap_or(""));
                outln!("capabilities: {}", info["capabilities"]);
                outln!("defaults: {}", info["defaults"]);
                outln!("config keys:");
                for f in info["config_fields"].as_array().into_iter().flatten() {
                    outln!("  {:<28} {}", f["id"].as_str().unwrap_or(""), f["prompt"].as_str().unwrap_or(""));
                }
            }
            Ok(())
        }
        Command::Bench { mode: Some(BenchMode::Scale { quick, streams, faults, events, event_delay_ms, ramp_ms }), .. } => {
            let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("finding this executable to run serve: {e}"))?;
            let mut options = if quick { ScaleOptions::quick(exe) } else { ScaleOptions::full(exe) };
            options.faults = faults;
            if let Some(streams) = streams.filter(|s| !s.is_empty()) {
                options.streams = streams;
            }
            options.events = events.unwrap_or(options.events).max(1);
            options.event_delay = event_delay_ms.map_or(options.event_delay, std::time::Duration::from_millis);
            options.ramp = ramp_ms.map_or(options.ramp, std::time::Duration::from_millis);
            let reports = bench::scale::run(&options).await?;
            outln!("{}", bench::scale::table(&reports).trim_end());
            Ok(())
        }
        Command::Bench { mode: None, iterations, quick } => {
            let options = if quick { bench::BenchOptions::quick() } else { bench::BenchOptions::full(iterations.max(1)) };
            let rows = bench::run_with(&options).await?;
            let table = bench::table(&rows);
            outln!("{}", table.trim_end());
            Ok(())
        }
        Command::Emulator { port, stream_events, event_delay_ms } => {
            let emu = Emulator::start_on(port).await?;
            if let Some(deltas) = stream_events {
                let delay = std::time::Duration::from_millis(event_delay_ms.unwrap_or(50));
                emu.set_stream_pace(Some(emulator::Pace { deltas: deltas.max(1), delay }));
            }
            outln!("Bedrock emulator listening on {}", emu.endpoint_url());
            outln!("credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}", emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY);
            outln!("Bedrock API key: AWS_BEARER_TOKEN_BEDROCK={}", emulator::API_KEY);
            outln!("region: us-east-1 (any region is accepted)");
            outln!(
                "InvokeModel: AWS_ENDPOINT_URL_BEDROCK_RUNTIME={} with a profile id such as us.{}",
                emu.endpoint_url(),
                amplifier_provider_bedrock::models::DEFAULT_MODEL
            );
            outln!("Messages API: AWS_ENDPOINT_URL_BEDROCK_MANTLE={} with a model such as anthropic.claude-sonnet-5", emu.endpoint_url());
            let _ = std::io::stdout().flush();
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        }
    }
}

/// `serve`: the gRPC service on a listener, until SIGINT or SIGTERM; calls in flight finish
/// within the grace period.
async fn serve(
    port: u16,
    bind: std::net::IpAddr,
    token_file: Option<std::path::PathBuf>,
    grace_period: std::time::Duration,
    connection: Connection,
) -> Result<(), Failure> {
    let token = match &token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("--token-file {}: {e}", path.display())))?;
            let token = text.trim().to_string();
            if token.is_empty() {
                return Err(Failure::Usage(format!("--token-file {}: the file is empty; put a random secret in it", path.display())));
            }
            Some(token)
        }
    };
    if token.is_none() && !bind.is_loopback() {
        return Err(Failure::Usage(format!(
            "--bind {bind}: the server signs with your AWS credentials, so a non-loopback address needs --token-file"
        )));
    }
    // A server's callers send their own requests: options that shape a request have no call to
    // shape here, so they are refused rather than ignored.
    for (given, flag) in [(connection.effort.is_some(), "--effort"), (connection.system.is_some(), "--system")] {
        if given {
            return Err(Failure::Usage(format!(
                "{flag} does not apply to `serve`: its callers send whole requests (set `reasoning_effort` or a system message in them)"
            )));
        }
    }
    let mut connection = connection;
    if let Some(m) = connection.model.take() {
        // `complete` puts --model in its request; a server's callers send their own, so it
        // becomes the model for requests that name none.
        connection.config.push(format!("default_model={m}"));
    }
    // Each call in flight holds a connection to Bedrock as well as its caller's.
    bedrock_host::grpc::raise_open_files_limit();
    let (provider, _emulator) = connect(&connection, &mut Timings::off(), Region::Later).await?;
    let mode = if connection.emulator || std::env::var_os("AWS_BEARER_TOKEN_BEDROCK").is_some_and(|v| !v.is_empty()) {
        bedrock_host::grpc::CredentialMode::Fixed
    } else {
        bedrock_host::grpc::CredentialMode::Chain
    };
    let service = bedrock_host::grpc::BedrockService::new(provider, mode, true);
    let listener = tokio::net::TcpListener::bind((bind, port)).await.map_err(|e| {
        Failure::Call(CallError::provider(bedrock_host::ErrorKind::Unreachable, format_args!("cannot listen on {bind}:{port}: {e}")))
    })?;
    let local = listener.local_addr().map_err(|e| Failure::Call(CallError::provider(bedrock_host::ErrorKind::Unreachable, e)))?;
    // The sidecar handshake upstream's loaders wait for: the first stdout line, nothing else there.
    println!("READY:{}", local.port());
    let _ = std::io::stdout().flush();
    eprintln!(
        "bedrock-host serve: listening on {local} (amplifier.module ProviderService, ModuleLifecycle){}",
        if token.is_some() { ", token required" } else { "" }
    );
    let mut options = bedrock_host::grpc::ServeOptions::default();
    (options.token, options.grace_period) = (token, grace_period);
    bedrock_host::grpc::serve(service, listener, options, shutdown_signal()).await?;
    eprintln!("bedrock-host serve: stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM (a supervisor's stop).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("bedrock-host serve: stopping; letting calls in flight finish");
}

fn text_of(content: &Value) -> String {
    content.as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect()
}

/// The interactive loop: each line is a user turn; answers stream; the whole history is sent
/// each time, thinking blocks (with their signatures) included. Ctrl-C stops the answer in
/// progress and keeps the conversation (the prompt and what had arrived of the answer); Ctrl-D
/// (end of input) or `/exit` ends it. A chat in which a turn failed exits 1.
async fn chat(connection: Connection) -> Result<(), Failure> {
    let (provider, _emulator) = connect(&connection, &mut Timings::off(), Region::Required).await?;
    let interactive = std::io::stdin().is_terminal();
    let mut history: Vec<Value> = messages_with_system(&connection.system, vec![]);
    // Lines are read on a thread of their own, so that Ctrl-C is heard while a prompt is awaited;
    // from here on Ctrl-C no longer ends the process (it is listened for before any prompt shows).
    let mut lines = stdin_lines();
    let mut interrupts = Interrupts::listen().map_err(|e| anyhow::anyhow!("listening for Ctrl-C: {e}"))?;
    let (mut turns, mut failed) = (0usize, 0usize);
    loop {
        if interactive {
            let _ = write!(std::io::stdout(), "you> ");
            let _ = std::io::stdout().flush();
        }
        let line = tokio::select! {
            line = lines.recv() => match line {
                Some(line) => line,
                None => break,
            },
            () = interrupts.next() => {
                eprintln!();
                eprintln!("(Ctrl-D or /exit ends the chat)");
                continue;
            }
        };
        let line = line.trim().to_string();
        if line.is_empty() {
            continue;
        }
        if line == "/exit" || line == "/quit" {
            break;
        }
        turns += 1;
        history.push(json!({"role": "user", "content": line}));
        let mut request = json!({"messages": history, "stream": true});
        if let Some(m) = &connection.model {
            request["model"] = json!(m);
        }
        if let Some(effort) = &connection.effort {
            request["reasoning_effort"] = json!(effort);
        }
        let mut blocks: std::collections::BTreeMap<u64, Value> = Default::default();
        let mut out = std::io::stdout();
        if interactive {
            let _ = write!(out, "claude> ");
            let _ = out.flush();
        }
        let answer = provider.stream(&request, |event| {
            let index = event["index"].as_u64().unwrap_or(0);
            match event["type"].as_str() {
                Some("block_start") => {
                    let mut block = event["block"].clone();
                    match block["type"].as_str() {
                        Some("text") => block["text"] = json!(""),
                        Some("thinking") => block["thinking"] = json!(""),
                        _ => {}
                    }
                    blocks.insert(index, block);
                }
                Some("delta") => {
                    let block = blocks.entry(index).or_insert_with(|| json!({"type": "text", "text": ""}));
                    for key in ["text", "thinking", "signature"] {
                        if let Some(piece) = event[key].as_str() {
                            let so_far = block[key].as_str().unwrap_or_default().to_string();
                            block[key] = json!(so_far + piece);
                            if key == "text" {
                                let _ = write!(out, "{piece}");
                                let _ = out.flush();
                            }
                        }
                    }
                }
                Some("block_stop") => {
                    if let (Some(block), Some(input)) = (blocks.get_mut(&index), event.get("input")) {
                        block["input"] = input.clone();
                    }
                }
                _ => {}
            }
        });
        // Ctrl-C drops the call: its sandbox goes, and with it the connection to Bedrock.
        let outcome = tokio::select! {
            result = answer => Some(result),
            () = interrupts.next() => None,
        };
        let _ = writeln!(std::io::stdout());
        match outcome {
            Some(Ok(())) => history.push(json!({"role": "assistant", "content": blocks.into_values().collect::<Vec<_>>()})),
            Some(Err(e)) => {
                // The failed turn is dropped so the conversation stays valid; say why.
                history.pop();
                failed += 1;
                eprintln!("{e}");
            }
            None => {
                // The prompt stays, and the text that had arrived: the conversation goes on from
                // there. Unfinished tool calls and thinking cannot be sent back, so they go.
                let text: Vec<Value> = blocks
                    .into_values()
                    .filter(|b| b["type"] == "text" && b["text"].as_str().is_some_and(|t| !t.trim().is_empty()))
                    .collect();
                if !text.is_empty() {
                    history.push(json!({"role": "assistant", "content": text}));
                }
                eprintln!("(interrupted: the conversation goes on from here; Ctrl-D or /exit ends it)");
            }
        }
    }
    if failed > 0 {
        return Err(Failure::TurnsFailed { failed, turns });
    }
    Ok(())
}

/// Ctrl-C presses, heard from the moment this is made (a press between two waits is kept for
/// the next one) instead of ending the process.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
    #[cfg(windows)]
    signal: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    fn listen() -> std::io::Result<Interrupts> {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        #[cfg(windows)]
        let signal = tokio::signal::windows::ctrl_c()?;
        Ok(Interrupts { signal })
    }

    /// The next press.
    async fn next(&mut self) {
        if self.signal.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// Standard input's lines, read on a thread of their own; the channel closes at end of input.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::Builder::new()
        .name("bedrock-host-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        })
        .expect("starting the thread that reads standard input");
    rx
}
