//! The command line: `reveille run` (the daemon), `reveille check-config` (for people who
//! edit the file by hand), and `reveille stop|snooze` (talk to the running daemon's API).
//! Errors end in a one-line message and a non-zero exit code.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use crate::daemon::{self, DEFAULT_LISTEN, RunOptions};
use crate::store;

#[derive(Parser)]
#[command(version, about = "A Spotify alarm clock daemon for the Raspberry Pi")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (as systemd does).
    Run {
        /// The config file [default: $STATE_DIRECTORY/config.json, else /var/lib/reveille/config.json]
        #[arg(long, env = "REVEILLE_CONFIG")]
        config: Option<PathBuf>,
        /// Address for the HTTP API and settings page; port 0 picks a free port.
        #[arg(long, env = "REVEILLE_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// When the config file does not exist yet, start from this file instead of the defaults.
        #[arg(long, value_name = "FILE")]
        init_from: Option<PathBuf>,
        /// Development: serve /api/dev/sim/press and /api/dev/sim/turn to operate the
        /// simulated buttons and knob (only with the simulated hardware).
        #[arg(long, env = "REVEILLE_DEV_SIM_CONTROL")]
        dev_sim_control: bool,
    },
    /// Stop the ringing alarm.
    Stop {
        /// The running daemon's API.
        #[arg(long, env = "REVEILLE_URL", default_value = DEFAULT_URL)]
        url: String,
    },
    /// Snooze the ringing alarm (after its maximum snoozes: stop it).
    Snooze {
        /// The running daemon's API.
        #[arg(long, env = "REVEILLE_URL", default_value = DEFAULT_URL)]
        url: String,
    },
    /// Check a config file and say what is wrong with it, if anything.
    CheckConfig {
        /// The file to check [default: as for `run`]
        #[arg(env = "REVEILLE_CONFIG")]
        path: Option<PathBuf>,
    },
}

/// The daemon's API on this machine.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Stop { url } => control(&url, "stop"),
        Command::Snooze { url } => control(&url, "snooze"),
        Command::Run {
            config,
            listen,
            init_from,
            dev_sim_control,
        } => {
            init_logging();
            let options = RunOptions {
                config: config.unwrap_or_else(daemon::default_config_path),
                listen,
                init_from,
                dev_sim_control,
            };
            match run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("fatal: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { path } => {
            let path = path.unwrap_or_else(daemon::default_config_path);
            match store::read_config_file(&path) {
                Ok((_, revision)) => {
                    let revision = revision.map_or("none".into(), |r| r.to_string());
                    println!("{}: valid (revision {revision})", path.display());
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("reveille: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `POST /api/ring/<action>` on the running daemon; prints what happened.
fn control(url: &str, action: &str) -> ExitCode {
    let endpoint = format!("{}/api/ring/{action}", url.trim_end_matches('/'));
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let response = reqwest::Client::new()
                    .post(&endpoint)
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await
                    .map_err(|e| format!("cannot reach the daemon at {url}: {e}"))?;
                if response.status().is_success() {
                    return Ok(());
                }
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                Err(body["error"]["message"]
                    .as_str()
                    .map_or_else(|| format!("the daemon answered {status}"), str::to_owned))
            })
        });
    match result {
        Ok(()) => {
            println!("{action}: done");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("reveille: {action}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: RunOptions) -> anyhow::Result<()> {
    // One thread is plenty for this workload and saves memory on a Pi Zero.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Registered before anything else so a SIGTERM during start-up is not lost.
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
            }
        };
        daemon::run(options, shutdown).await
    })
}

/// Logs to stderr; under systemd (`JOURNAL_STREAM` set) without timestamps, which the journal
/// adds itself. `RUST_LOG` overrides the level (default `info`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}
