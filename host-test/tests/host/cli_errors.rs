//! What the CLI says when something is wrong: the missing region names the CLI's own
//! `--region`, no message carries Rust's `Debug` text, and every error prefix a user can meet is
//! in README's error table.

use crate::common;

use std::process::{Command, Output, Stdio};

use amplifier_provider_bedrock::error::ErrorKind;
use bedrock_emulator::{self as emulator, Emulator};

/// `bedrock-host ARGS` with exactly this AWS setup (no AWS_* or ANTHROPIC_* of the caller's, no
/// profile files unless given) and `stdin` piped in.
async fn run(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-host"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") || name.starts_with("ANTHROPIC_") || name == "PROVIDER_WASM" || name == "BEDROCK_HOST_PROFILER" {
            command.env_remove(name);
        }
    }
    command
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let input = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("bedrock-host starts");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_region_names_the_clis_own_region_option() {
    let emu = Emulator::start().await.unwrap();
    let url = emu.endpoint_url();
    let keys = [
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY),
    ];
    for args in [&["complete", "Hi"][..], &["count-tokens", "Hi"], &["chat"]] {
        let out = run(args, &keys, "Hi\n").await;
        assert_eq!(out.status.code(), Some(78), "{args:?}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(e.starts_with("config: no AWS region is configured: pass --region (as in --region us-east-1), set AWS_REGION, "), "{e}");
        assert!(e.contains("-c aws_region=us-east-1") && e.trim().lines().count() == 1, "{e}");
    }
    // A named profile without a region is named.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile work]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n").unwrap();
    let out = run(
        &["complete", "--profile", "work", "Hi"],
        &[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_CONFIG_FILE", config.to_str().unwrap())],
        "",
    )
    .await;
    assert!(
        stderr(&out).contains("give the profile `work` a region (aws configure set region us-east-1 --profile work)"),
        "{}",
        stderr(&out)
    );
    assert!(emu.requests().is_empty(), "nothing was sent");

    // Each place a region can come from is enough.
    let mut with_profile_region = keys.to_vec();
    let regional = dir.path().join("regional");
    std::fs::write(&regional, "[default]\nregion = us-east-1\n").unwrap();
    with_profile_region.push(("AWS_CONFIG_FILE", regional.to_str().unwrap()));
    for (args, extra) in [
        (&["complete", "--region", "us-east-1", "Hi"][..], None),
        (&["complete", "-c", "aws_region=us-east-1", "Hi"], None),
        (&["complete", "Hi"], Some(("AWS_DEFAULT_REGION", "us-east-1"))),
    ] {
        let mut env = keys.to_vec();
        env.extend(extra);
        let out = run(args, &env, "").await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = run(&["complete", "Hi"], &with_profile_region, "").await;
    assert!(out.status.success(), "the profile's region: {}", stderr(&out));
    assert_eq!(emu.requests().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_starts_without_a_region_since_a_mount_can_bring_one() {
    // No region anywhere: isolated_bedrock_host passes no AWS_* variable and no config file.
    let mut child = common::isolated_bedrock_host().args(["serve"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("READY:"), "{first}");
}

/// The prefixes of README's "Errors" table.
fn readme_prefixes() -> Vec<String> {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let section = readme.split("\n## Errors\n").nth(1).expect("README has an Errors section").split("\n## ").next().unwrap();
    section.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split_once('`')).map(|(prefix, _)| prefix.to_string()).collect()
}

/// README's "Errors" table: each prefix with the exit statuses its "exit status" cell names.
fn readme_exit_statuses() -> Vec<(String, std::collections::BTreeSet<u8>)> {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let section = readme.split("\n## Errors\n").nth(1).unwrap().split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let prefix = l.split('`').next().unwrap().to_string();
            let cell = l.trim_end().trim_end_matches('|').rsplit('|').next().unwrap();
            // The numbers of the cell, not those in its `EX_…` names or its HTTP statuses.
            let cell = cell.split_once(" (503").map_or(cell, |(before, _)| before);
            let numbers = cell.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
            (prefix, numbers)
        })
        .collect()
}

/// The exit status column says, for each prefix, the statuses `bedrock-host` ends with: those of
/// its kinds in the one table (`FailureKind::statuses`), and the CLI's own (2 usage, 1 chat).
#[test]
fn readmes_exit_statuses_are_the_tables() {
    use bedrock_host::FailureKind;
    let mut expected: Vec<(String, std::collections::BTreeSet<u8>)> = Vec::new();
    for kind in ErrorKind::ALL {
        let prefix = format!("{}:", kind.prefix());
        let status = FailureKind::Provider(kind).exit_status();
        match expected.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, set)) => _ = set.insert(status),
            None => expected.push((prefix, [status].into())),
        }
    }
    expected.push(("host:".into(), FailureKind::HOST.map(|k| FailureKind::Host(k).exit_status()).into()));
    expected.extend([("usage error:".into(), [2].into()), ("error:".into(), [2].into()), ("chat:".into(), [1].into())]);
    assert_eq!(readme_exit_statuses(), expected);
}

