//! Benchmarks of the relay, each a ratio to a baseline measured in the same run.
//!
//! - `relay`: webhook intake of the real relay against a minimal reference server, same
//!   machine, same load generator, same bodies. The reference verifies the Stripe HMAC and
//!   group-commits the raw body into SQLite (WAL, `synchronous=FULL`) — the least a durable
//!   webhook receiver can do. The relay does that plus everything it is for: secret lookup,
//!   JSON checks, dedupe by event id, and its engine applying the events meanwhile. Both
//!   servers run side by side and are measured in rounds that take turns, each round once
//!   both are idle; the ratio is the median of the rounds'.
//! - `replica`: webhook → event applied in a desktop replica (the real sync client) at a
//!   steady 200 webhooks/s; baseline: the same webhooks' own 2xx latency.
//! - `agent`: the sales agent. Its decision per customer message (`agent::respond`) against
//!   parsing that message's webhook JSON; and, through a relay connected to a local Graph API
//!   stand-in, the customer's "yes + address" webhook to the Pay-button message leaving the
//!   relay, against a question's webhook to its plain reply on the same path.
//! - `memory`: the relay's resident memory after 1,000,000 webhooks taken in and one device
//!   syncing the whole log; baseline: the same binary just started.
//! - `signature`: the worst `Stripe-Signature` header an outsider can send (the most `v1`
//!   candidates accepted, none right; 50,000 empty ones) over a 1 MiB body, against an honest
//!   header's check of the same body — in process, and through the relay binary.
//! - `cluster`: the cost of coordination when relays share one PostgreSQL database. This
//!   machine's cores cannot grow with the relays, so it measures webhook intake at constant
//!   CPU: one SQLite relay, then one, two and three PostgreSQL relays on one database (the
//!   server with `fsync` on), the same 64 connections spread over them and over many shops,
//!   and all on one shop; requests/s, p50/p99, CPU per 1,000 events (relays + PostgreSQL);
//!   and the webhook → applied lag at a steady 200 webhooks/s on three relays.
//! - `desktop`: the desktop window left alone for 60 s once its replica holds a shop of
//!   10,000 conversations: CPU of the app and its WebKit processes, and the SQL statements it
//!   ran meanwhile; baseline: the same window on an empty shop, in the same run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};
use ziflow_core::webhook::stripe;
use ziflow_core::{Clock, SystemClock};

const SECRET: &str = "whsec_bench_secret";
const CONNECTIONS: usize = 64;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("relay") => rt.block_on(bench_relay()),
        Some("replica") => rt.block_on(bench_replica()),
        Some("memory") => rt.block_on(bench_memory()),
        Some("agent") => rt.block_on(bench_agent()),
        Some("signature") => rt.block_on(bench_signature()),
        Some("desktop") => rt.block_on(bench_desktop()),
        Some("cluster") => rt.block_on(bench_cluster()),
        Some("reference-server") => {
            let listen = args.get(1).context("reference-server LISTEN DIR")?.clone();
            let dir = args.get(2).context("reference-server LISTEN DIR")?.clone();
            rt.block_on(reference_server(&listen, &dir))
        }
        _ => bail!("usage: ziflow-bench relay|replica|memory|agent|signature|desktop|cluster"),
    }
}

// ---- desktop: the idle window ----

/// Conversations in the big shop.
const DESKTOP_CONVERSATIONS: usize = 10_000;
/// How long the window is left alone.
const IDLE: Duration = Duration::from_secs(60);

async fn bench_desktop() -> Result<()> {
    let app = ziflow_tests::app_binary()?;
    let empty = idle_window("empty shop", 0, &app, false).await?;
    let big = idle_window("10,000 conversations", DESKTOP_CONVERSATIONS, &app, false).await?;
    println!(
        "idle for {} s, CPU of the app and its WebKit processes, % of one core: empty shop {:.2}, \
         10,000 conversations {:.2} (ratio {:.2}); SQL statements meanwhile: {} and {}",
        IDLE.as_secs(),
        empty.cpu_percent,
        big.cpu_percent,
        big.cpu_percent / empty.cpu_percent.max(0.01),
        empty.statements,
        big.statements,
    );
    // An earlier build of the window, measured on the same shop in the same run, if given.
    if let Some(before) = std::env::var_os("ZIFLOW_BENCH_BEFORE_APP") {
        let before = idle_window(
            "10,000 conversations, the earlier build",
            DESKTOP_CONVERSATIONS,
            std::path::Path::new(&before),
            true,
        )
        .await?;
        println!(
            "idle for {} s on 10,000 conversations, % of one core: earlier build {:.2}, this \
             build {:.2} (ratio {:.3}); SQL statements meanwhile: {} and {}",
            IDLE.as_secs(),
            before.cpu_percent,
            big.cpu_percent,
            big.cpu_percent / before.cpu_percent.max(0.01),
            before.statements,
            big.statements,
        );
    }
    Ok(())
}

/// What the window cost while nobody touched it.
struct Idle {
    cpu_percent: f64,
    statements: usize,
}

