//! The relay's protocol, spoken by a plain WebSocket client written here (upstream's tunnel
//! protocol): the handshake, ping/pong, `token_in_use`, bad tokens and malformed frames, a
//! request passed through and answered, an oversized body, a listener that never answers, no
//! listener at all, one that disconnects mid-request; and the credential asked of listeners
//! when the server is reachable from elsewhere.

mod support;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{start, Hook0};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TOKEN: &str = "c_0123456789abcdefghijABCDEFG";

fn base(server: &Hook0) -> String {
    server.api.trim_end_matches("/api/v1").to_owned()
}

async fn connect(server: &Hook0) -> Socket {
    let url = format!("{}/relay/ws", base(server).replacen("http", "ws", 1));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message (pings and pongs of the WebSocket layer skipped).
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an answer within 5 s")?;
        match message {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn started(server: &Hook0, token: &str) -> (Socket, String) {
    let mut socket = connect(server).await;
    send(
        &mut socket,
        json!({"type": "start", "version": 1, "data": {"token": token}}),
    )
    .await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "started", "{answer}");
    assert_eq!(answer["version"], 1);
    let url = answer["data"]["webhook_url"].as_str().unwrap().to_owned();
    (socket, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_from_a_plain_websocket_client() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[("RELAY_TIMEOUT", "1s")]);
    let http = reqwest::Client::new();

    // Handshake and ping.
    let (mut socket, webhook_url) = started(&server, TOKEN).await;
    assert_eq!(webhook_url, format!("{}/relay/in/{TOKEN}", base(&server)));
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next(&mut socket).await.unwrap(), json!({"type": "pong"}));

    // The token is taken: a second listener is told so and closed.
    let mut second = connect(&server).await;
    send(
        &mut second,
        json!({"type": "start", "version": 1, "data": {"token": TOKEN}}),
    )
    .await;
    let refused = next(&mut second).await.unwrap();
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["data"]["code"], "token_in_use");
    assert!(next(&mut second).await.is_none(), "then closed");
    // A token of the wrong shape, and a first message that is not `start`.
    let mut bad = connect(&server).await;
    send(
        &mut bad,
        json!({"type": "start", "version": 1, "data": {"token": "c_short"}}),
    )
    .await;
    assert_eq!(
        next(&mut bad).await.unwrap()["data"]["code"],
        "invalid_token"
    );
    let mut rude = connect(&server).await;
    send(&mut rude, json!({"type": "ping"})).await;
    assert_eq!(
        next(&mut rude).await.unwrap()["data"]["code"],
        "invalid_message"
    );
    // A malformed frame on a started socket is answered, and the socket stays.
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut socket).await.unwrap()["data"]["code"],
        "invalid_message"
    );
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "pong");

    // A request passes through; the listener's answer is the answer.
    let call = http
        .post(format!("{webhook_url}/hooks/billing?attempt=1"))
        .header("x-event-type", "billing.invoice.paid")
        .body("{\"invoice\":42}")
        .send();
    let (answer, ()) = tokio::join!(call, async {
        let request = next(&mut socket).await.unwrap();
        assert_eq!(request["type"], "request", "{request}");
        let data = &request["data"];
        assert_eq!(data["method"], "POST");
        assert_eq!(data["path"], "/hooks/billing");
        assert_eq!(data["query"], "attempt=1");
        assert_eq!(data["headers"]["x-event-type"], "billing.invoice.paid");
        assert!(
            data["headers"].get("host").is_none(),
            "hop-by-hop headers stay behind"
        );
        assert_eq!(
            BASE64.decode(data["body"].as_str().unwrap()).unwrap(),
            b"{\"invoice\":42}"
        );
        send(
            &mut socket,
            json!({"type": "response", "version": 1, "data": {
                "id": data["id"], "status": 201, "headers": {"x-local": "yes"},
                "body": BASE64.encode("created locally"),
            }}),
        )
        .await;
    });
    let answer = answer.unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.headers()["x-local"], "yes");
    assert_eq!(answer.text().await.unwrap(), "created locally");

    // Too large a body is refused before it reaches the listener.
    let huge = vec![b'x'; 10 * 1024 * 1024 + 1];
    let refused = http.post(&webhook_url).body(huge).send().await.unwrap();
    assert_eq!(refused.status(), 413);
    // A listener that never answers: 504 after the relay's timeout (1 s here).
    let waited = http.post(&webhook_url).body("x").send().await.unwrap();
    assert_eq!(waited.status(), 504);
    assert_eq!(
        next(&mut socket).await.unwrap()["type"],
        "request",
        "it was asked"
    );
    // Nobody listening: 503 with Retry-After, so the sender retries later.
    let nobody = http
        .post(format!(
            "{}/relay/in/c_zzzzzzzzzzzzzzzzzzzzzzzzzzz",
            base(&server)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 503);
    assert!(nobody.headers().contains_key("retry-after"));
    // A listener leaving mid-request: 502 at once, and the token is free again.
    let call = http.post(&webhook_url).body("x").send();
    let (answer, ()) = tokio::join!(call, async {
        assert_eq!(next(&mut socket).await.unwrap()["type"], "request");
        socket.close(None).await.unwrap();
    });
    assert_eq!(answer.unwrap().status(), 502);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_again, url) = started(&server, TOKEN).await;
    assert_eq!(url, webhook_url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_authenticate_when_the_server_is_reachable_from_elsewhere() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[("IP", "0.0.0.0")]);
    let port = server
        .api
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let url = format!("ws://127.0.0.1:{port}/relay/ws");
    let refused = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401),
        "{refused}"
    );
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", support::MASTER_KEY).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(
        &mut socket,
        json!({"type": "start", "version": 1, "data": {"token": TOKEN}}),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "started");
}

