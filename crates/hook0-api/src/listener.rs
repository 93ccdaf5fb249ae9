//! The API's accept loop: HTTP/1.1 connections, each with limits a slow or idle client cannot
//! stretch, and a shutdown that no client can hold.
//!
//! - A request's headers must arrive within `header_read_timeout`; the same timer closes a
//!   keep-alive connection that stays idle that long between requests.
//! - A whole request (its body included) must be handled within `request_timeout` (408).
//! - At most `max_connections` are open at once: past it, new connections are closed at once,
//!   so descriptors stay free for the database and deliveries.
//! - On shutdown, listening stops, open connections finish their request in flight (no new
//!   one is read), and whatever is still open after `shutdown_grace` is dropped.
//! - A connection may be upgraded (the relay's WebSockets); the upgraded socket then lives in
//!   its own task, outside these limits.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long clients may take, how many may connect, and how long a shutdown may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `HTTP_HEADER_READ_TIMEOUT`: to send a request's headers, and to stay idle between
    /// requests on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// `HTTP_REQUEST_TIMEOUT`: to send a whole request and get its answer.
    pub request_timeout: Duration,
    /// `MAX_CONNECTIONS`: open connections at once.
    pub max_connections: usize,
    /// `SHUTDOWN_GRACE`: how long open requests may finish once shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, within `limits`. Each request carries
/// its peer's address (`ConnectInfo<SocketAddr>`).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS) as u32;
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    let mut refused_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: keep serving.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection limit reached (MAX_CONNECTIONS): new connections are closed"
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            },
        ));
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
                    // Finish the request in flight, read no other.
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every slot back means every connection ended.
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(max_connections))
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "connections still open after the shutdown grace period were dropped"
        );
    }
    Ok(())
}
