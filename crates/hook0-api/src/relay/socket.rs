//! One listener's WebSocket, in upstream's tunnel protocol: JSON text frames tagged by `type`
//! (`start`, `response`, `ping` from the client; `started`, `request`, `error`, `pong` from
//! us), each with `version` 1. Nothing else is ever sent: upstream's client treats any other
//! message as fatal.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hook0_core::relay::RelayAnswer;
use serde::Deserialize;
use serde_json::{json, Value};

use super::hub::{Outbound, Registration, RelayHub, Slot};

/// The client must say `start` this soon after connecting.
const START_WITHIN: Duration = Duration::from_secs(10);
/// A socket silent this long (the client pings every 30 s) is closed.
const IDLE: Duration = Duration::from_secs(120);

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Start { data: StartData },
    Response { data: ResponseData },
    Ping,
}

#[derive(Deserialize)]
struct StartData {
    token: String,
}

#[derive(Deserialize)]
struct ResponseData {
    id: String,
    status: u16,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

/// `c_` then 27 base62 characters, as upstream's client makes them.
pub fn valid_token(token: &str) -> bool {
    token
        .strip_prefix("c_")
        .is_some_and(|rest| rest.len() == 27 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn frame(kind: &str, data: Option<Value>) -> Message {
    let mut value = json!({ "type": kind });
    if let Some(data) = data {
        value["version"] = json!(1);
        value["data"] = data;
    }
    Message::Text(Utf8Bytes::from(value.to_string()))
}

fn error(code: &str, message: &str) -> Message {
    frame("error", Some(json!({ "code": code, "message": message })))
}

/// Runs one socket until it closes, goes silent, or breaks the protocol at its start.
pub(super) async fn run(mut socket: WebSocket, hub: Arc<RelayHub>, _slot: Slot) {
    let Some(mut registration) = start(&mut socket, &hub).await else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let started = json!({
        "webhook_url": hub.webhook_url(&registration.token),
        "view_url": format!("{}/", hub.config.public_base),
    });
    if socket.send(frame("started", Some(started))).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            outbound = registration.requests.recv() => {
                let Some(Outbound::Request { id, request }) = outbound else { return };
                let data = json!({
                    "id": id,
                    "method": request.method,
                    "path": request.path,
                    "query": request.query,
                    "headers": request.headers.into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect::<serde_json::Map<_, _>>(),
                    "body": BASE64.encode(&request.body),
                });
                if socket.send(frame("request", Some(data))).await.is_err() {
                    return;
                }
            }
            incoming = tokio::time::timeout(IDLE, socket.recv()) => {
                let message = match incoming {
                    Ok(Some(Ok(message))) => message,
                    // Silent too long, closed, or broken.
                    _ => return,
                };
                if !handle(&mut socket, &registration, &hub, message).await {
                    return;
                }
            }
        }
    }
}

/// Reads the `start` message and takes its token; tells the client why when it cannot.
async fn start(socket: &mut WebSocket, hub: &Arc<RelayHub>) -> Option<Registration> {
    let first = tokio::time::timeout(START_WITHIN, socket.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else {
        let _ = socket
            .send(error(
                "invalid_message",
                "send {\"type\":\"start\",…} first",
            ))
            .await;
        return None;
    };
    let token = match serde_json::from_str::<ClientMessage>(&text) {
        Ok(ClientMessage::Start { data }) => data.token,
        _ => {
            let _ = socket
                .send(error(
                    "invalid_message",
                    "the first message must be `start`",
                ))
                .await;
            return None;
        }
    };
    if !valid_token(&token) {
        let _ = socket
            .send(error(
                "invalid_token",
                "a token is c_ followed by 27 letters or digits",
            ))
            .await;
        return None;
    }
    match hub.register(&token) {
        Some(registration) => Some(registration),
        None => {
            let _ = socket
                .send(error("token_in_use", "another listener holds this token"))
                .await;
            None
        }
    }
}

/// One message of a started socket; `false` ends the socket.
async fn handle(
    socket: &mut WebSocket,
    registration: &Registration,
    hub: &RelayHub,
    message: Message,
) -> bool {
    let text = match message {
        Message::Text(text) => text,
        Message::Close(_) => return false,
        // Protocol pings are answered by the WebSocket layer itself.
        Message::Ping(_) | Message::Pong(_) => return true,
        Message::Binary(_) => {
            return socket
                .send(error("invalid_message", "frames are JSON text"))
                .await
                .is_ok()
        }
    };
    match serde_json::from_str::<ClientMessage>(&text) {
        Ok(ClientMessage::Ping) => socket.send(frame("pong", None)).await.is_ok(),
        Ok(ClientMessage::Response { data }) => {
            let body = match data.body.as_deref().map(|b| BASE64.decode(b)) {
                None => Vec::new(),
                Some(Ok(body)) if body.len() <= hub.config.max_body_bytes => body,
                Some(Ok(_)) => {
                    return socket
                        .send(error("invalid_message", "the response body is too large"))
                        .await
                        .is_ok()
                }
                Some(Err(_)) => {
                    return socket
                        .send(error("invalid_message", "the response body is not base64"))
                        .await
                        .is_ok()
                }
            };
            let answer = RelayAnswer {
                status: data.status,
                headers: data.headers.into_iter().collect(),
                body,
            };
            if let Some(waiting) = registration
                .pending
                .lock()
                .expect("relay pending lock")
                .remove(&data.id)
            {
                let _ = waiting.send(answer);
            }
            true
        }
        Ok(ClientMessage::Start { .. }) => socket
            .send(error("invalid_message", "this socket has started already"))
            .await
            .is_ok(),
        Err(_) => socket
            .send(error(
                "invalid_message",
                "not a message of the relay protocol",
            ))
            .await
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_upstreams_shape() {
        assert!(valid_token("c_0123456789abcdefghijABCDEFG"));
        assert!(!valid_token("c_0123456789abcdefghijABCDEF"));
        assert!(!valid_token("x_0123456789abcdefghijABCDEFG"));
        assert!(!valid_token("c_0123456789abcdefghij-BCDEFG"));
    }
}
