//! One wasmtime engine per process, the component compiled once and cached on disk.
//!
//! Compiling the component takes far longer than instantiating it, so the compiled artifact is
//! stored under a key made of the wasm's SHA-256 and the engine's compatibility hash; a changed
//! component or a different wasmtime gets a fresh compile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances; per-call CPU deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// An engine with the component model and epoch interruption, plus the thread
/// that advances its epoch (it stops when the engine is dropped).
pub fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("bedrock-host-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .context("starting the epoch thread")?;
    Ok(engine)
}

/// Where compiled components are cached: `$BEDROCK_HOST_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/amplifier-provider-bedrock`, else `~/.cache/amplifier-provider-bedrock`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BEDROCK_HOST_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("amplifier-provider-bedrock")
}

/// Whether a load compiled the component or reused the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Compiled now (and stored, when a cache dir was given).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

/// The cache file for `wasm` under `engine`.
pub fn cache_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(wasm);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    cache_dir.join(format!("{}-{:016x}.cwasm", hex::encode(&digest[..16]), hasher.finish()))
}

/// Loads the component `wasm`, from the cache when possible. `on_compile` runs just before a
/// (slow) compile, so a CLI can say so.
pub fn load_component(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>, on_compile: &dyn Fn()) -> Result<(Component, CacheOutcome)> {
    let Some(dir) = cache_dir else {
        on_compile();
        return Ok((Component::new(engine, wasm)?, CacheOutcome::Compiled));
    };
    let path = cache_path(engine, wasm, dir);
    if path.exists() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash (it is in the name), into a cache directory this user owns.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, CacheOutcome::Cached)),
            Err(_) => {
                // A truncated or foreign file: compile again and replace it.
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    on_compile();
    let compiled = engine.precompile_component(wasm).map_err(anyhow::Error::from).context("compiling the component")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating the cache dir {}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("storing {}", path.display()))?;
    // SAFETY: these bytes come from `precompile_component` of this very engine just now.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, CacheOutcome::Compiled))
}
