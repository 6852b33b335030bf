//! Builds the component (wasm32-wasip2, the workspace's `component` profile: built for size) so `cargo run` and `cargo test` need no other
//! step, and generates the gRPC code for Amplifier's `amplifier_module.proto`. The nested build
//! uses its own target dir: sharing the outer one deadlocks on its lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// The root Cargo.toml's profile for the component as shipped (`release` is the host's).
const PROFILE: &str = "component";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    generate_grpc(&manifest_dir);
    let root = manifest_dir.parent().expect("host-test lives inside the workspace").to_path_buf();
    for input in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let outer_target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"));
    let nested_target = outer_target.join("component");

    ensure_target_installed();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = |features: &[&str]| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args(["build", "--profile", PROFILE, "-p", "amplifier-provider-bedrock", "--target", TARGET])
            .args(features)
            .arg("--target-dir")
            .arg(&nested_target);
        // The outer build's flags and wrappers (clippy, coverage) are for host code, not the component.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC_WRAPPER",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd.status().expect("could not start cargo to build the component");
        if !status.success() {
            panic!(
                "building the component (cargo build -p amplifier-provider-bedrock --target {TARGET} --profile {PROFILE} {}) failed; see the errors above",
                features.join(" ")
            );
        }
    };
    let release = nested_target.join(TARGET).join(PROFILE);
    let wasm = release.join("amplifier_provider_bedrock.wasm");
    // The portable build first (same target dir: the dependencies are built once), copied aside,
    // then the default one, which stays at the path cargo gives it.
    build(&["--no-default-features"]);
    let portable = release.join("amplifier_provider_bedrock_portable.wasm");
    std::fs::copy(&wasm, &portable).expect("copying the portable component aside");
    build(&[]);
    assert!(wasm.exists(), "the component build did not produce {}", wasm.display());
    println!("cargo:rustc-env=BEDROCK_PROVIDER_WASM={}", wasm.display());
    println!("cargo:rustc-env=BEDROCK_PORTABLE_WASM={}", portable.display());
}

/// Installs the wasm32-wasip2 standard library with rustup when it is missing
/// (`RUSTUP_AUTO_INSTALL=0` machines do not fetch it on demand).
fn ensure_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|s| Path::new(&s).join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (first build only)");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    match status {
        Ok(s) if s.success() => {}
        _ => panic!("the {TARGET} target is missing and `rustup target add {TARGET}` failed: install it by hand and build again"),
    }
}

/// Generates the `amplifier.module` messages and services (servers and clients) from the vendored
/// proto. protox parses it in Rust, so no `protoc` has to be installed.
fn generate_grpc(manifest_dir: &Path) {
    let proto_dir = manifest_dir.join("proto");
    let proto = proto_dir.join("amplifier_module.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir]).unwrap_or_else(|e| panic!("parsing {}: {e}", proto.display()));
    tonic_prost_build::configure()
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("generating gRPC code from {}: {e}", proto.display()));
}
