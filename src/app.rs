//! The composition root: [`Application`] builds the whole daemon from its options (config
//! path, listen address or listener, clock, hardware, clock-sync probe) and is used by
//! `reveille run` and by the tests alike, so tests never copy the wiring.
//!
//! [`ApplicationBuilder::build`] opens the store, starts the file watcher, prepares the
//! scheduler and the runner and binds the listener, so the real address is known
//! ([`Application::local_addr`]) before anything is served; [`Application::run_until`] starts
//! the tasks, tells systemd it is ready (`service`: the address in the status line, the
//! watchdog), serves until the shutdown future completes, has the runner release what sounds,
//! and leaves the hardware in its safe state. It runs in the
//! foreground and never forks; anything fatal is an error the caller turns into a non-zero
//! exit. Process-wide setup (runtime, logging, signals) belongs to `cli`, not here.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::clock::{SharedClock, SystemClock, kernel_clock_synchronized};
use crate::config::HardwareBackend;
use crate::hardware::{
    GpioHardware, Hardware, LiveSettings, NoHardware, SimBackend, open_backend, spawn_controls,
};
use crate::http;
use crate::player::fallback;
use crate::readiness::{AutoCheck, LastCheck};
use crate::runner::{Runner, RunnerHandle};
use crate::scheduler::{Firing, Scheduler, SchedulerHandle};
use crate::service::{Notifier, Service};
use crate::store::{self, ConfigStore, FileWatcher};

/// Where the daemon keeps its config when systemd gives it no state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/reveille";
/// Listen on all interfaces so phones on the LAN reach the settings page.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// How long the daemon runs on a loaded file before it becomes the last-good backup.
const CONFIRM_RUNNING_AFTER: Duration = Duration::from_secs(60);
/// How long the stopped runner may take to write its last records.
const RECORDS_TIMEOUT: Duration = Duration::from_secs(2);

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

/// Where to serve: an address to bind, or a listener someone already bound (a test that
/// needs the port first, or later systemd socket activation).
pub enum Listen {
    Addr(SocketAddr),
    Std(std::net::TcpListener),
    Tokio(TcpListener),
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::Addr(addr)
    }
}

impl From<std::net::TcpListener> for Listen {
    fn from(listener: std::net::TcpListener) -> Self {
        Listen::Std(listener)
    }
}

impl From<TcpListener> for Listen {
    fn from(listener: TcpListener) -> Self {
        Listen::Tokio(listener)
    }
}

/// Which GPIO backend the runner drives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HardwareChoice {
    /// What `hardware.backend` in the config says (`auto`: rppal on a Pi, else simulated).
    #[default]
    Configured,
    /// The simulator, whatever the config says.
    Simulated,
    /// No devices at all and no input task (tests of other parts); `/api/status` has no
    /// hardware section.
    None,
}

type ClockSyncProbe = Box<dyn Fn() -> Option<bool> + Send + Sync>;

/// The options of one daemon. Defaults are production's except the listen address, which is
/// loopback on a free port so a forgotten option never opens the API to the network.
pub struct ApplicationBuilder {
    config: PathBuf,
    listen: Listen,
    init_from: Option<PathBuf>,
    dev_sim_control: bool,
    clock: SharedClock,
    hardware: HardwareChoice,
    clock_synchronized: ClockSyncProbe,
    cli_token: bool,
    firings_to_caller: bool,
    event_streams: http::EventStreamLimits,
    header_timeout: Option<Duration>,
}

impl ApplicationBuilder {
    /// `reveille run --listen`; default `127.0.0.1:0`.
    pub fn listen(mut self, on: impl Into<Listen>) -> Self {
        self.listen = on.into();
        self
    }

    /// Used instead of the built-in defaults when the config file does not exist yet.
    pub fn init_from(mut self, seed: Option<PathBuf>) -> Self {
        self.init_from = seed;
        self
    }

    /// Serve `/api/dev/sim/*` (press buttons, turn the knob) when the hardware is simulated.
    pub fn dev_sim_control(mut self, on: bool) -> Self {
        self.dev_sim_control = on;
        self
    }

