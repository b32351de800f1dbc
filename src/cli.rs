//! The command line: `reveille run` (the daemon), `reveille check-config` (for people who
//! edit the file by hand), `reveille password` (the owner's password, on the Pi), and
//! `reveille stop|snooze` and `reveille spotify login|unlink` (talk to the running daemon's
//! API).
//! Errors end in a one-line message and a non-zero exit code.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::{self, Application, DEFAULT_LISTEN};
use crate::auth::{CliToken, PasswordFile};
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
        /// The daemon's config file; its directory holds the token that lets the CLI in when
        /// a password is set [default: as for `run`]
        #[arg(long, env = "REVEILLE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Snooze the ringing alarm (after its maximum snoozes: stop it).
    Snooze {
        /// The running daemon's API.
        #[arg(long, env = "REVEILLE_URL", default_value = DEFAULT_URL)]
        url: String,
        /// As for `stop`.
        #[arg(long, env = "REVEILLE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Set the password the API asks for (read from the terminal, or the first line of
    /// standard input); run it on the Pi as root or the service user.
    Password {
        /// The daemon's config file; the password is kept beside it [default: as for `run`]
        #[arg(long, env = "REVEILLE_CONFIG")]
        config: Option<PathBuf>,
        /// Remove the password: the API is open to the home network again.
        #[arg(long)]
        remove: bool,
    },
    /// Link the Spotify account (prints the link to open, reads back the address the browser
    /// ended on), or unlink it.
    Spotify {
        #[command(subcommand)]
        action: SpotifyAction,
        /// The running daemon's API.
        #[arg(long, env = "REVEILLE_URL", default_value = DEFAULT_URL, global = true)]
        url: String,
        /// As for `stop`.
        #[arg(long, env = "REVEILLE_CONFIG", global = true)]
        config: Option<PathBuf>,
    },
    /// Check a config file and say what is wrong with it, if anything.
    CheckConfig {
        /// The file to check [default: as for `run`]
        #[arg(env = "REVEILLE_CONFIG")]
        path: Option<PathBuf>,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum SpotifyAction {
    /// Print the authorise link, then read the address the browser ended on from stdin.
    Login,
    /// Delete the Spotify tokens from the Pi.
    Unlink,
}

/// The daemon's API on this machine.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Stop { url, config } => control(&url, config, "stop"),
        Command::Snooze { url, config } => control(&url, config, "snooze"),
        Command::Password { config, remove } => password(config, remove),
        Command::Spotify {
            action,
            url,
            config,
        } => spotify(action, &url, config),
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
        Command::CheckConfig { path } => {
            let path = path.unwrap_or_else(app::default_config_path);
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

/// `POST /api/ring/<action>` on the running daemon; prints what happened. Sends the daemon's
/// CLI token when this user can read it, so a password does not stand in the way on the Pi.
fn control(url: &str, config: Option<PathBuf>, action: &str) -> ExitCode {
    let endpoint = format!("{}/api/ring/{action}", url.trim_end_matches('/'));
    let config = config.unwrap_or_else(app::default_config_path);
    let token = config.parent().and_then(CliToken::read);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let mut request = reqwest::Client::new()
                    .post(&endpoint)
                    .timeout(std::time::Duration::from_secs(10));
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let response = request
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

/// One request to the running daemon, with the CLI token when this user can read it; the
/// answer's JSON, or the daemon's error message.
async fn call_daemon(
    url: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", url.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(30));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach the daemon at {url}: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    Err(body["error"]["message"]
        .as_str()
        .map_or_else(|| format!("the daemon answered {status}"), str::to_owned))
}

/// `reveille spotify login|unlink`.
fn spotify(action: SpotifyAction, url: &str, config: Option<PathBuf>) -> ExitCode {
    use reqwest::Method;
    let config = config.unwrap_or_else(app::default_config_path);
    let token = config.parent().and_then(CliToken::read);
    let token = token.as_deref();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                if let SpotifyAction::Unlink = action {
                    let done =
                        call_daemon(url, token, Method::DELETE, "/api/spotify/link", None).await?;
                    return Ok(done["message"].as_str().unwrap_or("unlinked").to_owned());
                }
                let started =
                    call_daemon(url, token, Method::POST, "/api/spotify/link", None).await?;
                for (n, step) in started["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    println!("{}. {}", n + 1, step.as_str().unwrap_or_default());
                }
                println!(
                    "\nRedirect URI: {}",
                    started["redirect_uri"].as_str().unwrap_or_default()
                );
                println!(
                    "\n{}\n",
                    started["authorize_url"].as_str().unwrap_or_default()
                );
                eprint!("Address the browser ended on: ");
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| format!("cannot read standard input: {e}"))?;
                let body = serde_json::json!({ "redirect_url": line.trim() });
                let account = call_daemon(
                    url,
                    token,
                    Method::POST,
                    "/api/spotify/link/complete",
                    Some(body),
                )
                .await?;
                let name = account["display_name"].as_str().unwrap_or("(no name)");
                let product = account["product"].as_str().unwrap_or("unknown plan");
                let mut message = format!("linked: {name} ({product})");
                if let Some(warning) = account["warning"].as_str() {
                    message.push_str(&format!("\nwarning: {warning}"));
                }
                Ok(message)
            })
        });
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("reveille: spotify: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `reveille password`: sets or removes the owner's password.
fn password(config: Option<PathBuf>, remove: bool) -> ExitCode {
    let config = config.unwrap_or_else(app::default_config_path);
    let dir = match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file = PasswordFile::new(&dir);
    let result = if remove {
        file.remove()
            .map(|removed| {
                if removed {
                    "password removed: the API is open to the home network".to_owned()
                } else {
                    "no password was set".to_owned()
                }
            })
            .map_err(|e| format!("cannot remove {}: {e}", file.path().display()))
    } else {
        read_new_password().and_then(|password| {
            file.set(&password)
                .map(|()| {
                    format!(
                        "password set ({}); phones log in on the page",
                        file.path().display()
                    )
                })
                .map_err(|e| e.to_string())
        })
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("reveille: password: {message}");
            ExitCode::FAILURE
        }
    }
}

/// From a terminal: asked twice without echo. Otherwise the first line of standard input.
fn read_new_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdin.lock(), &mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt_hidden("New password: ")?;
    let second = prompt_hidden("Again: ")?;
    if first != second {
        return Err("the two passwords differ; nothing changed".into());
    }
    Ok(first)
}

fn prompt_hidden(prompt: &str) -> Result<String, String> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    // SAFETY: termios is plain data, filled by tcgetattr before use; fd is stdin, a terminal.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err("cannot read the terminal's settings".into());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: as above; the saved settings are restored below on every path.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    eprintln!();
    read.map_err(|e| format!("cannot read the terminal: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
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
