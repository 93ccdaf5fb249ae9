//! `hook0 listen [TARGET]`: real, signed deliveries on a laptop behind NAT. It opens a
//! WebSocket to the server's relay (`/relay/ws`), subscribes the relay URL it is given to the
//! chosen event types and labels, and forwards each delivery to the local server, whose answer
//! goes back to Hook0: a local 500 is a failed attempt, retried on the normal schedule.
//! Reconnects by itself; on Ctrl-C the temporary subscription is deleted unless `--keep`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::Args;
use futures::{SinkExt, StreamExt};
use hook0_sdk::{Subscription, SubscriptionSpec, Target};
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::pair;
use crate::client::{Context, Failure, Output};

/// Ports where a local server is looked for when no target is given (upstream's list).
const USUAL_PORTS: [u16; 7] = [3000, 8000, 8080, 4000, 5000, 5173, 8888];
/// The relay must say `started` this soon.
const STARTED_WITHIN: Duration = Duration::from_secs(10);
/// Silence this long (pings included) means the connection is gone.
const SILENCE: Duration = Duration::from_secs(45);

#[derive(Args, Debug, Clone)]
pub struct ListenArgs {
    /// Your local server, e.g. http://localhost:3000/webhooks (default: the first of ports
    /// 3000, 8000, 8080, 4000, 5000, 5173, 8888 that accepts a connection).
    pub target: Option<String>,
    /// Event types to receive, comma-separated (default: all the application's).
    #[arg(short = 'e', long = "event-types", value_delimiter = ',')]
    pub event_types: Vec<String>,
    /// A label `key=value` events must carry (repeatable, at least one).
    #[arg(short = 'l', long = "label", value_parser = pair, required = true)]
    pub labels: Vec<(String, String)>,
    /// The relay's WebSocket URL (default: the API's, `ws://HOST/relay/ws`).
    #[arg(long, env = "HOOK0_RELAY_URL")]
    pub relay_url: Option<String>,
    /// The relay token (`c_` + 27 letters or digits). Give the one printed earlier to resume:
    /// the same relay URL, and its subscription if kept.
    #[arg(long)]
    pub token: Option<String>,
    /// Keep the temporary subscription when stopping.
    #[arg(long)]
    pub keep: bool,
    /// Seconds between pings to the relay.
    #[arg(long, default_value_t = 30)]
    pub ping_interval: u64,
    /// Allow a target that is not on this machine.
    #[arg(long)]
    pub allow_external: bool,
}

fn new_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let body: String = (0..27)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("c_{body}")
}

/// The relay of the API the CLI talks to.
fn default_relay_url(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/').trim_end_matches("/api/v1");
    let base = base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    format!("{base}/relay/ws")
}

async fn find_local_server() -> Option<String> {
    for port in USUAL_PORTS {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), connect).await {
            return Some(format!("http://localhost:{port}"));
        }
    }
    None
}

