//! The component (embedded bytes and call bindings), one wasmtime engine per process, and the
//! component compiled once and cached on disk.
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

/// Call bindings for the component's exports.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "bedrock-provider-exports",
        exports: { default: async },
    });
}

/// The component built with this crate, embedded in the binary: `cargo install` deletes the
/// build tree, and an installed `bedrock-host` must work anywhere.
pub static BUNDLED_COMPONENT: &[u8] = include_bytes!(env!("BEDROCK_PROVIDER_WASM"));

/// Where the build left the component file, for tools that need a path (the stock `wasmtime`
/// CLI). Only meaningful inside the build tree; the host itself uses [`BUNDLED_COMPONENT`].
pub const BUILT_COMPONENT_PATH: &str = env!("BEDROCK_PROVIDER_WASM");

/// Where the build put the portable component (no `wasi:config` import, every key from the
/// environment: the `wasi-config` feature off), for hosts without `wasi:config` and the tests
/// that run it there.
pub const BUILT_PORTABLE_COMPONENT_PATH: &str = env!("BEDROCK_PORTABLE_WASM");

/// The component to run: the file named by `PROVIDER_WASM` when set (to try another build
/// without rebuilding the host), else [`BUNDLED_COMPONENT`].
pub fn component_wasm() -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
    match std::env::var_os("PROVIDER_WASM") {
        Some(path) => std::fs::read(&path)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| anyhow::anyhow!("PROVIDER_WASM={}: {e}; unset it to use the bundled component", path.to_string_lossy())),
        None => Ok(std::borrow::Cow::Borrowed(BUNDLED_COMPONENT)),
    }
}

/// How often the epoch advances; per-call CPU deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Names the profiler to turn on: `perfmap` makes wasmtime write `/tmp/perf-<pid>.map`, so
/// `perf report` names the component's own functions (BENCHMARKS.md, "Profiling").
pub const PROFILER_VAR: &str = "BEDROCK_HOST_PROFILER";

/// An engine with the component model and epoch interruption, plus the thread
/// that advances its epoch (it stops when the engine is dropped).
pub fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    match std::env::var(PROFILER_VAR) {
        Ok(name) if name == "perfmap" => {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        Ok(name) if !name.is_empty() => {
            anyhow::bail!("{PROFILER_VAR}={name}: the profiler it can turn on is `perfmap`; unset it otherwise")
        }
        _ => {}
    }
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
/// `None` when none of them is set: never a shared temp directory, where another user could
/// plant native code for this host to run.
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
}

/// [`default_cache_dir`] for a given environment.
pub fn cache_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    if let Some(dir) = var("BEDROCK_HOST_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = var("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("amplifier-provider-bedrock"))
}

/// Whether a load compiled the component or reused the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Compiled now (and stored, when a usable cache dir was given).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

/// The cache file for `wasm` under `engine`; its SHA-256 is kept beside it in
/// [`hash_path`]`(&path)`.
pub fn cache_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(wasm);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    cache_dir.join(format!("{}-{:016x}.cwasm", hex::encode(&digest[..16]), hasher.finish()))
}

/// Where the SHA-256 of a cache file is recorded.
pub fn hash_path(cache_file: &Path) -> PathBuf {
    let mut name = cache_file.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Whether a file or directory may be trusted with code this host will run: owned by `uid`
/// (the user running the host) and writable by nobody else.
#[cfg(unix)]
pub fn is_trusted(metadata: &std::fs::Metadata, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    metadata.uid() == uid && metadata.mode() & 0o022 == 0
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates the cache directory (mode 0700) or checks the one that is there. `false`: it is
/// not ours or others may write to it, so it is not used.
fn prepare_dir(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).is_err() {
            return false;
        }
        let Ok(metadata) = std::fs::symlink_metadata(dir) else { return false };
        if !metadata.is_dir() || !is_trusted(&metadata, current_uid()) {
            return false;
        }
        // Ours, so tighten an older, more open mode to the per-user one.
        metadata.permissions().mode() & 0o777 == 0o700 || std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).is_ok()
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).is_ok()
    }
}

/// The cached artifact at `path`, if it is ours, nobody else can write it, and its bytes
/// still have the hash recorded beside them.
fn read_trusted(path: &Path) -> Option<Vec<u8>> {
    let mut file = std::fs::File::open(path).ok()?;
    let metadata = file.metadata().ok()?;
    #[cfg(unix)]
    if !metadata.is_file() || !is_trusted(&metadata, current_uid()) {
        return None;
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
    let recorded = std::fs::read_to_string(hash_path(path)).ok()?;
    (hex::encode(Sha256::digest(&bytes)) == recorded.trim()).then_some(bytes)
}

/// Writes `bytes` to `path` through a private temporary file and a rename, so a reader sees
/// the old file or the whole new one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| std::io::Write::write_all(&mut f, bytes));
    written.and_then(|()| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Loads the component `wasm`, from the cache when possible. `on_compile` runs just before a
/// (slow) compile, so a CLI can say so.
///
/// The cache is used only when it is safe to: the directory is this user's and private, the
/// file is this user's and writable by nobody else, and its bytes match the hash recorded when
/// it was written. Anything else is compiled afresh (and the entry rewritten), never loaded:
/// a compiled artifact is native code the host runs.
pub fn load_component(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>, on_compile: &dyn Fn()) -> Result<(Component, CacheOutcome)> {
    let Some(dir) = cache_dir.filter(|d| prepare_dir(d)) else {
        on_compile();
        return Ok((Component::new(engine, wasm)?, CacheOutcome::Compiled));
    };
    let path = cache_path(engine, wasm, dir);
    if let Some(bytes) = read_trusted(&path) {
        // SAFETY: these bytes were written by `precompile_component` of an engine with the same
        // compatibility hash (it is in the name), by this user, into this user's private
        // directory, and they still match the hash recorded with them.
        if let Ok(c) = unsafe { Component::deserialize(engine, &bytes) } {
            return Ok((c, CacheOutcome::Cached));
        }
    }
    on_compile();
    let compiled = engine.precompile_component(wasm).map_err(anyhow::Error::from).context("compiling the component")?;
    // The hash goes first: a reader that meets the new artifact with the old hash recompiles.
    let stored =
        write_private(&hash_path(&path), hex::encode(Sha256::digest(&compiled)).as_bytes()).and_then(|()| write_private(&path, &compiled));
    if stored.is_err() {
        // A cache that cannot be written costs a compile next time, not this call.
        let _ = std::fs::remove_file(hash_path(&path));
    }
    // SAFETY: these bytes come from `precompile_component` of this very engine just now.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, CacheOutcome::Compiled))
}