    /// Every calendar-time read of the scheduler, the runner and the API; default the system's.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn hardware(mut self, choice: HardwareChoice) -> Self {
        self.hardware = choice;
        self
    }

    /// Whether the system clock is synchronized (NTP), for the scheduler's status; default
    /// the kernel's answer.
    pub fn clock_synchronized(
        mut self,
        probe: impl Fn() -> Option<bool> + Send + Sync + 'static,
    ) -> Self {
        self.clock_synchronized = Box::new(probe);
        self
    }

    /// Write the CLI token beside the config (default on) so `reveille stop` works without the
    /// password; off, the token file is left alone.
    pub fn cli_token(mut self, on: bool) -> Self {
        self.cli_token = on;
        self
    }

    /// How many live event streams the page may open, and how they are kept alive; default
    /// 16, a keep-alive every 25 s, a client that reads nothing for 30 s dropped.
    pub fn event_streams(mut self, limits: http::EventStreamLimits) -> Self {
        self.event_streams = limits;
        self
    }

    /// The HTTP header (and idle) timeout; default 10 s (`http::ConnectionLimits`).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = Some(timeout);
        self
    }

    /// For tests: the scheduler's firings go to [`Application::take_firings`] instead of the
    /// runner, so a test sees what would ring without anything ringing. Never in the daemon.
    pub fn firings_to_caller(mut self) -> Self {
        self.firings_to_caller = true;
        self
    }

    /// Opens everything and binds. Fails on a config that cannot be loaded, unwritable state
    /// files, or an address in use.
    pub async fn build(self) -> anyhow::Result<Application> {
        // Before anything opens files: idle clients must not be able to use up what ringing needs.
        if let Err(e) = http::raise_open_files_limit() {
            tracing::warn!("cannot read the open-file limit: {e}");
        }
        // The seed matters only for a first start; a broken seed must not stop later ones.
        let seed = match &self.init_from {
            Some(path) if !self.config.exists() => {
                Some(store::read_config_file(path).map_err(anyhow::Error::msg)?.0)
            }
            _ => None,
        };
        let store = ConfigStore::open(&self.config, seed)?;
        let watcher = store::watch_file(&store).with_context(|| {
            format!(
                "cannot watch {} for hand edits",
                store.files().dir().display()
            )
        })?;

        // Bounded: a runner that cannot keep up slows the scheduler rather than piling up firings.
        let (firings, scheduled) = mpsc::channel(8);
        let (scheduler, schedule) = Scheduler::new(
            store.clone(),
            self.clock.clone(),
            firings,
            self.clock_synchronized,
        )
        .context("cannot load the scheduler state")?;
        // In the tests' mode the runner gets a channel of its own that nobody sends on; the
        // sender is kept so the runner does not take a closed input for the end.
        let (ring_requests, tap, idle_firings) = if self.firings_to_caller {
            let (idle, ring_requests) = mpsc::channel(1);
            (ring_requests, Some(receipts_given(scheduled)), Some(idle))
        } else {
            (scheduled, None, None)
        };
        let state_dir = store.files().dir().to_owned();
        // Said at start, not first at ring time; `/api/status` shows it as `fallback.error`.
        let sound = fallback::check(&store.snapshot().config.fallback);
        for e in sound.error.iter().chain(&sound.sound_error) {
            tracing::error!("local fallback sound: {e}");
        }
        let (devices, sim) = open_devices(self.hardware, &store);
        let runner_hardware: Arc<dyn Hardware> = match &devices {
            Some(devices) => devices.clone(),
            None => Arc::new(NoHardware),
        };
        let (runner, ringer) = Runner::new(
            store.clone(),
            self.clock,
            runner_hardware,
            &state_dir,
            ring_requests,
        )
        .with_context(|| format!("cannot prepare the ring files in {}", state_dir.display()))?;
        let sim_control = match (self.dev_sim_control, sim) {
            (false, _) => None,
            (true, None) => {
                tracing::warn!("--dev-sim-control ignored: the hardware is not simulated");
                None
            }
            (true, sim) => sim,
        };

        let listener = bind(self.listen).await?;
        let addr = listener.local_addr()?;
        // The CLI on the Pi (root, the service's group) reads this token instead of typing the
        // password. Without it the CLI still works when no password is set.
        let access = if self.cli_token {
            http::Access::with_new_cli_token(&state_dir).unwrap_or_else(|e| {
                tracing::warn!(dir = %state_dir.display(), "cannot write the CLI token, so the command line needs the password: {e}");
                http::Access::new(&state_dir, None)
            })
        } else {
            http::Access::new(&state_dir, None)
        };
        Ok(Application {
            event_streams: self.event_streams,
            header_timeout: self.header_timeout,
            config: self.config,
            addr,
            listener,
            store,
            schedule,
            scheduler,
            runner,
            ringer,
            devices,
            sim_control,
            access,
            tap,
            idle_firings,
            _watcher: watcher,
        })
    }
}

