//! The Biscuit private key of `hook0 serve`/`hook0 api`: `BISCUIT_PRIVATE_KEY` when set;
//! otherwise the key kept in the data directory, generated (and said so) on first start, in a
//! file only its owner may read. Upstream refuses to start without the variable; a first start
//! here needs no setup.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use hook0_api::BiscuitKey;

/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "biscuit_private_key";

pub fn biscuit_key(from_env: Option<&str>, data_dir: &Path) -> anyhow::Result<BiscuitKey> {
    if let Some(hex) = from_env.filter(|k| !k.trim().is_empty()) {
        return BiscuitKey::from_private_hex(hex).map_err(anyhow::Error::msg);
    }
    let path = data_dir.join(KEY_FILE);
    if path.exists() {
        let hex = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the Biscuit key in {}", path.display()))?;
        return BiscuitKey::from_private_hex(&hex)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = BiscuitKey::generate();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(key.private_hex().as_bytes())?;
    file.sync_all()?;
    tracing::info!(
        path = %path.display(),
        public_key = %key.public_hex(),
        "BISCUIT_PRIVATE_KEY is not set: generated a Biscuit private key and stored it (owner-only). \
         Set BISCUIT_PRIVATE_KEY to the same key on every API process sharing this database."
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = biscuit_key(None, dir.path()).unwrap();
        let again = biscuit_key(None, dir.path()).unwrap();
        assert_eq!(first.public_hex(), again.public_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = BiscuitKey::generate();
        let chosen = biscuit_key(Some(&given.private_hex()), dir.path()).unwrap();
        assert_eq!(chosen.public_hex(), given.public_hex());
        let err = biscuit_key(Some("not hex"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("BISCUIT_PRIVATE_KEY"), "{err}");
    }
}
