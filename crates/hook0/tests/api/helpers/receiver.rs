//! A webhook endpoint on loopback for delivery tests: records every request it gets (method,
//! path, headers, body, arrival time) and answers from a script of replies.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use tokio_util::sync::CancellationToken;

use super::wait_for;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One scripted answer of the receiver.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: format!("answer {status}").into_bytes(),
            delay: Duration::ZERO,
        }
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Chooses the reply to a request from the request (and whatever the closure keeps).
type Answerer = Box<dyn Fn(&Received) -> Reply + Send + Sync>;

struct ReceiverState {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Reply,
    answerer: Option<Answerer>,
}

/// A webhook endpoint on loopback: records every request and answers with the next scripted
/// reply, then with 200 once the script is used up.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    shutdown: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    /// Answers with `script` in order, then 200.
    pub async fn scripted(script: Vec<Reply>) -> Self {
        Self::scripted_then(script, Reply::status(200)).await
    }

    /// Answers with `script` in order, then `otherwise` forever.
    pub async fn scripted_then(script: Vec<Reply>, otherwise: Reply) -> Self {
        Self::serve(ReceiverState {
            received: Mutex::new(Vec::new()),
            script: Mutex::new(script.into()),
            otherwise,
            answerer: None,
        })
        .await
    }

    /// Answers what `answerer` chooses for each request.
    pub async fn answering(answerer: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve(ReceiverState {
            received: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            otherwise: Reply::status(200),
            answerer: Some(Box::new(answerer)),
        })
        .await
    }

    async fn serve(state: ReceiverState) -> Self {
        let state = Arc::new(state);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver port");
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .ok();
        });
        Self {
            addr,
            state,
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived; returns them all.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<Received> {
        wait_for(
            || async {
                let received = self.requests();
                (received.len() >= count).then_some(received)
            },
            timeout,
        )
        .await
    }
}

async fn answer(
    axum::extract::State(state): axum::extract::State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut received = Received {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
        answered: 0,
    };
    let reply = match &state.answerer {
        Some(answerer) => answerer(&received),
        None => state
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| state.otherwise.clone()),
    };
    received.answered = reply.status;
    state.received.lock().unwrap().push(received);
    tokio::time::sleep(reply.delay).await;
    let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("valid status");
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}