fn is_local(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Prints one line per event of the session, for people or as JSON.
struct Printer {
    output: Output,
}

impl Printer {
    fn line(&self, text: String, value: Value) {
        match self.output {
            Output::Json => println!("{value}"),
            _ => println!("{text}"),
        }
    }
}

pub async fn run(ctx: &Context, output: Output, args: ListenArgs) -> Result<(), Failure> {
    let fail = |e| ctx.fail(e);
    let printer = Printer { output };
    let target = match args.target.clone() {
        Some(target) => target,
        None => find_local_server().await.ok_or_else(|| {
            Failure::new(
                1,
                "no local server found on ports 3000, 8000, 8080, 4000, 5000, 5173 or 8888",
                Some("start yours, or name it: hook0 listen http://localhost:4242/webhooks"),
            )
        })?,
    };
    let target_url = reqwest::Url::parse(&target)
        .map_err(|e| Failure::new(4, format!("`{target}` is not a URL: {e}"), None))?;
    if !args.allow_external && !is_local(&target_url) {
        return Err(Failure::new(
            4,
            format!("{target} is not on this machine"),
            Some("add --allow-external to forward deliveries elsewhere"),
        ));
    }
    let event_types = if args.event_types.is_empty() {
        let all: Vec<String> = ctx
            .client
            .event_types(ctx.application_id)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|t| t.event_type_name)
            .collect();
        if all.is_empty() {
            return Err(Failure::new(
                1,
                "the application has no event type to listen to",
                Some("create one: hook0 event-type create billing.invoice.paid"),
            ));
        }
        all
    } else {
        args.event_types.clone()
    };
    let token = args.token.clone().unwrap_or_else(new_token);
    if !hook0_api::relay::valid_token(&token) {
        return Err(Failure::new(
            4,
            format!("`{token}` is not a relay token"),
            Some("a token is c_ followed by 27 letters or digits; drop --token to get a new one"),
        ));
    }
    let relay_url = args
        .relay_url
        .clone()
        .unwrap_or_else(|| default_relay_url(&ctx.api_url));

    let mut connection = Connection::open(&relay_url, &ctx.secret, &token).await?;
    let webhook_url = connection.webhook_url.clone();
    let subscription = subscribe(ctx, &webhook_url, &event_types, &args).await?;
    let labels = super::labels_text(&subscription.labels);
    printer.line(
        format!(
            "Ready! Deliveries of {} ({labels}) now go to {target}\n  relay URL       {webhook_url}\n  signing secret  {}\n  subscription    {}{}\n  resume with     --token {token}\nPress Ctrl-C to stop.",
            event_types.join(", "),
            subscription.secret,
            subscription.subscription_id,
            if args.keep { " (kept when stopping)" } else { " (deleted when stopping)" },
        ),
        json!({
            "type": "ready",
            "target": target,
            "webhook_url": webhook_url,
            "token": token,
            "secret": subscription.secret,
            "subscription_id": subscription.subscription_id,
            "event_types": event_types,
            "labels": subscription.labels,
        }),
    );

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(25))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Failure::new(1, e.to_string(), None))?;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let ping_every = Duration::from_secs(args.ping_interval.max(1));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let ended = tokio::select! {
            _ = &mut stop => break,
            ended = connection.serve(&http, &target_url, ping_every, &printer, &mut seen) => ended,
        };
        printer.line(
            format!("Connection to the relay lost ({ended}); reconnecting…"),
            json!({ "type": "disconnected", "reason": ended }),
        );
        let mut wait = Duration::from_secs(1);
        connection = loop {
            tokio::select! {
                _ = &mut stop => return stop_listening(ctx, &printer, &subscription, args.keep).await,
                () = tokio::time::sleep(wait) => {}
            }
            match Connection::open(&relay_url, &ctx.secret, &token).await {
                Ok(connection) => break connection,
                Err(failure) if failure.code == 2 => return Err(failure),
                Err(_) => wait = (wait * 2).min(Duration::from_secs(10)),
            }
        };
        printer.line(
            "Reconnected; deliveries missed meanwhile come with their retries.".into(),
            json!({ "type": "reconnected" }),
        );
    }
    stop_listening(ctx, &printer, &subscription, args.keep).await
}

/// The subscription to the relay URL: the one kept by an earlier run with this token, or a
/// new temporary one.
async fn subscribe(
    ctx: &Context,
    webhook_url: &str,
    event_types: &[String],
    args: &ListenArgs,
) -> Result<Subscription, Failure> {
    let existing = ctx
        .client
        .subscriptions(ctx.application_id)
        .await
        .map_err(|e| ctx.fail(e))?;
    if let Some(found) = existing.into_iter().find(|s| s.target.url == webhook_url) {
        return Ok(found);
    }
    let spec = SubscriptionSpec {
        application_id: ctx.application_id,
        is_enabled: true,
        event_types: event_types.to_vec(),
        description: Some("hook0 listen (temporary)".into()),
        labels: args.labels.iter().cloned().collect(),
        metadata: [("created_by".to_owned(), "hook0 listen".to_owned())].into(),
        ordering_label: None,
        ordering_on_dead_letter: None,
        target: Target::post(webhook_url),
    };
    ctx.client
        .create_subscription(&spec)
        .await
        .map_err(|e| ctx.fail(e))
}

