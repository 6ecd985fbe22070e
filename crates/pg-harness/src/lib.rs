//! A throw-away PostgreSQL cluster on 127.0.0.1 for tests: Debian's server binaries
//! (`/usr/lib/postgresql/<version>/bin`), `initdb` into a temporary folder (as the
//! `postgres` user when the tests run as root — the server refuses to run as root), started
//! with `pg_ctl` on a free port with its socket in that folder, trust authentication for the
//! role `ziflow`, and `fsync=off` (tests measure behaviour, not durability). Stopped and
//! removed when dropped. `cargo xtask test` installs the `postgresql` package when missing.
//!
//! [`shared`] is one cluster for the whole test process, each test taking its own database
//! ([`Cluster::fresh_database`]); a watchdog stops it when the process ends, however it ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    /// The port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// A port on 127.0.0.1 nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The test process's cluster, started on first use. Fails the calling test with the
/// server's words if it cannot start.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let cluster = Cluster::start().expect("a PostgreSQL cluster for the tests starts");
        if let Err(e) = cluster.stop_when_process_ends() {
            eprintln!("the test cluster will outlive this process: {e}");
        }
        cluster
    })
}

/// Whether this run of a suite is on PostgreSQL (`ZIFLOW_TEST_DATABASE=postgres`, as
/// `cargo xtask test`'s second round sets it).
pub fn suite_on_postgres() -> bool {
    std::env::var("ZIFLOW_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// A new database on [`shared`] when the suite runs on PostgreSQL; `None` when on SQLite.
pub fn suite_database() -> Option<String> {
    suite_on_postgres().then(|| {
        shared()
            .fresh_database()
            .expect("a test database on the shared cluster")
    })
}

/// The newest installed server's `bin` folder.
fn server_bin() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .with_context(|| {
            format!(
                "{} is missing: install Debian's postgresql package \
                 (`cargo xtask test` does)",
                root.display()
            )
        })?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server with initdb under /usr/lib/postgresql")
}

impl Cluster {
    /// Makes and starts a cluster; fails with the server's own words if it cannot.
    pub fn start() -> Result<Self> {
        Self::start_with(false)
    }

    /// Like [`Cluster::start`], but every commit reaches the disk (`fsync` on, the server's
    /// defaults): for benchmarks, which measure what a real deployment pays.
    pub fn start_durable() -> Result<Self> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<Self> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new().prefix("ziflow-pg-").tempdir()?;
        let data = dir.path().join("data");
        // Root owns /proc/self when the tests run as root.
        let as_postgres = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self")?.uid() == 0
        };
        if as_postgres {
            // The server runs as `postgres`: it needs its folder.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()?;
            if !status.success() {
                bail!(
                    "could not give {} to the postgres user",
                    dir.path().display()
                );
            }
        }
        let port = free_port()?;
        let mut cluster = Self {
            bin,
            data,
            as_postgres,
            port,
            _dir: dir,
        };
        cluster.run(
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "ziflow",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
                &cluster.data.display().to_string(),
            ],
        )?;
        let socket_dir = cluster._dir.path().display().to_string();
        let speed = if durable {
            ""
        } else {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let options = format!(
            "-k {socket_dir} -p {port} -c listen_addresses=127.0.0.1 -c max_connections=200{speed}"
        );
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &cluster.data.display().to_string(),
                "-o",
                &options,
                "-l",
                &cluster._dir.path().join("server.log").display().to_string(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        )?;
        cluster.wait_ready(Duration::from_secs(30))?;
        // A port someone else took between free_port and the start would fail above.
        cluster.port = port;
        Ok(cluster)
    }

    /// `postgres://ziflow@127.0.0.1:PORT/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://ziflow@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` with `psql` against `database`; returns what it printed (unaligned, tuples
    /// only).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(database))
            .args(["-c", sql])
            .output()?;
        if !out.status.success() {
            bail!(
                "psql {sql:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A new, empty database with a name no other test of this process uses; its URL.
    pub fn fresh_database(&self) -> Result<String> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("t{}_{n}", std::process::id()))
    }

    /// A statics' cluster is never dropped: a shell waits for this process to end, then
    /// stops the server and removes its folder.
    fn stop_when_process_ends(&self) -> Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = format!(
            "{}{} -D {} -m immediate -w stop",
            if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl.display(),
            self.data.display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self._dir.path().display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        Ok(())
    }

    /// The server's processes (the postmaster and its children), for CPU accounting.
    pub fn server_pids(&self) -> Vec<u32> {
        let Some(main) = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let mut pids = vec![main];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                let parent = std::fs::read_to_string(e.path().join("stat"))
                    .ok()
                    .and_then(|stat| {
                        let rest = stat.rsplit_once(')')?.1.to_string();
                        rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                    });
                if parent == Some(main) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// A new, empty database.
    pub fn create_database(&self, name: &str) -> Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(name))
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()?
        } else {
            Command::new(&program).args(args).output()?
        };
        if !out.status.success() {
            let log =
                std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default();
            bail!(
                "{tool} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn wait_ready(&self, within: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            match self.psql("postgres", "SELECT 1") {
                Ok(one) if one == "1" => return Ok(()),
                Ok(other) => bail!("SELECT 1 answered {other:?}"),
                Err(e) if started.elapsed() > within => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]) {
            eprintln!("stopping the test PostgreSQL cluster: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throw_away_cluster_starts_takes_writes_and_is_gone_afterwards() {
        let cluster = Cluster::start().expect("a cluster starts");
        let url = cluster.create_database("t1").unwrap();
        assert!(url.ends_with("/t1"), "{url}");
        cluster
            .psql(
                "t1",
                "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)",
            )
            .unwrap();
        cluster
            .psql("t1", "INSERT INTO t (v) VALUES ('a'), ('b')")
            .unwrap();
        assert_eq!(cluster.psql("t1", "SELECT count(*) FROM t").unwrap(), "2");
        assert!(
            cluster.psql("t1", "SELECT nope FROM t").is_err(),
            "a bad statement is an error with the server's words"
        );
        let port = cluster.port;
        drop(cluster);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server stopped with its cluster"
        );
    }
}
