//! One exported function that makes the same kind of calls the provider makes into each required
//! crate, so that LTO keeps what a real use keeps. Features switch the crates on one at a time.

// With no features on, the body and the output go unused.
#![allow(unused_mut, unused_variables)]

wit_bindgen::generate!({ inline: "package probe:size; world probe { export run: func(body: list<u8>) -> result<string, string>; }" });

struct Probe;

impl Guest for Probe {
    fn run(body: Vec<u8>) -> Result<String, String> {
        let mut out = String::new();
        #[cfg(feature = "json")]
        {
            let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            out.push_str(&serde_json::to_string(&value).map_err(|e| e.to_string())?);
        }
        #[cfg(feature = "sign")]
        {
            use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
            use aws_sigv4::sign::v4;
            let identity = aws_credential_types::Credentials::new("AKIDEXAMPLE", "probe", None, None, "probe").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("bedrock")
                .time(std::time::UNIX_EPOCH)
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| e.to_string())?
                .into();
            let headers = [("content-type", "application/json")];
            let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke";
            let request =
                SignableRequest::new("POST", url, headers.iter().copied(), SignableBody::Bytes(&body)).map_err(|e| e.to_string())?;
            let (instructions, _) = sign(request, &params).map_err(|e| e.to_string())?.into_parts();
            for (name, value) in instructions.headers() {
                out.push_str(name);
                out.push_str(value);
            }
        }
        #[cfg(feature = "frames")]
        {
            use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
            let mut decoder = MessageFrameDecoder::new();
            let mut buf = &body[..];
            if let DecodedFrame::Complete(message) = decoder.decode_frame(&mut buf).map_err(|e| e.to_string())? {
                out.push_str(&message.payload().len().to_string());
            }
        }
        Ok(out)
    }
}

export!(Probe);
