//! Where the master key comes from. It seals every shop's provider secrets, so the relay
//! refuses to start without it — except in local mode (one machine, the desktop's own
//! relay), where a key file is created in the data folder on first start.
//!
//! Order: `ZIFLOW_MASTER_KEY` (64 hex digits or base64 of 32 bytes), else
//! `--master-key-file` / `ZIFLOW_MASTER_KEY_FILE`, else in local mode `<data-dir>/master.key`.
//!
//! Also [`ProviderConfig`]: where the payment, messaging and notification providers are,
//! and the operator's limits (sandbox, outbound addresses, retention, trusted proxies).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use ziflow_core::secrets::MasterKey;

/// Where the providers are (tests point Stripe at a fake on 127.0.0.1).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Stripe's API base URL.
    pub stripe_api_base: String,
    /// How long one Stripe call may take before it is retried later.
    pub stripe_timeout: Duration,
    /// The relay's address as customers reach it, for links the relay makes on its own (the
    /// bot's sandbox pay links); `http://<listen address>` when unset.
    pub public_url: Option<String>,
    /// Meta's Graph API base URL (the WhatsApp Cloud API).
    pub graph_api_base: String,
    /// How long one WhatsApp call may take before it is retried later.
    pub whatsapp_timeout: Duration,
    /// Messages per second per business number.
    pub whatsapp_rate: u32,
    /// Telegram's Bot API base URL (notifications).
    pub telegram_api_base: String,
    /// One more certificate authority (PEM) trusted for SMTP servers.
    pub smtp_ca_pem: Option<Vec<u8>>,
    /// How long one notification call may take before it is retried later.
    pub notify_timeout: Duration,
    /// The sandbox provider and channel (pay page, customer chat, sandbox links) are served.
    /// Off unless asked for (`serve --sandbox`, local mode, the demo, tests): a relay with
    /// real shops must never offer a way to mark an invoice paid without money.
    pub sandbox: bool,
    /// Owner-typed addresses (Slack webhook, model endpoint, SMTP server) may be this machine
    /// (`--allow-loopback-outbound`: local mode and tests). Never by default on `serve`;
    /// private, link-local and metadata addresses are refused either way.
    pub allow_loopback_outbound: bool,
    /// The bearer token `/metrics` asks for (`--metrics-token`). Without one, `/metrics`
    /// answers only requests from this machine.
    pub metrics_token: Option<String>,
    /// Days after which command answers, delivery ticks and finished jobs are pruned
    /// (`--retention-days`; 0 keeps everything). The event log is never pruned.
    pub retention_days: u32,
    /// Reverse proxies in front of the relay (`--trusted-proxy`): from these peers only, the
    /// client's address is read from `X-Forwarded-For` for per-source limits.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Tests only: runs before each job (fault injection). `None` in every binary.
    pub job_probe: Option<JobProbe>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            stripe_api_base: ziflow_core::pay::stripe::DEFAULT_API_BASE.into(),
            stripe_timeout: ziflow_core::pay::stripe::DEFAULT_TIMEOUT,
            public_url: None,
            graph_api_base: ziflow_core::channel::whatsapp::DEFAULT_GRAPH_BASE.into(),
            whatsapp_timeout: ziflow_core::channel::whatsapp::DEFAULT_TIMEOUT,
            whatsapp_rate: ziflow_core::channel::whatsapp::DEFAULT_RATE,
            telegram_api_base: ziflow_core::notify::DEFAULT_TELEGRAM_BASE.into(),
            smtp_ca_pem: None,
            notify_timeout: ziflow_core::notify::TIMEOUT,
            sandbox: false,
            allow_loopback_outbound: false,
            metrics_token: None,
            retention_days: 30,
            trusted_proxies: Vec::new(),
            job_probe: None,
        }
    }
}

impl ProviderConfig {
    /// What owner-typed addresses may reach.
    pub fn outbound(&self) -> ziflow_core::net::Outbound {
        ziflow_core::net::Outbound {
            allow_loopback: self.allow_loopback_outbound,
        }
    }

    /// The defaults with the sandbox on (local mode, the demo, tests).
    pub fn sandboxed() -> Self {
        Self {
            sandbox: true,
            ..Self::default()
        }
    }
}

