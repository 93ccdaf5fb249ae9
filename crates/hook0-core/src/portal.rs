//! Consumer portal sessions: what a sender hands one of its customers so that customer can
//! manage its own endpoints. A session is bound to one application and a set of labels (the
//! customer's scope in it), grants some capabilities, expires, and may be framed only by the
//! origins it names. Its secret travels in the portal's URL; only its SHA-256 is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{labels_match, StringMap, Subscription};

/// Shortest and longest life of a session, and the default (seconds).
pub const MIN_EXPIRES_IN: u64 = 300;
pub const MAX_EXPIRES_IN: u64 = 7 * 24 * 3600;
pub const DEFAULT_EXPIRES_IN: u64 = 3600;
/// Most origins a session may be framed by.
pub const MAX_ALLOWED_ORIGINS: usize = 10;
/// What every session secret starts with, so a leaked one is recognisable (secret scanners).
pub const SECRET_PREFIX: &str = "h0portal_";

/// What a session lets its holder do. Every capability implies `view`: nobody manages what
/// they cannot see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// See the scope's subscriptions, the event type catalog and the deliveries.
    View,
    /// Create, edit, disable and delete subscriptions (always carrying the session's labels).
    ManageSubscriptions,
    /// Reveal a subscription's signing secret.
    ViewSecret,
    /// Replace a subscription's signing secret.
    RotateSecret,
    /// Resend a delivery, redeliver dead letters.
    Retry,
    /// Send a test event to one subscription of the scope.
    SendTest,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::View,
        Capability::ManageSubscriptions,
        Capability::ViewSecret,
        Capability::RotateSecret,
        Capability::Retry,
        Capability::SendTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::View => "view",
            Capability::ManageSubscriptions => "manage_subscriptions",
            Capability::ViewSecret => "view_secret",
            Capability::RotateSecret => "rotate_secret",
            Capability::Retry => "retry",
            Capability::SendTest => "send_test",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Light, dark, or whatever the customer's system prefers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ThemeMode {
    Light,
    Dark,
    #[default]
    Auto,
}

/// How the portal looks in the sender's product. Values are checked when the session is
/// minted ([`PortalTheme::problems`]), so they can go into a page as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortalTheme {
    /// `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    /// An `https` image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub mode: ThemeMode,
}

impl PortalTheme {
    /// What is wrong with this theme, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if let Some(accent) = &self.accent {
            if !is_hex_colour(accent) {
                problems.push(("theme.accent", "must be a colour written #rgb or #rrggbb"));
            }
        }
        if let Some(logo) = &self.logo_url {
            let https = url::Url::parse(logo)
                .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
            if !https || logo.len() > 500 {
                problems.push((
                    "theme.logo_url",
                    "must be an https URL of 500 characters at most",
                ));
            }
        }
        problems
    }
}

fn is_hex_colour(value: &str) -> bool {
    value
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The origin (`scheme://host[:port]`) of an `allowed_origins` entry, when it is one: http(s),
/// nothing after the authority. Returned normalised (lowercase host, default port dropped).
pub fn parse_origin(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    let bare = value.trim_end_matches('/');
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && bare.len() + 1 >= value.len();
    plain.then(|| url.origin().ascii_serialization())
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalSession {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub application_id: Uuid,
    /// SHA-256 of the secret ([`hash_secret`]).
    pub secret_hash: Vec<u8>,
    /// The customer's scope: the subscriptions carrying all of these.
    pub labels: StringMap,
    pub capabilities: Vec<Capability>,
    pub allowed_origins: Vec<String>,
    pub theme: PortalTheme,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a session may be used at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Live,
    Expired,
    Revoked,
}

impl PortalSession {
    pub fn state_at(&self, now: DateTime<Utc>) -> SessionState {
        if self.revoked_at.is_some_and(|at| at <= now) {
            SessionState::Revoked
        } else if self.expires_at <= now {
            SessionState::Expired
        } else {
            SessionState::Live
        }
    }

    /// Whether the session grants `capability` (`view` is granted by any capability).
    pub fn allows(&self, capability: Capability) -> bool {
        capability == Capability::View && !self.capabilities.is_empty()
            || self.capabilities.contains(&capability)
    }

    /// Whether a subscription is inside the session's scope: same application, and it carries
    /// every label of the session with the same value.
    pub fn covers(&self, subscription: &Subscription) -> bool {
        subscription.application_id == self.application_id
            && labels_match(&self.labels, &subscription.labels)
    }
}

/// A new session secret: 256 random bits, URL-safe, with [`SECRET_PREFIX`].
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored of a secret, and looked up by.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `value` has the shape of a session secret (checked before any lookup).
pub fn looks_like_secret(value: &str) -> bool {
    value.strip_prefix(SECRET_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_recognised() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(looks_like_secret(&a));
        assert!(!looks_like_secret(&a[1..]));
        assert!(!looks_like_secret("h0portal_../../etc/passwd"));
        assert_eq!(hash_secret(&a).len(), 32);
    }

    #[test]
    fn themes_take_colours_and_https_only() {
        let ok = PortalTheme {
            accent: Some("#0a7".into()),
            logo_url: Some("https://cdn.example.com/logo.svg".into()),
            mode: ThemeMode::Dark,
        };
        assert!(ok.problems().is_empty());
        for accent in ["red", "#12345", "#12345g", "#fff;background:url(x)", "0a7"] {
            let theme = PortalTheme {
                accent: Some(accent.into()),
                ..PortalTheme::default()
            };
            assert_eq!(theme.problems().len(), 1, "{accent}");
        }
        for logo in [
            "http://example.com/a.png",
            "javascript:alert(1)",
            "https://",
        ] {
            let theme = PortalTheme {
                logo_url: Some(logo.into()),
                ..PortalTheme::default()
            };
            assert_eq!(theme.problems().len(), 1, "{logo}");
        }
    }

    #[test]
    fn origins_are_bare() {
        assert_eq!(
            parse_origin("https://App.Example.com").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:3000/").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        for bad in [
            "https://example.com/path",
            "https://example.com?x=1",
            "ftp://example.com",
            "example.com",
            "*",
            "https://user@example.com",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_capability_implies_view() {
        let session = |capabilities: Vec<Capability>| PortalSession {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            application_id: Uuid::nil(),
            secret_hash: Vec::new(),
            labels: StringMap::new(),
            capabilities,
            allowed_origins: Vec::new(),
            theme: PortalTheme::default(),
            created_at: Utc::now(),
            expires_at: Utc::now(),
            revoked_at: None,
        };
        assert!(session(vec![Capability::Retry]).allows(Capability::View));
        assert!(!session(vec![Capability::Retry]).allows(Capability::SendTest));
        assert!(!session(vec![]).allows(Capability::View));
    }
}
