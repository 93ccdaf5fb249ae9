//! Password hashing: argon2id with upstream's parameters (the argon2 crate's defaults: v19,
//! m = 19456 KiB, t = 2, p = 1), stored as PHC strings. Hashing takes tens of milliseconds of
//! CPU, so it runs on the blocking pool, never on the async threads.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hook0_core::problem::ProblemId;

use crate::error::{ApiError, ApiResult};

/// Verified against when the email is unknown, so that a login takes as long whether the
/// account exists or not.
static DECOY: LazyLock<String> = LazyLock::new(|| hash_now("decoy password, never valid"));

fn hash_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "password hashing task failed");
        ApiError::new(ProblemId::InternalServerError)
    })
}

/// The PHC string of `password`.
pub async fn hash(password: String) -> ApiResult<String> {
    blocking(move || hash_now(&password)).await
}

/// Whether `password` matches the PHC string; with `None` (no such user), a decoy is checked
/// and the answer is `false`.
pub async fn verify(password: String, phc: Option<String>) -> ApiResult<bool> {
    blocking(move || match phc {
        Some(phc) => verify_now(&password, &phc),
        None => {
            verify_now(&password, &DECOY);
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let phc = hash_now("Tr0mb0ne&Kiwi#Hail");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_now("Tr0mb0ne&Kiwi#Hail", &phc));
        assert!(!verify_now("tr0mb0ne&Kiwi#Hail", &phc));
        assert!(!verify_now("anything", "not a phc string"));
    }
}
