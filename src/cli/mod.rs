//! The command line: `reveille run` (the daemon), `reveille check-config` (for people who
//! edit the file by hand), `reveille password` (the owner's password, on the Pi), and the
//! client commands that talk to the running daemon's API: `status`, `alarms`, `ring`, `stop`,
//! `snooze`, `check`, `spotify login|logout|status`. This module parses the arguments and runs
//! the daemon; the client commands live in their own modules and never do the daemon's work
//! themselves (no Spotify request leaves the CLI process: a second process refreshing the
//! single-use refresh token would break the login).
//!
//! Every command ends the same way: what it did on stdout, or one line `reveille: COMMAND:
//! what went wrong` on stderr, and an exit code from [`EXIT_CODES`] (written out once, in
//! [`LONG_HELP`]).

mod alarms;
mod callback;
mod check;
mod client;
mod password;
mod ring;
mod spotify;
mod status;
mod words;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::{self, Application, DEFAULT_LISTEN};
use crate::service;

/// The exit codes, the same for every command (clap answers usage errors with 2).
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 done, 1 failed (refused, or the daemon is not running), 2 usage error; \
         `reveille --help` says more."
    };
}
const EXIT_CODES: &str = exit_codes!();

/// A command's `--help` ending: its examples, then the exit codes.
macro_rules! examples {
    ($($example:literal),+) => {
        concat!("Examples:", $("\n  ", $example,)+ "\n\n", exit_codes!())
    };
}

/// `reveille --help`: the exit codes and the CLI token, in one place.
const LONG_HELP: &str = "\
Exit codes (every command):
  0  done
  1  failed: the daemon refused (nothing is ringing, no such alarm, an invalid value), it is
     not running or cannot be reached, or the command could not do its job
  2  usage error (an unknown option, a missing argument)
  3  `reveille check` only: degraded (the local sound or the buzzer would ring, not Spotify)

Errors are one line on stderr: `reveille: COMMAND: what went wrong`, naming the field or the
alarm when the daemon names one.

The client commands (status, alarms, ring, stop, snooze, check, spotify) talk to the running
daemon at --url (default http://127.0.0.1:8080, or $REVEILLE_URL). When the owner set a
password, they get in with the CLI token the daemon writes beside its config file (cli-token,
readable by root and the reveille user's group, taken only over loopback): run them on the Pi
as root or the reveille user, with --config naming the daemon's config file when it is not
the default. `--json` prints the daemon's answer unchanged, for scripts.

Examples:
  reveille status                   ringing or not, the next alarm, what is wrong
  reveille alarms                   the alarms and when each rings next
  reveille ring \"wake up\"           ring an alarm now (a label in any case, or an id)
  reveille stop
  reveille spotify status           the account, Premium, days left
  reveille check; echo $?           0 ready, 3 degraded, 1 broken
  reveille alarms --json | jq -r '.upcoming[0].at_local'

docs/cli.md describes every command.";

/// `reveille check`: the next alarm would ring the local sound (or the buzzer), not Spotify.
const EXIT_DEGRADED: u8 = 3;

#[derive(Parser)]
#[command(
    version,
    about = "A Spotify alarm clock daemon for the Raspberry Pi",
    after_help = EXIT_CODES,
    after_long_help = LONG_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (as systemd does).
    #[command(after_help = examples!(
        "reveille run --config .dev/config.json --init-from config/reveille.example.json --listen 127.0.0.1:8080"
    ))]
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
    /// What the daemon is doing: ringing or not, the next alarm, readiness, Spotify, hardware.
    ///
    /// A few plain lines from the running daemon: the state (idle, ringing, snoozed), the next
    /// alarm and how long until it rings (by the daemon's clock), the last "will it ring?"
    /// check and its problems, the Spotify account, the hardware, and anything else the
    /// daemon reports as wrong. It runs no check itself: `reveille check` does.
    #[command(after_help = examples!(
        "reveille status",
        "reveille status --json | jq -r .runner.state"
    ))]
    Status {
        /// Print the daemon's answer (GET /api/status) unchanged, and nothing else on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// The alarms: id, time, days or date, label, enabled, and when each rings next.
    #[command(after_help = examples!(
        "reveille alarms",
        "reveille alarms --json | jq -r '.upcoming[0].at_local'"
    ))]
    Alarms {
        /// Print {"alarms": GET /api/alarms, "upcoming": GET /api/alarms/upcoming?count=50},
        /// both answers unchanged.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Ring an alarm now, to test it: by its id or its label (any case).
    ///
    /// It rings as it would at its time (Spotify, fading in; the local sound or the buzzer if
    /// Spotify fails) until `reveille stop`, a snooze, or its maximum ring time. A label that
    /// several alarms share, or none, is refused with the choices.
    #[command(after_help = examples!(
        "reveille ring workdays",
        "reveille ring \"wake up\"    (a label in any case)"
    ))]
    Ring {
        /// The alarm's id or label (`reveille alarms` lists them).
        alarm: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Stop the ringing (or snoozed) alarm, or the sleep timer.
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
    /// Set or remove the password the API asks for (on the Pi, as root or the service user).
    ///
    /// The new password is read from the terminal (twice, without echo), or from the first
    /// line of standard input. It is kept as a hash beside the config file and never travels
    /// over HTTP; the CLI on the Pi keeps working without it (the CLI token).
    #[command(after_help = examples!(
        "sudo reveille password",
        "sudo reveille password --remove"
    ))]
    Password {
        /// The daemon's config file; the password is kept beside it [default: as for `run`]
        #[arg(long, env = "REVEILLE_CONFIG")]
        config: Option<PathBuf>,
        /// Remove the password: the API is open to the home network again.
        #[arg(long)]
        remove: bool,
    },
    /// The Spotify account: link it, unlink it, or see its state.
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
    /// Unlink the account: delete the Spotify tokens from the Pi.
    #[command(visible_alias = "unlink", after_help = EXIT_CODES)]
    Logout,
    /// Whether an account is linked: the account, Premium, days until it must be linked
    /// again, and the redirect URI to register.
    #[command(after_help = examples!(
        "reveille spotify status",
        "reveille spotify status --json | jq .days_left"
    ))]
    Status {
        /// Print the daemon's answer (GET /api/spotify/link) unchanged.
        #[arg(long)]
        json: bool,
    },
}

/// The daemon's API on this machine.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Status { json, daemon } => status::status(&daemon.url, &daemon.config(), json),
        Command::Alarms { json, daemon } => alarms::alarms(&daemon.url, &daemon.config(), json),
        Command::Ring { alarm, daemon } => ring::ring(&daemon.url, &daemon.config(), &alarm),
        Command::Stop { daemon } => ring::stop(&daemon.url, &daemon.config()),
        Command::Snooze { daemon } => ring::snooze(&daemon.url, &daemon.config()),
        Command::Check { json, daemon } => check::check(&daemon.url, &daemon.config(), json),
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
        // `systemctl reload`: re-read the config file (a SIGHUP during start-up waits for it).
        let hangups = signal(SignalKind::hangup())?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
            }
        };
        let app = options.build().await?;
        service::reload_on_hangup(hangups, app.store().clone(), service::Notifier::from_env());
        app.run_until(shutdown).await
    })
}
