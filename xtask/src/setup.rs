//! Installing what the build and the tests need, only when it is missing: Debian packages,
//! clippy and rustfmt, the wasm32 target, and pinned tools (wasm-bindgen CLI, tauri-driver,
//! sqlx-cli) under a tools folder outside the repository so they survive a fresh clone.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{done, sh, step, Result};

/// Debian packages: WebKitGTK and friends to build and run the Tauri app, and what the
/// end-to-end tests start (Xvfb, WebKitWebDriver, a D-Bus session, a notification daemon).
pub const DEBIAN_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libwebkit2gtk-4.1-dev",
    "libxdo-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "xvfb",
    "webkit2gtk-driver",
    "dbus-x11",
    "x11-utils",
    "dunst",
    "libnotify-bin",
    "python3-venv",
    // Node.js runs whatsapp-api-js (an independent WhatsApp Cloud API client) in the tests.
    "nodejs",
    // Secret Service for the paired relay's device token (keyring crate; e2e tests).
    "libdbus-1-dev",
    "gnome-keyring",
    // The relay's scale-out backend: tests start throw-away clusters (`ziflow_tests::pg`).
    "postgresql",
];

/// Python packages the tests use as real peers: Stripe's official SDK is the signature
/// oracle; prometheus-client parses what `/metrics` serves; localstripe is a stateful fake
/// Stripe (payment intents, refunds, plans, subscriptions, signed webhooks); pywa is a
/// WhatsApp Cloud API client (tests/peers/pywa_peer.py).
pub const PYTHON_PACKAGES: &[&str] = &[
    "stripe==15.0.0",
    "prometheus-client==0.26.0",
    "localstripe==1.15.10",
    // An independent WhatsApp Cloud API client: what it posts and how it reads webhooks.
    "pywa==2.11.0",
    // A real SMTP server (STARTTLS, AUTH) for email notifications, and the certificate
    // authority that signs its certificate for the test.
    "aiosmtpd==1.4.6",
    "trustme==1.2.1",
];

/// npm packages the tests use as real peers (installed into `<tools>/node`).
pub const NPM_PACKAGES: &[&str] = &["whatsapp-api-js@6.3.0"];

/// tauri-driver version (WebDriver bridge to WebKitWebDriver).
pub const TAURI_DRIVER_VERSION: &str = "2.1.0";

/// Where the pinned tools live.
#[derive(Debug, Clone)]
pub struct Tools {
    root: PathBuf,
}

impl Tools {
    fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// The wasm-bindgen CLI matching Cargo.lock.
    pub fn wasm_bindgen(&self) -> PathBuf {
        self.bin().join("wasm-bindgen")
    }

    /// tauri-driver.
    pub fn tauri_driver(&self) -> PathBuf {
        self.bin().join("tauri-driver")
    }

    /// sqlx-cli's `sqlx` (migrations) and the folder holding its `cargo-sqlx`.
    pub fn sqlx(&self) -> PathBuf {
        self.bin().join("sqlx")
    }

    /// `PATH` with the tools first (so `cargo sqlx` finds `cargo-sqlx`).
    pub fn path(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.bin()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// The Python of the tools' virtualenv (with [`PYTHON_PACKAGES`]).
    pub fn python(&self) -> PathBuf {
        self.root.join("py/bin/python")
    }

    /// The folder whose `node_modules` holds [`NPM_PACKAGES`].
    pub fn node_dir(&self) -> PathBuf {
        self.root.join("node")
    }
}

/// Runs every setup step; returns where the tools are.
pub fn all(root: &Path) -> Result<Tools> {
    debian_packages()?;
    rust_components()?;
    wasm_target()?;
    let tools = Tools { root: tools_dir() };
    let wasm_bindgen = locked_version(root, "wasm-bindgen")?;
    cargo_tool(&tools, "wasm-bindgen-cli", &wasm_bindgen, &[])?;
    cargo_tool(&tools, "tauri-driver", TAURI_DRIVER_VERSION, &["--locked"])?;
    // The SQL check: only SQLite, no TLS (it talks to a local file).
    let sqlx = locked_version(root, "sqlx")?;
    cargo_tool(
        &tools,
        "sqlx-cli",
        &sqlx,
        &["--locked", "--no-default-features", "--features", "sqlite"],
    )?;
    python_packages(&tools)?;
    npm_packages(&tools)?;
    Ok(tools)
}

fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZIFLOW_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/ziflow/tools")
}