/// Fills the local relay of a fresh data folder with `conversations` conversations (three
/// messages each, through the log and the projections the relay's engine runs), opens the
/// window on it, waits until its replica has pulled the whole log, lets it settle, then
/// measures `IDLE`. `app` is the app binary to open; `earlier` says it predates migration 19.
async fn idle_window(
    label: &str,
    conversations: usize,
    app: &std::path::Path,
    earlier: bool,
) -> Result<Idle> {
    use ziflow_core::storage::{engine, events};
    let dir = tempfile::Builder::new()
        .prefix("ziflow-bench-desktop-")
        .tempdir()?;
    let relay_dir = dir.path().join("relay");
    std::fs::create_dir_all(&relay_dir)?;
    let head = {
        let db = ziflow_relay::open_db(&relay_dir).await?;
        ziflow_relay::provision::create_shop_with_uid(
            &db,
            "local",
            "Glow Bar",
            "USD",
            "America/Chicago",
        )
        .await?;
        let start = SystemClock.now() - 86_400 * 30;
        let mut head = 0;
        for chunk in (0..conversations).collect::<Vec<_>>().chunks(500) {
            let mut tx = db.begin().await?;
            for &n in chunk {
                let at = start + i64::try_from(n)?;
                let from = format!("1512{:07}", n);
                let text = |t: &str, m: usize| {
                    serde_json::json!({
                        "phone_number_id": "bench", "from": from,
                        "profile_name": format!("Customer {n}"),
                        "message": {"from": from, "id": format!("wamid.bench.{n}.{m}"),
                            "timestamp": (at + i64::try_from(m).unwrap_or(0) * 60).to_string(),
                            "type": "text", "text": {"body": t}},
                    })
                    .to_string()
                };
                let reply = serde_json::json!({
                    "to": format!("+{from}"), "text": "Hi! The gel cleanser is $34.", "by": "bot",
                })
                .to_string();
                for (kind, payload) in [
                    ("whatsapp.message", text("how much is the gel cleanser?", 0)),
                    ("message.sent", reply),
                    ("whatsapp.message", text("thanks, I'll think about it", 2)),
                ] {
                    let event = ziflow_protocol::Event::parse(kind, &payload)
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    let row = events::append_event(&mut tx, "local", &event, at)
                        .await?
                        .context("appending a seed event")?;
                    ziflow_core::projection::apply(&mut tx, &row).await?;
                    head = row.id;
                }
            }
            engine::set_cursor(&mut tx, engine::PROJECTION, head).await?;
            tx.commit().await?;
        }
        if let (true, Some(pool)) = (earlier, db.sqlite_pool()) {
            // The earlier build predates migration 19 (an index): take it out again, or that
            // build would refuse a database newer than itself.
            sqlx::query("DROP INDEX IF EXISTS invoice_items_invoice")
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 19")
                .execute(pool)
                .await?;
        }
        db.close().await;
        head
    };

    let log = ziflow_tests::artifacts_dir().join(format!(
        "bench-desktop-{}.log",
        label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    ));
    std::fs::create_dir_all(ziflow_tests::artifacts_dir())?;
    let app = ziflow_tests::BareApp::launch(
        app,
        dir.path(),
        &[("RUST_LOG", "warn,sqlx::query=debug"), ("NO_COLOR", "1")],
        &log,
    )?;
    // The replica has the whole log (read from this process, not the app's).
    let deadline = Instant::now() + Duration::from_secs(900);
    let replica = dir.path().join("ziflow.db");
    while !replica.exists() {
        if Instant::now() > deadline {
            bail!("{label}: the app made no replica within 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pool = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&replica)
            .read_only(true),
    )
    .await?;
    loop {
        if Instant::now() > deadline {
            bail!("{label}: the replica did not reach event {head} within 15 minutes");
        }
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap_or(None);
        if newest.unwrap_or(0) >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pool.close().await;
    // Let the window finish painting what it pulled.
    tokio::time::sleep(Duration::from_secs(10)).await;

    let tick = clock_ticks_per_second();
    let (t0, processes) = app.cpu_ticks()?;
    let from = std::fs::metadata(&log)?.len();
    tokio::time::sleep(IDLE).await;
    let (t1, _) = app.cpu_ticks()?;
    let to = std::fs::metadata(&log)?.len();
    let bytes = std::fs::read(&log)?;
    let window = String::from_utf8_lossy(
        &bytes[usize::try_from(from)?..usize::try_from(to)?.min(bytes.len())],
    )
    .into_owned();
    let statements: Vec<&str> = window
        .lines()
        .filter(|l| l.contains("sqlx::query"))
        .collect();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for line in &statements {
        let summary = line
            .split("summary=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("?");
        *kinds.entry(summary.to_string()).or_default() += 1;
    }
    let cpu_percent = (t1 - t0) as f64 / tick / IDLE.as_secs_f64() * 100.0;
    println!(
        "{label}: replica at event {head}; idle {} s: {} processes, {:.2} s of CPU ({cpu_percent:.2} % of one core), {} SQL statements{}",
        IDLE.as_secs(),
        processes,
        (t1 - t0) as f64 / tick,
        statements.len(),
        if kinds.is_empty() { String::new() } else { format!(": {kinds:?}") },
    );
    drop(app);
    Ok(Idle {
        cpu_percent,
        statements: statements.len(),
    })
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0)
}

// ---- signature: the worst header against an honest one ----

async fn bench_signature() -> Result<()> {
    const ROUNDS: usize = 200;
    ziflow_relay::install_crypto_provider();
    let body = format!(
        r#"{{"id":"evt_sig","type":"checkout.session.completed","pad":"{}"}}"#,
        "x".repeat(1024 * 1024 - 80)
    );
    let t = SystemClock.now();
    let honest = stripe::sign(SECRET, body.as_bytes(), t);
    let wrong = format!(",v1={}", "0".repeat(64));
    let most = format!("t={t}{}", wrong.repeat(stripe::MAX_CANDIDATES));
    let stuffed = format!("t={t}{}", ",v1=".repeat(50_000));
    let time = |header: &str, expect_ok: bool| -> Result<Vec<u32>> {
        let mut us = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let r = stripe::verify(SECRET, Some(header), body.as_bytes(), t);
            us.push(micros(started.elapsed()));
            anyhow::ensure!(r.is_ok() == expect_ok, "unexpected verdict {r:?}");
        }
        us.sort_unstable();
        Ok(us)
    };
    let base = time(&honest, true)?;
    let worst = time(&most, false)?;
    let flood = time(&stuffed, false)?;
    println!("\n| in process, 1 MiB body, {ROUNDS} checks | p50 ms | p99 ms | ratio p50 |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("honest header (baseline)", &base),
        ("8 wrong v1 candidates (the most accepted)", &worst),
        ("50,000 empty v1 entries", &flood),
    ] {
        println!(
            "| {name} | {:.3} | {:.3} | {:.2} |",
            percentile(v, 50),
            percentile(v, 99),
            percentile(v, 50) / percentile(&base, 50).max(0.001)
        );
    }

    let relay = BenchRelay::start().await?;
    let client = reqwest::Client::new();
    let url = format!("{}/api/payment/webhook/{}", relay.base, relay.shop);
    let mut http = Vec::new();
    for (name, header, status) in [
        ("honest header (baseline)", None, 200u16),
        ("8 wrong v1 candidates", Some(most.clone()), 400),
        ("50,000 empty v1 entries", Some(stuffed.clone()), 400),
    ] {
        let mut us = Vec::new();
        for n in 0..50 {
            let body = body.replacen("evt_sig", &format!("evt_sig_{name:.6}_{n}"), 1);
            let now = SystemClock.now();
            let header = header
                .clone()
                .unwrap_or_else(|| stripe::sign(SECRET, body.as_bytes(), now));
            let started = Instant::now();
            let res = client
                .post(&url)
                .header("Stripe-Signature", header)
                .body(body)
                .send()
                .await?;
            us.push(micros(started.elapsed()));
            anyhow::ensure!(res.status().as_u16() == status, "{name}: {}", res.status());
        }
        us.sort_unstable();
        http.push((name, us));
    }
    println!("\n| through ziflow-relay, 1 MiB body, 50 requests | p50 ms | p99 ms | ratio p50 |");
    println!("|---|---|---|---|");
    let base_http = percentile(&http[0].1, 50).max(0.001);
    for (name, v) in &http {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            percentile(v, 50),
            percentile(v, 99),
            percentile(v, 50) / base_http
        );
    }
    println!("\nGoal: the worst header costs at most 2x an honest check.");
    Ok(())
}

// ---- the reference: verify HMAC, group-commit the raw body ----

type Job = (Vec<u8>, oneshot::Sender<bool>);

async fn reference_server(listen: &str, dir: &str) -> Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(format!("{dir}/reference.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(&pool)
        .await?;
    let (tx, mut rx) = mpsc::channel::<Job>(4096);
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
            let ok = async {
                let mut t = pool.begin().await?;
                for (body, _) in &batch {
                    sqlx::query("INSERT INTO raw (body) VALUES (?)")
                        .bind(body)
                        .execute(&mut *t)
                        .await?;
                }
                t.commit().await
            }
            .await
            .is_ok();
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(ok);
            }
        }
    });
    let app = axum::Router::new()
        .route("/hook", post(reference_hook))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn reference_hook(
    State(tx): State<mpsc::Sender<Job>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = headers.get(stripe::HEADER).and_then(|v| v.to_str().ok());
    if stripe::verify(SECRET, header, &body, SystemClock.now()).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let (reply, rx) = oneshot::channel();
    if tx.send((body.to_vec(), reply)).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match rx.await {
        Ok(true) => StatusCode::OK,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

// ---- the load generator ----

struct Run {
    /// Requests sent in all, warm-up included (for CPU per request).
    sent: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn load(url: &str, prefix: &str, warmup: Duration, measure: Duration) -> Result<Run> {
    load_spread(&[url.to_string()], prefix, warmup, measure).await
}

/// [`load`] with connection `k` posting to `urls[k % urls.len()]`.
async fn load_spread(
    urls: &[String],
    prefix: &str,
    warmup: Duration,
    measure: Duration,
) -> Result<Run> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for k in 0..CONNECTIONS {
        let (client, url, prefix) = (
            client.clone(),
            urls[k % urls.len()].clone(),
            prefix.to_string(),
        );
        let (counter, errors, measuring, running) = (
            counter.clone(),
            errors.clone(),
            measuring.clone(),
            running.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(200_000);
            while running.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    r#"{{"id":"evt_{prefix}_{n}","object":"event","type":"checkout.session.completed","data":{{"object":{{"object":"checkout.session","payment_status":"paid","amount_total":12800,"currency":"usd","metadata":{{}}}}}}}}"#
                );
                let sig = stripe::sign(SECRET, body.as_bytes(), SystemClock.now());
                let start = Instant::now();
                let ok = client
                    .post(&url)
                    .header(stripe::HEADER, sig)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        lat.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep(warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(measure).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    all.sort_unstable();
    let pct = |p: usize| {
        all.get(all.len().saturating_sub(1) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    #[allow(clippy::cast_precision_loss)]
    Ok(Run {
        sent: counter.load(Ordering::Relaxed),
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: f64::from(pct(50)) / 1000.0,
        p99_ms: f64::from(pct(99)) / 1000.0,
        errors: errors.load(Ordering::Relaxed),
    })
}

async fn wait_port(port: u16) -> Result<()> {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("nothing listened on {port}")
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn bench_relay() -> Result<()> {
    ziflow_relay::install_crypto_provider();
    let me = std::env::current_exe()?;
    let bin_dir = me.parent().context("bench binary folder")?;
    let relay_bin = bin_dir.join("ziflow-relay");
    let dir = tempfile::tempdir()?;

    let ref_port = ziflow_tests::free_port()?;
    let reference_server = Kill(
        std::process::Command::new(&me)
            .args(["reference-server", &format!("127.0.0.1:{ref_port}")])
            .arg(dir.path())
            .spawn()?,
    );
    wait_port(ref_port).await?;

    let key_hex = "ab".repeat(32);
    let relay_dir = dir.path().join("relay");
    let db = ziflow_relay::open_db(&relay_dir).await?;
    let shop = ziflow_relay::provision::create_shop(&db, "Bench", "USD", "UTC").await?;
    let key = ziflow_core::secrets::MasterKey::parse(&key_hex)?;
    ziflow_relay::provision::set_secrets(&db, &key, &shop.uid, Some(SECRET), None).await?;
    db.close().await;
    let relay_port = ziflow_tests::free_port()?;
    let relay_server = Kill(
        std::process::Command::new(&relay_bin)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{relay_port}"),
                "--data-dir",
            ])
            .arg(&relay_dir)
            .env("ZIFLOW_MASTER_KEY", &key_hex)
            .env("RUST_LOG", "warn")
            .spawn()
            .with_context(|| format!("starting {}", relay_bin.display()))?,
    );
    wait_port(relay_port).await?;
    let ref_url = format!("http://127.0.0.1:{ref_port}/hook");
    let relay_url = format!(
        "http://127.0.0.1:{relay_port}/api/payment/webhook/{}",
        shop.uid
    );
    let pids = [reference_server.0.id(), relay_server.0.id()];

    // Rounds that take turns (reference, relay; then relay, reference; …), each started only
    // once both servers are idle (the relay's engine has applied the last round's events), so
    // neither server's leftover work or a slow moment of the machine weighs on one side only.
    // The ratio is the median of the rounds' ratios.
    let mut reference = Vec::new();
    let mut relay = Vec::new();
    for round in 0..ROUNDS {
        eprintln!(
            "round {}/{ROUNDS}: reference (HMAC + group commit of the raw body) and ziflow-relay, {CONNECTIONS} connections, {ROUND_MEASURE:?} each…",
            round + 1
        );
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            idle(&pids).await?;
            let run = if which == 0 {
                load(
                    &ref_url,
                    &format!("ref{round}"),
                    ROUND_WARMUP,
                    ROUND_MEASURE,
                )
                .await?
            } else {
                load(
                    &relay_url,
                    &format!("relay{round}"),
                    ROUND_WARMUP,
                    ROUND_MEASURE,
                )
                .await?
            };
            if which == 0 {
                reference.push(run);
            } else {
                relay.push(run);
            }
        }
    }

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "relay intake benchmark ({cores} cores, {CONNECTIONS} connections, {ROUNDS} rounds of {}s each, taking turns)",
        ROUND_MEASURE.as_secs()
    );
    println!("| round | reference requests/s | relay requests/s | ratio | relay p50 ms | relay p99 ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (n, (r, z)) in reference.iter().zip(&relay).enumerate() {
        let ratio = z.rps / r.rps;
        ratios.push(ratio);
        println!(
            "| {} | {:.0} | {:.0} | {ratio:.2} | {:.2} | {:.2} | {} |",
            n + 1,
            r.rps,
            z.rps,
            z.p50_ms,
            z.p99_ms,
            r.errors + z.errors
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "reference p50 {:.2} ms, p99 {:.2} ms; ziflow-relay p50 {:.2} ms, p99 {:.2} ms (medians of the rounds)",
        median(reference.iter().map(|r| r.p50_ms).collect()),
        median(reference.iter().map(|r| r.p99_ms).collect()),
        median(relay.iter().map(|r| r.p50_ms).collect()),
        median(relay.iter().map(|r| r.p99_ms).collect()),
    );
    println!(
        "ratio relay/reference: {:.2} (median of {ROUNDS} rounds)",
        median(ratios)
    );
    Ok(())
}

/// Rounds of `relay`; each measures both servers for [`ROUND_MEASURE`].
const ROUNDS: usize = 5;
const ROUND_WARMUP: Duration = Duration::from_secs(1);
const ROUND_MEASURE: Duration = Duration::from_secs(4);

/// CPU time (clock ticks) the processes `pids` have used so far.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // utime and stime: fields 14 and 15, counted after the parenthesised name.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// Waits until the processes `pids` use no CPU for a moment (at most a minute).
async fn idle(pids: &[u32]) -> Result<()> {
    let ticks = || cpu_ticks(pids);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = ticks();
    let mut still = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = ticks();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still >= 3 {
            return Ok(());
        }
    }
    bail!("the servers stayed busy for a minute")
}

// ---- shared by `replica` and `memory` ----

/// A relay binary serving a fresh data folder with one shop and one device.
struct BenchRelay {
    _dir: tempfile::TempDir,
    process: Kill,
    base: String,
    shop: String,
    device_token: String,
}

impl BenchRelay {
    async fn start() -> Result<Self> {
        Self::start_with(&[], None).await
    }

    /// With extra `serve` arguments and the shop's WhatsApp app secret.
    async fn start_with(extra: &[&str], whatsapp_secret: Option<&str>) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let key_hex = "cd".repeat(32);
        let db = ziflow_relay::open_db(dir.path()).await?;
        let shop = ziflow_relay::provision::create_shop(&db, "Bench", "USD", "UTC").await?;
        let key = ziflow_core::secrets::MasterKey::parse(&key_hex)?;
        ziflow_relay::provision::set_secrets(&db, &key, &shop.uid, Some(SECRET), whatsapp_secret)
            .await?;
        let device =
            ziflow_relay::provision::add_device(&db, &shop.uid, "Bench desk", "owner", "").await?;
        db.close().await;
        let port = ziflow_tests::free_port()?;
        let relay_bin = std::env::current_exe()?
            .parent()
            .context("bench binary folder")?
            .join("ziflow-relay");
        let process = Kill(
            std::process::Command::new(&relay_bin)
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--data-dir",
                ])
                .arg(dir.path())
                .args(extra)
                .env("ZIFLOW_MASTER_KEY", &key_hex)
                .env("RUST_LOG", "warn")
                .spawn()
                .with_context(|| format!("starting {}", relay_bin.display()))?,
        );
        wait_port(port).await?;
        Ok(Self {
            _dir: dir,
            process,
            base: format!("http://127.0.0.1:{port}"),
            shop: shop.uid,
            device_token: device.device_token,
        })
    }

    fn webhook_url(&self) -> String {
        format!("{}/api/payment/webhook/{}", self.base, self.shop)
    }

    /// The relay's resident and peak resident memory in KiB, from /proc.
    fn memory_kib(&self) -> Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.0.id()))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{name} in /proc/PID/status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// A paid checkout event whose amount (minor units) carries its sequence number.
