//! Relay integration tests: the real server on a real port with a real SQLite file.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Relay {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start_relay() -> Relay {
    ziflow_relay::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let config = ziflow_relay::Config {
        data_dir: dir.path().to_path_buf(),
        master_key: ziflow_core::secrets::MasterKey::generate().unwrap(),
    };
    let task = tokio::spawn(ziflow_relay::run(config, listener, async {
        let _ = rx.await;
    }));
    Relay {
        base,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

#[tokio::test]
async fn healthz_answers_ok_from_the_real_server() {
    let relay = start_relay().await;
    let res = reqwest::get(format!("{}/healthz", relay.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a healthy relay answers 200");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(
        relay._dir.path().join("relay.db").exists(),
        "the relay keeps its state in a real SQLite file"
    );
}

#[tokio::test]
async fn shutdown_finishes_and_stops_listening() {
    let mut relay = start_relay().await;
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
    let relay = start_relay().await;
    let res = reqwest::get(format!("{}/nope", relay.base)).await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_binary_serves_healthz_and_exits_cleanly_on_sigterm() {
    ziflow_relay::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut healthy = false;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(res) = reqwest::get(&url).await {
            healthy = res.status() == 200;
            if healthy {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
