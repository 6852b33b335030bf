//! The component's configuration as a host hands it over: any keys and values (one
//! `key=value` per line) resolve or fail with a `config:` error naming the key; never a panic.
#![no_main]

use amplifier_provider_bedrock::config::ProviderConfig;
use amplifier_provider_bedrock::error::ProviderError;
use amplifier_provider_bedrock::testing::ConfigPairs;
use amplifier_provider_bedrock::wire::Api;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pairs = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let source = ConfigPairs(pairs);
    match ProviderConfig::resolve(&source) {
        Ok(config) => {
            for api in [Api::Invoke, Api::Messages] {
                let _ = config.endpoint(api);
            }
            let _ = config.require_region();
        }
        Err(e) => {
            let shown = ProviderError::from(e).to_string();
            assert!(shown.starts_with("config: "), "{shown}");
        }
    }
});
