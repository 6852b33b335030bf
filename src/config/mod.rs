//! Provider configuration and credentials, read afresh for every request.
//!
//! Values come from the host's `wasi:config/store` first and the standard AWS environment
//! variables second. The lookup is a trait so this module stays free of WIT types and is
//! unit-tested on the host target.

mod credentials;
mod keys;
mod source;

use std::fmt;
use std::time::Duration;

pub use credentials::{Credentials, Endpoint, EndpointError};
use keys::key;
pub use keys::{
    is_secret, model_defaults, parse_bool, parse_number, unknown_keys, ConfigKey, KeyType, GUARDRAIL_TRACES, KEYS, MAX_CONTINUATIONS,
    THINKING_DISPLAYS,
};
pub use source::{key_of_portable_env_name, portable_env_name, ConfigSource, MapSource, PORTABLE_ENV_PREFIX};

use crate::models::Api;
pub use crate::models::ApiChoice;
use crate::models::DEFAULT_MODEL;

/// What is wrong with the configuration, phrased as what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value does not parse as its key's type.
    Invalid {
        /// The config key (or environment variable) that holds the bad value.
        key: String,
        /// The bad value; `None` for secrets, which are never echoed.
        value: Option<String>,
        /// What is accepted.
        expected: String,
    },
    /// The host's config store failed to answer.
    Store {
        /// The key being read.
        key: String,
        /// The host's own explanation.
        detail: String,
    },
    /// No region anywhere.
    NoRegion,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { key, value: Some(v), expected } => {
                write!(f, "`{key}` is {v:?}, but it must be {expected}")
            }
            ConfigError::Invalid { key, value: None, expected } => {
                write!(f, "`{key}` is invalid: it must be {expected}")
            }
            ConfigError::Store { key, detail } => {
                write!(f, "the host could not read config key `{key}`: {detail}")
            }
            ConfigError::NoRegion => write!(
                f,
                "no AWS region is configured: set the `aws_region` config key \
                 (with wasmtime: `-S config-var=aws_region=us-east-1`) or the AWS_REGION / \
                 AWS_DEFAULT_REGION environment variable"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for crate::error::ProviderError {
    fn from(e: ConfigError) -> Self {
        crate::error::ProviderError::new(crate::error::ErrorKind::Config, e.to_string())
    }
}

/// The resolved configuration for one request.
///
/// Only [`resolve`](Self::resolve) makes one, so every value is one a call could run with: the
/// key table's parsing, ranges and defaults applied (no `max_retries` or timeout past what
/// validation allows). A host derives its own limits from it (bedrock-host's call deadline),
/// reading its fields through the accessors below.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// AWS region; `None` is an error only once a request needs it.
    region: Option<String>,
    /// Named profile (resolved by the host; reported in hints only).
    pub(crate) aws_profile: Option<String>,
    /// Model id used when the request names none.
    pub(crate) default_model: String,
    /// Whether to prefix bare model ids with the region's inference-profile prefix.
    pub(crate) use_cross_region_inference: bool,
    /// Output token limit when the request sets none.
    pub(crate) max_tokens: u32,
    /// Temperature when the request sets none; `None` leaves it to the model (1.0).
    pub(crate) temperature: Option<f64>,
    /// Answer unanswered tool calls with synthetic error results instead of failing.
    pub(crate) repair_tool_sequences: bool,
    /// Longest silence in a stream once it has started.
    pub(crate) stream_idle_timeout: Duration,
    /// Extended thinking budget when the request sets none; 0 is off.
    pub(crate) thinking_budget_tokens: u32,
    /// Limit for a non-streamed answer and for a stream's first byte.
    pub(crate) timeout: Duration,
    /// Limit for connecting.
    pub(crate) connect_timeout: Duration,
    /// Limit for the first response byte.
    pub(crate) first_byte_timeout: Duration,
    /// Longest silence between response chunks.
    pub(crate) between_bytes_timeout: Duration,
    /// Retries after retryable failures.
    pub(crate) max_retries: u32,
    /// Most total waiting between retries.
    pub(crate) retry_budget: Duration,
    /// Place cache points on models that support prompt caching.
    pub(crate) enable_prompt_caching: bool,
    /// Lifetime of the cache points this provider places: `5m` or `1h`.
    pub(crate) prompt_cache_ttl: &'static str,
    /// The guardrail applied to every call.
    pub(crate) guardrail: Option<Guardrail>,
    /// Continuation rounds after a `max_tokens` stop.
    pub(crate) max_continuations: u32,
    /// Ask for the 1M-token context where the model offers it.
    pub(crate) enable_long_context: bool,
    /// Emit `llm:stream_*` hook events while streaming.
    pub(crate) stream_events: bool,
    /// Emit `:debug` events.
    pub(crate) debug: bool,
    /// Emit `:raw` events.
    pub(crate) raw_debug: bool,
    /// Endpoint override of Bedrock Runtime (InvokeModel).
    endpoint: Option<Endpoint>,
    /// Which API calls go through.
    pub(crate) api: ApiChoice,
    /// The Messages API's base (`/anthropic` included) when overridden.
    mantle_endpoint: Option<Endpoint>,
    /// `thinking.display` for adaptive thinking: `summarized` or `omitted`.
    pub(crate) thinking_display: &'static str,
    /// Credentials to sign with.
    pub(crate) credentials: Credentials,
}

