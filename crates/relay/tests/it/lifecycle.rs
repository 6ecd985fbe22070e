//! Start, health and shutdown.

use std::time::Duration;

use crate::support::Relay;

#[tokio::test]
async fn healthz_answers_ok_from_the_real_server() {
    let relay = Relay::start().await;
    let res = reqwest::get(format!("{}/healthz", relay.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a healthy relay answers 200");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    if relay.postgres.is_none() {
        assert!(
            relay.dir.path().join("relay.db").exists(),
            "the relay keeps its state in a real SQLite file"
        );
    } else {
        assert!(
            !relay.dir.path().join("relay.db").exists(),
            "a relay on PostgreSQL keeps no SQLite file beside it"
        );
    }
}

#[tokio::test]
async fn shutdown_finishes_and_stops_listening() {
    let mut relay = Relay::start().await;
    let url = format!("{}/healthz", relay.base);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    relay.stop.take().unwrap().send(()).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), &mut relay.task)
        .await
        .expect("the relay stops within 10 s of being asked");
    outcome.unwrap().expect("a graceful stop is not an error");
    assert!(
        reqwest::get(&url).await.is_err(),
        "after shutdown nothing listens on the port"
    );
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let relay = Relay::start().await;
    let res = reqwest::get(format!("{}/nope", relay.base)).await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_binary_serves_healthz_and_exits_cleanly_on_sigterm() {
    ziflow_relay::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args([
            "serve",
            "--local",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let healthy = crate::support::healthy_within(&base, Duration::from_secs(30)).await;
    assert!(healthy, "the relay binary answers /healthz");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the relay exits within 10 s of SIGTERM")
        .unwrap();
    assert!(
        status.success(),
        "SIGTERM is a graceful stop, exit code 0: {status}"
    );
}

#[test]
fn serve_without_a_master_key_refuses_to_start_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("ZIFLOW_MASTER_KEY")
        .env_remove("ZIFLOW_LOCAL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ZIFLOW_MASTER_KEY"),
        "the error names the setting: {err}"
    );
}

#[test]
fn provisioning_from_the_command_line_prints_json_and_never_echoes_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let relay = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env("ZIFLOW_MASTER_KEY", "11".repeat(32))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains("whsec_cli_secret") && !text.contains("meta-cli"),
            "secrets never printed"
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let shop = relay(&["shop", "create", "--name", "Glow Bar", "--json"]);
    let uid = shop["uid"].as_str().unwrap();
    let token = shop["device_token"].as_str().unwrap();
    assert!(token.len() >= 40, "≥ 128-bit token: {token}");
    assert!(shop["whatsapp_verify_token"].as_str().is_some());
    let set = relay(&[
        "shop",
        "set",
        "--uid",
        uid,
        "--stripe-webhook-secret",
        "whsec_cli_secret",
        "--whatsapp-app-secret",
        "meta-cli",
        "--json",
    ]);
    assert_eq!(
        set["secrets_set"],
        serde_json::json!(["stripe_webhook_secret", "whatsapp_app_secret"])
    );
    let dev = relay(&[
        "device",
        "add",
        "--uid",
        uid,
        "--name",
        "Front desk",
        "--role",
        "rep",
        "--json",
    ]);
    assert_eq!(dev["role"], "rep");
    let id = dev["device_id"].as_i64().unwrap().to_string();
    let rev = relay(&[
        "device",
        "revoke",
        "--uid",
        uid,
        "--device-id",
        &id,
        "--json",
    ]);
    assert_eq!(rev["revoked_now"], true);
    let db_bytes = std::fs::read(dir.path().join("relay.db")).unwrap();
    let wal = std::fs::read(dir.path().join("relay.db-wal")).unwrap_or_default();
    for bytes in [&db_bytes, &wal] {
        assert!(
            !bytes.windows(16).any(|w| w == b"whsec_cli_secret"),
            "the Stripe secret is encrypted at rest"
        );
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "tokens are stored hashed"
        );
    }
}

#[tokio::test]
async fn metrics_count_accepted_duplicate_and_rejected_webhooks_by_reason() {
    use crate::support::{checkout_completed, now, STRIPE_SECRET};
    use ziflow_core::webhook::stripe;
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let url = format!("{}/api/payment/webhook/{}", relay.base, shop.uid);
    let client = reqwest::Client::new();
    let body = checkout_completed("evt_m1");
    let sig = stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
    for _ in 0..2 {
        let res = client
            .post(&url)
            .header("Stripe-Signature", &sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = client
        .post(&url)
        .header("Stripe-Signature", "t=1,v1=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = client
        .post(format!("{}/api/payment/webhook/shop_nope", relay.base))
        .header("Stripe-Signature", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = client
        .post(&url)
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);

    let stream = client
        .get(format!("{}/api/v1/stream", relay.base))
        .bearer_auth(&shop.device_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    let m = metrics_of(&relay.base).await;
    let v = |k: &str| {
        m.get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("{k} in {m:?}"))
    };
    assert_eq!(v("ziflow_webhooks_accepted_total{provider=stripe}"), 2.0);
    assert_eq!(v("ziflow_webhooks_duplicate_total{provider=stripe}"), 1.0);
    assert_eq!(
        v("ziflow_webhooks_rejected_total{provider=stripe,reason=signature}"),
        1.0
    );
    assert_eq!(
        v("ziflow_webhooks_rejected_total{provider=stripe,reason=unknown_shop}"),
        1.0
    );
    assert_eq!(
        v("ziflow_webhooks_rejected_total{provider=stripe,reason=too_large}"),
        1.0
    );
    assert_eq!(v("ziflow_intake_seconds_count{}"), 2.0);
    assert_eq!(v("ziflow_intake_seconds_bucket{le=+Inf}"), 2.0);
    assert_eq!(
        v("ziflow_sync_clients{}"),
        1.0,
        "the open push stream is counted"
    );
    drop(stream);

    // The engine applies the stored event shortly after its commit: the lag drops to 0.
    let mut lag = f64::NAN;
    for _ in 0..100 {
        lag = metrics_of(&relay.base)
            .await
            .get("ziflow_engine_lag_events{}")
            .and_then(serde_json::Value::as_f64)
            .expect("ziflow_engine_lag_events is exported");
        if lag == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(lag == 0.0, "the engine caught up: lag {lag}");
}

#[tokio::test]
async fn settings_can_come_from_a_toml_file() {
    ziflow_relay::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nlocal = true\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("ZIFLOW_DATA_DIR")
        .env_remove("ZIFLOW_LISTEN")
        .env_remove("ZIFLOW_MASTER_KEY")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let healthy = crate::support::healthy_within(&base, Duration::from_secs(10)).await;
    assert!(healthy, "listen and local mode came from the file");
    assert!(
        dir.path().join("data/relay.db").exists(),
        "and so did the data folder"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;

    std::fs::write(&cfg, "listne = \"127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt setting stops start-up");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listne"),
        "and is named"
    );
}

/// The relay's `/metrics`, parsed by the official Prometheus client.
async fn metrics_of(base: &str) -> serde_json::Map<String, serde_json::Value> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    crate::support::prometheus_samples(&text)
}