fn paid_event(prefix: &str, n: u64) -> String {
    format!(
        r#"{{"id":"evt_{prefix}_{n}","object":"event","type":"checkout.session.completed","data":{{"object":{{"object":"checkout.session","payment_status":"paid","amount_total":{},"currency":"usd","metadata":{{}}}}}}}}"#,
        100_000 + n
    )
}

async fn post_signed(client: &reqwest::Client, url: &str, body: String) -> bool {
    let sig = stripe::sign(SECRET, body.as_bytes(), SystemClock.now());
    client
        .post(url)
        .header(stripe::HEADER, sig)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn percentile(sorted: &[u32], p: usize) -> f64 {
    let v = sorted
        .get(sorted.len().saturating_sub(1) * p / 100)
        .copied()
        .unwrap_or(0);
    f64::from(v) / 1000.0
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

// ---- replica: webhook → applied in a desktop replica ----

const REPLICA_RATE: u64 = 200;
const REPLICA_SECONDS: u64 = 20;
const REPLICA_WARMUP: u64 = 2 * REPLICA_RATE;

async fn bench_replica() -> Result<()> {
    use std::collections::HashMap;
    use std::sync::Mutex;

    ziflow_relay::install_crypto_provider();
    let relay = BenchRelay::start().await?;
    let replica_dir = tempfile::tempdir()?;
    let replica = ziflow_core::Db::open_replica(replica_dir.path().join("replica.db")).await?;
    let client =
        ziflow_app::sync::SyncClient::new(&relay.base, &relay.device_token, replica.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut status = client.status();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let applied_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let sink = applied_at.clone();
    let sync = tokio::spawn(client.run(stop, move |pulled| {
        let now = Instant::now();
        let mut map = sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for p in pulled.payments {
            if let Ok(n) = u64::try_from(p.amount.minor - 100_000) {
                map.insert(n, now);
            }
        }
    }));
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.state == ziflow_app::sync::SyncState::Online),
    )
    .await
    .context("the sync client did not come online")??;

    eprintln!("replica: {REPLICA_RATE} webhooks/s for {REPLICA_SECONDS}s, each timed to its 2xx and to its arrival in the desktop replica…");
    let http = reqwest::Client::new();
    let url = relay.webhook_url();
    let total = REPLICA_RATE * REPLICA_SECONDS;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / REPLICA_RATE));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let (http, url) = (http.clone(), url.clone());
        sends.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = post_signed(&http, &url, paid_event("replica", n)).await;
            (n, sent, ok.then(|| sent.elapsed()))
        }));
    }
    let mut sent_at = Vec::new();
    let mut acks = Vec::new();
    let mut errors = 0;
    for s in sends {
        let (n, sent, ack) = s.await?;
        match ack {
            Some(d) if n >= REPLICA_WARMUP => acks.push(micros(d)),
            Some(_) => {}
            None => errors += 1,
        }
        sent_at.push((n, sent));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while applied_at.lock().map(|m| m.len()).unwrap_or(0) < usize::try_from(total)? {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let _ = sync.await;
    let map = applied_at
        .lock()
        .map_err(|_| anyhow::anyhow!("applied map poisoned"))?
        .clone();
    let mut applied: Vec<u32> = sent_at
        .iter()
        .filter(|(n, _)| *n >= REPLICA_WARMUP)
        .filter_map(|(n, sent)| map.get(n).map(|at| micros(at.duration_since(*sent))))
        .collect();
    let missing = total as usize - map.len();
    acks.sort_unstable();
    applied.sort_unstable();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "webhook → desktop replica ({cores} cores, {REPLICA_RATE} webhooks/s, {REPLICA_SECONDS}s, first {REPLICA_WARMUP} not timed)"
    );
    println!("| measured | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("webhook answered 2xx (baseline)", &acks),
        ("event applied in the desktop replica", &applied),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            percentile(v, 50),
            percentile(v, 99),
            percentile(v, 100)
        );
    }
    println!(
        "ratio applied/answered: p50 {:.2}, p99 {:.2}; errors {errors}, never applied {missing}",
        percentile(&applied, 50) / percentile(&acks, 50).max(0.001),
        percentile(&applied, 99) / percentile(&acks, 99).max(0.001)
    );
    if errors > 0 || missing > 0 {
        bail!("{errors} webhooks failed and {missing} never reached the replica");
    }
    Ok(())
}

