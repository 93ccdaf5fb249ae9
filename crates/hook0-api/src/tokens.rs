//! Biscuit tokens: the instance key, and the token types Hook0 mints, with upstream's facts so
//! that tokens (and customers' attenuations of them) mean the same thing here as upstream:
//!
//! | type | lifetime | stored | facts besides `type`, `version(1)`, `created_at` |
//! |---|---|---|---|
//! | `user_access` | 5 min | yes | `token_id`, `session_id`, `user_id`, `email`, `first_name`, `last_name`, `organization_role(org, role)`… |
//! | `refresh` | 30 min | yes | `token_id`, `session_id`, `user_id` |
//! | `service_access` | none | yes | `token_id`, `organization_id` |
//! | `email_verification` | 24 h | no | `user_id`, `expired_at` |
//! | `password_reset` | 30 min | no | `user_id`, `expired_at` |
//!
//! UUIDs are Biscuit byte strings. Expiring tokens carry `check if time($t), $t < <expiry>` (or an
//! `expired_at` fact that the authorizer denies past). A stored token is accepted while the
//! store has a live row for the revocation id of its root block (see [`crate::auth`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{bytes, date, fact, string, Term};
use biscuit_auth::{Algorithm, Biscuit, KeyPair, PrivateKey, PublicKey};
use chrono::{DateTime, Utc};
use hook0_core::identity::{Role, TokenKind, TokenRecord, User};

use crate::auth::token_budget;
use uuid::Uuid;

/// Lifetime of a `user_access` token.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Lifetime of a `refresh` token.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Lifetime of an `email_verification` token (sent by mail).
pub const EMAIL_VERIFICATION_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Lifetime of a `password_reset` token (sent by mail).
pub const PASSWORD_RESET_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The instance's Ed25519 key pair (`BISCUIT_PRIVATE_KEY`), and the tokens it recently
/// verified. Its `Debug` shows only the public key.
#[derive(Clone)]
pub struct BiscuitKey {
    pair: Arc<KeyPair>,
    public: PublicKey,
    verified: Arc<Verified>,
}

/// Tokens that passed every check of authentication (signature, cost bound, a live row in the
/// store), by their text: a client sends the same token with every request, and checking its
/// signatures is most of what a Biscuit costs per request. Only that is remembered;
/// revocation and the token's checks are decided anew on every request. Bounded in bytes, so
/// many large tokens cannot grow the process.
#[derive(Default)]
struct Verified(Mutex<VerifiedTokens>);

#[derive(Default)]
struct VerifiedTokens {
    tokens: HashMap<Box<str>, Arc<Biscuit>>,
    /// Estimated memory of the entries: [`VERIFIED_BYTES_PER_CHAR`] per character of text.
    bytes: usize,
}

/// Estimated memory of all remembered tokens at most; past it, the memory is emptied.
const VERIFIED_MAX_BYTES: usize = 8 * 1024 * 1024;
/// A decoded Biscuit takes a few times its text (blocks, symbols, signatures, the text key).
const VERIFIED_BYTES_PER_CHAR: usize = 4;

impl BiscuitKey {
    fn new(pair: KeyPair) -> Self {
        Self {
            public: pair.public(),
            pair: Arc::new(pair),
            verified: Arc::default(),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self::new(KeyPair::new())
    }

    /// The key from its 32-byte private key in hex (upstream's format).
    pub fn from_private_hex(hex: &str) -> Result<Self, String> {
        let private = PrivateKey::from_bytes_hex(hex.trim(), Algorithm::Ed25519).map_err(|_| {
            "BISCUIT_PRIVATE_KEY must be an Ed25519 private key in hex (64 hex digits)".to_string()
        })?;
        Ok(Self::new(KeyPair::from(&private)))
    }

    /// The private key in hex, to be kept secret (written to the key file only).
    pub fn private_hex(&self) -> String {
        self.pair.private().to_bytes_hex()
    }

    /// The public key in hex, as `GET /instance` publishes it.
    pub fn public_hex(&self) -> String {
        self.public.to_bytes_hex()
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    fn key_pair(&self) -> &KeyPair {
        &self.pair
    }
}

impl Default for BiscuitKey {
    /// A random key: tokens last as long as the process.
    fn default() -> Self {
        Self::generate()
    }
}

impl fmt::Debug for BiscuitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BiscuitKey")
            .field(&self.public_hex())
            .finish()
    }
}

/// A minted token: the Biscuit to hand out, and the row to store.
pub struct Minted {
    pub biscuit: String,
    pub record: TokenRecord,
}

/// A token that could not be minted (a bug, not a client error).
#[derive(Debug, thiserror::Error)]
#[error("cannot mint a Biscuit: {0}")]
pub struct MintError(String);

fn mint_error(e: biscuit_auth::error::Token) -> MintError {
    MintError(e.to_string())
}

pub fn uuid(id: Uuid) -> Term {
    bytes(id.as_bytes())
}

