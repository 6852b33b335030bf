//! Credentials from the AWS chain are fetched once and reused until five minutes before they
//! expire; a failed refresh keeps valid credentials in use, and only expired ones fail a call.
//! One test, run in a process of its own ([`common::in_own_process`]), because it sets the AWS
//! environment variables. Time is a [`ManualClock`] the chain reads: the test moves it past
//! each point that matters instead of waiting for it.

use crate::common;

use std::time::Duration;

use bedrock_emulator::{self as emulator, Emulator};
use bedrock_host::{AwsCredentialChain, ManualClock};
use common::{base, hello};

#[tokio::test]
async fn assumed_role_credentials_are_cached_then_refreshed_near_expiry() {
    if !common::in_own_process("credential_cache::assumed_role_credentials_are_cached_then_refreshed_near_expiry") {
        return;
    }
    let emu = Emulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(&config, "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\nsource_profile = base\nregion = us-east-1\n")
        .unwrap();
    std::fs::write(
        &credentials,
        format!("[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n", emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY),
    )
    .unwrap();
    // SAFETY (in spirit): this process runs this one test, so nothing else reads the environment now.
    for (k, v) in [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("AWS_ENDPOINT_URL_STS", emu.endpoint_url().as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(k, v);
    }
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"] {
        std::env::remove_var(k);
    }
    let sts_calls = || emu.requests().iter().filter(|r| r.path == "/").count();

    let chain = AwsCredentialChain::load(Some("dev")).await;
    assert_eq!(chain.region(), Some("us-east-1"));
    let p = base().fork();
    p.set_config("endpoint_url", emu.endpoint_url());
    p.set_config("aws_region", "us-east-1");
    p.set_credentials(None);
    let with_chain = |chain: AwsCredentialChain| {
        let p = p.fork();
        p.set_credential_chain(Some(chain));
        p
    };
    let clock = ManualClock::new();
    let provider = with_chain(chain.with_clock(clock.shared()));
    assert_eq!(sts_calls(), 0, "nothing is fetched before the first call");
    provider.complete(&hello("one")).await.unwrap();
    provider.complete(&hello("two")).await.unwrap();
    assert_eq!(sts_calls(), 1, "an hour-long credential is reused");
    // Until five minutes before it expires, then fetched again. The emulator's STS dates expiry
    // by the real clock, from when it answered: ten seconds of slack either side.
    clock.advance(Duration::from_secs(3600 - 300 - 10));
    provider.complete(&hello("one, later")).await.unwrap();
    assert_eq!(sts_calls(), 1, "not refreshed before the refresh margin");
    clock.advance(Duration::from_secs(20));
    provider.complete(&hello("one, within the margin")).await.unwrap();
    assert_eq!(sts_calls(), 2, "refreshed within five minutes of expiry");

    // Credentials that expire within the refresh margin are fetched again for each call.
    emu.set_sts_lifetime(Duration::from_secs(240));
    let clock = ManualClock::new();
    let provider = with_chain(AwsCredentialChain::load(Some("dev")).await.with_clock(clock.shared()));
    let before = sts_calls();
    provider.complete(&hello("three")).await.unwrap();
    provider.complete(&hello("four")).await.unwrap();
    assert_eq!(sts_calls(), before + 2);
    assert!(emu
        .requests()
        .iter()
        .filter(|r| r.operation.is_some())
        .all(|r| r.header("x-amz-security-token") == Some(emulator::STS_SESSION_TOKEN)));

    // A refresh that fails while the cached credentials are still valid: the call goes on with
    // them, and the next call within the back-off does not ask STS again.
    emu.set_sts_refusing(true);
    let before = sts_calls();
    provider.complete(&hello("five")).await.expect("still-valid credentials carry the call");
    provider.complete(&hello("six")).await.unwrap();
    assert_eq!(sts_calls(), before + 1, "one refresh attempt, then a back-off");
    // The back-off lasts 30 s: STS is not asked again before, and is after.
    clock.advance(Duration::from_secs(29));
    provider.complete(&hello("six, later")).await.unwrap();
    assert_eq!(sts_calls(), before + 1, "no attempt within the back-off");
    clock.advance(Duration::from_secs(2));
    provider.complete(&hello("six, after the back-off")).await.expect("still valid: the call goes on");
    assert_eq!(sts_calls(), before + 2, "one more attempt after the back-off");

    // Expired credentials with STS refusing: the call fails with `auth:` and the cause, briefly.
    emu.set_sts_refusing(false);
    let clock = ManualClock::new();
    let provider = with_chain(AwsCredentialChain::load(Some("dev")).await.with_clock(clock.shared()));
    provider.complete(&hello("seven")).await.unwrap();
    emu.set_sts_refusing(true);
    clock.advance(Duration::from_secs(240 + 10));
    let e = provider.complete(&hello("eight")).await.unwrap_err().to_string();
    assert!(e.starts_with("auth: "), "{e}");
    assert!(e.contains("was refused") && e.contains("not authorized to perform: sts:AssumeRole"), "the cause is named: {e}");
    assert!(!e.contains("Response {") && !e.contains("ProviderError {"), "no Debug dumps: {e}");
    assert!(e.len() < 1200, "one readable paragraph, not {} characters: {e}", e.len());
    assert!(!e.contains(emulator::SECRET_ACCESS_KEY), "{e}");
}
