//! The compiled component is cached on disk by content hash, and only loaded when that is safe:
//! a second load skips the compile; a damaged, foreign or world-writable entry is compiled
//! again, never run. (Its own process, so its compiles are the only ones here.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use bedrock_host::runtime::{cache_dir_from, cache_path, hash_path, is_trusted, load_component, new_engine, CacheOutcome};

#[test]
fn compiles_once_then_loads_only_intact_private_entries() {
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("cache");
    let engine = new_engine().unwrap();
    let wasm = bedrock_host::BUNDLED_COMPONENT;
    let compiles = std::cell::Cell::new(0);
    let count = || compiles.set(compiles.get() + 1);
    let load = || load_component(&engine, wasm, Some(&dir), &count).unwrap().1;

    assert_eq!((load(), load(), compiles.get()), (CacheOutcome::Compiled, CacheOutcome::Cached, 1));
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700, "a per-user directory");
    let entry = cache_path(&engine, wasm, &dir);
    assert_eq!(std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777, 0o600);
    let good = std::fs::read(&entry).unwrap();

    // Damage in the middle of the code, same length: a deserialize would accept it and run it.
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    for b in &mut damaged[middle..middle + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&entry, &damaged).unwrap();
    assert_eq!((load(), compiles.get()), (CacheOutcome::Compiled, 2), "the hash caught the damage");
    assert_eq!(std::fs::read(&entry).unwrap(), good, "the entry was rewritten whole");
    assert_eq!(load(), CacheOutcome::Cached);

    // An entry others may write is not trusted, even when intact.
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!((load(), compiles.get()), (CacheOutcome::Compiled, 3));
    assert_eq!(std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777, 0o600);

    // A recorded hash that does not match (a replaced artifact) is a recompile too.
    std::fs::write(hash_path(&entry), "0".repeat(64)).unwrap();
    assert_eq!((load(), compiles.get()), (CacheOutcome::Compiled, 4));

    // A cache directory others may write to is not used at all.
    let shared = root.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (_, outcome) = load_component(&engine, wasm, Some(&shared), &count).unwrap();
    let (_, again) = load_component(&engine, wasm, Some(&shared), &count).unwrap();
    assert_eq!((outcome, again, compiles.get()), (CacheOutcome::Compiled, CacheOutcome::Compiled, 6));
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0, "nothing was stored in a shared directory");

    // Files and directories of another user are refused.
    let meta = std::fs::metadata(&entry).unwrap();
    assert!(is_trusted(&meta, meta.uid()));
    assert!(!is_trusted(&meta, meta.uid() + 1));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn without_a_home_there_is_no_cache_rather_than_a_shared_temp_dir() {
    let env =
        |pairs: &'static [(&'static str, &'static str)]| move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.into());
    assert_eq!(cache_dir_from(env(&[])), None);
    assert_eq!(cache_dir_from(env(&[("HOME", "/home/ana")])), Some("/home/ana/.cache/amplifier-provider-bedrock".into()));
    assert_eq!(cache_dir_from(env(&[("HOME", "/home/ana"), ("XDG_CACHE_HOME", "/c")])), Some("/c/amplifier-provider-bedrock".into()));
    assert_eq!(cache_dir_from(env(&[("BEDROCK_HOST_CACHE_DIR", "/x"), ("HOME", "/h")])), Some("/x".into()));
}
