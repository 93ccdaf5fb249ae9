//! The listeners connected to this process, by relay token, and the requests waiting for
//! their answers. The inbound route and the worker (in-process) both hand requests here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hook0_core::relay::{LocalRelay, RelayAnswer, RelayError, RelayFuture, RelayRequest};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::RelayConfig;

/// What the hub asks of a socket's task.
pub(super) enum Outbound {
    Request { id: String, request: RelayRequest },
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<RelayAnswer>>>>;

/// One connected listener.
struct Listener {
    /// Tells sockets apart when a token is taken again after a disconnect.
    connection: Uuid,
    outbound: mpsc::Sender<Outbound>,
    pending: Pending,
    limiter: Arc<DefaultDirectRateLimiter>,
}

pub struct RelayHub {
    pub(super) config: RelayConfig,
    /// `config.local_bases`, parsed once: compared with every delivery's URL.
    local_origins: Vec<url::Origin>,
    listeners: Mutex<HashMap<String, Listener>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A registered socket: its requests, and its place in the hub until dropped.
pub(super) struct Registration {
    pub hub: Arc<RelayHub>,
    pub token: String,
    pub connection: Uuid,
    pub requests: mpsc::Receiver<Outbound>,
    pub pending: Pending,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut listeners = self.hub.listeners.lock().expect("relay hub lock");
        if listeners
            .get(&self.token)
            .is_some_and(|l| l.connection == self.connection)
        {
            listeners.remove(&self.token);
        }
        // Requests still waiting learn at once that nobody will answer them.
        self.pending.lock().expect("relay pending lock").clear();
    }
}

/// A socket slot of one client address, given back when dropped.
pub(super) struct Slot {
    hub: Arc<RelayHub>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self.hub.per_ip.lock().expect("relay hub lock");
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

impl RelayHub {
    pub fn new(config: RelayConfig) -> Arc<Self> {
        let local_origins = config
            .local_bases
            .iter()
            .filter_map(|base| url::Url::parse(base).ok())
            .map(|base| base.origin())
            .collect();
        Arc::new(Self {
            local_origins,
            config,
            listeners: Mutex::new(HashMap::new()),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// A socket slot for `ip`, unless it holds its share already or the relay is full.
    pub(super) fn slot(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut per_ip = self.per_ip.lock().expect("relay hub lock");
        let total: usize = per_ip.values().sum();
        let mine = per_ip.entry(ip).or_default();
        if *mine >= self.config.max_sockets_per_ip || total >= self.config.max_sockets {
            if *mine == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *mine += 1;
        Some(Slot {
            hub: self.clone(),
            ip,
        })
    }

    /// Takes `token` for a new socket; `None` when another socket holds it.
    pub(super) fn register(self: &Arc<Self>, token: &str) -> Option<Registration> {
        let mut listeners = self.listeners.lock().expect("relay hub lock");
        if listeners.contains_key(token) {
            return None;
        }
        let (outbound, requests) = mpsc::channel(256);
        let pending: Pending = Arc::default();
        let connection = Uuid::now_v7();
        let per_second = NonZeroU32::new(self.config.requests_per_second_per_token.max(1))
            .expect("at least one");
        listeners.insert(
            token.to_owned(),
            Listener {
                connection,
                outbound,
                pending: pending.clone(),
                limiter: Arc::new(RateLimiter::direct(Quota::per_second(per_second))),
            },
        );
        Some(Registration {
            hub: self.clone(),
            token: token.to_owned(),
            connection,
            requests,
            pending,
        })
    }

    /// The public URL deliveries for `token` go to.
    pub fn webhook_url(&self, token: &str) -> String {
        format!("{}/relay/in/{token}", self.config.public_base)
    }

    /// Passes `request` to the listener of `token` and waits for its answer.
    pub fn forward_to(
        &self,
        token: &str,
        request: RelayRequest,
    ) -> impl std::future::Future<Output = Result<RelayAnswer, RelayError>> + Send + 'static {
        // Everything the wait needs is taken now, so the future holds no borrow of the hub.
        let found = {
            let listeners = self.listeners.lock().expect("relay hub lock");
            listeners
                .get(token)
                .map(|l| (l.outbound.clone(), l.pending.clone(), l.limiter.clone()))
        };
        let timeout = self.config.timeout;
        async move {
            let (outbound, pending, limiter) = found.ok_or(RelayError::NotConnected)?;
            if limiter.check().is_err() {
                return Err(RelayError::Busy);
            }
            let id = Uuid::now_v7().to_string();
            let (answer, answered) = oneshot::channel();
            pending
                .lock()
                .expect("relay pending lock")
                .insert(id.clone(), answer);
            let sent = outbound.try_send(Outbound::Request {
                id: id.clone(),
                request,
            });
            let result = match sent {
                Err(mpsc::error::TrySendError::Full(_)) => Err(RelayError::Busy),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(RelayError::Disconnected),
                Ok(()) => match tokio::time::timeout(timeout, answered).await {
                    Ok(Ok(answer)) => Ok(answer),
                    Ok(Err(_)) => Err(RelayError::Disconnected),
                    Err(_) => Err(RelayError::TimedOut),
                },
            };
            pending.lock().expect("relay pending lock").remove(&id);
            result
        }
    }
}

impl LocalRelay for RelayHub {
    fn route(&self, url: &url::Url) -> Option<(String, String)> {
        let rest = url.path().strip_prefix("/relay/in/")?;
        if !self.local_origins.contains(&url.origin()) {
            return None;
        }
        let (token, path) = match rest.split_once('/') {
            Some((token, path)) => (token, format!("/{path}")),
            None => (rest, "/".to_owned()),
        };
        Some((token.to_owned(), path))
    }

    fn forward(&self, token: String, request: RelayRequest) -> RelayFuture {
        Box::pin(self.forward_to(&token, request))
    }
}
