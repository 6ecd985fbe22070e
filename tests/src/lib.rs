//! The end-to-end harness: launches the real, built ZiFlow app under its own Xvfb display and
//! D-Bus session, through `tauri-driver` + WebKitWebDriver, and drives the window with
//! WebDriver (fantoccini).
//!
//! Each [`AppSession`] owns everything it starts — Xvfb, dbus-daemon, tauri-driver, the app,
//! and a temporary data folder — and stops all of it when dropped, so tests are isolated and
//! may run in parallel. Screenshots go to `$ZIFLOW_E2E_ARTIFACTS` (default
//! `target/e2e-artifacts`), never into the repository.
//!
//! A missing app binary or tauri-driver is a test failure with instructions, never a skip.
//!
//! Layout: this file (the window harness, [`BareApp`] for benchmarks without WebDriver);
//! [`tls`]: an HTTPS peer on 127.0.0.1 with a throw-away CA; [`pg`]: a throw-away PostgreSQL
//! cluster. The e2e tests are in
//! `e2e/main.rs`, the benchmarks in `src/bin/ziflow-bench.rs`.

pub use ziflow_pg_harness as pg;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};

/// How long to wait for an element before failing.
pub const UI_TIMEOUT: Duration = Duration::from_secs(20);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The built app: `$ZIFLOW_APP_BIN` or `target/debug/ziflow-app`.
pub fn app_binary() -> Result<PathBuf> {
    let path = std::env::var_os("ZIFLOW_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/ziflow-app"));
    if !path.exists() {
        bail!(
            "the ZiFlow app is not built at {}; run `cargo xtask test`, which builds it first",
            path.display()
        );
    }
    Ok(path)
}

fn tauri_driver() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ZIFLOW_TAURI_DRIVER") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let pinned = home.join(".cache/ziflow/tools/bin/tauri-driver");
    if pinned.exists() {
        return Ok(pinned);
    }
    Ok(PathBuf::from("tauri-driver"))
}

/// Folder for screenshots and other artifacts.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("ZIFLOW_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/e2e-artifacts"))
}

/// A child process killed (and reaped) on drop.
struct Guard {
    name: &'static str,
    child: Child,
}

impl Guard {
    /// Starts `cmd` in a process group of its own so that dropping the guard also stops
    /// whatever it started (tauri-driver → WebKitWebDriver → the app).
    fn spawn(name: &'static str, cmd: &mut Command) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { name, child })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // The whole process group the child leads (its pgid is its pid): the app and
        // WebKitWebDriver under tauri-driver go too.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            if pid > 1 {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = self.child.kill();
        if self.child.wait().is_err() {
            eprintln!("could not reap {}", self.name);
        }
    }
}

