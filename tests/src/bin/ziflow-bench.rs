//! `ziflow-bench relay`: webhook intake of the real relay against a minimal reference server,
//! same machine, same load generator, same bodies, in one run.
//!
//! The reference verifies the Stripe HMAC and group-commits the raw body into SQLite (WAL,
//! `synchronous=FULL`) — the least a durable webhook receiver can do. The relay does that plus
//! everything it is for: secret lookup, JSON parsing, dedupe by event id, projections. The
//! figure that matters is the ratio, not the absolute numbers.

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
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("relay") => rt.block_on(bench_relay()),
        Some("reference-server") => {
            let listen = args.get(1).context("reference-server LISTEN DIR")?.clone();
            let dir = args.get(2).context("reference-server LISTEN DIR")?.clone();
            rt.block_on(reference_server(&listen, &dir))
        }
        _ => bail!("usage: ziflow-bench relay"),
    }
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
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn load(url: &str, prefix: &str) -> Result<Run> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, prefix) = (client.clone(), url.to_string(), prefix.to_string());
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
    tokio::time::sleep(WARMUP).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
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
    let _reference = Kill(
        std::process::Command::new(&me)
            .args(["reference-server", &format!("127.0.0.1:{ref_port}")])
            .arg(dir.path())
            .spawn()?,
    );
    wait_port(ref_port).await?;
    eprintln!(
        "reference: HMAC + group commit of the raw body, {CONNECTIONS} connections, {MEASURE:?}…"
    );
    let reference = load(&format!("http://127.0.0.1:{ref_port}/hook"), "ref").await?;
    drop(_reference);

    let key_hex = "ab".repeat(32);
    let relay_dir = dir.path().join("relay");
    let db = ziflow_relay::open_db(&relay_dir).await?;
    let shop = ziflow_relay::provision::create_shop(&db, "Bench", "USD", "UTC").await?;
    let key = ziflow_core::secrets::MasterKey::parse(&key_hex)?;
    ziflow_relay::provision::set_secrets(&db, &key, &shop.uid, Some(SECRET), None).await?;
    db.close().await;
    let relay_port = ziflow_tests::free_port()?;
    let _relay = Kill(
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
    eprintln!("relay: verified, durably committed Stripe webhooks, same load…");
    let relay = load(
        &format!(
            "http://127.0.0.1:{relay_port}/api/payment/webhook/{}",
            shop.uid
        ),
        "relay",
    )
    .await?;

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "relay intake benchmark ({cores} cores, {CONNECTIONS} connections, {}s measured)",
        MEASURE.as_secs()
    );
    println!("| server | requests/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|");
    for (name, r) in [
        ("reference (HMAC + group commit)", &reference),
        ("ziflow-relay", &relay),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} |",
            r.rps, r.p50_ms, r.p99_ms, r.errors
        );
    }
    println!("ratio relay/reference: {:.2}", relay.rps / reference.rps);
    Ok(())
}
