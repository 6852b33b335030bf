//! AWS authentication as the emulator checks it: SigV4 recomputed with the emulator's own key
//! (or a Bedrock API key compared), what a failed check answers, and the STS `AssumeRole` that
//! hands out the emulator's key with a session token.

use std::time::{Duration, SystemTime};

use super::scripted::{RecordedRequest, Scripted};

/// Access key id the emulator accepts.
pub const ACCESS_KEY_ID: &str = "AKIDEMULATOREXAMPLE01";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "emulator/K7MDENG+bPxRfiCYEXAMPLEKEY0000001";
/// Session token handed out by the emulator's STS `AssumeRole`.
pub const STS_SESSION_TOKEN: &str = "FQoGZXIvYXdzEmulatorAssumedRoleSessionToken";

/// Bedrock API key the emulator accepts.
pub const API_KEY: &str = "ABSKZW11bGF0b3ItYXBpLWtleQ==";

/// Checks the Authorization header: recomputes SigV4 over the signed headers with the known
/// secret, or compares the bearer API key.
pub(super) fn verify(method: &str, path: &str, headers: &[(String, String)], body: &[u8], expected_service: &str) -> Result<(), String> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let auth = get("authorization").ok_or("missing Authorization header")?;
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return if token == API_KEY { Ok(()) } else { Err("unknown API key".into()) };
    }
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or("unsupported authorization scheme")?;
    let field = |name: &str| rest.split(", ").find_map(|p| p.strip_prefix(name)).map(str::to_string);
    let credential = field("Credential=").ok_or("malformed Authorization: no Credential")?;
    let signed_headers = field("SignedHeaders=").ok_or("malformed Authorization: no SignedHeaders")?;
    let mut scope = credential.split('/');
    let (key_id, _date, region, service) =
        (scope.next().unwrap_or(""), scope.next().unwrap_or(""), scope.next().unwrap_or(""), scope.next().unwrap_or(""));
    if key_id != ACCESS_KEY_ID {
        return Err(format!("unknown access key {key_id}"));
    }
    if service != expected_service {
        return Err(format!("credential scope names service {service:?}, not {expected_service:?}"));
    }
    let amz_date = get("x-amz-date").ok_or("missing X-Amz-Date")?;
    let time = parse_amz_date(amz_date).ok_or("malformed X-Amz-Date")?;
    let skew = SystemTime::now().duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(15 * 60) {
        return Err(format!("signature expired: {amz_date} is more than 15 minutes from the server time"));
    }
    let host = get("host").ok_or("missing Host header")?;
    let url = format!("http://{host}{path}");
    let to_sign: Vec<(&str, &str)> = signed_headers.split(';').filter(|h| *h != "host").map(|h| (h, get(h).unwrap_or(""))).collect();
    let added = sign_with_emulator_key(method, &url, &to_sign, body, region, expected_service, time, get("x-amz-security-token"))?;
    let expected = added.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone()).unwrap_or_default();
    if expected == auth {
        Ok(())
    } else {
        Err("signature mismatch".into())
    }
}

/// The SigV4 headers (`Authorization`, `X-Amz-Date`, …) for a request signed with the
/// emulator's key: how the emulator checks a signature, and how native clients (the bench)
/// make one.
#[allow(clippy::too_many_arguments)]
pub fn sign_with_emulator_key(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    region: &str,
    service: &str,
    time: SystemTime,
    session_token: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, session_token.map(str::to_string), None, "emulator")
            .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body)).map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// `20250929T120000Z` → SystemTime.
pub(super) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes()[8] != b'T' {
        return None;
    }
    let rfc3339 = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    let dt = aws_smithy_types::DateTime::from_str(&rfc3339, aws_smithy_types::date_time::Format::DateTime).ok()?;
    SystemTime::try_from(dt).ok()
}

/// The error code AWS answers a failed check with, from why [`verify`] refused it.
pub(super) fn failure_code(failure: &str) -> &'static str {
    if failure.starts_with("unknown access key") || failure.starts_with("unknown API key") {
        "UnrecognizedClientException"
    } else if failure.starts_with("missing") {
        "MissingAuthenticationTokenException"
    } else {
        "InvalidSignatureException"
    }
}

/// The message that goes with [`failure_code`]'s code.
pub(super) fn failure_message(failure: &str) -> String {
    match failure_code(failure) {
        "UnrecognizedClientException" => "The security token included in the request is invalid.".into(),
        "MissingAuthenticationTokenException" => "Missing Authentication Token".into(),
        _ if failure.starts_with("signature expired") => format!("Signature expired: {failure}"),
        _ => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
    }
}

/// STS `AssumeRole`: the emulator's own key with a session token, valid for `lifetime`.
pub(super) fn assume_role_answer(request: &RecordedRequest, n: u64, lifetime: Duration) -> Scripted {
    let form = String::from_utf8_lossy(&request.body).into_owned();
    let field = |k: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            .unwrap_or_default()
    };
    let expiry = aws_smithy_types::DateTime::from(SystemTime::now() + lifetime);
    let expiry = expiry.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default();
    let body = format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <AssumedRoleUser><AssumedRoleId>AROAEMULATOR:{session}</AssumedRoleId><Arn>{role}/{session}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{ACCESS_KEY_ID}</AccessKeyId><SecretAccessKey>{SECRET_ACCESS_KEY}</SecretAccessKey>\
         <SessionToken>{STS_SESSION_TOKEN}</SessionToken><Expiration>{expiry}</Expiration></Credentials>\
         </AssumeRoleResult><ResponseMetadata><RequestId>sts-{n}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        session = field("RoleSessionName"),
        role = field("RoleArn").replace(":role/", ":assumed-role/").replace("arn:aws:iam:", "arn:aws:sts:"),
    );
    Scripted::new(200, vec![("Content-Type".into(), "text/xml".into())], body.into_bytes())
}

/// STS refusing `AssumeRole` (a failed credential refresh). STS speaks the query protocol: its
/// errors are XML.
pub(super) fn assume_role_refusal() -> Scripted {
    Scripted::new(
        403,
        vec![("content-type".into(), "text/xml".into())],
        br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>emulator</RequestId></ErrorResponse>"#.to_vec(),
    )
}