fn system_time(t: DateTime<Utc>) -> SystemTime {
    SystemTime::from(t)
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).expect("token lifetimes fit")
}

/// Signs `facts` (plus `check if time($t), $t < expiry` when given) as the authority block.
fn sign(
    key: &BiscuitKey,
    facts: Vec<biscuit_auth::builder::Fact>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(Biscuit, String), MintError> {
    let mut builder = Biscuit::builder();
    for f in facts {
        builder = builder.fact(f).map_err(mint_error)?;
    }
    if let Some(at) = expires_at {
        let params = HashMap::from([("expiry".to_string(), date(&system_time(at)))]);
        builder = builder
            .code_with_params("check if time($t), $t < {expiry};", params, HashMap::new())
            .map_err(mint_error)?;
    }
    let token = builder.build(key.key_pair()).map_err(mint_error)?;
    let encoded = token.to_base64().map_err(mint_error)?;
    Ok((token, encoded))
}

fn root_revocation_id(token: &Biscuit) -> Vec<u8> {
    token
        .revocation_identifiers()
        .into_iter()
        .next()
        .expect("a Biscuit has a root block")
}

fn common(kind: &str, token_id: Uuid, now: DateTime<Utc>) -> Vec<biscuit_auth::builder::Fact> {
    vec![
        fact("type", &[string(kind)]),
        fact("version", &[Term::Integer(1)]),
        fact("token_id", &[uuid(token_id)]),
        fact("created_at", &[date(&system_time(now))]),
    ]
}

/// A session's access token, listing the user's role in each of its organizations.
pub fn user_access(
    key: &BiscuitKey,
    session_id: Uuid,
    user: &User,
    roles: &[(Uuid, Role)],
    now: DateTime<Utc>,
) -> Result<Minted, MintError> {
    let token_id = Uuid::new_v4();
    let expires_at = now + chrono_duration(ACCESS_TOKEN_LIFETIME);
    let mut facts = common(TokenKind::UserAccess.as_str(), token_id, now);
    facts.extend([
        fact("session_id", &[uuid(session_id)]),
        fact("user_id", &[uuid(user.id)]),
        fact("email", &[string(&user.email)]),
        fact("first_name", &[string(&user.first_name)]),
        fact("last_name", &[string(&user.last_name)]),
    ]);
    for (organization_id, role) in roles {
        facts.push(fact(
            "organization_role",
            &[uuid(*organization_id), string(role.as_str())],
        ));
    }
    let (token, biscuit) = sign(key, facts, Some(expires_at))?;
    Ok(Minted {
        record: TokenRecord {
            id: token_id,
            kind: TokenKind::UserAccess,
            user_id: Some(user.id),
            organization_id: None,
            session_id: Some(session_id),
            name: None,
            biscuit: None,
            revocation_id: root_revocation_id(&token),
            created_at: now,
            expired_at: Some(expires_at),
        },
        biscuit,
    })
}

/// A session's refresh token.
pub fn refresh(
    key: &BiscuitKey,
    session_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Minted, MintError> {
    let token_id = Uuid::new_v4();
    let expires_at = now + chrono_duration(REFRESH_TOKEN_LIFETIME);
    let mut facts = common(TokenKind::Refresh.as_str(), token_id, now);
    facts.extend([
        fact("session_id", &[uuid(session_id)]),
        fact("user_id", &[uuid(user_id)]),
    ]);
    let (token, biscuit) = sign(key, facts, Some(expires_at))?;
    Ok(Minted {
        record: TokenRecord {
            id: token_id,
            kind: TokenKind::Refresh,
            user_id: Some(user_id),
            organization_id: None,
            session_id: Some(session_id),
            name: None,
            biscuit: None,
            revocation_id: root_revocation_id(&token),
            created_at: now,
            expired_at: Some(expires_at),
        },
        biscuit,
    })
}

/// An organization's service token: no expiry. Its Biscuit is handed out once, when it is
/// created, and not stored (the row keeps its revocation id only).
pub fn service_access(
    key: &BiscuitKey,
    organization_id: Uuid,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Minted, MintError> {
    let token_id = Uuid::new_v4();
    let mut facts = common(TokenKind::ServiceAccess.as_str(), token_id, now);
    facts.push(fact("organization_id", &[uuid(organization_id)]));
    let (token, biscuit) = sign(key, facts, None)?;
    Ok(Minted {
        record: TokenRecord {
            id: token_id,
            kind: TokenKind::ServiceAccess,
            user_id: None,
            organization_id: Some(organization_id),
            session_id: None,
            name: Some(name.to_owned()),
            biscuit: None,
            revocation_id: root_revocation_id(&token),
            created_at: now,
            expired_at: None,
        },
        biscuit,
    })
}

/// The tokens sent by mail; they are not stored and act once (by the state they change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailLink {
    EmailVerification,
    PasswordReset,
}

impl EmailLink {
    pub fn type_name(self) -> &'static str {
        match self {
            EmailLink::EmailVerification => "email_verification",
            EmailLink::PasswordReset => "password_reset",
        }
    }

    fn lifetime(self) -> Duration {
        match self {
            EmailLink::EmailVerification => EMAIL_VERIFICATION_LIFETIME,
            EmailLink::PasswordReset => PASSWORD_RESET_LIFETIME,
        }
    }
}

/// What a password-reset link may replace: a fingerprint of the password hash it was sent
/// for. Once the password changes (by this link or otherwise) the link no longer matches, so
/// it acts once, without storing it.
pub fn password_state(password_hash: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(password_hash.as_bytes())[..16].to_vec()
}

/// A token for an email link (upstream's facts: `type`, `version`, `user_id`, `created_at`,
/// `expired_at`; a reset link adds `password_state`, see [`password_state`]).
pub fn email_link(
    key: &BiscuitKey,
    link: EmailLink,
    user: &User,
    now: DateTime<Utc>,
) -> Result<String, MintError> {
    let user_id = user.id;
    let expired_at = now + chrono_duration(link.lifetime());
    let mut facts = vec![
        fact("type", &[string(link.type_name())]),
        fact("version", &[Term::Integer(1)]),
        fact("user_id", &[uuid(user_id)]),
        fact("created_at", &[date(&system_time(now))]),
        fact("expired_at", &[date(&system_time(expired_at))]),
    ];
    if link == EmailLink::PasswordReset {
        facts.push(fact(
            "password_state",
            &[bytes(&password_state(&user.password_hash))],
        ));
    }
    Ok(sign(key, facts, None)?.1)
}

/// Reads a token signed by this instance's key whose cost is bounded
/// ([`crate::auth::token_budget`]); `None` for anything else (garbage, another key, a tampered
/// block, a token too long or too costly to evaluate). The length is checked before decoding.
pub fn parse(key: &BiscuitKey, token: &str) -> Option<Biscuit> {
    if let Err(refused) = token_budget::check_length(token) {
        tracing::debug!(?refused, "token refused before decoding");
        return None;
    }
    let biscuit = Biscuit::from_base64(token, key.public()).ok()?;
    if let Err(refused) = token_budget::check(&biscuit) {
        tracing::debug!(?refused, "token refused: its Datalog could cost too much");
        return None;
    }
    Some(biscuit)
}

/// A token that recently passed authentication, as decoded then.
pub fn recently_verified(key: &BiscuitKey, token: &str) -> Option<Arc<Biscuit>> {
    let cache = key.verified.0.lock().expect("token cache lock");
    cache.tokens.get(token).cloned()
}

/// Remembers a token that passed authentication, within [`VERIFIED_MAX_BYTES`].
pub fn remember_verified(key: &BiscuitKey, token: &str, biscuit: Arc<Biscuit>) {
    let size = token.len() * VERIFIED_BYTES_PER_CHAR;
    if size > VERIFIED_MAX_BYTES / 64 {
        return; // a token this large is verified on each use instead
    }
    let mut cache = key.verified.0.lock().expect("token cache lock");
    if cache.bytes + size > VERIFIED_MAX_BYTES {
        cache.tokens = HashMap::new();
        cache.bytes = 0;
    }
    if cache.tokens.insert(token.into(), biscuit).is_none() {
        cache.bytes += size;
    }
}

/// The revocation id of the token's root block: what the store knows the token by, shared by
/// every token attenuated from it.
pub fn revocation_id(token: &Biscuit) -> Vec<u8> {
    root_revocation_id(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_tokens_are_bounded_in_bytes() {
        let key = BiscuitKey::generate();
        let minted = service_access(&key, Uuid::new_v4(), "ci", Utc::now()).unwrap();
        assert!(recently_verified(&key, &minted.biscuit).is_none());
        let parsed = Arc::new(parse(&key, &minted.biscuit).unwrap());
        assert_eq!(revocation_id(&parsed), minted.record.revocation_id);
        remember_verified(&key, &minted.biscuit, parsed.clone());
        let again = recently_verified(&key, &minted.biscuit).unwrap();
        assert!(Arc::ptr_eq(&parsed, &again));
        assert!(parse(&key, "garbage").is_none());
        assert!(parse(&BiscuitKey::generate(), &minted.biscuit).is_none());

        // Many distinct tokens never take more than the bound.
        for i in 0..5_000 {
            let text = format!("{}{i}", "x".repeat(2_000));
            remember_verified(&key, &text, parsed.clone());
            assert!(key.verified.0.lock().unwrap().bytes <= VERIFIED_MAX_BYTES);
        }
    }

    #[test]
    fn the_key_round_trips_through_hex_and_hides_its_private_half() {
        let key = BiscuitKey::generate();
        let again = BiscuitKey::from_private_hex(&key.private_hex()).unwrap();
        assert_eq!(again.public_hex(), key.public_hex());
        assert!(!format!("{key:?}").contains(&key.private_hex()));
        assert!(BiscuitKey::from_private_hex("zz").is_err());
    }
}
