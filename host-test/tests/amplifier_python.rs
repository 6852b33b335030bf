//! The Python Amplifier module (`python/`) against real amplifier-core, through this build's
//! `bedrock-host serve`: runs `python/run-tests` (its own venv, pytest) and requires it to pass.

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn python_module_passes_its_tests_against_amplifier_core() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host-test sits in the repository");
    if Command::new("python3").arg("--version").stdout(Stdio::null()).status().is_err() {
        let message = "python3 is not installed, so the Python Amplifier module (python/) was not tested";
        if std::env::var_os("CI").is_some() {
            panic!("{message}; CI must run it: install python3 (with its venv module)");
        }
        eprintln!("\n*** SKIPPED: {message} ***\n");
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
