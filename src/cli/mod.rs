//! The command line: `reveille run` (the daemon), `reveille check-config` (for people who
//! edit the file by hand), `reveille password` (the owner's password, on the Pi), and the
//! commands that talk to the running daemon's API: `reveille check`, `reveille stop|snooze`,
//! `reveille spotify login|unlink`. This module parses the arguments and runs the daemon; the
//! client commands live in their own modules and never do the daemon's work themselves (no
//! Spotify request leaves the CLI process: a second process refreshing the single-use refresh
//! token would break the login).
//!
//! Every command ends the same way: what it did on stdout, or one line `reveille: COMMAND:
//! what went wrong` on stderr, and an exit code from [`EXIT_CODES`].

mod callback;
mod check;
mod client;
mod password;
mod spotify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::{self, Application, DEFAULT_LISTEN};

/// The exit codes, the same for every command (clap answers usage errors with 2).
const EXIT_CODES: &str = "Exit codes: 0 done, 1 failed, 2 usage error.";

/// `reveille check`: the next alarm would ring the local sound (or the buzzer), not Spotify.
const EXIT_DEGRADED: u8 = 3;

#[derive(Parser)]
#[command(
    version,
    about = "A Spotify alarm clock daemon for the Raspberry Pi",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (as systemd does).
    #[command(after_help = EXIT_CODES)]
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
    /// Will the next alarm ring? Ready, degraded or broken, and why.
    ///
    /// Checks the config file, then asks the running daemon for a fresh check (Spotify login
    /// and receiver, clock, local sound, buzzer) and prints the state and one line per
    /// problem. A daemon that is not running is broken: no alarm will ring.
    #[command(after_help = check::EXIT_CODES)]
    Check {
        /// Print the daemon's answer (JSON) unchanged, and nothing else on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Stop the ringing alarm.
    #[command(after_help = EXIT_CODES)]
    Stop {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Snooze the ringing alarm (after its maximum snoozes: stop it).
    #[command(after_help = EXIT_CODES)]
    Snooze {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Set the password the API asks for (read from the terminal, or the first line of
    /// standard input); run it on the Pi as root or the service user.
    #[command(after_help = EXIT_CODES)]
    Password {
        /// The daemon's config file; the password is kept beside it [default: as for `run`]
        #[arg(long, env = "REVEILLE_CONFIG")]
        config: Option<PathBuf>,
        /// Remove the password: the API is open to the home network again.
        #[arg(long)]
        remove: bool,
    },
    /// Link the Spotify account, or unlink it.
    #[command(after_help = EXIT_CODES)]
    Spotify {
        #[command(subcommand)]
        action: SpotifyAction,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Check a config file and say what is wrong with it, if anything.
    #[command(after_help = EXIT_CODES)]
    CheckConfig {
        /// The file to check [default: as for `run`]
        #[arg(env = "REVEILLE_CONFIG")]
        path: Option<PathBuf>,
    },
}

/// Where the running daemon is, for the commands that talk to it.
#[derive(clap::Args)]
struct DaemonArgs {
    /// The running daemon's API.
    #[arg(long, env = "REVEILLE_URL", default_value = DEFAULT_URL, global = true)]
    url: String,
    /// The daemon's config file; its directory holds the token that lets the CLI in when a
    /// password is set [default: as for `run`]
    #[arg(long, env = "REVEILLE_CONFIG", global = true)]
    config: Option<PathBuf>,
}

impl DaemonArgs {
    fn config(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(app::default_config_path)
    }
}

#[derive(Subcommand, Clone, Copy)]
enum SpotifyAction {
    /// Link the Spotify account: prints the link to open, then completes the login.
    ///
    /// The browser's return is caught on the loopback redirect address when the browser runs
    /// on the Pi or comes through an SSH tunnel (`ssh -L 8888:127.0.0.1:8888 pi@raspberrypi.local`);
    /// otherwise paste the address the browser ended on. If the port is taken, say so and
    /// take the pasted address only.
    #[command(after_help = EXIT_CODES)]
    Login,
    /// Delete the Spotify tokens from the Pi.
    #[command(after_help = EXIT_CODES)]
    Unlink,
}

/// The daemon's API on this machine.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { json, daemon } => check::check(&daemon.url, &daemon.config(), json),
        Command::Stop { daemon } => client::control(&daemon.url, &daemon.config(), "stop"),
        Command::Snooze { daemon } => client::control(&daemon.url, &daemon.config(), "snooze"),
        Command::Password { config, remove } => password::password(config, remove),
        Command::Spotify { action, daemon } => {
            spotify::spotify(action, &daemon.url, &daemon.config())
        }
        Command::CheckConfig { path } => {
            check::check_config(&path.unwrap_or_else(app::default_config_path))
        }
        Command::Run {
            config,
            listen,
            init_from,
            dev_sim_control,
        } => {
            crate::logging::init();
            let options = Application::builder(config.unwrap_or_else(app::default_config_path))
                .listen(listen)
                .init_from(init_from)
                .dev_sim_control(dev_sim_control);
            match run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("fatal: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The one way a command fails: one line on stderr, exit code 1.
fn fail(command: &str, message: &str) -> ExitCode {
    // A message is one line even when a cause it quotes is not.
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("reveille: {command}: {message}");
    ExitCode::FAILURE
}

/// Prints what a command did, or fails with its message.
fn finish(command: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(command, &message),
    }
}

fn run(options: app::ApplicationBuilder) -> anyhow::Result<()> {
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
        options.build().await?.run_until(shutdown).await
    })
}