/// A Bedrock Guardrail applied to a call, sent as Bedrock's guardrail headers.
///
/// Made only by [`ProviderConfig::resolve`], which checks the identifier and the version
/// together; its fields are this crate's own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Guardrail {
    /// Guardrail id or ARN.
    pub(crate) identifier: String,
    /// `DRAFT` or a version number.
    pub(crate) version: String,
    /// `DISABLED`, `ENABLED` or `ENABLED_FULL`, as the `X-Amzn-Bedrock-Trace` header takes it.
    pub(crate) trace: String,
}

impl ProviderConfig {
    /// Reads every key from `source`, applying defaults; the first invalid value is the error.
    pub fn resolve(source: &dyn ConfigSource) -> Result<ProviderConfig, ConfigError> {
        let r = Reader { source };
        let region = r.text("aws_region")?;
        if let Some(region) = &region {
            let ok = region.len() <= 32
                && region.split('-').count() >= 3
                && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "aws_region".into(),
                    value: Some(region.clone()),
                    expected: "an AWS region code such as us-east-1, eu-west-1 or ap-northeast-1".into(),
                });
            }
        }
        let endpoint = match r.text("endpoint_url")? {
            None => None,
            Some(url) => Some(Endpoint::parse(&url).map_err(|e| ConfigError::Invalid {
                key: "endpoint_url".into(),
                value: Some(url.clone()),
                expected: e.expected().into(),
            })?),
        };
        // The SDKs' ANTHROPIC_BEDROCK_MANTLE_BASE_URL is the API base itself; the AWS-style
        // variables and the key name the service endpoint, under which the API is `/anthropic`.
        let mantle_endpoint = match r.lookup("mantle_endpoint_url")? {
            None => None,
            Some((from, url)) => {
                let e = Endpoint::parse(&url).map_err(|e| ConfigError::Invalid {
                    key: from.clone(),
                    value: Some(url.clone()),
                    expected: e.expected().into(),
                })?;
                Some(if from != "ANTHROPIC_BEDROCK_MANTLE_BASE_URL" { e.under(credentials::MESSAGES_API_BASE_PATH) } else { e })
            }
        };
        let api = Api::named(r.choice("api")?).map_or(ApiChoice::Auto, ApiChoice::Fixed);
        let seconds = |key: &str| -> Result<Duration, ConfigError> { Ok(Duration::from_secs_f64(r.number(key, 0.001, 86_400.0)?)) };
        let timeout = seconds("timeout")?;
        // AWS_MAX_ATTEMPTS counts the first attempt too; max_retries does not.
        let max_retries = match r.lookup("max_retries")? {
            Some((from, v)) if from == "AWS_MAX_ATTEMPTS" => match v.parse::<u32>() {
                Ok(n) if n >= 1 => n - 1,
                _ => return Err(ConfigError::Invalid { key: from, value: Some(v), expected: "a whole number of at least 1".into() }),
            },
            _ => r.count("max_retries")?,
        };
        Ok(ProviderConfig {
            region,
            aws_profile: r.text("aws_profile")?,
            default_model: r.text("default_model")?.unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            use_cross_region_inference: r.boolean("use_cross_region_inference")?,
            max_tokens: r.positive_integer("max_tokens")?,
            // Only a temperature someone set is sent: models that take one of temperature and
            // top_p must not get our default beside a caller's top_p.
            temperature: match r.lookup("temperature")? {
                Some(_) => Some(r.number("temperature", 0.0, 1.0)?),
                None => None,
            },
            repair_tool_sequences: r.boolean("repair_tool_sequences")?,
            stream_idle_timeout: seconds("stream_idle_timeout")?,
            thinking_budget_tokens: r.count("thinking_budget_tokens")?,
            timeout,
            connect_timeout: seconds("connect_timeout")?,
            first_byte_timeout: seconds("first_byte_timeout")?,
            between_bytes_timeout: seconds("between_bytes_timeout")?,
            max_retries,
            retry_budget: Duration::from_secs_f64(r.number("retry_budget", 0.0, 86_400.0)?),
            enable_prompt_caching: r.boolean("enable_prompt_caching")?,
            prompt_cache_ttl: r.choice("prompt_cache_ttl")?,
            guardrail: r.guardrail()?,
            max_continuations: match r.count("max_continuations")? {
                n if n <= MAX_CONTINUATIONS => n,
                n => {
                    return Err(ConfigError::Invalid {
                        key: "max_continuations".into(),
                        value: Some(n.to_string()),
                        expected: format!("a whole number from 0 to {MAX_CONTINUATIONS}"),
                    })
                }
            },
            enable_long_context: r.boolean("enable_long_context")?,
            stream_events: r.boolean("stream_events")?,
            debug: r.boolean("debug")?,
            raw_debug: r.boolean("raw_debug")?,
            endpoint,
            api,
            mantle_endpoint,
            thinking_display: r.choice("thinking_display")?,
            credentials: r.credentials()?,
        })
    }

    /// AWS region; `None` is an error only once a request needs it ([`require_region`](Self::require_region)).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Limit for a non-streamed answer and for a stream's first byte (`timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Longest silence in a stream once it has started (`stream_idle_timeout`).
    pub fn stream_idle_timeout(&self) -> Duration {
        self.stream_idle_timeout
    }

    /// Limit for connecting (`connect_timeout`), which a host enforces: under `wasi:http` the
    /// component cannot tell connecting apart from waiting for the first byte.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Retries after retryable failures (`max_retries`, or `AWS_MAX_ATTEMPTS` less one).
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Most total waiting between retries (`retry_budget`).
    pub fn retry_budget(&self) -> Duration {
        self.retry_budget
    }

    /// The configured Bedrock Runtime endpoint (`endpoint_url`), when there is one: a host
    /// allows its origin. [`endpoint`](Self::endpoint) is where calls go, standard or not.
    pub fn endpoint_override(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    /// The configured Messages API base (`mantle_endpoint_url`), when there is one: a host
    /// allows its origin. [`endpoint`](Self::endpoint) is where calls go, standard or not.
    pub fn mantle_endpoint_override(&self) -> Option<&Endpoint> {
        self.mantle_endpoint.as_ref()
    }

    /// The region, or the actionable "no region" error.
    pub fn require_region(&self) -> Result<&str, ConfigError> {
        self.region.as_deref().ok_or(ConfigError::NoRegion)
    }

    /// The endpoint requests of `api` go to: the override, else the region's standard
    /// endpoint (for the Messages API, its API base).
    pub fn endpoint(&self, api: Api) -> Result<Endpoint, ConfigError> {
        let overridden = match api {
            Api::Invoke => &self.endpoint,
            Api::Messages => &self.mantle_endpoint,
        };
        match overridden {
            Some(e) => Ok(e.clone()),
            None => Ok(Endpoint::standard(api, self.require_region()?)),
        }
    }
}

