//! Where config values come from: the host's config store, then the environment (and, in the
//! portable build, `BEDROCK_…` variables).

/// Where configuration values come from: the host's config store, then the environment.
pub trait ConfigSource {
    /// The value of config key `key`, `Ok(None)` when unset, `Err` when the host failed to answer.
    fn config(&self, key: &str) -> Result<Option<String>, String>;
    /// The value of environment variable `name`, `None` when unset.
    fn env(&self, name: &str) -> Option<String>;
    /// Every key the host's config store holds, to warn about ones this component does not
    /// read (a misspelt key would otherwise be ignored in silence). Empty when unknown.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Values of config keys from a key → value map alone, no environment: how a host resolves the
/// configuration it is about to hand a call ([`ProviderConfig::resolve`]) to read its limits
/// (deadlines, the connect timeout) with the component's own parsing and defaults.
#[derive(Debug, Clone, Copy)]
pub struct MapSource<'a>(pub &'a std::collections::BTreeMap<String, String>);

impl ConfigSource for MapSource<'_> {
    fn config(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.0.get(key).cloned())
    }

    fn env(&self, _name: &str) -> Option<String> {
        None
    }

    fn keys(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// The prefix of the environment variables a portable build reads its keys from.
pub const PORTABLE_ENV_PREFIX: &str = "BEDROCK_";

/// The environment variable a portable build (no `wasi:config`) reads config key `key` from,
/// before the key's own variables: `BEDROCK_` and the key in upper case (`default_model` →
/// `BEDROCK_DEFAULT_MODEL`). A prefix, so a host's unrelated `DEBUG` or `TIMEOUT` is never taken
/// for one.
pub fn portable_env_name(key: &str) -> String {
    format!("{PORTABLE_ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// The config key a `BEDROCK_…` environment variable names, for the unknown-key warnings of a
/// portable build; `None` for other variables.
pub fn key_of_portable_env_name(name: &str) -> Option<String> {
    name.strip_prefix(PORTABLE_ENV_PREFIX).map(str::to_ascii_lowercase)
}
