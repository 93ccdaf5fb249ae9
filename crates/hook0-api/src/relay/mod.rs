//! The relay behind `hook0 listen`: a developer's laptop opens a WebSocket to `/relay/ws`
//! (upstream's tunnel protocol, so upstream's CLI works with `--relay-url`), and requests to
//! `/relay/in/{token}/…` are passed to it and answered with what its local server answered.
//! Unlike upstream's hosted relay, which answers 200 at once, a local failure is a failed
//! attempt. 503 with `Retry-After` when no listener is connected, 504 past the timeout.
//!
//! Open when the API listens on a loopback address only; elsewhere a listener authenticates
//! like any API caller (`Authorization: Bearer` with an API key or a token). With several API
//! processes, a request reaches the listener only through the process holding its socket; the
//! others answer 503 and the delivery is retried.

mod hub;
mod inbound;
mod socket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

pub use hub::RelayHub;
pub use socket::valid_token;

use crate::auth::Principal;
use crate::AppState;

/// The relay's limits (upstream's defaults) and addresses.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Listeners need no credential (the API listens on loopback only).
    pub open: bool,
    /// Where the relay URLs given to listeners point (`http://host:port`, no trailing slash).
    pub public_base: String,
    /// Every base under which this process is reached: a delivery to a relay URL under one of
    /// them is handed over in memory by a worker of this process.
    pub local_bases: Vec<String>,
    /// How long a relayed request waits for the listener's answer (504 past it).
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub max_sockets_per_ip: usize,
    pub max_sockets: usize,
    pub requests_per_second_per_token: u32,
}

impl RelayConfig {
    pub fn new(public_base: &str) -> Self {
        let public_base = public_base.trim_end_matches('/').to_owned();
        Self {
            open: false,
            local_bases: vec![public_base.clone()],
            public_base,
            timeout: Duration::from_secs(30),
            max_body_bytes: 10 * 1024 * 1024,
            max_sockets_per_ip: 10,
            max_sockets: 10_000,
            requests_per_second_per_token: 50,
        }
    }
}

#[derive(Clone)]
struct RelayState {
    hub: Arc<RelayHub>,
    api: AppState,
}

/// `/relay/ws` and `/relay/in/…`, to serve beside the API.
pub fn router(hub: Arc<RelayHub>, api: AppState) -> Router {
    let inbound = Router::new()
        .route("/relay/in/{token}", any(inbound::at_root))
        .route("/relay/in/{token}/{*path}", any(inbound::with_path))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(hub.clone());
    Router::new()
        .route("/relay/ws", get(connect))
        .with_state(RelayState { hub, api })
        .merge(inbound)
}

async fn connect(State(state): State<RelayState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if !state.hub.config.open {
        if let Err(refused) = Principal::from_request_parts(&mut parts, &state.api).await {
            return refused;
        }
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state.api).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(slot) = state.hub.slot(peer) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many listeners from this address",
        )
            .into_response();
    };
    let hub = state.hub.clone();
    // A frame holds at most one body, base64 (4/3) inside JSON.
    let frame_limit = hub.config.max_body_bytes / 3 * 4 + 64 * 1024;
    upgrade
        .max_message_size(frame_limit)
        .on_upgrade(move |ws| socket::run(ws, hub, slot))
}
