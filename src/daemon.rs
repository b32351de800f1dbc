//! Wiring: opens the store, starts the file watcher, the scheduler, the runner with the
//! hardware and its controls, binds the listener and serves until shutdown. Runs in the foreground and returns an error for anything fatal; `main` turns that
//! into a non-zero exit. Nothing here forks or daemonizes: systemd supervises the process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::net::TcpListener;

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::clock::{SharedClock, SystemClock, kernel_clock_synchronized};
use crate::hardware::{GpioHardware, Hardware, open_backend, spawn_controls};
use crate::http;
use crate::player::fallback;
use crate::runner::Runner;
use crate::scheduler::Scheduler;
use crate::store::{self, ConfigStore};

/// Where the daemon keeps its config when systemd gives it no state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/reveille";
/// Listen on all interfaces so phones on the LAN reach the settings page.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// How long the daemon runs on a loaded file before it becomes the last-good backup.
const CONFIRM_RUNNING_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

pub struct RunOptions {
    pub config: PathBuf,
    pub listen: SocketAddr,
    /// Used instead of the built-in defaults when the config file does not exist yet.
    pub init_from: Option<PathBuf>,
    /// Serve `/api/dev/sim/*` (press buttons, turn the knob) when the hardware is simulated.
    pub dev_sim_control: bool,
}

/// `$STATE_DIRECTORY/config.json` under systemd (`StateDirectory=`), else the default.
pub fn default_config_path() -> PathBuf {
    let dir = std::env::var_os("STATE_DIRECTORY")
        // systemd passes a colon-separated list when several are configured; the first is ours.
        .and_then(|dirs| {
            dirs.to_str()
                .and_then(|d| d.split(':').next())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    dir.join("config.json")
}

pub async fn run(
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Before anything opens files: idle clients must not be able to use up what ringing needs.
    if let Err(e) = http::raise_open_files_limit() {
        tracing::warn!("cannot read the open-file limit: {e}");
    }
    // The seed matters only for a first start; a broken seed must not stop later ones.
    let seed = match &options.init_from {
        Some(path) if !options.config.exists() => {
            Some(store::read_config_file(path).map_err(anyhow::Error::msg)?.0)
        }
        _ => None,
    };
    let store = ConfigStore::open(&options.config, seed)?;
    let _watcher = store::watch_file(&store).with_context(|| {
        format!(
            "cannot watch {} for hand edits",
            store.files().dir().display()
        )
    })?;

    // Bounded: a runner that cannot keep up slows the scheduler rather than piling up firings.
    let (firings, ring_requests) = mpsc::channel(8);
    let clock: SharedClock = Arc::new(SystemClock::default());
    let (scheduler, schedule) = Scheduler::new(
        store.clone(),
        clock.clone(),
        firings,
        Box::new(kernel_clock_synchronized),
    )
    .context("cannot load the scheduler state")?;
    let state_dir = store.files().dir().to_owned();
    // Said at start, not first at ring time; `/api/status` shows it as `fallback.error`.
    let sound = fallback::check(&store.snapshot().config.fallback);
    for e in sound.error.iter().chain(&sound.sound_error) {
        tracing::error!("local fallback sound: {e}");
    }
    let hardware_settings = store.snapshot().config.hardware.clone();
    let opened = open_backend(hardware_settings.backend);
    let hardware = GpioHardware::new(opened.backend, hardware_settings, opened.error);
    let (runner, ringer) = Runner::new(
        store.clone(),
        clock,
        hardware.clone(),
        &state_dir,
        ring_requests,
    )
    .with_context(|| format!("cannot prepare the ring files in {}", state_dir.display()))?;
    let scheduler = scheduler.spawn();
    let runner = runner.spawn();
    // An input that cannot be opened is in the status; the daemon runs without it.
    let controls = spawn_controls(hardware.clone(), ringer.clone());
    let sim_control = if options.dev_sim_control {
        if opened.sim.is_none() {
            tracing::warn!("--dev-sim-control ignored: the hardware is not simulated");
        }
        opened.sim
    } else {
        None
    };

    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        config = %options.config.display(),
        revision = store.snapshot().revision,
        "listening"
    );
    // Tells systemd (Type=notify) that the API is up; a no-op outside systemd.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    // Only a file the daemon has run on for a while (the scheduler planned from it, the server
    // answered) may become `.last-good`: one that kills the daemon, at once or in a crash
    // loop, never overwrites the backup.
    let running = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(CONFIRM_RUNNING_AFTER).await;
        running.confirm_running().await;
    });

    // The CLI on the Pi (root, the service's group) reads this token instead of typing the
    // password. Without it the CLI still works when no password is set.
    let access = http::Access::with_new_cli_token(&state_dir).unwrap_or_else(|e| {
        tracing::warn!(dir = %state_dir.display(), "cannot write the CLI token, so the command line needs the password: {e}");
        http::Access::new(&state_dir, None)
    });
    let app = http::router(
        store,
        schedule,
        ringer,
        Some(hardware.clone()),
        sim_control,
        access,
    );
    // Measured now that everything long-lived is open, so the reserve covers only what a
    // ring opens later (docs/robustness.md).
    let limits = http::ConnectionLimits::for_this_process();
    // The scheduler and the runner never end on their own: if one does (a panic), alarms would
    // silently stop, so the daemon exits non-zero and systemd restarts it.
    let (mut scheduler, mut runner) = (scheduler, runner);
    let outcome = tokio::select! {
        served = http::serve_with_limits(listener, app, limits, shutdown) => served.map_err(anyhow::Error::from),
        ended = &mut scheduler => Err(anyhow::anyhow!("the scheduler stopped unexpectedly: {ended:?}")),
        ended = &mut runner => Err(anyhow::anyhow!("the runner stopped unexpectedly: {ended:?}")),
    };
    scheduler.abort();
    runner.abort();
    controls.abort();
    // Amplifier and buzzer off: nothing stays on after the daemon.
    hardware.safe_state();
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    outcome?;
    tracing::info!("stopped");
    Ok(())
}