/// The hardware the runner drives and, when it is the simulator, the simulator itself.
fn open_devices(
    choice: HardwareChoice,
    store: &ConfigStore,
) -> (Option<Arc<GpioHardware>>, Option<Arc<SimBackend>>) {
    let settings = store.snapshot().config.hardware.clone();
    let kind = match choice {
        HardwareChoice::None => return (None, None),
        HardwareChoice::Configured => settings.backend,
        HardwareChoice::Simulated => HardwareBackend::Sim,
    };
    let opened = open_backend(kind);
    let devices = GpioHardware::new(opened.backend, settings, opened.error);
    (Some(devices), opened.sim)
}

/// The tests' tap on the firings: nothing is journaled, so each receipt is given on the way.
fn receipts_given(mut scheduled: mpsc::Receiver<Firing>) -> mpsc::Receiver<Firing> {
    let (tap, firings) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(mut firing) = scheduled.recv().await {
            firing.take_receipt().give();
            if tap.send(firing).await.is_err() {
                break;
            }
        }
    });
    firings
}

async fn bind(on: Listen) -> anyhow::Result<TcpListener> {
    match on {
        Listen::Addr(addr) => {
            http::listen(addr).with_context(|| format!("cannot listen on {addr}"))
        }
        Listen::Std(listener) => {
            // tokio needs it non-blocking; a std listener is blocking unless told otherwise.
            listener.set_nonblocking(true)?;
            Ok(TcpListener::from_std(listener)?)
        }
        Listen::Tokio(listener) => Ok(listener),
    }
}

/// A built daemon: store open, hand edits watched, listener bound, nothing served yet.
/// Dropping it without [`run_until`](Self::run_until) stops everything it opened.
pub struct Application {
    config: PathBuf,
    addr: SocketAddr,
    listener: TcpListener,
    store: ConfigStore,
    schedule: SchedulerHandle,
    scheduler: Scheduler,
    runner: Runner,
    ringer: RunnerHandle,
    devices: Option<Arc<GpioHardware>>,
    sim_control: Option<Arc<SimBackend>>,
    access: http::Access,
    /// The scheduler's firings, when the caller asked for them (tests).
    tap: Option<mpsc::Receiver<Firing>>,
    /// Keeps the runner's unused firing input open in that mode.
    idle_firings: Option<mpsc::Sender<Firing>>,
    event_streams: http::EventStreamLimits,
    header_timeout: Option<Duration>,
    _watcher: FileWatcher,
}

impl Application {
    /// Options for a daemon on the config file at `config`.
    pub fn builder(config: impl Into<PathBuf>) -> ApplicationBuilder {
        ApplicationBuilder {
            config: config.into(),
            listen: Listen::Addr(SocketAddr::from(([127, 0, 0, 1], 0))),
            init_from: None,
            dev_sim_control: false,
            clock: Arc::new(SystemClock::default()),
            hardware: HardwareChoice::Configured,
            clock_synchronized: Box::new(kernel_clock_synchronized),
            cli_token: true,
            firings_to_caller: false,
            event_streams: http::EventStreamLimits::default(),
            header_timeout: None,
        }
    }

    /// The address actually bound (the real port when asked for port 0). Connections made
    /// now wait in the backlog until [`run_until`](Self::run_until) serves them.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store the daemon runs on (tests read and write it directly).
    pub fn store(&self) -> &ConfigStore {
        &self.store
    }

    /// The scheduler's firings, once, after [`ApplicationBuilder::firings_to_caller`].
    pub fn take_firings(&mut self) -> Option<mpsc::Receiver<Firing>> {
        self.tap.take()
    }