/// The optional TOML file (`--config FILE` or `ZIFLOW_CONFIG`). Flags and environment
/// variables win over it; unknown keys are refused so a typo is caught at start-up.
///
/// ```toml
/// listen = "127.0.0.1:8787"
/// data_dir = "/var/lib/ziflow-relay"
/// database_url = "postgres://ziflow@db.internal/ziflow"
/// database_pool = 16
/// master_key_file = "/etc/ziflow/master.key"
/// local = false
/// stripe_api_base = "https://api.stripe.com"
/// graph_api_base = "https://graph.facebook.com"
/// whatsapp_rate = 80
/// public_url = "https://relay.example.com"
/// telegram_api_base = "https://api.telegram.org"
/// smtp_ca_file = "/etc/ziflow/smtp-ca.pem"
/// sandbox = false
/// allow_loopback_outbound = false
/// metrics_token = "a-long-random-string"
/// retention_days = 30
/// trusted_proxies = ["10.0.0.2"]
/// ```
#[derive(Debug, Clone, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Folder for relay.db.
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL database instead of relay.db (several relays may share it).
    pub database_url: Option<String>,
    /// Connections this relay keeps to PostgreSQL.
    pub database_pool: Option<u32>,
    /// File holding the master key.
    pub master_key_file: Option<PathBuf>,
    /// Local mode.
    #[serde(default)]
    pub local: bool,
    /// Stripe's API address.
    pub stripe_api_base: Option<String>,
    /// Meta's Graph API address (WhatsApp Cloud API).
    pub graph_api_base: Option<String>,
    /// WhatsApp messages per second per number.
    pub whatsapp_rate: Option<u32>,
    /// The relay's address as customers reach it.
    pub public_url: Option<String>,
    /// Telegram's Bot API address (a self-hosted Bot API server, or a test's).
    pub telegram_api_base: Option<String>,
    /// A PEM file with one more certificate authority to trust for SMTP servers.
    pub smtp_ca_file: Option<PathBuf>,
    /// Serve the sandbox provider and chat (demos and tests only; never with real shops).
    #[serde(default)]
    pub sandbox: bool,
    /// Owner-typed addresses may be this machine (local installs and tests only).
    #[serde(default)]
    pub allow_loopback_outbound: bool,
    /// The bearer token `/metrics` asks for.
    pub metrics_token: Option<String>,
    /// Days after which command answers, delivery ticks and finished jobs are pruned.
    pub retention_days: Option<u32>,
    /// Reverse proxies whose `X-Forwarded-For` is believed for per-source limits.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Reads and checks the config file.
pub fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

/// How the command line asked for the key.
#[derive(Debug, Clone, Default)]
pub struct KeySource {
    /// The key itself (from `ZIFLOW_MASTER_KEY`).
    pub key: Option<String>,
    /// A file holding the key.
    pub file: Option<PathBuf>,
    /// Local mode: create `<data-dir>/master.key` if no key is given.
    pub local: bool,
}

/// Resolves the master key for `data_dir`.
pub fn master_key(source: &KeySource, data_dir: &Path) -> anyhow::Result<MasterKey> {
    if let Some(text) = source.key.as_deref().filter(|k| !k.trim().is_empty()) {
        return MasterKey::parse(text).context("ZIFLOW_MASTER_KEY");
    }
    if let Some(file) = &source.file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the master key file {}", file.display()))?;
        return MasterKey::parse(&text).with_context(|| format!("{}", file.display()));
    }
    if source.local {
        let file = data_dir.join("master.key");
        if file.exists() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            return MasterKey::parse(&text).with_context(|| format!("{}", file.display()));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let key = MasterKey::generate()?;
        write_private(&file, &key.to_hex())?;
        tracing::info!(file = %file.display(), "local mode: created a master key");
        return Ok(key);
    }
    bail!(
        "no master key: set ZIFLOW_MASTER_KEY (64 hex digits, e.g. from `openssl rand -hex 32`) \
         or --master-key-file. It encrypts the shops' provider secrets at rest. For a \
         single-machine install, use --local instead."
    )
}

/// Writes a new file readable only by its owner (fails if it exists).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{text}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_start_without_a_key_outside_local_mode() {
        let dir = tempfile::tempdir().unwrap();
        let err = master_key(&KeySource::default(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ZIFLOW_MASTER_KEY"),
            "the error names the setting: {err}"
        );
    }

    #[test]
    fn local_mode_creates_a_private_key_once_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let local = KeySource {
            local: true,
            ..KeySource::default()
        };
        let a = master_key(&local, dir.path()).unwrap();
        let b = master_key(&local, dir.path()).unwrap();
        assert_eq!(a.to_hex(), b.to_hex(), "the same key on the next start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner may read the key");
        }
    }

    #[test]
    fn the_config_file_refuses_unknown_keys_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nmaster_key_fiel = \"x\"\n").unwrap();
        let err = format!("{:#}", load_file(&path).unwrap_err());
        assert!(
            err.contains("master_key_fiel"),
            "names the unknown key: {err}"
        );
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlocal = true\n").unwrap();
        let cfg = load_file(&path).unwrap();
        assert_eq!(cfg.listen.as_deref(), Some("127.0.0.1:1"));
        assert!(cfg.local);
    }

    #[test]
    fn a_bad_key_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let err = master_key(
            &KeySource {
                key: Some("short".into()),
                ..KeySource::default()
            },
            dir.path(),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("32 bytes") || format!("{err:#}").contains("hex"),
            "{err:#}"
        );
    }
}

/// A hook run just before each job: how the tests make a job panic. `None` in every binary.
#[derive(Clone)]
pub struct JobProbe(pub std::sync::Arc<dyn Fn(&ziflow_core::storage::jobs::Job) + Send + Sync>);

impl std::fmt::Debug for JobProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobProbe")
    }
}