/// Reads the first line a freshly started child prints on stdout (Xvfb's display number,
/// dbus-daemon's address), failing if it exits or stays silent.
fn first_line(guard: &mut Guard, what: &str) -> Result<String> {
    let stdout = guard
        .child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("{what}: no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .map_err(|_| anyhow!("{what} did not start within 15 s"))?;
    let line = line.trim().to_string();
    if line.is_empty() {
        bail!("{what} exited without starting");
    }
    Ok(line)
}

fn start_xvfb() -> Result<(Guard, String)> {
    // -displayfd 1: Xvfb picks a free display itself and prints its number on stdout.
    let mut guard = Guard::spawn(
        "Xvfb (Debian package xvfb)",
        Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let n = first_line(&mut guard, "Xvfb")?;
    Ok((guard, format!(":{n}")))
}

fn start_dbus() -> Result<(Guard, String)> {
    let mut guard = Guard::spawn(
        "dbus-daemon (Debian package dbus)",
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let address = first_line(&mut guard, "dbus-daemon")?;
    Ok((guard, address))
}

/// A Secret Service (GNOME Keyring) on `bus`, as on a desktop, with a login keyring of its
/// own in `home` — unlocked with a throw-away password, never the machine's real keyring.
fn start_keyring(bus: &str, home: &Path) -> Result<Guard> {
    use std::io::Write;
    let (data, runtime) = (home.join("share"), home.join("run"));
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&runtime)?;
    let mut guard = Guard::spawn(
        "gnome-keyring-daemon (Debian package gnome-keyring)",
        Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("DBUS_SESSION_BUS_ADDRESS", bus)
            .env("XDG_DATA_HOME", &data)
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    // --unlock reads the login keyring's password from stdin, creating the keyring.
    let mut stdin = guard
        .child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("gnome-keyring-daemon: no stdin"))?;
    stdin.write_all(b"ziflow-e2e-keyring")?;
    drop(stdin);
    // Ready once the bus knows the Secret Service name.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let names = Command::new("dbus-send")
            .args([
                &format!("--bus={bus}"),
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.ListNames",
            ])
            .output()?;
        if String::from_utf8_lossy(&names.stdout).contains("org.freedesktop.secrets") {
            return Ok(guard);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("gnome-keyring-daemon did not offer org.freedesktop.secrets within 15 s")
}

/// Watches the session bus for desktop notifications (`org.freedesktop.Notifications.Notify`
/// calls) with `dbus-monitor`, keeping what it prints.
fn start_notification_monitor(
    bus: &str,
) -> Result<(Guard, std::sync::Arc<std::sync::Mutex<String>>)> {
    let mut guard = Guard::spawn(
        "dbus-monitor (Debian package dbus)",
        Command::new("dbus-monitor")
            .args([
                "--address",
                bus,
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stdout = guard
        .child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("dbus-monitor: no stdout"))?;
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
    Ok((guard, seen))
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, within: Duration, what: &str) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not listen on port {port} within {within:?}")
}

/// The app in its window as a rep's machine runs it: its own Xvfb display and D-Bus session,
/// no WebDriver, its standard error written to a file. For measuring the window, not driving
/// it (`ziflow-bench desktop`).
pub struct BareApp {
    app: Guard,
    _dbus: Guard,
    _xvfb: Guard,
}

impl BareApp {
    /// Starts the app binary `app` on `data_dir` with `env`, its standard error written to
    /// `log`.
    pub fn launch(app: &Path, data_dir: &Path, env: &[(&str, &str)], log: &Path) -> Result<Self> {
        let (xvfb, display) = start_xvfb()?;
        let (dbus, bus) = start_dbus()?;
        let log =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(app);
        cmd.env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("ZIFLOW_DATA_DIR", data_dir)
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let app = Guard::spawn("the ZiFlow app", &mut cmd)?;
        Ok(Self {
            app,
            _dbus: dbus,
            _xvfb: xvfb,
        })
    }

    /// The app's process id.
    pub fn pid(&self) -> u32 {
        self.app.child.id()
    }

    /// CPU time (user + system, in clock ticks) the app and every process under it (WebKit's
    /// web and network processes) have used so far, and how many processes that was.
    pub fn cpu_ticks(&self) -> Result<(u64, usize)> {
        let mut parent = std::collections::HashMap::new();
        let mut ticks = std::collections::HashMap::new();
        for entry in std::fs::read_dir("/proc")? {
            let entry = entry?;
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Fields after the command name (which may hold spaces) in `(…)`.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            parent.insert(pid, u32::try_from(num(1)).unwrap_or(0));
            ticks.insert(pid, num(11) + num(12));
        }
        let root = self.pid();
        let mut total = 0;
        let mut count = 0;
        for (&pid, &t) in &ticks {
            let mut p = pid;
            while p != 0 && p != root {
                p = parent.get(&p).copied().unwrap_or(0);
            }
            if p == root {
                total += t;
                count += 1;
            }
        }
        Ok((total, count))
    }
}

/// How to launch the app.
#[derive(Debug, Default)]
pub struct Launch {
    /// Name used for screenshots (`<name>-<label>.png`).
    pub name: String,
    /// Extra environment for the app.
    pub env: Vec<(String, String)>,
}

/// The running app in its window, and everything it needs.
// Fields drop in order: the driver (and the app under it) stops before its display and
// bus, and the data folder is removed last.
pub struct AppSession {
    client: Option<Client>,
    name: String,
    display: String,
    notifications: std::sync::Arc<std::sync::Mutex<String>>,
    bus: String,
    _monitor: Guard,
    _dunst: Guard,
    _driver: Guard,
    _keyring: Guard,
    _dbus: Guard,
    _xvfb: Guard,
    data_dir: tempfile::TempDir,
    _keyring_home: tempfile::TempDir,
}

impl AppSession {
    /// A fresh data folder for the app, to fill before [`AppSession::launch_in`].
    pub fn data_dir() -> Result<tempfile::TempDir> {
        Ok(tempfile::Builder::new().prefix("ziflow-e2e-").tempdir()?)
    }

    /// Launches the app on an empty data folder.
    pub async fn launch(launch: Launch) -> Result<Self> {
        Self::launch_in(Self::data_dir()?, launch).await
    }

    /// Launches the app with `data_dir` as `ZIFLOW_DATA_DIR`.
    pub async fn launch_in(data_dir: tempfile::TempDir, launch: Launch) -> Result<Self> {
        let app = app_binary()?;
        let (xvfb, display) = start_xvfb()?;
        let (dbus, bus) = start_dbus()?;
        let (monitor, notifications) = start_notification_monitor(&bus)?;
        let keyring_home = tempfile::Builder::new()
            .prefix("ziflow-e2e-keyring-")
            .tempdir()?;
        let keyring = start_keyring(&bus, keyring_home.path())?;
        // A real notification server on the bus, as on a desktop.
        let dunst = Guard::spawn(
            "dunst (Debian package dunst)",
            Command::new("dunst")
                .env("DISPLAY", &display)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let port = free_port()?;
        let native_port = free_port()?;
        let mut cmd = Command::new(tauri_driver()?);
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("DISPLAY", &display)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .env("ZIFLOW_DATA_DIR", data_dir.path())
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        let driver = Guard::spawn(
            "tauri-driver (cargo xtask test installs it into ~/.cache/ziflow/tools)",
            &mut cmd,
        )?;
        wait_for_port(port, Duration::from_secs(15), "tauri-driver")?;

        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app }),
        );
        // tauri-driver listens before WebKitWebDriver behind it is ready; on a busy machine the
        // first session request can fail, so it is retried a few times before giving up.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if attempt < 5 => {
                    eprintln!("WebDriver session attempt {attempt} failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context("opening a WebDriver session on the ZiFlow window"))
                }
            }
        };
        let session = Self {
            client: Some(client),
            name: launch.name,
            display: display.clone(),
            notifications,
            bus: bus.clone(),
            _monitor: monitor,
            _dunst: dunst,
            _driver: driver,
            _keyring: keyring,
            _dbus: dbus,
            _xvfb: xvfb,
            data_dir,
            _keyring_home: keyring_home,
        };
        // The UI is ready once the sidebar is rendered by the wasm app. If it never is, keep
        // what the window showed: that is the first thing anyone debugging will want.
        if let Err(e) = session.wait_for("#nav-inbox").await {
            let shot = session.screenshot("did-not-start").await.ok();
            let source = session.client().source().await.unwrap_or_default();
            let path = artifacts_dir().join(format!("{}-did-not-start.html", session.name));
            let _ = std::fs::write(&path, &source);
            return Err(e.context(format!(
                "the UI did not render; screenshot {shot:?}, page source {}",
                path.display()
            )));
        }
        Ok(session)
    }

    /// Titles of the top-level X windows on the session's display (what a window manager
    /// would show in its title bar), read with `xwininfo`.
    pub fn window_titles(&self) -> Result<Vec<String>> {
        let out = Command::new("xwininfo")
            .args(["-root", "-tree"])
            .env("DISPLAY", &self.display)
            .output()
            .context("running xwininfo (Debian package x11-utils)")?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('"').nth(1))
            .map(str::to_string)
            .collect())
    }

    /// Waits until a desktop notification containing `needle` was sent on the session bus.
    pub async fn wait_for_notification(&self, needle: &str) -> Result<()> {
        let start = Instant::now();
        loop {
            let seen = self
                .notifications
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            if seen.contains(needle) {
                return Ok(());
            }
            if start.elapsed() > UI_TIMEOUT {
                bail!("no desktop notification with {needle:?}; the bus saw: {seen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("session is open")
    }

    /// The app's data folder.
    pub fn data_path(&self) -> &Path {
        self.data_dir.path()
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client()
            .wait()
            .at_most(UI_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for `{css}` in the ZiFlow window"))
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> Result<()> {
        self.wait_for(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Clicks the newest notification on screen the way a person would: dunst invokes its
    /// default action, which the app receives over D-Bus (`ActionInvoked`).
    pub fn click_newest_notification(&self) -> Result<()> {
        let out = Command::new("dunstctl")
            .arg("action")
            .arg("0")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .context("running dunstctl (Debian package dunst)")?;
        if !out.status.success() {
            bail!(
                "dunstctl action failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Replaces the value of the input matching `css` by typing `text`, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_for(css).await?;
        el.clear()
            .await
            .with_context(|| format!("clearing {css}"))?;
        el.send_keys(text)
            .await
            .with_context(|| format!("typing into {css}"))
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String> {
        self.wait_for(css)
            .await?
            .text()
            .await
            .with_context(|| format!("reading `{css}`"))
    }

    /// Waits until the element matching `css` contains `needle` (it may re-render while data
    /// loads), returning its text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> Result<String> {
        let start = Instant::now();
        loop {
            let last = self.text(css).await.unwrap_or_default();
            if last.contains(needle) {
                return Ok(last);
            }
            if start.elapsed() > UI_TIMEOUT {
                bail!("`{css}` never showed {needle:?}; it shows {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrolls the element matching `css` into view (for a screenshot of a long screen).
    pub async fn scroll_to(&self, css: &str) -> Result<()> {
        self.wait_for(css).await?;
        self.client()
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});",
                vec![serde_json::json!(css)],
            )
            .await
            .with_context(|| format!("scrolling to `{css}`"))?;
        Ok(())
    }

    /// Opens a screen from the sidebar and waits until it is the one showing.
    pub async fn open_screen(&self, slug: &str) -> Result<()> {
        self.click(&format!("#nav-{slug}")).await?;
        self.wait_for(&format!("main[data-screen='{slug}']"))
            .await?;
        Ok(())
    }

    /// Saves a PNG of the window as `<artifacts>/<name>-<label>.png`; returns its path.
    pub async fn screenshot(&self, label: &str) -> Result<PathBuf> {
        // A screenshot right after a click can lag the DOM by a frame.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let png = self
            .client()
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{label}.png", self.name));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the WebDriver session (closing the app), then stops the services.
    pub async fn close(mut self) -> Result<()> {
        if let Some(client) = self.client.take() {
            client
                .close()
                .await
                .context("closing the WebDriver session")?;
        }
        Ok(())
    }
}

/// Python with the test peers (`cargo xtask test` installs them; it sets `ZIFLOW_PYTHON`).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ZIFLOW_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/ziflow/tools/py/bin/python")
}

/// `localstripe` (PyPI: a stateful fake Stripe written by others) on 127.0.0.1 — served
/// through aiohttp here because its own command line binds every interface. Stopped when
/// dropped.
pub struct LocalStripe {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _guard: Guard,
}

impl LocalStripe {
    /// Starts it and waits until it answers.
    pub fn start() -> Result<Self> {
        let port = free_port()?;
        let guard = Guard::spawn(
            "localstripe (PyPI; cargo xtask test installs it)",
            Command::new(python())
                .args([
                    "-c",
                    "import sys\n\
                     from aiohttp import web\n\
                     from localstripe import server\n\
                     web.run_app(server.app, host='127.0.0.1', port=int(sys.argv[1]), print=None)",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        wait_for_port(port, Duration::from_secs(15), "localstripe")?;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            _guard: guard,
        })
    }
}
