//! The Python Amplifier module (`python/`) against real amplifier-core, through this build's
//! `bedrock-host serve`: runs `python/run-tests` (its own venv, pytest) and requires it to pass;
//! and installs it the way the README says, alone into a fresh venv, then runs its example.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether python3 is here; without it the test is skipped (outside CI) with a notice.
fn python3_present(what: &str) -> bool {
    if Command::new("python3").arg("--version").stdout(Stdio::null()).status().is_ok() {
        return true;
    }
    let message = format!("python3 is not installed, so {what} was not tested");
    if std::env::var_os("CI").is_some() {
        panic!("{message}; CI must run it: install python3 (with its venv module)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    false
}

#[test]
fn python_module_passes_its_tests_against_amplifier_core() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host-test sits in the repository");
    if !python3_present("the Python Amplifier module (python/)") {
        return;
    }
    // Output goes straight to the terminal as it comes (pytest's progress), not through the
    // test harness's capture.
    let status = Command::new(repo.join("python").join("run-tests"))
        .env("BEDROCK_HOST_BIN", env!("CARGO_BIN_EXE_bedrock-host"))
        // Share the compiled component with the other tests' processes.
        .env("BEDROCK_HOST_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .expect("python/run-tests starts");
    assert!(status.success(), "python/run-tests failed ({status}); its pytest output is above");
}

/// The README's Amplifier install, `pip install ./python`, into a fresh venv with nothing else:
/// the package must bring every dependency it imports and (cargo being here) its own
/// `bedrock-host`, which the module must find in the venv's `bin/` although the venv is not
/// activated. Then the README's example command runs a real AmplifierSession through it against
/// the emulator.
///
/// The wheel's host is built with this test build's profile (MATURIN_PEP517_ARGS `--profile`),
/// in the same target dir, so it is the binary cargo has just built, not a second build of
/// wasmtime at `release`; `stored` skips compressing it into the wheel.
#[test]
fn readme_install_alone_gives_a_working_module_and_the_example_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host-test sits in the repository");
    if !python3_present("the README's install of the Python module (pip install ./python)") {
        return;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh-install-venv");
    run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv), "python3 -m venv");
    let python = venv.join("bin").join("python");
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_bedrock-host")).parent().and_then(Path::file_name);
    let profile = match profile_dir.and_then(|d| d.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let started = std::time::Instant::now();
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .arg(repo.join("python"))
        .env("MATURIN_PEP517_ARGS", format!("--profile {profile} --compression-method stored"))
        .env_remove("BEDROCK_HOST_BUILD")
        .env_remove("BEDROCK_HOST_BIN");
    // What cargo set for this test process is not the user's environment, and the nested cargo
    // must see the same environment as the outer one: build scripts rerun when a variable they
    // watch changes (ring's watch OUT_DIR, CARGO_MANIFEST_DIR and CARGO_PKG_*), and a rerun
    // here would rebuild ring, rustls, aws-config, … twice per `cargo test`, once here and once
    // back in the next outer build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"].iter().any(|p| name.starts_with(p))
            || ["CARGO", "CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&&*name)
        {
            pip.env_remove(&*name);
        }
    }
    run(&mut pip, "pip install ./python");
    eprintln!("pip install ./python into a fresh venv: {:.1} s", started.elapsed().as_secs_f64());
    let bundled = venv.join("bin").join("bedrock-host");
    assert!(bundled.is_file(), "the install did not put bedrock-host in {}", bundled.display());

    // Not activated, and no other bedrock-host to fall back on: the module must find its own.
    let path: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|dir| !dir.join("bedrock-host").exists() && !dir.starts_with(&venv))
        .collect();
    let path = std::env::join_paths(path).expect("PATH entries join");
    let python_run = |args: &[&str]| -> Output {
        let mut cmd = Command::new(&python);
        cmd.args(args).current_dir(std::env::temp_dir()).env("PATH", &path).env_remove("BEDROCK_HOST_BIN");
        cmd.env("BEDROCK_HOST_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"));
        run(&mut cmd, &format!("python {}", args.join(" ")))
    };

    let found = python_run(&["-c", "from amplifier_module_provider_bedrock.host import find_host_binary; print(find_host_binary(None))"]);
    let found = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert_eq!(Path::new(&found), bundled.canonicalize().expect("the bundled binary resolves"), "the module's lookup");

    let example = repo.join("python").join("examples").join("session.py");
    let example = example.to_str().expect("a UTF-8 path");
    for (args, served) in [
        (vec![example, "Hello from a fresh install"], "emulator served: invoke us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        (
            vec![example, "--model", "anthropic.claude-sonnet-5", "Hello from a fresh install"],
            "emulator served: messages anthropic.claude-sonnet-5",
        ),
    ] {
        let out = python_run(&args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout, "Hello from the local Bedrock emulator! You said: Hello from a fresh install\n", "{stderr}");
        assert!(stderr.lines().any(|l| l == format!("bedrock-host: {found}")), "the example used another host: {stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("emulator served:")).collect::<Vec<_>>(), [served], "{stderr}");
    }
}

/// Runs `cmd` to success and returns its output; on failure, panics with both streams.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}
