//! The WASI side of [`Platform`]: `wasi:config/store`, the environment, the wall clock and
//! `wasi:http`; plus the `wasi:cli/run` driver.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use wasi::clocks::monotonic_clock;

#[cfg(feature = "wasi-config")]
use crate::bindings::wasi::config::store;
use crate::cli::{self, Command};
use crate::config::ConfigSource;
use crate::provider::{self, Platform};
use crate::wire::transport::{wasi_http, HttpRequest, StreamingResponse, Timeouts, TransportError};

/// The component's real surroundings. Reads everything afresh per request, so a host can
/// rotate credentials between calls.
#[derive(Debug, Default)]
pub(crate) struct WasiPlatform {
    /// Whether hook events go to stderr (always for hosts; `--events` on the command line).
    events: bool,
}

/// The platform of streams handed to the host (they outlive any one call).
pub(crate) static HOST_PLATFORM: WasiPlatform = WasiPlatform { events: true };

impl WasiPlatform {
    /// The platform as the provider exports use it: events on.
    pub(crate) fn new() -> Self {
        WasiPlatform { events: true }
    }
}

#[cfg(feature = "wasi-config")]
impl ConfigSource for WasiPlatform {
    fn config(&self, key: &str) -> Result<Option<String>, String> {
        store::get(key).map_err(|e| match e {
            store::Error::Upstream(m) | store::Error::Io(m) => m,
        })
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn keys(&self) -> Vec<String> {
        store::get_all().map(|all| all.into_iter().map(|(k, _)| k).collect()).unwrap_or_default()
    }
}

/// The portable build: no `wasi:config`, so the config store is the environment, one
/// variable per key ([`crate::config::portable_env_name`]).
#[cfg(not(feature = "wasi-config"))]
impl ConfigSource for WasiPlatform {
    fn config(&self, key: &str) -> Result<Option<String>, String> {
        Ok(std::env::var(crate::config::portable_env_name(key)).ok())
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn keys(&self) -> Vec<String> {
        std::env::vars().filter_map(|(name, _)| crate::config::key_of_portable_env_name(&name)).collect()
    }
}

impl Platform for WasiPlatform {
    fn source(&self) -> &dyn ConfigSource {
        self
    }

    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        Duration::from_nanos(monotonic_clock::now())
    }

    fn random_u64(&self) -> u64 {
        wasi::random::random::get_random_u64()
    }

    fn sleep(&self, duration: Duration) {
        monotonic_clock::subscribe_duration(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)).block();
    }

    fn emit(&self, line: &str) {
        if self.events {
            eprintln!("{line}");
        }
    }

    fn warn(&self, message: &str) {
        // With events on, the event carries it; on the command line without them, a line.
        if !self.events {
            eprintln!("warning: {message}");
        }
    }

    fn open(&self, request: &HttpRequest, timeouts: &Timeouts) -> Result<StreamingResponse, TransportError> {
        wasi_http::open(request, timeouts)
    }
}

/// `wasi:cli/run`: answers a prompt from the command line. Errors go to stderr with their
/// prefix (`usage error:` for bad arguments) and fail the run; WASI 0.2's `exit` carries only
/// success or failure, so wasmtime reports every failure as status 1.
pub(crate) fn run_cli() -> Result<(), ()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match cli::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", cli::usage());
            return Ok(());
        }
        Ok(Command::Complete(o)) => o,
        Err(e) => {
            eprintln!("usage error: {e}");
            return Err(());
        }
    };
    let prompt = match &options.prompt {
        Some(p) => p.clone(),
        None => {
            let mut s = String::new();
            if std::io::stdin().read_to_string(&mut s).is_err() || s.trim().is_empty() {
                eprintln!("usage error: give a PROMPT or pipe one on standard input; see --help");
                return Err(());
            }
            s
        }
    };
    let request = crate::json_write::to_vec(&cli::request_for(&options, &prompt));
    let platform = WasiPlatform { events: options.events };
    let mut out = std::io::stdout().lock();
    if options.stream {
        let mut stream = match provider::CompletionStream::open_continuing(&request, &platform) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return Err(());
            }
        };
        loop {
            match stream.next_event() {
                Ok(Some(event)) => {
                    let written = if options.json {
                        writeln!(out, "{event}")
                    } else if let Some(text) = event.get("text").and_then(serde_json::Value::as_str) {
                        write!(out, "{text}").and_then(|()| out.flush())
                    } else if event["type"] == "done" {
                        writeln!(out)
                    } else {
                        Ok(())
                    };
                    written.map_err(|_| ())?;
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    let _ = writeln!(out);
                    match stream.progress() {
                        Some(progress) => eprintln!("{e} ({progress})"),
                        None => eprintln!("{e}"),
                    }
                    return Err(());
                }
            }
        }
    }
    let response = match provider::complete(&request, &platform) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Err(());
        }
    };
    let written = if options.json {
        writeln!(out, "{}", crate::json_write::to_string_pretty(&serde_json::to_value(&response).expect("plain JSON")))
    } else {
        writeln!(out, "{}", cli::answer_text(&response))
    };
    written.map_err(|_| ())
}
