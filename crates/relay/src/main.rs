//! `ziflow-relay`: loads the configuration and hands it to [`ziflow_relay::run`].

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ziflow-relay",
    version,
    about = "ZiFlow relay: webhooks, engine and sync for desktops"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP until SIGINT or SIGTERM, then finish in-flight requests and exit.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ZIFLOW_LISTEN", default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Folder holding the relay's SQLite database.
        #[arg(long, env = "ZIFLOW_DATA_DIR", default_value = "./ziflow-relay-data")]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve { listen, data_dir } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let config = ziflow_relay::Config { data_dir };
            ziflow_relay::run(config, listener, ziflow_relay::shutdown_signal()).await
        }
    }
}
