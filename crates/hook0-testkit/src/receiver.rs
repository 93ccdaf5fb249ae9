//! A webhook endpoint on loopback for delivery tests: records every request it gets (method,
//! path, headers, body, arrival time and order) and answers from a script of replies or from a
//! closure.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::wait_for;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its place in arrival order, from 0.
    pub index: usize,
    /// Its place among the requests to the same path, from 0.
    pub path_index: usize,
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The same instant on the wall clock, to compare with times the server stored.
    pub wall: SystemTime,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The delivery's `X-Event-Id` (empty when absent).
    pub fn event_id(&self) -> &str {
        self.header("x-event-id").unwrap_or_default()
    }
}

/// One answer of the receiver.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How long the receiver waits before answering (a slow endpoint).
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
    /// Per path: requests being answered now, and the most there ever were at once.
    in_flight: Mutex<HashMap<String, (usize, usize)>>,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Reply,
    answerer: Option<Answerer>,
}

/// A webhook endpoint on 127.0.0.1 with a random port; stops when dropped.
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

    /// Answers 200 to everything, each after `delay`.
    pub async fn slow(delay: Duration) -> Self {
        Self::scripted_then(Vec::new(), Reply::status(200).delay(delay)).await
    }

    /// Answers with `script` in order, then 200.
    pub async fn scripted(script: Vec<Reply>) -> Self {
        Self::scripted_then(script, Reply::status(200)).await
    }

    /// Answers with `script` in order, then `otherwise` forever.
    pub async fn scripted_then(script: Vec<Reply>, otherwise: Reply) -> Self {
        Self::serve(ReceiverState {
            received: Mutex::new(Vec::new()),
            in_flight: Mutex::default(),
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
            in_flight: Mutex::default(),
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

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        self.state.received.lock().unwrap().len()
    }

    /// The `X-Event-Id` of every request, in arrival order (duplicates included).
    pub fn event_ids(&self) -> Vec<String> {
        let received = self.state.received.lock().unwrap();
        received.iter().map(|r| r.event_id().to_owned()).collect()
    }

    /// How many requests carried each event id.
    pub fn per_event(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for id in self.event_ids() {
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }

    /// The most requests to `path` the receiver was answering at once.
    pub fn max_in_flight(&self, path: &str) -> usize {
        let in_flight = self.state.in_flight.lock().unwrap();
        in_flight.get(path).map_or(0, |(_, max)| *max)
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

    /// Waits until every event id of `expected` arrived at least once; panics with how many
    /// are missing after `timeout`.
    pub async fn wait_for_events(&self, expected: &[String], timeout: Duration) {
        let started = Instant::now();
        loop {
            let counts = self.per_event();
            let missing = expected
                .iter()
                .filter(|id| !counts.contains_key(*id))
                .count();
            if missing == 0 {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "{missing} of {} events never delivered within {timeout:?}",
                expected.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(
    axum::extract::State(state): axum::extract::State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path().to_owned();
    let mut received = Received {
        index: 0,
        path_index: 0,
        method,
        path: path.clone(),
        headers,
        body,
        at: Instant::now(),
        wall: SystemTime::now(),
        answered: 0,
    };
    // The index is taken under the lock that records the request, so indexes follow arrival
    // (an answerer must therefore not call back into its receiver).
    let reply = {
        let mut all = state.received.lock().unwrap();
        received.index = all.len();
        received.path_index = all.iter().filter(|r| r.path == received.path).count();
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
        let mut in_flight = state.in_flight.lock().unwrap();
        let (now, max) = in_flight.entry(received.path.clone()).or_default();
        *now += 1;
        *max = (*max).max(*now);
        all.push(received);
        reply
    };
    tokio::time::sleep(reply.delay).await;
    if let Some((now, _)) = state.in_flight.lock().unwrap().get_mut(&path) {
        *now -= 1;
    }
    let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("valid status");
    for (name, value) in reply.headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}
