//! `ziflow-relay`: parses the command line and calls into the library.

/// mimalloc instead of the system allocator: see the note in Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use ziflow_relay::config::{self, KeySource};
use ziflow_relay::provision;

#[derive(Parser)]
#[command(
    name = "ziflow-relay",
    version,
    about = "ZiFlow relay: webhooks, engine and sync for desktops"
)]
struct Cli {
    /// Folder holding relay.db (and master.key in local mode) [default: ./ziflow-relay-data].
    #[arg(long, global = true, env = "ZIFLOW_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database to use instead of relay.db in the data folder
    /// (postgres://user[:password]@host[:port]/database); several relays may share it.
    #[arg(long, global = true, env = "ZIFLOW_DATABASE_URL")]
    database_url: Option<String>,
    /// Connections this relay keeps to PostgreSQL [default: 16].
    #[arg(long, global = true, env = "ZIFLOW_DATABASE_POOL")]
    database_pool: Option<u32>,
    /// Optional TOML file with listen, data_dir, database_url, master_key_file, local, ….
    #[arg(long, global = true, env = "ZIFLOW_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct KeyArgs {
    /// File holding the master key (64 hex digits). ZIFLOW_MASTER_KEY takes precedence.
    #[arg(long, env = "ZIFLOW_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Local mode: keep a generated master key in the data folder (single-machine installs).
    #[arg(long, env = "ZIFLOW_LOCAL")]
    local: bool,
}

