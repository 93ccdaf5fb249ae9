//! Who uses Hook0: users, their membership of organizations with a role, and the tokens issued
//! to them (sessions) or to organizations (service tokens). Storage-neutral records, like
//! [`crate::model`]; the tokens themselves are Biscuits, built and checked by the API crate.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A member's role in an organization. `editor` may do everything; `viewer` may only read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Editor,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role name was neither `editor` nor `viewer`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            _ => Err(UnknownRole),
        }
    }
}

/// Normalizes an email address for storage and lookup: emails are unique and compared
/// case-insensitively, so they are kept lowercased (and trimmed).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A user account. `password_hash` is an argon2id PHC string; it never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    /// Lowercased (see [`normalize_email`]).
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Without the password hash, so a user can be logged.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("email_verified_at", &self.email_verified_at)
            .finish_non_exhaustive()
    }
}

/// A user's membership in an organization, as `OrganizationInfo.users` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
}

/// What a stored token is. Email-verification and password-reset tokens are not stored: they
/// expire on their own and act once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A user session's short-lived access token.
    UserAccess,
    /// A user session's refresh token.
    Refresh,
    /// An organization's service token: no expiry, revocable.
    ServiceAccess,
}

impl TokenKind {
    /// The Biscuit `type(…)` fact, also the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::UserAccess => "user_access",
            TokenKind::Refresh => "refresh",
            TokenKind::ServiceAccess => "service_access",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user_access" => Some(TokenKind::UserAccess),
            "refresh" => Some(TokenKind::Refresh),
            "service_access" => Some(TokenKind::ServiceAccess),
            _ => None,
        }
    }
}

/// A stored token: the server-side half of a Biscuit, found by the revocation id of the
/// Biscuit's root block. Expiring it (setting `expired_at`) revokes the token and every token
/// attenuated from it, since they share that revocation id.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: Uuid,
    pub kind: TokenKind,
    /// The user of a session token.
    pub user_id: Option<Uuid>,
    /// The organization of a service token.
    pub organization_id: Option<Uuid>,
    /// The session an access or refresh token belongs to (logout expires the whole session).
    pub session_id: Option<Uuid>,
    /// A service token's name.
    pub name: Option<String>,
    /// A service token's Biscuit (base64), which its organization's editors may read again.
    pub biscuit: Option<String>,
    /// The root block's revocation id.
    pub revocation_id: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// When the token stops being accepted (its own expiry, or the time it was revoked).
    pub expired_at: Option<DateTime<Utc>>,
}

/// Without the Biscuit, which is a credential.
impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("organization_id", &self.organization_id)
            .field("session_id", &self.session_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("expired_at", &self.expired_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_refuse_others() {
        for role in [Role::Editor, Role::Viewer] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("Editor".parse::<Role>(), Err(UnknownRole));
        assert_eq!("master".parse::<Role>(), Err(UnknownRole));
    }

    #[test]
    fn emails_are_compared_lowercased() {
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
    }

    #[test]
    fn debug_output_hides_credentials() {
        let user = User {
            id: Uuid::nil(),
            email: "a@b.c".into(),
            password_hash: "$argon2id$secret".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            email_verified_at: None,
            created_at: Utc::now(),
        };
        assert!(!format!("{user:?}").contains("argon2id"));
        let token = TokenRecord {
            id: Uuid::nil(),
            kind: TokenKind::ServiceAccess,
            user_id: None,
            organization_id: None,
            session_id: None,
            name: None,
            biscuit: Some("En0KEwoEdHlwZRgDIg".into()),
            revocation_id: vec![1],
            created_at: Utc::now(),
            expired_at: None,
        };
        assert!(!format!("{token:?}").contains("En0K"));
    }
}
