//! Shared helpers: a provisioned relay on port 0, and Stripe's own SDK as signature oracle.

use std::path::PathBuf;
use std::process::Command;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use ziflow_core::secrets::MasterKey;
use ziflow_core::Db;
use ziflow_relay::provision::{self, CreatedShop};

pub const STRIPE_SECRET: &str = "whsec_test_relay_secret";
pub const WHATSAPP_SECRET: &str = "meta-app-secret-for-tests";

pub struct Relay {
    pub base: String,
    pub dir: tempfile::TempDir,
    /// The relay's PostgreSQL database when the suite runs on PostgreSQL
    /// (`ZIFLOW_TEST_DATABASE=postgres`); `relay.db` in `dir` otherwise.
    pub postgres: Option<ziflow_relay::Postgres>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub key: MasterKey,
}

/// A new, empty PostgreSQL database on the test process's cluster, when the suite runs on
/// PostgreSQL.
pub fn test_postgres() -> Option<ziflow_relay::Postgres> {
    ziflow_pg_harness::suite_database().map(|url| ziflow_relay::Postgres { url, pool: 8 })
}

/// What the tests' relays run with: the sandbox on (most tests pay on its page) and
/// owner-typed addresses allowed on this machine (the fake Slack, model and SMTP servers
/// listen on 127.0.0.1) — the explicit settings of local mode, never `serve`'s defaults.
pub fn local_providers() -> ziflow_relay::config::ProviderConfig {
    ziflow_relay::config::ProviderConfig {
        allow_loopback_outbound: true,
        ..ziflow_relay::config::ProviderConfig::sandboxed()
    }
}

impl Relay {
    /// A relay with no shops.
    pub async fn start() -> Relay {
        ziflow_relay::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate().unwrap();
        Self::start_in(dir, key).await
    }

    pub async fn start_in(dir: tempfile::TempDir, key: MasterKey) -> Relay {
        Self::start_with(
            dir,
            key,
            crate::support::local_providers(),
            std::sync::Arc::new(ziflow_core::SystemClock),
        )
        .await
    }

    /// A relay in `dir` with its providers at `providers` and time from `clock`.
    pub async fn start_with(
        dir: tempfile::TempDir,
        key: MasterKey,
        providers: ziflow_relay::config::ProviderConfig,
        clock: std::sync::Arc<dyn ziflow_core::Clock>,
    ) -> Relay {
        Self::start_on(dir, test_postgres(), key, providers, clock).await
    }

    /// [`Relay::start_with`] on a given database (a restart keeps its own).
    pub async fn start_on(
        dir: tempfile::TempDir,
        postgres: Option<ziflow_relay::Postgres>,
        key: MasterKey,
        providers: ziflow_relay::config::ProviderConfig,
        clock: std::sync::Arc<dyn ziflow_core::Clock>,
    ) -> Relay {
        ziflow_relay::install_crypto_provider();
        // The relay's warnings and errors, shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let config = ziflow_relay::Config {
            data_dir: dir.path().to_path_buf(),
            postgres: postgres.clone(),
            master_key: key.clone(),
            providers,
        };
        let task = tokio::spawn(ziflow_relay::run_with_clock(
            config,
            listener,
            async {
                let _ = rx.await;
            },
            clock,
        ));
        let relay = Relay {
            base,
            dir,
            postgres,
            stop: Some(tx),
            task,
            key,
        };
        relay.wait_ready().await;
        relay
    }

    /// Stops the relay (as SIGTERM would) and starts it again on the same folder and key.
    pub async fn restart(
        self,
        providers: ziflow_relay::config::ProviderConfig,
        clock: std::sync::Arc<dyn ziflow_core::Clock>,
    ) -> Relay {
        let Relay {
            dir,
            postgres,
            mut stop,
            task,
            key,
            ..
        } = self;
        if let Some(stop) = stop.take() {
            let _ = stop.send(());
        }
        task.await.unwrap().unwrap();
        Relay::start_on(dir, postgres, key, providers, clock).await
    }

    /// Returns once `/healthz` answers; fails with the relay's own error if it stopped.
    async fn wait_ready(&self) {
        let started = healthy_within(&self.base, std::time::Duration::from_secs(10)).await;
        assert!(
            !self.task.is_finished(),
            "the relay stopped while starting (see its log above)"
        );
        assert!(started, "the relay did not answer /healthz within 10 s");
    }

    /// Opens the relay's database beside the running server (WAL allows it).
    pub async fn db(&self) -> Db {
        ziflow_relay::open_store(self.dir.path(), self.postgres.as_ref())
            .await
            .unwrap()
    }

    /// Creates a shop with both provider secrets set.
    pub async fn shop(&self, name: &str) -> CreatedShop {
        let db = self.db().await;
        let shop = provisioned_shop(&db, &self.key, name).await;
        db.close().await;
        shop
    }

    /// How many events the shop's log holds.
    pub async fn event_count(&self, uid: &str) -> usize {
        let db = self.db().await;
        let n = ziflow_core::storage::events::after(&db, uid, 0, 1000)
            .await
            .unwrap()
            .len();
        db.close().await;
        n
    }
}

/// A shop in `db` (USD, Chicago) with the tests' Stripe and WhatsApp secrets sealed under
/// `key`.
pub async fn provisioned_shop(db: &Db, key: &MasterKey, name: &str) -> CreatedShop {
    let shop = provision::create_shop(db, name, "USD", "America/Chicago")
        .await
        .unwrap();
    provision::set_secrets(
        db,
        key,
        &shop.uid,
        Some(STRIPE_SECRET),
        Some(WHATSAPP_SECRET),
    )
    .await
    .unwrap();
    shop
}