// ---- memory: RSS after 1,000,000 events ----

const MEMORY_EVENTS: u64 = 1_000_000;

async fn bench_memory() -> Result<()> {
    ziflow_relay::install_crypto_provider();
    let relay = BenchRelay::start().await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    // Baseline: started and warmed with a few webhooks.
    for n in 0..100 {
        if !post_signed(&http, &relay.webhook_url(), paid_event("warm", n)).await {
            bail!("warm-up webhook {n} failed");
        }
    }
    let (base_rss, _) = relay.memory_kib()?;

    eprintln!("memory: posting {MEMORY_EVENTS} signed webhooks over {CONNECTIONS} connections…");
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url, next, failed) = (
            http.clone(),
            relay.webhook_url(),
            next.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= MEMORY_EVENTS {
                    break;
                }
                if !post_signed(&http, &url, paid_event("mem", n)).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let intake = started.elapsed();
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} webhooks were not accepted");
    }
    let (after_intake, _) = relay.memory_kib()?;

    eprintln!("memory: one device syncs the whole log…");
    let replica_dir = tempfile::tempdir()?;
    let replica = ziflow_core::Db::open_replica(replica_dir.path().join("replica.db")).await?;
    let client = ziflow_app::sync::SyncClient::new(&relay.base, &relay.device_token, replica)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shop = client
        .ensure_shop()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let synced = client
        .catch_up(&shop)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (end_rss, peak) = relay.memory_kib()?;

    let mib = |kib: u64| {
        #[allow(clippy::cast_precision_loss)]
        let v = kib as f64 / 1024.0;
        v
    };
    println!(
        "relay memory ({} events taken in over {:.0}s, a device synced {} events)",
        MEMORY_EVENTS + 100,
        intake.as_secs_f64(),
        synced.events
    );
    println!("| moment | RSS MiB |");
    println!("|---|---|");
    println!(
        "| started, 100 webhooks (baseline) | {:.1} |",
        mib(base_rss)
    );
    println!("| after 1,000,000 webhooks | {:.1} |", mib(after_intake));
    println!(
        "| after a device synced the whole log | {:.1} |",
        mib(end_rss)
    );
    println!("| peak (VmHWM) | {:.1} |", mib(peak));
    #[allow(clippy::cast_precision_loss)]
    let ratio = end_rss as f64 / base_rss.max(1) as f64;
    println!("ratio end/baseline: {ratio:.2}");
    Ok(())
}

