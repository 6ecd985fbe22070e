//! `cargo xtask`: the project's two commands and the steps behind them.
//!
//! - `cargo xtask run`  — installs what is missing, builds the UI and the app, opens the
//!   ZiFlow window in its demo configuration.
//! - `cargo xtask test` — installs what is missing, checks formatting, checks the stored SQL
//!   query data against the schema (`cargo sqlx prepare --check`), lints, builds everything,
//!   and runs unit, integration and end-to-end tests (the end-to-end harness starts its own
//!   Xvfb, D-Bus session and tauri-driver and stops them afterwards).
//! - `cargo xtask sql-prepare` — rewrites `crates/core/.sqlx` after a query or a migration
//!   changed.
//!
//! Layout: `main.rs` (this file) holds the commands and their steps; `setup` installs what
//! they need (Debian packages, the wasm target, pinned tools) only when it is missing.
//!
//! Every install step first checks whether the thing is already there at the right version,
//! so a second run spends no time on setup. No dependencies beyond std: this crate must build
//! in seconds on a fresh machine.

mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(),
        Some("test") => test(&args[1..]),
        Some("setup") => setup::all(&root()).map(|_| ()),
        Some("sql-prepare") => setup::all(&root()).and_then(|tools| sql(&root(), &tools, false)),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        _ => {
            eprintln!(
                "usage:\n  cargo xtask run     open the ZiFlow demo window\n  \
                 cargo xtask test    run every test (unit, integration, end-to-end)\n  \
                 cargo xtask setup   only install what is missing\n  \
                 cargo xtask sql-prepare  rewrite the query data after SQL or a migration changed\n  \
                 cargo xtask bench   benchmarks (relay, replica, memory, agent, signature, desktop)\n  \
                 cargo xtask fuzz    a million cases per fuzz target (or: fuzz CASES [TARGET])"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Error type of every step: a sentence saying what failed.
pub type Result<T = ()> = std::result::Result<T, String>;

/// The repository root (the parent of this crate).
///
/// Read at run time (`cargo run` sets `CARGO_MANIFEST_DIR`), not baked in at compile time:
/// a shared target folder may hold an xtask built from another checkout.
pub fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Prints a step heading and returns a timer for [`done`].
pub fn step(what: &str) -> Instant {
    eprintln!("==> {what}");
    Instant::now()
}

/// Prints how long a step took.
pub fn done(t: Instant) {
    eprintln!("    ({:.1}s)", t.elapsed().as_secs_f32());
}

/// Runs a command to completion, failing with its command line if it does not succeed.
pub fn sh(cmd: &mut Command) -> Result {
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` (CI keeps one outside the clone), else
/// `target/` in the repository.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Cargo with clippy as the compiler of the workspace's own crates (dependencies are built
/// by plain rustc, as under `cargo clippy`), denying every warning. The build that makes the
/// binaries is the lint pass: a separate `cargo clippy` would check the whole dependency tree
/// a second time (about a third of a cold run on two cores). Every build `cargo xtask`
/// makes goes through here so they share one set of compiled crates.
fn linted() -> Command {
    let mut cmd = cargo();
    // The query macros read the committed `.sqlx` data, never a database a developer's
    // shell happens to point at (the SQL is checked against the schema by `sql`).
    cmd.env("SQLX_OFFLINE", "true")
        .env_remove("DATABASE_URL")
        .env("RUSTC_WORKSPACE_WRAPPER", "clippy-driver")
        // `cargo clippy -- -D warnings` hands its arguments to clippy-driver this way.
        .env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
    cmd
}

/// The UI's unit tests (pure logic: amounts, dates) run on the host; the screens themselves
/// are tested in the real window by the end-to-end tests.
const UI_HOST_TESTS: [&str; 4] = ["test", "-p", "ziflow-ui", "--bins"];

/// The host crates: everything but the wasm UI. Always built with the same selection so the
/// app build, clippy and the tests share one set of compiled dependencies. The tests build
/// them in the dev profile (`target/debug`), `run` and the benchmarks with `--release`.
const HOST: [&str; 3] = ["--workspace", "--exclude", "ziflow-ui"];

fn run() -> Result {
    let root = root();
    if !has_display() {
        return Err(
            "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the ZiFlow window \
             cannot open here. Run this from a desktop session, or under a virtual display: \
             `xvfb-run -a cargo xtask run`."
                .into(),
        );
    }
    let tools = setup::all(&root)?;
    build_ui(&root, &tools)?;
    let t = step("Building the ZiFlow app (release)");
    sh(linted()
        .current_dir(&root)
        .arg("build")
        .args(HOST)
        .arg("--release"))?;
    done(t);
    let target = target_dir(&root);
    let data = target.join("demo");
    let t = step(&format!("Opening ZiFlow (demo data in {})", data.display()));
    let status = Command::new(target.join("release/ziflow-app"))
        .env("ZIFLOW_DATA_DIR", &data)
        // Beside the rep's window, the customer's phone: the sandbox chat.
        .env("ZIFLOW_CUSTOMER_WINDOW", "1")
        .status()
        .map_err(|e| format!("could not start the app: {e}"))?;
    done(t);
    if status.success() {
        Ok(())
    } else {
        Err(format!("the app exited with {status}"))
    }
}

fn test(extra: &[String]) -> Result {
    let root = root();
    let tools = setup::all(&root)?;

    let t = step("Checking formatting (cargo fmt --check)");
    sh(cargo()
        .current_dir(&root)
        .args(["fmt", "--all", "--", "--check"]))?;
    done(t);

    sql(&root, &tools, true)?;

    // Every build below lints as it compiles (see `linted`): no second pass for clippy.
    build_ui(&root, &tools)?;

    let t = step(
        "Building and linting the app, the relay and the tests (dev profile, clippy -D warnings)",
    );
    sh(linted().current_dir(&root).arg("build").args(HOST))?;
    sh(linted()
        .current_dir(&root)
        .arg("test")
        .args(HOST)
        .arg("--no-run"))?;
    done(t);

    let t = step("Running the UI's own tests (on the host)");
    sh(linted().current_dir(&root).args(UI_HOST_TESTS))?;
    done(t);

    let t = step("Running unit, integration and end-to-end tests");
    let target = target_dir(&root);
    let artifacts = target.join("e2e-artifacts");
    sh(linted()
        .current_dir(&root)
        .arg("test")
        .args(HOST)
        .env("ZIFLOW_APP_BIN", target.join("debug/ziflow-app"))
        .env("ZIFLOW_TAURI_DRIVER", tools.tauri_driver())
        .env("ZIFLOW_PYTHON", tools.python())
        .env("ZIFLOW_NODE_DIR", tools.node_dir())
        .env("ZIFLOW_E2E_ARTIFACTS", &artifacts)
        .arg("--")
        .args(extra))?;
    done(t);

    // The same binaries, no build: the suites that run on either database, again on a
    // throw-away PostgreSQL cluster.
    let t = step("Running the storage suites again on PostgreSQL (a throw-away cluster)");
    let suites = [
        ("ziflow-core", "it", "crates/core"),
        ("ziflow-relay", "it", "crates/relay"),
    ];
    let wanted: Vec<(&str, &str)> = suites.iter().map(|(p, t, _)| (*p, *t)).collect();
    for (exe, (_, _, dir)) in test_binaries(&root, &wanted)?.iter().zip(suites) {
        sh(Command::new(exe)
            .current_dir(root.join(dir))
            .env("ZIFLOW_TEST_DATABASE", "postgres")
            .args(extra))?;
    }
    done(t);
    eprintln!(
        "\nAll tests passed. Screenshots of the window: {}",
        artifacts.display()
    );
    Ok(())
}

/// The already built test executables of `(package, test target)`, from cargo's own
/// account of the build (`--no-run --message-format=json`), so running one again costs no
/// build.
fn test_binaries(root: &Path, wanted: &[(&str, &str)]) -> Result<Vec<PathBuf>> {
    let out = linted()
        .current_dir(root)
        .arg("test")
        .args(HOST)
        .args(["--no-run", "--message-format=json"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo test --no-run: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |line: &str, name: &str| -> Option<String> {
        let key = format!("\"{name}\":\"");
        let start = line.find(&key)? + key.len();
        let end = line[start..].find('"')?;
        Some(line[start..start + end].to_string())
    };
    let mut found = Vec::new();
    for (package, target) in wanted {
        let exe = text
            .lines()
            .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
            .filter(|l| {
                field(l, "package_id").is_some_and(|id| {
                    id.contains(&format!("/{package}#")) || id.contains(&format!("#{package}@"))
                })
            })
            .filter(|l| {
                l.contains(&format!(
                    "\"kind\":[\"test\"],\"crate_types\":[\"bin\"],\"name\":\"{target}\""
                ))
            })
            .find_map(|l| field(l, "executable"))
            .ok_or_else(|| format!("no built test `{target}` of {package} in cargo's output"))?;
        found.push(PathBuf::from(exe));
    }
    Ok(found)
}

fn bench(what: &[String]) -> Result {
    let root = root();
    let all = [
        "relay",
        "replica",
        "memory",
        "agent",
        "signature",
        "desktop",
        "cluster",
    ];
    let chosen: Vec<&str> = match what.first().map(String::as_str) {
        None | Some("all") => all.to_vec(),
        Some(one) if all.contains(&one) => vec![one],
        Some(_) => return Err(
            "usage: cargo xtask bench [relay|replica|memory|agent|signature|desktop|cluster|all]"
                .into(),
        ),
    };
    if chosen.contains(&"desktop") {
        // The window's benchmark runs the app, which embeds the built UI.
        let tools = setup::all(&root)?;
        build_ui(&root, &tools)?;
    }
    let t = step("Building the relay, the app and the benchmarks (release)");
    sh(linted()
        .current_dir(&root)
        .arg("build")
        .args(HOST)
        .arg("--release"))?;
    done(t);
    for name in chosen {
        let t = step(match name {
            "relay" => "Benchmarking webhook intake: reference server vs ziflow-relay",
            "replica" => "Benchmarking webhook → desktop replica at 200 webhooks/s",
            "agent" => "Benchmarking the agent: decision per message, yes + address → pay link",
            "signature" => "Benchmarking the worst Stripe-Signature header against an honest one",
            "desktop" => "Benchmarking the idle window: 10,000 conversations against an empty shop",
            _ => "Benchmarking relay memory after 1,000,000 webhooks",
        });
        sh(Command::new(target_dir(&root).join("release/ziflow-bench"))
            .arg(name)
            .env(
                "ZIFLOW_APP_BIN",
                target_dir(&root).join("release/ziflow-app"),
            )
            .env(
                "ZIFLOW_E2E_ARTIFACTS",
                target_dir(&root).join("bench-artifacts"),
            ))?;
        done(t);
    }
    Ok(())
}

/// The fuzz targets (`crates/core/tests/it/fuzz.rs`): each gets `ZIFLOW_FUZZ_CASES` cases
/// (a million unless told), after replaying its corpus in `crates/core/tests/fuzz-corpus/`.
fn fuzz(args: &[String]) -> Result {
    let root = root();
    let cases = match args.first() {
        Some(n) => n.parse::<u64>().map_err(|_| {
            format!("usage: cargo xtask fuzz [CASES] [TARGET]; {n:?} is not a count")
        })?,
        None => 1_000_000,
    };
    let filter = match args.get(1) {
        Some(target) => format!("fuzz::fuzz_{}", target.replace('-', "_")),
        None => "fuzz::".to_string(),
    };
    let t = step(&format!("Fuzzing: {cases} cases per target ({filter})"));
    sh(linted()
        .current_dir(&root)
        .env("ZIFLOW_FUZZ_CASES", cases.to_string())
        .arg("test")
        .args(HOST)
        .arg("--release")
        .args([
            "-p",
            "ziflow-core",
            "--test",
            "it",
            "--",
            &filter,
            "--nocapture",
        ]))?;
    done(t);
    Ok(())
}

/// Checks (`check`) or rewrites the compile-time data of the `sqlx::query!` statements in
/// `crates/core/.sqlx` with `cargo sqlx prepare`, against a database freshly migrated from
/// `crates/core/migrations`. A statement whose SQL, parameters or result columns no longer
/// match the schema fails here, before anything else is built.
fn sql(root: &Path, tools: &setup::Tools, check: bool) -> Result {
    let t = step(if check {
        "Checking the SQL against the schema (cargo sqlx prepare --check)"
    } else {
        "Rewriting the SQL query data in crates/core/.sqlx (cargo sqlx prepare)"
    });
    let dir = target_dir(root).join("sqlx");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let url = format!("sqlite://{}", dir.join("schema.db").display());
    let core = root.join("crates/core");
    sh(Command::new(tools.sqlx())
        .current_dir(&core)
        .env("DATABASE_URL", &url)
        .args(["database", "setup", "--source", "migrations"]))?;
    // `prepare` marks the crate's sources as changed so its macros run again; put the times
    // back afterwards, or the release build would recompile the crate and everything above it
    // for nothing.
    let sources: Vec<PathBuf> = files_under(&core)?
        .into_iter()
        .filter(|p| !p.starts_with(core.join(".sqlx")))
        .collect();
    let times: Vec<_> = sources
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect();
    let mut prepare = cargo();
    prepare
        .current_dir(&core)
        .env("PATH", tools.path())
        .env("DATABASE_URL", &url)
        .args(["sqlx", "prepare"]);
    if check {
        prepare.arg("--check");
    }
    let result = sh(prepare.args(["--", "--lib"]));
    for (path, time) in sources.iter().zip(times) {
        if let (Some(time), Ok(file)) = (time, std::fs::File::options().write(true).open(path)) {
            let _ = file.set_modified(time);
        }
    }
    result.map_err(|e| {
        if check {
            format!(
                "{e}\nThe query data in crates/core/.sqlx is stale: run `cargo xtask sql-prepare`."
            )
        } else {
            e
        }
    })?;
    done(t);
    Ok(())
}

/// Every file below `dir`.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| format!("reading {}: {e}", d.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

fn has_display() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("DISPLAY") || set("WAYLAND_DISPLAY")
}

/// Compiles the Leptos UI to wasm and writes `ui/dist` (what the app embeds).
fn build_ui(root: &Path, tools: &setup::Tools) -> Result {
    let t = step("Building and linting the UI (Leptos → wasm32, clippy -D warnings)");
    sh(linted().current_dir(root).args([
        "build",
        "-p",
        "ziflow-ui",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    let target = target_dir(root);
    let staging = target.join("ui-staging");
    let _ = std::fs::remove_dir_all(&staging);
    sh(Command::new(tools.wasm_bindgen())
        .current_dir(root)
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "ziflow_ui",
            "--out-dir",
        ])
        .arg(&staging)
        .arg(target.join("wasm32-unknown-unknown/release/ziflow-ui.wasm")))?;
    for file in ["index.html", "boot.js", "styles.css"] {
        std::fs::copy(root.join("ui").join(file), staging.join(file))
            .map_err(|e| format!("copying ui/{file}: {e}"))?;
    }
    sync_dir(&staging, &root.join("ui/dist"))?;
    done(t);
    Ok(())
}

/// Makes `dst` hold exactly the files of `src`, rewriting only files whose bytes changed so
/// an unchanged UI does not make cargo rebuild the app.
fn sync_dir(src: &Path, dst: &Path) -> Result {
    std::fs::create_dir_all(dst).map_err(|e| format!("creating {}: {e}", dst.display()))?;
    let read = |p: &Path| std::fs::read_dir(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let mut wanted = Vec::new();
    for entry in read(src)? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        let bytes = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
        let target = dst.join(&name);
        if std::fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::write(&target, &bytes)
                .map_err(|e| format!("writing {}: {e}", target.display()))?;
        }
        wanted.push(name);
    }
    for entry in read(dst)? {
        let entry = entry.map_err(|e| e.to_string())?;
        if !wanted.contains(&entry.file_name()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}