fn debian_packages() -> Result {
    let Ok(out) = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Status}\n"])
        .args(DEBIAN_PACKAGES)
        .output()
    else {
        eprintln!(
            "==> Not a Debian system (no dpkg-query): make sure the equivalents of these are \
             installed: {}",
            DEBIAN_PACKAGES.join(" ")
        );
        return Ok(());
    };
    let listing = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !listing
                .lines()
                .any(|l| l.starts_with(&format!("{p} ")) && l.ends_with("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "these Debian packages are missing: {}\nInstall them with:\n  sudo apt-get update && sudo {line}\nthen run the command again.",
            missing.join(" ")
        ));
    }
    let t = step(&format!(
        "Installing Debian packages: {}",
        missing.join(" ")
    ));
    sh(Command::new("apt-get").args(["update", "-qq"]))?;
    sh(Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    done(t);
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// rustfmt and clippy (every build lints through clippy-driver). rustup's default profile
/// has both; a minimal toolchain gets them added.
fn rust_components() -> Result {
    let out = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add clippy and rustfmt: {e}"))?;
    let installed = String::from_utf8_lossy(&out.stdout).into_owned();
    let missing: Vec<&str> = ["clippy", "rustfmt"]
        .into_iter()
        .filter(|c| !installed.lines().any(|l| l.starts_with(&format!("{c}-"))))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let t = step(&format!("Adding Rust components: {}", missing.join(", ")));
    sh(Command::new("rustup")
        .args(["component", "add"])
        .args(&missing))?;
    done(t);
    Ok(())
}

fn wasm_target() -> Result {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add the wasm32 target: {e}"))?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    let t = step("Adding the wasm32-unknown-unknown target");
    sh(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    done(t);
    Ok(())
}

/// A virtualenv in the tools folder with exactly [`PYTHON_PACKAGES`]; a marker file records
/// what was installed so an unchanged list costs nothing.
fn python_packages(tools: &Tools) -> Result {
    let venv = tools.root.join("py");
    let marker = venv.join("ziflow-packages.txt");
    let wanted = PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str())
        && tools.python().exists()
    {
        return Ok(());
    }
    let t = step(&format!(
        "Installing Python packages: {}",
        PYTHON_PACKAGES.join(" ")
    ));
    if !tools.python().exists() {
        sh(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    sh(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PYTHON_PACKAGES))?;
    std::fs::write(&marker, wanted).map_err(|e| format!("writing {}: {e}", marker.display()))?;
    done(t);
    Ok(())
}

/// [`NPM_PACKAGES`] in `<tools>/node` (npm comes with NodeSource's nodejs; Debian's is the
/// separate `npm` package, installed only when no npm is on the PATH). A marker file records
/// what was installed so an unchanged list costs nothing.
fn npm_packages(tools: &Tools) -> Result {
    let dir = tools.root.join("node");
    let marker = dir.join("ziflow-packages.txt");
    let wanted = NPM_PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let has_npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_npm {
        if !is_root() {
            return Err(
                "npm is missing: sudo apt-get install -y npm, then run the command again".into(),
            );
        }
        let t = step("Installing Debian package: npm");
        sh(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "npm"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        done(t);
    }
    let t = step(&format!(
        "Installing npm packages: {}",
        NPM_PACKAGES.join(" ")
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    sh(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .args(NPM_PACKAGES))?;
    std::fs::write(&marker, wanted).map_err(|e| format!("writing {}: {e}", marker.display()))?;
    done(t);
    Ok(())
}

/// The version of `package` recorded in Cargo.lock.
fn locked_version(root: &Path, package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                return Ok(v.to_string());
            }
        }
    }
    Err(format!("{package} is not in Cargo.lock"))
}

/// Installs `krate` at exactly `version` into the tools folder unless it is already there.
/// wasm-bindgen-cli's own lock file pins a crate version the registry no longer has, so it
/// installs without `--locked`; the others install with their lock files.
fn cargo_tool(tools: &Tools, krate: &str, version: &str, flags: &[&str]) -> Result {
    let listing = Command::new("cargo")
        .args(["install", "--list", "--root"])
        .arg(&tools.root)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if listing
        .lines()
        .any(|l| l.starts_with(&format!("{krate} v{version}:")))
    {
        return Ok(());
    }
    let t = step(&format!(
        "Installing {krate} {version} (once; kept in {})",
        tools.root.display()
    ));
    let mut cmd = Command::new("cargo");
    cmd.args(["install", krate, "--version", version, "--root"])
        .arg(&tools.root)
        .args(flags);
    sh(&mut cmd)?;
    done(t);
    Ok(())
}