// ---- agent: decision per message, and "yes + address" → pay link on the wire ----

const AGENT_ROUNDS: usize = 200;
const AGENT_CUSTOMERS: usize = 80;
const AGENT_WARMUP: usize = 5;
const WA_SECRET: &str = "bench-meta-app-secret";
const WA_NUMBER: &str = "106540352242922";
const WA_TOKEN: &str = "EAAGbenchTokenForTheAgentBenchmark0123";

fn samples() -> Result<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/agent-samples.json");
    Ok(serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
    )?)
}

fn inbound(from: &str, wamid: &str, text: &str) -> String {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550104477", "phone_number_id": WA_NUMBER},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": SystemClock.now().to_string(),
                          "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
}

fn sorted_micros(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// `/messages` posts the stand-in received: (to, type, when).
type Posted = tokio::sync::mpsc::UnboundedSender<(String, String, Instant)>;

async fn graph_stand_in(posted: Posted) -> Result<String> {
    use axum::routing::get;
    let counter = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route(
            "/v23.0/{id}",
            get(|| async {
                axum::Json(
                    serde_json::json!({"display_phone_number": "+1 555-010-4477",
                    "verified_name": "Bench", "id": WA_NUMBER}),
                )
            }),
        )
        .route(
            "/v23.0/{id}/messages",
            post(move |body: Bytes| {
                let (posted, counter) = (posted.clone(), counter.clone());
                async move {
                    let at = Instant::now();
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    if v["status"] == "read" {
                        return axum::Json(serde_json::json!({"success": true}));
                    }
                    let to = v["to"].as_str().unwrap_or_default().to_string();
                    let kind = v["type"].as_str().unwrap_or_default().to_string();
                    let _ = posted.send((to.clone(), kind, at));
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    axum::Json(serde_json::json!({"messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": format!("wamid.BENCH{n}")}]}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

async fn bench_agent() -> Result<()> {
    use ziflow_core::agent::{respond, Shop, State};
    let samples = samples()?;
    let catalog = ziflow_core::catalog::Catalog::parse(
        &serde_json::json!({"catalog": samples["catalog"], "shipping": samples["shipping"]}),
    )?;
    let shop = Shop {
        city: "Denver",
        currency: "USD",
        catalog: &catalog,
        replies: None,
        max_qty: ziflow_core::agent::DEFAULT_MAX_QTY,
    };
    let conversations: Vec<Vec<String>> = samples["conversations"]
        .as_array()
        .context("conversations in the samples")?
        .iter()
        .map(|c| {
            c["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    eprintln!(
        "agent decision: {} sample conversations × {AGENT_ROUNDS} rounds…",
        conversations.len()
    );
    let (mut decide, mut parse) = (Vec::new(), Vec::new());
    for _ in 0..AGENT_ROUNDS {
        for convo in &conversations {
            let mut state = State::default();
            for text in convo {
                let body = inbound("15125550123", "wamid.X", text);
                let t = Instant::now();
                let v: serde_json::Value = serde_json::from_str(&body)?;
                std::hint::black_box(&v);
                parse.push(micros(t.elapsed()));
                let t = Instant::now();
                std::hint::black_box(respond(&mut state, text, &shop));
                decide.push(micros(t.elapsed()));
            }
        }
    }
    let (decide, parse) = (sorted_micros(decide), sorted_micros(parse));

    ziflow_relay::install_crypto_provider();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let graph = graph_stand_in(tx).await?;
    // The bot's pay links come from the sandbox provider (no Stripe here): switched on
    // explicitly, as an operator would for a demo.
    let relay =
        BenchRelay::start_with(&["--graph-api-base", &graph, "--sandbox"], Some(WA_SECRET)).await?;
    let http = reqwest::Client::new();
    let command = |body: serde_json::Value| {
        let (http, base, token) = (http.clone(), relay.base.clone(), relay.device_token.clone());
        async move {
            let res = http
                .post(format!("{base}/api/v1/commands"))
                .bearer_auth(token)
                .header(
                    "Idempotency-Key",
                    format!("bench-{}", body["type"].as_str().unwrap_or("cmd")),
                )
                .json(&body)
                .send()
                .await?;
            if !res.status().is_success() {
                bail!("{body} refused: {}", res.text().await?);
            }
            Ok::<(), anyhow::Error>(())
        }
    };
    command(serde_json::json!({"type": "catalog.set",
        "catalog": {"catalog": samples["catalog"], "shipping": samples["shipping"]}}))
    .await?;
    command(
        serde_json::json!({"type": "whatsapp.connect", "phone_number_id": WA_NUMBER,
        "access_token": WA_TOKEN}),
    )
    .await?;
    let hook = format!("{}/api/whatsapp/webhook/{}", relay.base, relay.shop);
    let send = |body: String| {
        let (http, hook) = (http.clone(), hook.clone());
        async move {
            let sig = ziflow_core::webhook::whatsapp::sign(WA_SECRET, body.as_bytes());
            let res = http
                .post(&hook)
                .header("X-Hub-Signature-256", sig)
                .body(body)
                .send()
                .await?;
            if !res.status().is_success() {
                bail!("webhook refused: {}", res.status());
            }
            Ok::<(), anyhow::Error>(())
        }
    };
    // Waits for the next message of `kind` to `to`.
    async fn next_to(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, String, Instant)>,
        to: &str,
        kind: &str,
    ) -> Result<Instant> {
        loop {
            let (who, k, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .context("no message left the relay within 10 s")?
                .context("the stand-in stopped")?;
            if who == to && k == kind {
                return Ok(at);
            }
        }
    }
    eprintln!("agent end to end: {AGENT_CUSTOMERS} customers, question → reply, then \"yes + address\" → Pay button…");
    let (mut reply, mut pay) = (Vec::new(), Vec::new());
    for i in 0..AGENT_CUSTOMERS + AGENT_WARMUP {
        let who = format!("1512555{i:04}");
        let t = Instant::now();
        send(inbound(
            &who,
            &format!("wamid.Q{i}"),
            "how much is the gel cleanser?",
        ))
        .await?;
        let replied = next_to(&mut rx, &who, "text").await?;
        let t2 = Instant::now();
        send(inbound(&who, &format!("wamid.Y{i}"), "yes, 18 Maple St.")).await?;
        let paid = next_to(&mut rx, &who, "interactive").await?;
        if i >= AGENT_WARMUP {
            reply.push(micros(replied - t));
            pay.push(micros(paid - t2));
        }
    }
    let (reply, pay) = (sorted_micros(reply), sorted_micros(pay));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("agent benchmark ({cores} cores)");
    println!("| measure | n | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("baseline: parse the message's webhook JSON", &parse),
        ("agent decision per message", &decide),
        (
            "baseline: question webhook → plain reply on the wire",
            &reply,
        ),
        ("\"yes + address\" webhook → Pay button on the wire", &pay),
    ] {
        println!(
            "| {name} | {} | {:.3} | {:.3} |",
            v.len(),
            percentile(v, 50),
            percentile(v, 99)
        );
    }
    let ratio = |a: &[u32], b: &[u32]| percentile(a, 99) / percentile(b, 99).max(0.001);
    println!("ratio decision/parse (p99): {:.1}", ratio(&decide, &parse));
    println!(
        "ratio pay link/plain reply (p99): {:.2}",
        ratio(&pay, &reply)
    );
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "targets: decision p99 < 2 ms {}; pay link p99 < 100 ms {}",
        met(percentile(&decide, 99) < 2.0),
        met(percentile(&pay, 99) < 100.0)
    );
    Ok(())
}

// ---- cluster: relays sharing one PostgreSQL database ----

const CLUSTER_SHOPS: usize = 50;
const CLUSTER_WARMUP: Duration = Duration::from_secs(1);
const CLUSTER_MEASURE: Duration = Duration::from_secs(5);
const LAG_RATE: u64 = 200;
const LAG_SECONDS: u64 = 10;

/// Relay processes serving one store.
struct Relays {
    _procs: Vec<Kill>,
    pids: Vec<u32>,
    bases: Vec<String>,
}

async fn start_relays(
    bin: &std::path::Path,
    n: usize,
    dir: &std::path::Path,
    database_url: Option<&str>,
    key_hex: &str,
) -> Result<Relays> {
    let mut relays = Relays {
        _procs: Vec::new(),
        pids: Vec::new(),
        bases: Vec::new(),
    };
    for _ in 0..n {
        let port = ziflow_tests::free_port()?;
        let mut cmd = std::process::Command::new(bin);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("ZIFLOW_MASTER_KEY", key_hex)
        .env("RUST_LOG", "error");
        if let Some(url) = database_url {
            cmd.env("ZIFLOW_DATABASE_URL", url)
                .env("ZIFLOW_DATABASE_POOL", "16");
        }
        let child = cmd.spawn().context("starting ziflow-relay")?;
        relays.pids.push(child.id());
        relays._procs.push(Kill(child));
        wait_port(port).await?;
        relays.bases.push(format!("http://127.0.0.1:{port}"));
    }
    Ok(relays)
}

/// `shops` shops with the bench's Stripe secret; their uids.
async fn provision_shops(db: &ziflow_core::Db, key_hex: &str, shops: usize) -> Result<Vec<String>> {
    let key = ziflow_core::secrets::MasterKey::parse(key_hex)?;
    let mut uids = Vec::new();
    for n in 0..shops {
        let shop =
            ziflow_relay::provision::create_shop(db, &format!("Bench {n}"), "USD", "UTC").await?;
        ziflow_relay::provision::set_secrets(db, &key, &shop.uid, Some(SECRET), None).await?;
        uids.push(shop.uid);
    }
    Ok(uids)
}

/// One configuration's figures.
struct ClusterRow {
    label: String,
    spread: Run,
    spread_cpu: f64,
    one_shop: Run,
}

/// Measures `relays`: the load over every shop, then all on the first shop. CPU counts the
/// relays and `server` (PostgreSQL's processes).
async fn measure_relays(
    label: &str,
    relays: &Relays,
    uids: &[String],
    server: &[u32],
) -> Result<ClusterRow> {
    let n = relays.bases.len();
    let url = |k: usize, shop: &str| format!("{}/api/payment/webhook/{shop}", relays.bases[k % n]);
    let spread: Vec<String> = (0..CONNECTIONS)
        .map(|k| url(k, &uids[(k / n) % uids.len()]))
        .collect();
    let one: Vec<String> = (0..CONNECTIONS).map(|k| url(k, &uids[0])).collect();
    let mut pids = relays.pids.clone();
    pids.extend_from_slice(server);
    idle(&pids).await?;
    let before = cpu_ticks(&pids);
    let spread_run = load_spread(
        &spread,
        &format!("{label}-spread"),
        CLUSTER_WARMUP,
        CLUSTER_MEASURE,
    )
    .await?;
    let ticks = cpu_ticks(&pids).saturating_sub(before);
    #[allow(clippy::cast_precision_loss)]
    let spread_cpu =
        ticks as f64 / clock_ticks_per_second() / (spread_run.sent.max(1) as f64) * 1000.0;
    idle(&pids).await?;
    let one_run = load_spread(
        &one,
        &format!("{label}-one"),
        CLUSTER_WARMUP,
        CLUSTER_MEASURE,
    )
    .await?;
    Ok(ClusterRow {
        label: label.to_string(),
        spread: spread_run,
        spread_cpu,
        one_shop: one_run,
    })
}

async fn bench_cluster() -> Result<()> {
    ziflow_relay::install_crypto_provider();
    let me = std::env::current_exe()?;
    let bin = me
        .parent()
        .context("bench binary folder")?
        .join("ziflow-relay");
    let key_hex = "cd".repeat(32);
    let pg = ziflow_tests::pg::Cluster::start_durable()?;
    let server = pg.server_pids();
    let mut rows = Vec::new();

    eprintln!("SQLite relay…");
    let dir = tempfile::tempdir()?;
    let db = ziflow_relay::open_db(dir.path()).await?;
    let uids = provision_shops(&db, &key_hex, CLUSTER_SHOPS).await?;
    db.close().await;
    let relays = start_relays(&bin, 1, dir.path(), None, &key_hex).await?;
    rows.push(measure_relays("SQLite, 1 relay", &relays, &uids, &[]).await?);
    drop(relays);

    for n in 1..=3 {
        eprintln!("PostgreSQL, {n} relay(s)…");
        let dir = tempfile::tempdir()?;
        let url = pg.fresh_database()?;
        let store = ziflow_relay::Postgres {
            url: url.clone(),
            pool: 4,
        };
        let db = ziflow_relay::open_store(dir.path(), Some(&store)).await?;
        let uids = provision_shops(&db, &key_hex, CLUSTER_SHOPS).await?;
        db.close().await;
        let relays = start_relays(&bin, n, dir.path(), Some(&url), &key_hex).await?;
        rows.push(
            measure_relays(
                &format!("PostgreSQL, {n} relay{}", if n == 1 { "" } else { "s" }),
                &relays,
                &uids,
                &server,
            )
            .await?,
        );
    }

    eprintln!("lag at {LAG_RATE} webhooks/s on three PostgreSQL relays…");
    let (lag_p50, lag_p99, lag_missing) = cluster_lag(&bin, &pg, &key_hex).await?;

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "cluster benchmark ({cores} cores, {CONNECTIONS} connections, {} s per run, PostgreSQL with fsync on, {CLUSTER_SHOPS} shops)",
        CLUSTER_MEASURE.as_secs()
    );
    println!("| relays | requests/s | p50 ms | p99 ms | CPU s per 1,000 | one shop requests/s | one shop p99 ms | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.3} | {:.0} | {:.2} | {} |",
            r.label,
            r.spread.rps,
            r.spread.p50_ms,
            r.spread.p99_ms,
            r.spread_cpu,
            r.one_shop.rps,
            r.one_shop.p99_ms,
            r.spread.errors + r.one_shop.errors
        );
    }
    let (sqlite, one, three) = (&rows[0], &rows[1], &rows[3]);
    println!(
        "one PostgreSQL relay / SQLite relay: {:.2} (target ≥ 0.6)",
        one.spread.rps / sqlite.spread.rps
    );
    println!(
        "three relays / one relay: {:.2} (target ≥ 0.85); two / one: {:.2}; CPU per event three / one: {:.2} (target ≤ 1.25)",
        three.spread.rps / one.spread.rps,
        rows[2].spread.rps / one.spread.rps,
        three.spread_cpu / one.spread_cpu
    );
    println!(
        "all load on one shop, three relays / one relay: {:.2}",
        three.one_shop.rps / one.one_shop.rps
    );
    println!(
        "webhook → applied at {LAG_RATE}/s on three relays: p50 {lag_p50:.1} ms, p99 {lag_p99:.1} ms (target p99 < 1000 ms); never applied: {lag_missing}"
    );
    Ok(())
}

/// Webhooks at a steady rate to three relays on one database; for each, the time from its
/// 2xx to the engine's cursor passing its id (read from the database every 2 ms).
async fn cluster_lag(
    bin: &std::path::Path,
    pg: &ziflow_tests::pg::Cluster,
    key_hex: &str,
) -> Result<(f64, f64, usize)> {
    use ziflow_core::storage::{engine, events};
    let dir = tempfile::tempdir()?;
    let url = pg.fresh_database()?;
    let store = ziflow_relay::Postgres {
        url: url.clone(),
        pool: 4,
    };
    let db = ziflow_relay::open_store(dir.path(), Some(&store)).await?;
    let uids = provision_shops(&db, key_hex, 10).await?;
    let relays = start_relays(bin, 3, dir.path(), Some(&url), key_hex).await?;
    let watching = Arc::new(AtomicBool::new(true));
    let timeline = {
        let (db, watching) = (db.clone(), watching.clone());
        tokio::spawn(async move {
            let mut points: Vec<(Instant, i64)> = Vec::new();
            while watching.load(Ordering::Relaxed) {
                if let Ok(mut conn) = db.acquire().await {
                    if let Ok(c) = engine::cursor(&mut conn, engine::PROJECTION).await {
                        points.push((Instant::now(), c));
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            points
        })
    };
    let client = reqwest::Client::new();
    let acks: Arc<std::sync::Mutex<Vec<(String, String, Instant)>>> = Arc::default();
    let start = Instant::now();
    let mut sends = Vec::new();
    for i in 0..LAG_RATE * LAG_SECONDS {
        let due = start + Duration::from_micros(i * 1_000_000 / LAG_RATE);
        tokio::time::sleep_until(due.into()).await;
        let n = usize::try_from(i)?;
        let shop = uids[n % uids.len()].clone();
        let url = format!("{}/api/payment/webhook/{shop}", relays.bases[n % 3]);
        let (client, acks) = (client.clone(), acks.clone());
        sends.push(tokio::spawn(async move {
            let evt = format!("evt_lag_{i}");
            let body = format!(
                r#"{{"id":"{evt}","object":"event","type":"checkout.session.completed","data":{{"object":{{"object":"checkout.session","payment_status":"paid","amount_total":12800,"currency":"usd","metadata":{{}}}}}}}}"#
            );
            if post_signed(&client, &url, body).await {
                if let Ok(mut a) = acks.lock() {
                    a.push((shop, evt, Instant::now()));
                }
            }
        }));
    }
    for s in sends {
        s.await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    watching.store(false, Ordering::Relaxed);
    let points = timeline.await?;
    let acks = acks
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut ids = std::collections::HashMap::new();
    for shop in &uids {
        for e in events::after(&db, shop, 0, 100_000).await? {
            if let Some(p) = e.provider_id {
                ids.insert(p, e.id);
            }
        }
    }
    let mut lags = Vec::new();
    let mut missing = 0;
    for (_, evt, acked) in &acks {
        let Some(id) = ids.get(evt) else {
            missing += 1;
            continue;
        };
        match points.iter().find(|(_, c)| c >= id) {
            Some((at, _)) => lags.push(micros(at.saturating_duration_since(*acked))),
            None => missing += 1,
        }
    }
    lags.sort_unstable();
    db.close().await;
    drop(relays);
    Ok((percentile(&lags, 50), percentile(&lags, 99), missing))
}