    /// Starts the scheduler, the runner, the automatic readiness check and the input task,
    /// tells systemd the daemon is ready, and serves until `shutdown` completes. Then the
    /// runner releases what sounds (Spotify paused, within `service::RELEASE_TIMEOUT`), the
    /// HTTP server drains, and the outputs go to their safe state. A scheduler or runner that
    /// ends (a panic) ends the daemon with an error: alarms would silently stop otherwise, and
    /// systemd restarts a process that exits non-zero. The readiness check is advisory: its
    /// end is logged.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            config,
            addr,
            listener,
            store,
            schedule,
            scheduler,
            runner,
            ringer,
            devices,
            sim_control,
            access,
            // Kept, not dropped: a closed channel would look like an end to either task.
            tap: _tap,
            idle_firings,
            event_streams,
            header_timeout,
            _watcher,
        } = self;
        let mut scheduler = scheduler.spawn();
        // An input that cannot be opened is in the status; the daemon runs without it.
        // Inputs emit decoded events to the runner, which decides what they mean; the
        // decoding settings are read live from the config.
        let inputs = runner.hardware_events();
        let live = store.clone();
        let live: LiveSettings = Arc::new(move || live.snapshot().config.hardware.clone());
        let controls = devices
            .as_ref()
            .map(|devices| spawn_controls(devices.clone(), live, inputs));
        let mut runner = runner.spawn();
        // "Will it ring?" by itself, after alarm changes and before each firing. Advisory: if
        // it ever ends, the log says so and alarms ring as before (no restart loop over it).
        let readiness = Arc::new(LastCheck::default());
        let auto_check = AutoCheck::new(
            store.clone(),
            schedule.clone(),
            ringer.clone(),
            devices.as_ref().map(GpioHardware::view),
            readiness.clone(),
        )
        .spawn();
        let stop_auto_check = auto_check.abort_handle();
        let auto_check = tokio::spawn(async move {
            if let Err(e) = auto_check.await
                && e.is_panic()
            {
                tracing::error!(
                    "the automatic readiness check stopped: {e}; alarms still ring, but are no longer checked before they do"
                );
            }
        });
        tracing::info!(
            %addr,
            config = %config.display(),
            revision = store.snapshot().revision,
            "listening"
        );
        // Type=notify: the config is loaded and the API accepts connections from here on.
        let service = Service::start(Notifier::from_env(), addr, &schedule, &ringer);
        let shutdown = service.stop_after(shutdown);
        // Only a file the daemon has run on for a while (the scheduler planned from it, the
        // server answered) may become `.last-good`: one that kills the daemon, at once or in a
        // crash loop, never overwrites the backup.
        let running = store.clone();
        let confirm = tokio::spawn(async move {
            tokio::time::sleep(CONFIRM_RUNNING_AFTER).await;
            running.confirm_running().await;
        });

        let app = http::router(
            store,
            schedule,
            ringer,
            devices.as_ref().map(GpioHardware::view),
            sim_control,
            access,
            readiness,
            event_streams,
        );
        // The start's temporary allocations are over (the router's OpenAPI description was
        // the largest): give the freed heap back (src/memory.rs).
        crate::memory::release_freed();
        // Measured now that everything long-lived is open, so the reserve covers only what a
        // ring opens later (docs/robustness.md).
        let mut limits = http::ConnectionLimits::for_this_process();
        if let Some(timeout) = header_timeout {
            limits.header_timeout = timeout;
        }
        let outcome = tokio::select! {
            served = http::serve_with_limits(listener, app, limits, shutdown) => served.map_err(anyhow::Error::from),
            ended = &mut scheduler => Err(anyhow::anyhow!("the scheduler stopped unexpectedly: {ended:?}")),
            ended = &mut runner => Err(anyhow::anyhow!("the runner stopped unexpectedly: {ended:?}")),
        };
        drop(service);
        scheduler.abort();
        stop_auto_check.abort();
        auto_check.abort();
        // With its firing input closed the runner ends by itself, once its last records (a
        // firing during the stop is journaled) are on disk.
        drop(idle_firings);
        if !runner.is_finished()
            && tokio::time::timeout(RECORDS_TIMEOUT, &mut runner)
                .await
                .is_err()
        {
            runner.abort();
        }
        confirm.abort();
        if let Some(controls) = controls {
            controls.abort();
        }
        // Amplifier and buzzer off: nothing stays on after the daemon.
        if let Some(devices) = &devices {
            devices.safe_state();
        }
        outcome?;
        tracing::info!("stopped");
        Ok(())
    }
}
