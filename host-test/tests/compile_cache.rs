//! The compiled component is cached on disk by content hash: a second load skips the compile,
//! a damaged cache file is replaced. (Its own process, so its compile is the only one here.)

use bedrock_host::runtime::{cache_path, load_component, new_engine, CacheOutcome};

#[test]
fn compiles_once_then_loads_from_cache_and_heals_a_damaged_entry() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = new_engine().unwrap();
    let wasm = bedrock_host::BUNDLED_COMPONENT;
    let compiles = std::cell::Cell::new(0);
    let count = || compiles.set(compiles.get() + 1);

    let (_, first) = load_component(&engine, wasm, Some(&dir), &count).unwrap();
    let (_, second) = load_component(&engine, wasm, Some(&dir), &count).unwrap();
    assert_eq!((first, second, compiles.get()), (CacheOutcome::Compiled, CacheOutcome::Cached, 1));

    let entry = cache_path(&engine, wasm, &dir);
    let len = std::fs::metadata(&entry).unwrap().len();
    std::fs::write(&entry, b"not a compiled component").unwrap();
    // A damaged entry fails to load, so the component is compiled again and the entry rewritten whole.
    let (_, healed) = load_component(&engine, wasm, Some(&dir), &count).unwrap();
    assert_eq!((healed, compiles.get()), (CacheOutcome::Compiled, 2));
    assert_eq!(std::fs::metadata(&entry).unwrap().len(), len);
    let _ = std::fs::remove_dir_all(&dir);
}
