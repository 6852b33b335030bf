//! The build settings that keep the component small stay in place: the component crate is
//! cdylib-only (cargo drops LTO for a crate that is also an rlib, cargo issue 9672), the host's
//! rlib of the same source (host-test/component-lib) has the same dependencies, and `tracing` is
//! compiled out of the component.

use std::path::PathBuf;

fn manifest(rel: &str) -> toml::Table {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap().parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_component_crate_is_cdylib_only_so_lto_applies() {
    let root = manifest("../Cargo.toml");
    let crate_type = root["lib"]["crate-type"].as_array().unwrap();
    assert_eq!(crate_type, &vec![toml::Value::from("cdylib")], "an rlib crate type makes cargo drop lto = true");
    let release = root["profile"]["release"].as_table().unwrap();
    assert_eq!(release["lto"].as_bool(), Some(true));
    assert_eq!(release["codegen-units"].as_integer(), Some(1));
    assert_eq!(release["panic"].as_str(), Some("abort"));
    let wasm_deps = root["target"]["cfg(target_arch = \"wasm32\")"]["dependencies"].as_table().unwrap();
    let features = wasm_deps["tracing"]["features"].as_array().unwrap();
    assert!(features.contains(&toml::Value::from("max_level_off")), "tracing is compiled out of the component");
}

#[test]
fn the_size_probe_builds_with_the_components_release_profile() {
    let root = manifest("../Cargo.toml");
    let probe = manifest("size-probe/Cargo.toml");
    assert_eq!(root["profile"]["release"], probe["profile"]["release"], "size-probe/Cargo.toml's [profile.release] must equal the root's");
}

#[test]
fn the_hosts_rlib_of_the_component_source_has_the_same_dependencies() {
    let root = manifest("../Cargo.toml");
    let lib = manifest("component-lib/Cargo.toml");
    assert_eq!(
        root["dependencies"], lib["dependencies"],
        "host-test/component-lib/Cargo.toml's [dependencies] must equal the root Cargo.toml's"
    );
    assert_eq!(lib["lib"]["path"].as_str(), Some("../../src/lib.rs"));
}