async fn stop_listening(
    ctx: &Context,
    printer: &Printer,
    subscription: &Subscription,
    keep: bool,
) -> Result<(), Failure> {
    if keep {
        printer.line(
            format!(
                "Stopped. The subscription {} is kept.",
                subscription.subscription_id
            ),
            json!({ "type": "stopped", "subscription_kept": true }),
        );
        return Ok(());
    }
    ctx.client
        .delete_subscription(ctx.application_id, subscription.subscription_id)
        .await
        .map_err(|e| ctx.fail(e))?;
    printer.line(
        "Stopped. The temporary subscription is deleted.".into(),
        json!({ "type": "stopped", "subscription_kept": false }),
    );
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A started socket to the relay.
struct Connection {
    socket: Socket,
    webhook_url: String,
}

fn frame(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

impl Connection {
    /// Connects, says `start`, and waits for `started`.
    async fn open(relay_url: &str, secret: &str, token: &str) -> Result<Self, Failure> {
        let mut request = relay_url
            .into_client_request()
            .map_err(|e| Failure::new(4, format!("`{relay_url}` is not a relay URL: {e}"), None))?;
        let bearer = format!("Bearer {secret}")
            .parse()
            .map_err(|_| Failure::new(2, "the secret is not a valid header value", None))?;
        request.headers_mut().insert("authorization", bearer);
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| {
                use tokio_tungstenite::tungstenite::Error;
                match &e {
                    Error::Http(response) if matches!(response.status().as_u16(), 401 | 403) => {
                        Failure::new(2, "the relay refused the secret", Some("check it: `hook0 whoami`"))
                    }
                    _ => Failure::new(
                        5,
                        format!("cannot reach the relay at {relay_url}: {e}"),
                        Some("is the server running? --relay-url or HOOK0_RELAY_URL say where its relay is"),
                    ),
                }
            })?;
        socket
            .send(frame(
                json!({ "type": "start", "version": 1, "data": { "token": token } }),
            ))
            .await
            .map_err(|e| Failure::new(5, e.to_string(), None))?;
        let answer = tokio::time::timeout(STARTED_WITHIN, socket.next())
            .await
            .map_err(|_| Failure::new(5, "the relay did not answer `start`", None))?;
        let Some(Ok(Message::Text(text))) = answer else {
            return Err(Failure::new(5, "the relay closed the connection", None));
        };
        let message: Value = serde_json::from_str(&text).unwrap_or_default();
        match message["type"].as_str() {
            Some("started") => Ok(Self {
                socket,
                webhook_url: message["data"]["webhook_url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }),
            _ => {
                let code = message["data"]["code"].as_str().unwrap_or("?");
                Err(Failure::new(
                    1,
                    format!(
                        "the relay refused to start ({code}): {}",
                        message["data"]["message"].as_str().unwrap_or_default()
                    ),
                    (code == "token_in_use").then_some(
                        "another `hook0 listen` holds this token: stop it, or drop --token",
                    ),
                ))
            }
        }
    }

    /// Forwards requests until the connection ends; says why it ended.
    async fn serve(
        &mut self,
        http: &reqwest::Client,
        target: &reqwest::Url,
        ping_every: Duration,
        printer: &Printer,
        seen: &mut HashMap<String, u32>,
    ) -> String {
        let (answers_tx, mut answers) = mpsc::channel::<Value>(64);
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE {
                        return "the relay went silent".into();
                    }
                    if self.socket.send(frame(json!({ "type": "ping" }))).await.is_err() {
                        return "cannot send".into();
                    }
                }
                Some(answer) = answers.recv() => {
                    if self.socket.send(frame(answer)).await.is_err() {
                        return "cannot send".into();
                    }
                }
                incoming = self.socket.next() => {
                    last_heard = Instant::now();
                    let text = match incoming {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None => return "closed by the relay".into(),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return e.to_string(),
                    };
                    let message: Value = serde_json::from_str(&text).unwrap_or_default();
                    match message["type"].as_str() {
                        Some("request") => {
                            let request = message["data"].clone();
                            let event_id = request["headers"]["x-event-id"].as_str().unwrap_or_default().to_owned();
                            let attempt = {
                                let count = seen.entry(event_id.clone()).or_default();
                                *count += 1;
                                *count
                            };
                            let (http, target, answers) = (http.clone(), target.clone(), answers_tx.clone());
                            let output = printer.output;
                            tokio::spawn(async move {
                                let started = Instant::now();
                                let answer = forward(&http, &target, &request).await;
                                let latency = started.elapsed().as_millis();
                                let status = answer["data"]["status"].as_u64().unwrap_or(0);
                                let event_type = request["headers"]["x-event-type"].as_str().unwrap_or("-");
                                let at = chrono::Local::now().format("%H:%M:%S");
                                Printer { output }.line(
                                    format!("{at}  {event_type}  {event_id}  attempt {attempt}  → {status}  {latency} ms"),
                                    json!({
                                        "type": "delivery",
                                        "at": chrono::Utc::now(),
                                        "event_type": event_type,
                                        "event_id": event_id,
                                        "attempt": attempt,
                                        "status": status,
                                        "latency_ms": latency,
                                        "method": request["method"],
                                        "path": request["path"],
                                    }),
                                );
                                let _ = answers.send(answer).await;
                            });
                        }
                        Some("error") => {
                            return format!("relay error: {}", message["data"]["message"].as_str().unwrap_or_default());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Sends one relayed request to the local server; the `response` frame to send back.
async fn forward(http: &reqwest::Client, target: &reqwest::Url, request: &Value) -> Value {
    let id = request["id"].clone();
    let respond = |status: u16, headers: Value, body: &[u8]| {
        json!({ "type": "response", "version": 1, "data": {
            "id": id, "status": status, "headers": headers, "body": BASE64.encode(body),
        }})
    };
    let path = request["path"].as_str().unwrap_or("/");
    let mut url = target.clone();
    let joined = format!(
        "{}{}",
        target.path().trim_end_matches('/'),
        if path == "/" { "" } else { path }
    );
    url.set_path(if joined.is_empty() { "/" } else { &joined });
    url.set_query(request["query"].as_str());
    let method =
        reqwest::Method::from_bytes(request["method"].as_str().unwrap_or("POST").as_bytes())
            .unwrap_or(reqwest::Method::POST);
    let body = BASE64
        .decode(request["body"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let mut call = http.request(method, url).body(body);
    for (name, value) in request["headers"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            call = call.header(name.as_str(), value);
        }
    }
    match call.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers: serde_json::Map<String, Value> = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    )
                })
                .collect();
            let body = response.bytes().await.unwrap_or_default();
            respond(status, Value::Object(headers), &body)
        }
        Err(e) => respond(
            502,
            json!({ "content-type": "text/plain" }),
            format!("hook0 listen could not reach {target}: {e}").as_bytes(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_relay_urls() {
        let token = new_token();
        assert!(token.starts_with("c_") && token.len() == 29);
        assert_ne!(token, new_token());
        assert_eq!(
            default_relay_url("http://127.0.0.1:8080/api/v1"),
            "ws://127.0.0.1:8080/relay/ws"
        );
        assert_eq!(
            default_relay_url("https://hooks.example.com/api/v1/"),
            "wss://hooks.example.com/relay/ws"
        );
    }
}
