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
    // LTO, panic and strip are per profile: `release` (the host's too) keeps the component's.
    let release = root["profile"]["release"].as_table().unwrap();
    assert_eq!(release["lto"].as_bool(), Some(true));
    assert_eq!(release["codegen-units"].as_integer(), Some(1));
    assert_eq!(release["panic"].as_str(), Some("abort"));
    assert_eq!(release["opt-level"].as_str(), Some("z"), "the component's own crate is built for size");
    let wasm_deps = root["target"]["cfg(target_arch = \"wasm32\")"]["dependencies"].as_table().unwrap();
    let features = wasm_deps["tracing"]["features"].as_array().unwrap();
    assert!(features.contains(&toml::Value::from("max_level_off")), "tracing is compiled out of the component");
}

/// `cargo install --path host-test` and `cargo build --release -p bedrock-host` build the host
/// and all its dependencies for speed (issue 23: the installed binary is the fast one), while
/// the embedded and released component is built for size everywhere but the per-byte crates.
#[test]
fn release_builds_a_fast_host_and_component_builds_a_small_component() {
    let root = manifest("../Cargo.toml");
    let profile = root["profile"].as_table().unwrap();
    let release = profile["release"]["package"].as_table().unwrap();
    for package in ["*", "bedrock-host", "bedrock-emulator", "amplifier-provider-bedrock-lib"] {
        assert_eq!(release[package]["opt-level"].as_integer(), Some(3), "[profile.release.package.{package:?}] opt-level");
    }
    let component = profile["component"].as_table().unwrap();
    assert_eq!(component["inherits"].as_str(), Some("release"), "the component keeps release's LTO, panic and strip");
    assert_eq!(component["package"]["*"]["opt-level"].as_str(), Some("z"));
    let build_rs = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build.rs")).unwrap();
    assert!(build_rs.contains("const PROFILE: &str = \"component\";"), "build.rs embeds the component profile's build");
}

/// The probe measures crates under the component's settings: its `[profile.release]` is the
/// root's `component` profile written out (release's settings, "z" everywhere, the same
/// per-byte crates at 3).
#[test]
fn the_size_probe_builds_with_the_components_profile() {
    let root = manifest("../Cargo.toml");
    let probe = manifest("size-probe/Cargo.toml");
    let mut root_release = root["profile"]["release"].as_table().unwrap().clone();
    let mut probe_release = probe["profile"]["release"].as_table().unwrap().clone();
    root_release.remove("package");
    let probe_packages = probe_release.remove("package").unwrap();
    assert_eq!(root_release, probe_release, "size-probe/Cargo.toml's [profile.release] settings must equal the root's release settings");
    let mut component_packages = root["profile"]["component"]["package"].as_table().unwrap().clone();
    let everything = component_packages.remove("*").unwrap();
    assert_eq!(everything["opt-level"], probe_release["opt-level"]);
    assert_eq!(
        toml::Value::Table(component_packages),
        probe_packages,
        "the probe's per-package levels must equal [profile.component.package]"
    );
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