/// A failing run: arguments, environment, standard input, and the prefix of what it prints.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);

/// What the user sees first: the message's prefix, up to its first colon.
fn prefix_of(message: &str) -> String {
    let first = message.trim_start().lines().next().unwrap_or_default();
    format!("{}:", first.split_once(':').map(|(p, _)| p).unwrap_or(first))
}

/// The component's prefixes, from their one list (`ErrorKind::prefixes`), each with its colon.
fn component_prefixes() -> Vec<String> {
    ErrorKind::prefixes().map(|p| format!("{p}:")).collect()
}

/// What the host adds to the component's prefixes: its own calls (`host:`) and the CLI's.
const HOST_PREFIXES: [&str; 4] = ["host:", "usage error:", "error:", "chat:"];

/// Every place that lists the prefixes lists the component's, in their order, and only what
/// exists: the README's table, the component's `--help` (built from the list), the Python
/// module's docstring (which the gRPC statuses it maps carry, `host:` included).
#[test]
fn every_list_of_error_prefixes_is_the_one_in_error_kind() {
    let component = component_prefixes();
    let mut expected = component.clone();
    expected.extend(HOST_PREFIXES.map(str::to_string));
    assert_eq!(readme_prefixes(), expected, "README's Errors table");

    let help = amplifier_provider_bedrock::cli::usage();
    let listed = help.split_once("stable prefix (").and_then(|(_, rest)| rest.split_once(')')).map(|(list, _)| list).unwrap();
    assert_eq!(listed.split(", ").collect::<Vec<_>>(), component, "the component's --help");

    let module = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/amplifier_module_provider_bedrock/errors.py");
    let source = std::fs::read_to_string(module).unwrap();
    let docstring = source.split("\"\"\"").nth(1).unwrap();
    let mut in_docstring: Vec<(usize, String)> = expected
        .iter()
        .filter(|p| !["usage error:", "error:", "chat:"].contains(&p.as_str()))
        .map(|p| (docstring.find(&format!("`{p}`")).unwrap_or_else(|| panic!("errors.py's docstring lacks `{p}`")), p.clone()))
        .collect();
    in_docstring.sort();
    let order: Vec<String> = in_docstring.into_iter().map(|(_, p)| p).collect();
    let mut component_then_host = component.clone();
    component_then_host.push("host:".into());
    assert_eq!(order, component_then_host, "errors.py's docstring lists the prefixes in ErrorKind::ALL's order, then host:");

    // The WIT `errors.error-kind` enum: ErrorKind::ALL's cases in order, each documented with
    // its prefix.
    let wit = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/world.wit")).unwrap();
    let body = wit.split_once("enum error-kind {").and_then(|(_, rest)| rest.split_once('}')).map(|(body, _)| body).unwrap();
    let mut doc = String::new();
    let mut cases = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.strip_prefix("///") {
            Some(text) => doc.push_str(text),
            None => cases.push((line.trim_end_matches(',').to_string(), std::mem::take(&mut doc))),
        }
    }
    let expected: Vec<(String, String)> = ErrorKind::ALL.iter().map(|k| (k.name().to_string(), format!("`{}:`", k.prefix()))).collect();
    assert_eq!(cases.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), expected.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());
    for ((name, doc), (_, prefix)) in cases.iter().zip(&expected) {
        assert!(doc.trim_start().starts_with(prefix.as_str()), "wit/world.wit: error-kind `{name}` is documented as {prefix}: {doc}");
    }

    // The Node.js package's ERROR_KINDS (the prefixes) and ERROR_REASONS (kind → prefix).
    let js = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../js/index.js")).unwrap();
    let kinds = js.split_once("ERROR_KINDS = Object.freeze([").and_then(|(_, rest)| rest.split_once("])")).unwrap().0;
    let kinds: Vec<String> = kinds.split(',').map(|k| format!("{}:", k.trim().trim_matches('\''))).collect();
    assert_eq!(kinds, component, "js/index.js ERROR_KINDS");
    let reasons = js.split_once("ERROR_REASONS = Object.freeze({").and_then(|(_, rest)| rest.split_once("})")).unwrap().0;
    let reasons: Vec<(String, String)> = reasons
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (k, v) = e.split_once(':').unwrap();
            (k.trim().trim_matches('\'').to_string(), format!("`{}:`", v.trim().trim_matches('\'')))
        })
        .collect();
    assert_eq!(reasons, expected, "js/index.js ERROR_REASONS: every WIT error-kind and its prefix");

    // errors.py's _BY_KIND: a row for every kind serve's metadata can name, and no other.
    let by_kind = source.split_once("_BY_KIND: dict[str, type[LLMError]] = {").and_then(|(_, rest)| rest.split_once('}')).unwrap().0;
    let rows: Vec<String> =
        by_kind.lines().filter_map(|l| l.trim().strip_prefix('"')).map(|l| l.split('"').next().unwrap().to_string()).collect();
    let names: Vec<String> = ErrorKind::ALL
        .iter()
        .map(|k| bedrock_host::FailureKind::Provider(*k))
        .chain(bedrock_host::FailureKind::HOST.map(bedrock_host::FailureKind::Host))
        .map(|k| k.name().to_string())
        .collect();
    assert_eq!(rows, names, "errors.py's _BY_KIND: one row per kind, in order");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_the_cli_prints_has_a_prefix_in_readmes_table_and_no_debug_text() {
    let prefixes = readme_prefixes();
    let emu = Emulator::start().await.unwrap();
    let url = emu.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, serde_json::json!({"messages": [{"role": "user", "content": "x".repeat(3_000_000)}]}).to_string()).unwrap();
    let keys = [
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY),
    ];
    let wrong_key = [keys[0], keys[1], keys[2], ("AWS_SECRET_ACCESS_KEY", "wrong")];
    let bad_url = [("AWS_ENDPOINT_URL", "http://[::1"), keys[1], keys[2], keys[3]];
    let profiler = [keys[0], keys[1], keys[2], keys[3], ("BEDROCK_HOST_PROFILER", "vtune")];
    let no_wasm = [keys[0], keys[1], keys[2], keys[3], ("PROVIDER_WASM", "/nonexistent/provider.wasm")];
    let too_big = ["complete", "--memory-cap", "2", "--request", big.to_str().unwrap()];
    let cases: Vec<Case<'_>> = vec![
        (&["complete", "--model", "anthropic.claude-nonsense-9", "Hi"], &keys, "", "model:"),
        (&["complete", "-c", "temperature=hot", "Hi"], &keys, "", "config:"),
        (&["complete", "Hi"], &wrong_key, "", "auth:"),
        (&["complete", "--request", "-"], &keys, r#"{"messages": "hi"}"#, "validation:"),
        (&too_big, &keys, "", "host:"),
        (&["complete", "--call-timeout=-1", "Hi"], &keys, "", "usage error:"),
        (&["complete", "Hi"], &bad_url, "", "usage error:"),
        (&["complete", "Hi"], &profiler, "", "host:"),
        (&["complete", "Hi"], &no_wasm, "", "host:"),
        (&["chat"], &wrong_key, "Hi\n", "auth:"),
    ];
    for (args, env, stdin, expected) in cases {
        let out = run(args, env, stdin).await;
        let e = stderr(&out);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(prefix_of(&e), expected, "{args:?}: {e}");
        for line in e.lines() {
            assert!(prefixes.contains(&prefix_of(line)), "{args:?}: `{}` is not in README's error table: {line}", prefix_of(line));
            for debug in ["Some(", "None", "Error {", "kind:", "Os {", "\\\""] {
                assert!(!line.contains(debug), "{args:?}: Rust Debug text `{debug}` in: {line}");
            }
        }
    }
    // The command line's own parser (clap) says `error:` first, then its usage lines.
    let out = run(&["complete", "--no-such-flag"], &keys, "").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(prefix_of(&stderr(&out)), "error:", "{}", stderr(&out));
}
