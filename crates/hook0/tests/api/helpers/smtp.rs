//! A real SMTP server on loopback that accepts every mail and keeps it: enough of RFC 5321 for
//! an SMTP client (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), no TLS, no auth. Tests point
//! `SMTP_CONNECTION_URL=smtp://127.0.0.1:<port>` at it and read the links Hook0 mails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One mail as received: its recipients and its content (headers and body, dot-unstuffed).
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The body, decoded from its Content-Transfer-Encoding.
    pub fn body(&self) -> String {
        let (headers, body) = self
            .data
            .split_once("\r\n\r\n")
            .unwrap_or((self.data.as_str(), ""));
        let encoding = headers
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-transfer-encoding")
                    .then(|| value.trim().to_ascii_lowercase())
            })
            .unwrap_or_default();
        match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => {
                let compact: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .expect("base64 body"),
                )
                .expect("UTF-8 body")
            }
            _ => body.to_string(),
        }
    }

    /// The `Subject` header.
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The `token` of the first link to `APP_URL/<path>?token=…` in the body.
    pub fn link_token(&self, path: &str) -> String {
        let body = self.body();
        let marker = format!("/{path}?token=");
        let start = body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {marker} link in: {body}"))
            + marker.len();
        body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect()
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Some(Ok(byte)) = joined.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 body")
}

/// The running sink.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SMTP sink");
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, store.clone()));
            }
        });
        Self { addr, mails }
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits for the `n`-th mail (1-based) to `to`.
    pub async fn wait_for_mail(&self, to: &str, n: usize) -> Mail {
        let what = format!("mail #{n} to {to}");
        hook0_testkit::wait_until(&what, Duration::from_secs(5), || async {
            let mut to_them = self
                .mails()
                .into_iter()
                .filter(|m| m.to.iter().any(|r| r.eq_ignore_ascii_case(to)));
            to_them.nth(n - 1)
        })
        .await
    }
}

async fn session(stream: TcpStream, mails: Arc<Mutex<Vec<Mail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer = if command.starts_with("EHLO") {
            "250-sink\r\n250 8BITMIME"
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            "250 OK"
        } else if command.starts_with("MAIL FROM") || command.starts_with("RSET") {
            to.clear();
            "250 OK"
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            to.push(address);
            "250 OK"
        } else if command == "DATA" {
            let _ = write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mails.lock().unwrap().push(Mail {
                to: std::mem::take(&mut to),
                data,
            });
            "250 OK queued"
        } else if command.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 not implemented"
        };
        if write
            .write_all(format!("{answer}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