impl KeyArgs {
    fn source(&self, file: &config::FileConfig) -> KeySource {
        KeySource {
            key: std::env::var("ZIFLOW_MASTER_KEY").ok(),
            file: self
                .master_key_file
                .clone()
                .or_else(|| file.master_key_file.clone()),
            local: self.local || file.local,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP until SIGINT or SIGTERM, then finish in-flight requests and exit.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8787].
        #[arg(long, env = "ZIFLOW_LISTEN")]
        listen: Option<SocketAddr>,
        /// Stripe's API address [default: https://api.stripe.com]. Tests point it at a
        /// local fake; production leaves it alone.
        #[arg(long, env = "ZIFLOW_STRIPE_API_BASE")]
        stripe_api_base: Option<String>,
        /// Meta's Graph API address for the WhatsApp Cloud API
        /// [default: https://graph.facebook.com].
        #[arg(long, env = "ZIFLOW_GRAPH_API_BASE")]
        graph_api_base: Option<String>,
        /// WhatsApp messages per second per business number [default: 80].
        #[arg(long, env = "ZIFLOW_WHATSAPP_RATE")]
        whatsapp_rate: Option<u32>,
        /// The relay's address as customers reach it (sandbox pay links the bot sends)
        /// [default: http://<listen address>].
        #[arg(long, env = "ZIFLOW_PUBLIC_URL")]
        public_url: Option<String>,
        /// Telegram's Bot API address for notifications [default: https://api.telegram.org].
        #[arg(long, env = "ZIFLOW_TELEGRAM_API_BASE")]
        telegram_api_base: Option<String>,
        /// A PEM file with one more certificate authority to trust for the shops' SMTP
        /// servers (a company's own CA); the usual web roots are always trusted.
        #[arg(long, env = "ZIFLOW_SMTP_CA_FILE")]
        smtp_ca_file: Option<PathBuf>,
        /// Serve the sandbox: its pay page, its customer chat, and sandbox pay links for
        /// shops without Stripe. For demos and tests only — no real money moves through it.
        /// Off, every /sandbox path is 404 and a shop without Stripe gets no pay link.
        #[arg(long, env = "ZIFLOW_SANDBOX")]
        sandbox: bool,
        /// Let owner-typed addresses (Slack webhook, model endpoint, SMTP server) be this
        /// machine, e.g. a model served on localhost. For single-machine installs and tests;
        /// private networks and metadata addresses stay refused.
        #[arg(long, env = "ZIFLOW_ALLOW_LOOPBACK_OUTBOUND")]
        allow_loopback_outbound: bool,
        /// The bearer token Prometheus sends for /metrics. Without one, /metrics answers
        /// only requests from this machine (127.0.0.1 / ::1).
        #[arg(long, env = "ZIFLOW_METRICS_TOKEN")]
        metrics_token: Option<String>,
        /// Days after which command answers, delivery ticks and finished jobs are pruned
        /// (0 keeps everything; the event log is never pruned) [default: 30].
        #[arg(long, env = "ZIFLOW_RETENTION_DAYS")]
        retention_days: Option<u32>,
        /// A reverse proxy in front of the relay (repeat for several): requests from it are
        /// counted against the address it names last in X-Forwarded-For for the per-source
        /// limits. Without it, X-Forwarded-For is ignored.
        #[arg(
            long = "trusted-proxy",
            env = "ZIFLOW_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Create and configure shops.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
    /// Add and revoke the devices that sync a shop.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// A shop's catalog and shipping zones.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The sales agent.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// A shop's figures from its invoices: sent, paid within 24 h, conversion (percent),
    /// average and median seconds from sending to payment, manual reconciliations, revenue.
    Metrics {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a relay from its SQLite file to an empty PostgreSQL database, keeping every id,
    /// cursor, job, command answer and sealed secret (the same master key opens them). Stop
    /// the relay first; then serve with --database-url and the desktops sync on.
    Migrate {
        /// The SQLite relay's data folder (the one holding relay.db).
        #[arg(long)]
        from_data_dir: PathBuf,
        /// The empty PostgreSQL database (postgres://user[:password]@host[:port]/database).
        #[arg(long)]
        to_database_url: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Replace a shop's catalog and shipping zones with the `catalog` and `shipping` parts of
    /// FILE (the JSON of agent-samples.json), or with a CSV file: a products file (header
    /// `sku,name,price,…`) replaces the products, a zones file (`zone,price,…`) the zones.
    /// A catalog with a duplicate sku, a negative or fractional price is refused whole and
    /// nothing changes.
    Import {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// The JSON or CSV file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shop's catalog: as JSON (`catalog` and `shipping`), or one CSV file.
    Export {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// `json`, `products-csv` or `zones-csv`.
        #[arg(long, default_value = "json")]
        format: String,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Play the conversations of FILE (shaped like agent-samples.json) through a throw-away
    /// relay, the real engine and the sandbox provider; print one JSON line per conversation.
    Replay {
        /// The file.
        file: PathBuf,
    },
    /// Run the shop's bot tests (AI Agent → Bot tests) with its catalog, replies and scenario
    /// as stored now: one line per test, PASS or FAIL with what it must end in and what it
    /// ended in; exits 1 when any fails.
    Test {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// Print JSON (one array of results).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ShopCommand {
    /// Create a shop, its owner device and its WhatsApp verify token.
    Create {
        /// Shop name.
        #[arg(long)]
        name: String,
        /// ISO 4217 currency of its prices.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// IANA time zone.
        #[arg(long, default_value = "America/Chicago")]
        timezone: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a shop's provider secrets (stored encrypted; never printed).
    Set {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// Stripe webhook signing secret (whsec_…).
        #[arg(long, env = "ZIFLOW_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
        stripe_webhook_secret: Option<String>,
        /// Read the Stripe webhook secret from this file instead.
        #[arg(long, conflicts_with = "stripe_webhook_secret")]
        stripe_webhook_secret_file: Option<PathBuf>,
        /// Meta app secret that signs WhatsApp webhooks.
        #[arg(long, env = "ZIFLOW_WHATSAPP_APP_SECRET", hide_env_values = true)]
        whatsapp_app_secret: Option<String>,
        /// Read the WhatsApp app secret from this file instead.
        #[arg(long, conflicts_with = "whatsapp_app_secret")]
        whatsapp_app_secret_file: Option<PathBuf>,
        #[command(flatten)]
        key: KeyArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Add a device; prints its token once.
    Add {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// A name people recognise ("Front desk").
        #[arg(long)]
        name: String,
        /// rep or owner.
        #[arg(long, default_value = "rep")]
        role: String,
        /// What a rep's device may do beyond running the day: `refund`, `mark_paid`, or both
        /// (`refund,mark_paid`). Without it a rep cannot move money.
        #[arg(long, default_value = "")]
        can: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change what a device may do beyond its role (`--can refund,mark_paid`; `--can ""`
    /// takes everything back). Takes effect on its next request.
    Permit {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// The device id `device add` printed.
        #[arg(long)]
        device_id: i64,
        /// `refund`, `mark_paid`, both, or empty.
        #[arg(long)]
        can: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device; its token stops working at once.
    Revoke {
        /// The shop.
        #[arg(long)]
        uid: String,
        /// The device id `device add` printed.
        #[arg(long)]
        device_id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print(value: &impl Serialize, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}

fn read_secret(inline: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    match (inline, file) {
        (Some(v), _) => Ok(Some(v)),
        (None, Some(f)) => Ok(Some(
            std::fs::read_to_string(&f)
                .with_context(|| format!("reading {}", f.display()))?
                .trim()
                .to_string(),
        )),
        (None, None) => Ok(None),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => config::load_file(path)?,
        None => config::FileConfig::default(),
    };
    let data_dir = cli
        .data_dir
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./ziflow-relay-data"));
    let postgres = match cli.database_url.or_else(|| file.database_url.clone()) {
        Some(url) => {
            let pool = cli
                .database_pool
                .or(file.database_pool)
                .unwrap_or(ziflow_relay::Postgres::DEFAULT_POOL);
            anyhow::ensure!(
                pool >= 2,
                "the database pool is at least 2 connections, not {pool}"
            );
            Some(ziflow_relay::Postgres { url, pool })
        }
        None => None,
    };
    match cli.command {
        Command::Serve {
            listen,
            stripe_api_base,
            graph_api_base,
            whatsapp_rate,
            public_url,
            telegram_api_base,
            smtp_ca_file,
            sandbox,
            allow_loopback_outbound,
            metrics_token,
            retention_days,
            trusted_proxies,
            key,
        } => {
            let listen = match (listen, &file.listen) {
                (Some(addr), _) => addr,
                (None, Some(text)) => text.parse().with_context(|| {
                    format!("listen = {text:?} in the config file is not an address")
                })?,
                (None, None) => SocketAddr::from(([127, 0, 0, 1], 8787)),
            };
            let master_key = config::master_key(&key.source(&file), &data_dir)?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let mut providers = ziflow_relay::config::ProviderConfig::default();
            if let Some(base) = stripe_api_base.or_else(|| file.stripe_api_base.clone()) {
                providers.stripe_api_base = base;
            }
            if let Some(base) = graph_api_base.or_else(|| file.graph_api_base.clone()) {
                providers.graph_api_base = base;
            }
            if let Some(rate) = whatsapp_rate.or(file.whatsapp_rate) {
                anyhow::ensure!(rate > 0, "the WhatsApp rate is at least 1 message a second");
                providers.whatsapp_rate = rate;
            }
            providers.public_url = public_url.or_else(|| file.public_url.clone());
            if let Some(base) = telegram_api_base.or_else(|| file.telegram_api_base.clone()) {
                providers.telegram_api_base = base;
            }
            if let Some(path) = smtp_ca_file.or_else(|| file.smtp_ca_file.clone()) {
                let pem = std::fs::read(&path)
                    .with_context(|| format!("reading the SMTP CA file {}", path.display()))?;
                providers.smtp_ca_pem = Some(pem);
            }
            providers.sandbox = sandbox || file.sandbox;
            providers.allow_loopback_outbound =
                allow_loopback_outbound || file.allow_loopback_outbound;
            providers.metrics_token = metrics_token
                .or_else(|| file.metrics_token.clone())
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty());
            if let Some(days) = retention_days.or(file.retention_days) {
                providers.retention_days = days;
            }
            providers.trusted_proxies = if trusted_proxies.is_empty() {
                file.trusted_proxies.clone()
            } else {
                trusted_proxies
            };
            let config = ziflow_relay::Config {
                data_dir,
                postgres,
                master_key,
                providers,
            };
            ziflow_relay::run(config, listener, ziflow_relay::shutdown_signal()).await
        }
        Command::Shop { command } => {
            let db = ziflow_relay::open_store(&data_dir, postgres.as_ref()).await?;
            match command {
                ShopCommand::Create {
                    name,
                    currency,
                    timezone,
                    json,
                } => print(
                    &provision::create_shop(&db, &name, &currency, &timezone).await?,
                    json,
                ),
                ShopCommand::Set {
                    uid,
                    stripe_webhook_secret,
                    stripe_webhook_secret_file,
                    whatsapp_app_secret,
                    whatsapp_app_secret_file,
                    key,
                    json,
                } => {
                    let master_key = config::master_key(&key.source(&file), &data_dir)?;
                    let stripe = read_secret(stripe_webhook_secret, stripe_webhook_secret_file)?;
                    let whatsapp = read_secret(whatsapp_app_secret, whatsapp_app_secret_file)?;
                    let out = provision::set_secrets(
                        &db,
                        &master_key,
                        &uid,
                        stripe.as_deref(),
                        whatsapp.as_deref(),
                    )
                    .await?;
                    print(&out, json)
                }
            }
        }
        Command::Device { command } => {
            let db = ziflow_relay::open_store(&data_dir, postgres.as_ref()).await?;
            match command {
                DeviceCommand::Add {
                    uid,
                    name,
                    role,
                    can,
                    json,
                } => print(
                    &provision::add_device(&db, &uid, &name, &role, &can).await?,
                    json,
                ),
                DeviceCommand::Permit {
                    uid,
                    device_id,
                    can,
                    json,
                } => print(
                    &provision::permit_device(&db, &uid, device_id, &can).await?,
                    json,
                ),
                DeviceCommand::Revoke {
                    uid,
                    device_id,
                    json,
                } => print(&provision::revoke_device(&db, &uid, device_id).await?, json),
            }
        }
        Command::Catalog {
            command: CatalogCommand::Import { uid, file, json },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let db = ziflow_relay::open_store(&data_dir, postgres.as_ref()).await?;
            let shop = ziflow_core::storage::shops::get(&db, &uid).await?;
            let catalog = if text.trim_start().starts_with('{') {
                let doc: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", file.display()))?;
                serde_json::json!({ "catalog": doc["catalog"], "shipping": doc["shipping"] })
            } else {
                let current = ziflow_core::catalog::load(&db, &uid).await?;
                let (c, _) =
                    ziflow_core::catalog::csv_form::import(&text, &shop.currency, &current)
                        .with_context(|| format!("importing {}", file.display()))?;
                serde_json::to_value(&c)?
            };
            let mut tx = db.begin_immediate().await?;
            let outcome = ziflow_core::command::execute(
                &mut tx,
                &uid,
                &ziflow_protocol::Command::CatalogSet { catalog },
                {
                    use ziflow_core::Clock;
                    ziflow_core::SystemClock.now()
                },
                &ziflow_core::command::Context {
                    public_url: "",
                    provider: Some("sandbox"),
                },
            )
            .await
            .with_context(|| format!("importing {}", file.display()))?;
            tx.commit().await?;
            db.close().await;
            print(&outcome.answer, json)
        }
        Command::Catalog {
            command: CatalogCommand::Export { uid, format },
        } => {
            use ziflow_core::catalog::csv_form;
            let db = ziflow_relay::open_store(&data_dir, postgres.as_ref()).await?;
            let shop = ziflow_core::storage::shops::get(&db, &uid).await?;
            let c = ziflow_core::catalog::load(&db, &uid).await?;
            db.close().await;
            let text = match format.as_str() {
                "json" => serde_json::to_string_pretty(&c)?,
                "products-csv" => csv_form::export_products(&c, &shop.currency)?,
                "zones-csv" => csv_form::export_zones(&c, &shop.currency)?,
                other => anyhow::bail!("--format is json, products-csv or zones-csv, not {other}"),
            };
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(())
        }
        Command::Metrics { uid, json } => {
            let db = ziflow_relay::open_store(&data_dir, postgres.as_ref()).await?;
            let shop = ziflow_core::storage::shops::get(&db, &uid).await?;
            let m = ziflow_core::metrics::summary(&db, &uid).await?;
            db.close().await;
            print(&m.to_json(&shop.currency), json)
        }
        Command::Agent {
            command: AgentCommand::Test { uid, json },
        } => {
            let db = ziflow_relay::open_store(&data_dir, postgres.as_ref()).await?;
            let runs = ziflow_relay::provision::run_bot_tests(&db, &uid).await?;
            db.close().await;
            let failed = runs.iter().filter(|r| !r.passed).count();
            if json {
                println!("{}", serde_json::to_string(&runs)?);
            } else {
                for r in &runs {
                    if r.passed {
                        println!("PASS  #{} {} — {}", r.id, r.name, r.got);
                    } else {
                        println!(
                            "FAIL  #{} {} — must end in: {}; ended in: {}",
                            r.id, r.name, r.expected, r.got
                        );
                    }
                }
                println!(
                    "{} bot test{}: {} passed, {failed} failed",
                    runs.len(),
                    if runs.len() == 1 { "" } else { "s" },
                    runs.len() - failed
                );
            }
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Migrate {
            from_data_dir,
            to_database_url,
            json,
        } => {
            let moved = ziflow_relay::provision::migrate(&from_data_dir, &to_database_url).await?;
            print(&moved, json)
        }
        Command::Agent {
            command: AgentCommand::Replay { file },
        } => {
            for line in ziflow_relay::replay::run(&file).await? {
                println!("{line}");
            }
            Ok(())
        }
    }
}
