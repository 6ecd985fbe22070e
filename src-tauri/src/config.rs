//! Configuration of the desktop app.
//!
//! - Data folder: `$ZIFLOW_DATA_DIR` if set, else the platform's app-data folder
//!   (`~/.local/share/app.ziflow.desktop` on Linux). It holds `ziflow.db`.
//! - Optional `config.toml` in that folder (or at `$ZIFLOW_CONFIG`):
//!
//! ```toml
//! shop_name = "Demo Boutique"     # name of the local shop created on first start
//!
//! [update]
//! endpoint = "https://releases.example.com/ziflow/{{target}}/{{arch}}/{{current_version}}"
//! pubkey = "…"                    # overrides the key in tauri.conf.json (self-hosted builds)
//! ca_cert = "/etc/ziflow/ca.pem"  # extra CA to trust for the update server
//!
//! [local_relay]
//! listen = "127.0.0.1:8787"       # where the in-app relay listens (default: a free port)
//! ```
//!
//! A config file that does not parse stops start-up with a message naming the file and the
//! problem; nothing is guessed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The shop name used when the config does not set one (the demo).
pub const DEFAULT_SHOP_NAME: &str = "Demo Boutique";

/// What `config.toml` may contain. Unknown keys are refused so typos are caught.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Name of the local shop created on first start.
    pub shop_name: Option<String>,
    /// Updater settings.
    #[serde(default)]
    pub update: UpdateConfig,
    /// The relay that runs inside the app (local mode).
    #[serde(default)]
    pub local_relay: LocalRelayConfig,
}

/// Local-mode relay settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LocalRelayConfig {
    /// Address it listens on (default: a free port on 127.0.0.1).
    pub listen: Option<String>,
}

/// Updater settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Manifest URL; `{{target}}`, `{{arch}}`, `{{current_version}}` are filled in.
    pub endpoint: Option<String>,
    /// Base64 minisign public key that update downloads must be signed with.
    pub pubkey: Option<String>,
    /// PEM file of an extra certificate authority to trust for the update server
    /// (self-hosted servers with an internal CA).
    pub ca_cert: Option<PathBuf>,
}

/// Where the app keeps its files.
pub fn data_dir(platform_default: impl FnOnce() -> Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ZIFLOW_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    platform_default()
        .ok_or_else(|| anyhow::anyhow!("cannot find a folder for app data; set ZIFLOW_DATA_DIR"))
}

/// Reads the config file for `data_dir`; a missing file is an empty config.
pub fn load(data_dir: &Path) -> anyhow::Result<FileConfig> {
    let path = std::env::var_os("ZIFLOW_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir.join("config.toml"));
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Parses config text.
pub fn parse(text: &str) -> Result<FileConfig, toml::de::Error> {
    toml::from_str(text)
}

/// Fails with a clear sentence when there is no display to open a window on.
pub fn check_display() -> Result<(), String> {
    if cfg!(target_os = "linux") {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err(
                "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the ZiFlow \
                        window cannot open. Run it from a desktop session, or under a virtual \
                        display: `xvfb-run -a ziflow-app`."
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let cfg = parse(
            "shop_name = \"Glow Bar\"\n[update]\nendpoint = \"https://u.example/{{target}}\"\npubkey = \"abc\"\n",
        )
        .unwrap();
        assert_eq!(cfg.shop_name.as_deref(), Some("Glow Bar"));
        assert_eq!(
            cfg.update.endpoint.as_deref(),
            Some("https://u.example/{{target}}")
        );
        assert_eq!(cfg.update.pubkey.as_deref(), Some("abc"));
    }

    #[test]
    fn refuses_a_misspelt_key_instead_of_ignoring_it() {
        let err = parse("[update]\nendpiont = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("endpiont"),
            "the error names the unknown key: {err}"
        );
    }

    #[test]
    fn empty_config_is_the_default() {
        assert_eq!(parse("").unwrap(), FileConfig::default());
    }
}