/// Reads keys with their environment fallbacks, remembering which name supplied a value so
/// errors point at the place the user actually set.
struct Reader<'a> {
    source: &'a dyn ConfigSource,
}

impl Reader<'_> {
    /// The raw value and the name it came from (config key or environment variable).
    fn lookup(&self, name: &str) -> Result<Option<(String, String)>, ConfigError> {
        let k = key(name);
        let from_store = self.source.config(name).map_err(|detail| ConfigError::Store { key: name.into(), detail })?;
        if let Some(v) = from_store.filter(|v| !v.trim().is_empty()) {
            return Ok(Some((name.to_string(), v.trim().to_string())));
        }
        // Empty environment variables count as unset, as in the AWS SDKs.
        Ok(k.env
            .iter()
            .find_map(|var| self.source.env(var).filter(|v| !v.trim().is_empty()).map(|v| (var.to_string(), v.trim().to_string()))))
    }

    fn text(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.lookup(name)?.map(|(_, v)| v))
    }

    fn raw_or_default(&self, name: &str) -> Result<(String, String), ConfigError> {
        match self.lookup(name)? {
            Some(found) => Ok(found),
            None => Ok((name.to_string(), key(name).default.unwrap_or_default().to_string())),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, ConfigError> {
        let (from, v) = self.raw_or_default(name)?;
        parse_bool(&v).ok_or(ConfigError::Invalid { key: from, value: Some(v), expected: "true or false".into() })
    }

    fn positive_integer(&self, name: &str) -> Result<u32, ConfigError> {
        let (from, v) = self.raw_or_default(name)?;
        match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid { key: from, value: Some(v), expected: "a whole number of at least 1, e.g. 8192".into() }),
        }
    }

    fn count(&self, name: &str) -> Result<u32, ConfigError> {
        let (from, v) = self.raw_or_default(name)?;
        v.parse::<u32>().map_err(|_| ConfigError::Invalid { key: from, value: Some(v), expected: "a whole number, 0 or more".into() })
    }

    fn number(&self, name: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
        let (from, v) = self.raw_or_default(name)?;
        match parse_number(&v) {
            Some(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                key: from,
                value: Some(v),
                expected: format!("a number from {} to {}", crate::error::number(min), crate::error::number(max)),
            }),
        }
    }

    /// One of the key's choices, as the table spells it.
    fn choice(&self, name: &str) -> Result<&'static str, ConfigError> {
        let KeyType::Choice(choices) = key(name).ty else { unreachable!("config key {name} is not a choice") };
        let (from, v) = self.raw_or_default(name)?;
        choices.iter().find(|c| c.eq_ignore_ascii_case(&v)).copied().ok_or_else(|| ConfigError::Invalid {
            key: from,
            value: Some(v),
            expected: format!("one of {}", choices.join(", ")),
        })
    }

    /// The guardrail keys go together: an identifier needs its version (Bedrock has no
    /// default version), and a version or trace without an identifier would be ignored.
    fn guardrail(&self) -> Result<Option<Guardrail>, ConfigError> {
        let trace = self.choice("guardrail_trace")?.to_ascii_uppercase();
        match (self.text("guardrail_identifier")?, self.text("guardrail_version")?) {
            (Some(identifier), Some(version)) => {
                let numbered =
                    !version.is_empty() && version.len() <= 8 && version.bytes().all(|b| b.is_ascii_digit()) && !version.starts_with('0');
                if !(version == "DRAFT" || numbered) {
                    return Err(ConfigError::Invalid {
                        key: "guardrail_version".into(),
                        value: Some(version),
                        expected: "DRAFT or a version number such as 1".into(),
                    });
                }
                if identifier.len() > 2048 || !identifier.chars().all(|c| c.is_ascii_alphanumeric() || ":/-_.".contains(c)) {
                    return Err(ConfigError::Invalid {
                        key: "guardrail_identifier".into(),
                        value: Some(identifier),
                        expected: "a guardrail id such as gr-abc123def456 or its ARN".into(),
                    });
                }
                Ok(Some(Guardrail { identifier, version, trace }))
            }
            (Some(_), None) => Err(ConfigError::Invalid {
                key: "guardrail_version".into(),
                value: None,
                expected: "set when `guardrail_identifier` is set: DRAFT or a version number".into(),
            }),
            (None, Some(_)) => Err(ConfigError::Invalid {
                key: "guardrail_identifier".into(),
                value: None,
                expected: "set when `guardrail_version` is set: the guardrail's id or ARN".into(),
            }),
            (None, None) => Ok(None),
        }
    }

    /// Credentials come as one set from one place: mixing a config-store key with an
    /// environment session token would sign with a pair that does not belong together.
    fn credentials(&self) -> Result<Credentials, ConfigError> {
        if let Some(token) = self.text("aws_bearer_token_bedrock")? {
            return Ok(Credentials::BedrockApiKey(token));
        }
        let store = |k: &str| -> Result<Option<String>, ConfigError> {
            Ok(self
                .source
                .config(k)
                .map_err(|detail| ConfigError::Store { key: k.into(), detail })?
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_string()))
        };
        let env = |var: &str| self.source.env(var).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_string());
        let from_store = (store("aws_access_key_id")?, store("aws_secret_access_key")?, store("aws_session_token")?);
        let (id, secret, token, id_name, secret_name) = match from_store {
            (None, None, None) => (
                env("AWS_ACCESS_KEY_ID"),
                env("AWS_SECRET_ACCESS_KEY"),
                env("AWS_SESSION_TOKEN"),
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            ),
            (id, secret, token) => (id, secret, token, "aws_access_key_id", "aws_secret_access_key"),
        };
        match (id, secret) {
            (None, None) if token.is_some() => Err(ConfigError::Invalid {
                key: id_name.into(),
                value: None,
                expected: "set together with the secret access key, because a session token is set".into(),
            }),
            (None, None) => Ok(Credentials::None),
            (Some(access_key_id), Some(secret_access_key)) => {
                Ok(Credentials::Aws { access_key_id, secret_access_key, session_token: token })
            }
            (Some(_), None) => Err(ConfigError::Invalid {
                key: secret_name.into(),
                value: None,
                expected: format!("set, because `{id_name}` is set (both come from the same place)"),
            }),
            (None, Some(_)) => Err(ConfigError::Invalid {
                key: id_name.into(),
                value: None,
                expected: format!("set, because `{secret_name}` is set (both come from the same place)"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        config: HashMap<&'static str, &'static str>,
        env: HashMap<&'static str, &'static str>,
    }

    impl ConfigSource for Fake {
        fn config(&self, key: &str) -> Result<Option<String>, String> {
            Ok(self.config.get(key).map(|v| v.to_string()))
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).map(|v| v.to_string())
        }
    }

    fn resolve(config: &[(&'static str, &'static str)], env: &[(&'static str, &'static str)]) -> Result<ProviderConfig, ConfigError> {
        ProviderConfig::resolve(&Fake { config: config.iter().copied().collect(), env: env.iter().copied().collect() })
    }

    #[test]
    fn the_api_keys_choices_are_auto_and_each_apis_name() {
        // `Api::name` spells them; the key's choices list every API of `Api::ALL`.
        let names: Vec<&str> = Api::ALL.iter().map(|api| api.name()).collect();
        assert_eq!(crate::models::API_CHOICES[1..], names[..]);
        assert_eq!(crate::models::API_CHOICES[0], "auto");
        assert_eq!(resolve(&[("api", "auto")], &[]).unwrap().api, ApiChoice::Auto);
        for api in Api::ALL {
            assert_eq!(resolve(&[("api", api.name())], &[]).unwrap().api, ApiChoice::Fixed(api));
        }
    }

    #[test]
    fn defaults_match_the_seed() {
        let c = resolve(&[], &[]).unwrap();
        assert_eq!(c.default_model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(c.max_tokens, 8192);
        assert_eq!(c.temperature, None, "the default (1.0) is the model's own, so it is not sent");
        assert!(!c.repair_tool_sequences);
        assert_eq!(c.stream_idle_timeout, Duration::from_secs(120));
        assert!(c.use_cross_region_inference);
        assert!(!c.debug && !c.raw_debug);
        assert_eq!(c.timeout, Duration::from_secs(300));
        assert_eq!((c.connect_timeout, c.between_bytes_timeout), (Duration::from_secs(10), Duration::from_secs(60)));
        assert_eq!((c.max_retries, c.retry_budget), (3, Duration::from_secs(60)));
        assert_eq!(c.credentials, Credentials::None);
        assert_eq!(c.require_region(), Err(ConfigError::NoRegion));
    }

    #[test]
    fn config_store_wins_over_environment() {
        let c = resolve(&[("aws_region", "eu-west-1")], &[("AWS_REGION", "us-east-1")]).unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        let c = resolve(&[], &[("AWS_DEFAULT_REGION", "us-west-2")]).unwrap();
        assert_eq!(c.region.as_deref(), Some("us-west-2"));
        let c = resolve(&[], &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-west-2")]).unwrap();
        assert_eq!(c.region.as_deref(), Some("us-west-2"), "empty variables count as unset");
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_accepted() {
        let e = resolve(&[("temperature", "hot")], &[]).unwrap_err().to_string();
        assert_eq!(e, "`temperature` is \"hot\", but it must be a number from 0 to 1");
        let e = resolve(&[("max_tokens", "0")], &[]).unwrap_err().to_string();
        assert!(e.contains("`max_tokens` is \"0\"") && e.contains("at least 1"), "{e}");
        let e = resolve(&[("debug", "maybe")], &[]).unwrap_err().to_string();
        assert_eq!(e, "`debug` is \"maybe\", but it must be true or false");
        let e = resolve(&[("aws_region", "us-east-1.evil.com/x")], &[]).unwrap_err().to_string();
        assert!(e.starts_with("`aws_region`"), "{e}");
        let e = resolve(&[("endpoint_url", "ftp://x")], &[]).unwrap_err().to_string();
        assert!(e.starts_with("`endpoint_url`"), "{e}");
    }

    #[test]
    fn credentials_come_as_one_set() {
        let c =
            resolve(&[("aws_access_key_id", "AKID"), ("aws_secret_access_key", "SECRET")], &[("AWS_SESSION_TOKEN", "envtoken")]).unwrap();
        assert_eq!(
            c.credentials,
            Credentials::Aws { access_key_id: "AKID".into(), secret_access_key: "SECRET".into(), session_token: None }
        );
        let c = resolve(&[], &[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S"), ("AWS_SESSION_TOKEN", "T")]).unwrap();
        assert_eq!(c.credentials.secrets(), vec!["A", "S", "T"]);
        let e = resolve(&[("aws_access_key_id", "AKID")], &[]).unwrap_err();
        assert!(e.to_string().contains("`aws_secret_access_key` is invalid"), "{e}");
        let c = resolve(&[("aws_bearer_token_bedrock", "bk")], &[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")]).unwrap();
        assert_eq!(c.credentials, Credentials::BedrockApiKey("bk".into()));
    }

    #[test]
    fn secrets_never_in_debug_or_errors() {
        let c = resolve(
            &[("aws_access_key_id", "AKIDSECRETLOOKING"), ("aws_secret_access_key", "TOPSECRET"), ("aws_session_token", "TOKENVALUE")],
            &[],
        )
        .unwrap();
        let dbg = format!("{c:?}");
        for s in ["AKIDSECRETLOOKING", "TOPSECRET", "TOKENVALUE"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        let e = resolve(&[("aws_secret_access_key", "TOPSECRET")], &[]).unwrap_err().to_string();
        assert!(!e.contains("TOPSECRET"), "{e}");
    }

    #[test]
    fn endpoints_parse_like_the_sdk() {
        let e = Endpoint::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!((e.scheme(), e.authority(), e.base_path()), ("http", "127.0.0.1:8080", ""));
        let e = Endpoint::parse("https://Bedrock.example:443/prefix/").unwrap();
        assert_eq!((e.authority(), e.base_path()), ("bedrock.example", "/prefix"));
        // The origin a host's outbound policy allows for it (bedrock-host reads it from here).
        assert_eq!(e.origin(), "https://bedrock.example");
        assert_eq!(Endpoint::parse("http://127.0.0.1:8080").unwrap().origin(), "http://127.0.0.1:8080");
        assert_eq!(Endpoint::parse("https://user@host"), Err(EndpointError::Extras));
        assert_eq!(Endpoint::parse("localhost:80"), Err(EndpointError::NotAbsolute));
        assert_eq!(Endpoint::parse("ftp://host"), Err(EndpointError::Scheme));
        assert_eq!(Endpoint::parse("http:///path"), Err(EndpointError::Host));
    }

    #[test]
    fn an_override_is_only_what_was_configured_and_wins_over_the_standard_endpoint() {
        let c = resolve(&[("aws_region", "us-east-1"), ("endpoint_url", "http://127.0.0.1:8080")], &[]).unwrap();
        assert_eq!(c.endpoint_override().map(Endpoint::origin).as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(c.endpoint(Api::Invoke).ok().as_ref(), c.endpoint_override());
        // The standard endpoint is where calls go without one, but it is not an override.
        assert_eq!(c.mantle_endpoint_override(), None);
        assert!(c.endpoint(Api::Messages).is_ok());
    }

    #[test]
    fn every_key_is_documented_in_the_readme() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = &readme[readme.find("## Configuration").unwrap()..];
        let table = &table[..table.find("\n## ").unwrap_or(table.len())];
        for k in KEYS {
            assert!(table.contains(&format!("`{}`", k.name)), "README's configuration table lacks `{}`", k.name);
        }
    }

    #[test]
    fn unknown_keys_name_the_closest_known_one() {
        let found = unknown_keys(&["max_tokenz".into(), "max_tokens".into(), "temprature".into(), "colour".into()]);
        assert_eq!(
            found,
            vec![("max_tokenz".into(), Some("max_tokens")), ("temprature".into(), Some("temperature")), ("colour".into(), None)]
        );
        assert_eq!(model_defaults(), serde_json::json!({"max_tokens": 8192, "temperature": 1.0}));
    }

    #[test]
    fn a_portable_build_reads_each_key_from_its_own_variable() {
        assert_eq!(portable_env_name("default_model"), "BEDROCK_DEFAULT_MODEL");
        for k in KEYS {
            assert_eq!(key_of_portable_env_name(&portable_env_name(k.name)).as_deref(), Some(k.name));
        }
        assert_eq!(key_of_portable_env_name("DEBUG"), None);
    }

    #[test]
    fn every_key_is_declared_once() {
        for k in KEYS {
            assert_eq!(KEYS.iter().filter(|o| o.name == k.name).count(), 1, "{}", k.name);
        }
        for name in [
            "aws_region",
            "aws_profile",
            "default_model",
            "use_cross_region_inference",
            "max_tokens",
            "temperature",
            "timeout",
            "debug",
            "raw_debug",
            "endpoint_url",
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_bearer_token_bedrock",
        ] {
            let _ = key(name);
        }
    }

    #[test]
    fn credentials_handed_over_as_their_config_entries_resolve_to_themselves() {
        let all = [
            Credentials::None,
            Credentials::Aws { access_key_id: "AKID".into(), secret_access_key: "s".into(), session_token: None },
            Credentials::Aws { access_key_id: "AKID".into(), secret_access_key: "s".into(), session_token: Some("t".into()) },
            Credentials::BedrockApiKey("bk".into()),
        ];
        for credentials in all {
            let entries: std::collections::BTreeMap<String, String> =
                credentials.config_entries().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            for key in entries.keys() {
                assert!(is_secret(key), "{key} is a key the table marks secret");
            }
            let resolved = ProviderConfig::resolve(&MapSource(&entries)).unwrap();
            assert_eq!(resolved.credentials, credentials);
        }
    }
}