/// Waits until the engine has applied every event in the log (it runs after the
/// intake's commit), at most 10 s.
pub async fn engine_caught_up(db: &Db) {
    use ziflow_core::storage::engine;
    for _ in 0..400 {
        let mut conn = db.acquire().await.unwrap();
        let applied = engine::cursor(&mut conn, engine::PROJECTION).await.unwrap();
        drop(conn);
        let newest = ziflow_core::storage::events::newest_any(db).await.unwrap();
        if applied >= newest {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the engine did not apply the log within 10 s");
}

/// Waits until the relay is idle at its clock's time: no job due, none running, every event
/// applied — twice in a row, so a job an applied event enqueued is seen too. What a test then
/// finds missing is not merely late: it is not coming at this time. Negative checks ("nothing
/// more was sent") come after this, never after a fixed sleep.
pub async fn settled(base: &str) {
    let client = reqwest::Client::new();
    let mut quiet = 0;
    let mut last = String::new();
    for _ in 0..800 {
        last = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let gauge = |name: &str| {
            last.lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse::<i64>()
                        .ok()
                })
                .unwrap_or_else(|| panic!("/metrics has no {name}:\n{last}"))
        };
        let idle = gauge("ziflow_jobs_due") == 0
            && gauge("ziflow_jobs_running") == 0
            && gauge("ziflow_engine_lag_events") == 0;
        quiet = if idle { quiet + 1 } else { 0 };
        if quiet == 2 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the relay was still busy after 20 s:\n{last}");
}

/// The folder with whatsapp-api-js in its `node_modules`, as `cargo xtask test` installs it.
pub fn node_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("ZIFLOW_NODE_DIR") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/ziflow/tools/node")
}

/// Python with Stripe's SDK, as `cargo xtask test` installs it.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ZIFLOW_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/ziflow/tools/py/bin/python")
}

/// The `Stripe-Signature` header Stripe's official Python SDK computes for `body` signed at
/// time `t` with `secret` (the SDK's own HMAC code, not ours).
pub fn stripe_sdk_header(body: &str, secret: &str, t: i64) -> String {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, stripe\n\
             t = int(sys.argv[1]); body = sys.stdin.read(); secret = sys.argv[2]\n\
             sig = stripe.WebhookSignature._compute_signature('%d.%s' % (t, body), secret)\n\
             print('t=%d,v1=%s' % (t, sig))",
            &t.to_string(),
            secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python with the stripe package (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "the Stripe SDK ran: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Whether Stripe's SDK accepts `header` for `body` (`stripe.Webhook.construct_event`).
pub fn stripe_sdk_accepts(body: &str, header: &str, secret: &str) -> bool {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, stripe\n\
             body = sys.stdin.read()\n\
             stripe.Webhook.construct_event(body, sys.argv[1], sys.argv[2])",
            header,
            secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body.as_bytes())?;
            child.wait()
        })
        .expect("python with the stripe package");
    out.success()
}

pub fn now() -> i64 {
    use ziflow_core::Clock;
    ziflow_core::SystemClock.now()
}

pub fn checkout_completed(event_id: &str) -> String {
    serde_json::json!({
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {
            "object": "checkout.session",
            "id": "cs_test_1",
            "payment_status": "paid",
            "amount_total": 12800,
            "currency": "usd",
            "metadata": {"ziflow_invoice": "1001"}
        }}
    })
    .to_string()
}

/// Parses Prometheus text with the official Python client's parser and returns
/// `{"name{label=value,…}": value}` — a real peer checking our exposition format.
pub fn prometheus_samples(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, json\n\
             from prometheus_client.parser import text_string_to_metric_families\n\
             out = {}\n\
             for fam in text_string_to_metric_families(sys.stdin.read()):\n\
             \x20   for s in fam.samples:\n\
             \x20       labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n\
             \x20       out['%s{%s}' % (s.name, labels)] = s.value\n\
             print(json.dumps(out))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python with prometheus-client (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "the Prometheus parser accepts /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A free TCP port on 127.0.0.1 (for starting the relay binary on a known port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `{base}/healthz` answers 200 within `within`.
pub async fn healthy_within(base: &str, within: std::time::Duration) -> bool {
    let url = format!("{base}/healthz");
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
}

/// `localstripe` (PyPI: a stateful fake Stripe written by others), started on 127.0.0.1 —
/// its own command line binds every interface, so its app is served through aiohttp here.
/// Stopped when dropped.
pub struct LocalStripe {
    pub base: String,
    child: std::process::Child,
}

impl LocalStripe {
    pub async fn start() -> LocalStripe {
        ziflow_relay::install_crypto_provider();
        let port = free_port();
        let child = Command::new(python())
            .args([
                "-c",
                "import sys\n\
                 from aiohttp import web\n\
                 from localstripe import server\n\
                 web.run_app(server.app, host='127.0.0.1', port=int(sys.argv[1]), print=None)",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python with localstripe (cargo xtask test installs it)");
        let ls = LocalStripe {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/v1/balance", ls.base))
                .basic_auth("sk_test_probe", None::<&str>)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return ls;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("localstripe did not start within 10 s");
    }

    /// A form POST to localstripe's Stripe API.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .basic_auth("sk_test_localstripe", None::<&str>)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(status.is_success(), "localstripe {path}: {body}");
        body
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .basic_auth("sk_test_localstripe", None::<&str>)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
