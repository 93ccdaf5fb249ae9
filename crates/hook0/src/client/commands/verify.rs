//! `hook0 verify`: checks a delivery's signature the way a receiver must, from its headers and
//! its body on standard input.

use std::io::Read;

use clap::Args;
use hook0_sdk::Webhook;
use serde_json::json;

use crate::client::{CommandResult, Failure, Rendered};

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The subscription's secret (a UUID; or a `whsec_…` secret for the Standard Webhooks
    /// headers).
    #[arg(
        long = "signing-secret",
        env = "HOOK0_SIGNING_SECRET",
        hide_env_values = true
    )]
    pub signing_secret: String,
    /// A received header, `name: value` (repeatable): the signature header and those it
    /// covers.
    #[arg(short = 'H', long = "header", required = true)]
    pub headers: Vec<String>,
    /// How far the signature's time may be from now, in seconds.
    #[arg(long, default_value_t = 300)]
    pub tolerance: i64,
}

pub fn run(args: VerifyArgs) -> CommandResult {
    let mut headers = http::HeaderMap::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Failure::new(4, format!("`{header}` is not `name: value`"), None))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Failure::new(4, format!("`{name}` is not a header name"), None))?;
        let value = http::HeaderValue::from_str(value.trim()).map_err(|_| {
            Failure::new(
                4,
                format!("the value of {name} is not a header value"),
                None,
            )
        })?;
        headers.append(name, value);
    }
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body).map_err(|e| {
        Failure::new(
            1,
            format!("cannot read the body from standard input: {e}"),
            None,
        )
    })?;
    Webhook::new(&args.signing_secret)
        .with_tolerance(args.tolerance)
        .verify(&headers, &body)
        .map_err(|refusal| {
            Failure::new(
                1,
                format!("the signature does not verify: {refusal}"),
                Some("pass the body exactly as received (no reformatting) and every header the signature covers (its h= list)"),
            )
        })?;
    Ok(Rendered::record(
        vec![("verified", "true".into())],
        json!({ "verified": true }),
    ))
}