/// The stated limit with several API processes: a relay URL reaches the listener only through
/// the process holding its socket; another process answers 503 with `Retry-After`, so the
/// delivery is retried (and succeeds once it lands on the right process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_answers_503_for_a_listener_it_does_not_hold() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let holding = start("serve", one.path(), &[]);
    let other = start("serve", two.path(), &[]);
    let (_socket, _) = started(&holding, TOKEN).await;
    let elsewhere = reqwest::Client::new()
        .post(format!("{}/relay/in/{TOKEN}", base(&other)))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 503);
    assert!(elsewhere.headers().contains_key("retry-after"));
}

/// A listener gets at most `RELAY_REQUESTS_PER_SECOND` requests a second; past it, 429 with
/// `Retry-After`, and it is not asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_is_rate_limited() {
    let data = tempfile::tempdir().unwrap();
    let server = start("serve", data.path(), &[("RELAY_REQUESTS_PER_SECOND", "1")]);
    let (mut socket, webhook_url) = started(&server, TOKEN).await;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    tokio::spawn(async move {
        while let Some(request) = next(&mut socket).await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let id = request["data"]["id"].clone();
            send(
                &mut socket,
                json!({"type": "response", "version": 1,
                "data": {"id": id, "status": 200, "headers": {}, "body": ""}}),
            )
            .await;
        }
    });
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = http.post(&webhook_url).body("x").send().await.unwrap();
        if answer.status() == 429 {
            assert!(answer.headers().contains_key("retry-after"));
        }
        statuses.push(answer.status().as_u16());
    }
    // One a second: the first passes; the three sent right after it wait their turn.
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// What the relay adds to a delivery: sequential requests to a relay URL answered at once by a
/// listener, against the same requests sent straight to a local server. A measurement, not a
/// check: `cargo test --release -p hook0 --test relay -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn relay_cost() {
    const N: usize = 2000;
    let data = tempfile::tempdir().unwrap();
    let server = start(
        "serve",
        data.path(),
        &[("RELAY_REQUESTS_PER_SECOND", "1000000")],
    );
    let (mut socket, webhook_url) = started(&server, TOKEN).await;
    tokio::spawn(async move {
        while let Some(request) = next(&mut socket).await {
            let id = request["data"]["id"].clone();
            send(
                &mut socket,
                json!({"type": "response", "version": 1,
                "data": {"id": id, "status": 200, "headers": {}, "body": ""}}),
            )
            .await;
        }
    });
    let direct = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let direct_url = format!("http://{}/hook", direct.local_addr().unwrap());
    let router = axum::Router::new().route("/hook", axum::routing::post(|| async { "" }));
    tokio::spawn(async move { axum::serve(direct, router).await.unwrap() });
    let http = reqwest::Client::new();
    let body = vec![b'x'; 256];
    for (name, url) in [("direct", &direct_url), ("relay", &webhook_url)] {
        let mut times = Vec::with_capacity(N);
        for _ in 0..N {
            let started = std::time::Instant::now();
            let answer = http
                .post(url.as_str())
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "{name:>6}: {N} sequential POSTs of 256 bytes: p50 {:?}, p99 {:?}",
            times[N / 2],
            times[N * 99 / 100]
        );
    }
}
