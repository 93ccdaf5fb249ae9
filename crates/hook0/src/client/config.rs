//! The CLI's profiles, in upstream's format: `config.toml` (`default_profile`, then
//! `[profiles.NAME]` with `api_url`, `application_id`, `organization_id`) in `$HOOK0_CONFIG_DIR`
//! or the user's config directory, and beside it `credentials.toml` (mode 0600) with each
//! profile's secret: servers and containers have no keyring.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<Uuid>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Credentials {
    #[serde(default)]
    profiles: BTreeMap<String, Secret>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Secret {
    secret: String,
}

/// Where the files live: `$HOOK0_CONFIG_DIR`, else `$XDG_CONFIG_HOME/hook0`, else
/// `~/.config/hook0`.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HOOK0_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(base) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(base).join("hook0"));
    }
    let home = std::env::var_os("HOME")
        .context("no HOME: set HOOK0_CONFIG_DIR to say where the CLI keeps its profiles")?;
    Ok(PathBuf::from(home).join(".config/hook0"))
}

fn read<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> anyhow::Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML; fix or remove it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes through a temporary file renamed into place, so a crash never leaves half a file;
/// `private` files are readable by their owner only.
fn write<T: Serialize>(path: &Path, value: &T, private: bool) -> anyhow::Result<()> {
    let dir = path.parent().context("a config path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(value).context("cannot write the profiles as TOML")?;
    let temporary = path.with_extension("toml.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        let mut file = options
            .open(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// The profiles and their secrets, as stored.
pub struct Store {
    dir: PathBuf,
    pub config: Config,
    credentials: Credentials,
}

impl Store {
    pub fn open() -> anyhow::Result<Self> {
        let dir = dir()?;
        Ok(Self {
            config: read(&dir.join("config.toml"))?,
            credentials: read(&dir.join("credentials.toml"))?,
            dir,
        })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn secret(&self, profile: &str) -> Option<&str> {
        self.credentials
            .profiles
            .get(profile)
            .map(|s| s.secret.as_str())
    }

    /// Adds or replaces a profile (the default one when it is the first).
    pub fn save_profile(
        &mut self,
        name: &str,
        profile: Profile,
        secret: &str,
    ) -> anyhow::Result<()> {
        self.config.profiles.insert(name.to_owned(), profile);
        if self.config.default_profile.is_none() {
            self.config.default_profile = Some(name.to_owned());
        }
        self.credentials.profiles.insert(
            name.to_owned(),
            Secret {
                secret: secret.to_owned(),
            },
        );
        self.save()
    }

    /// Removes a profile and its secret; whether it existed.
    pub fn remove_profile(&mut self, name: &str) -> anyhow::Result<bool> {
        let existed = self.config.profiles.remove(name).is_some();
        self.credentials.profiles.remove(name);
        if self.config.default_profile.as_deref() == Some(name) {
            self.config.default_profile = self.config.profiles.keys().next().cloned();
        }
        self.save()?;
        Ok(existed)
    }

    pub fn save(&self) -> anyhow::Result<()> {
        write(&self.dir.join("config.toml"), &self.config, false)?;
        write(&self.dir.join("credentials.toml"), &self.credentials, true)
    }
}
