//! The matrix's rig: the runner in process, in tokio's paused time, with the real Spotify
//! client (`WebSpeakers`: rspotify, the start sequence, the token refresh) pointed at the
//! in-process mock, and a local sound that only counts itself (its process is tested by
//! `faults.rs` and `missing_parts.rs`). An observer samples what sounds every virtual
//! millisecond: the mock's receiver playing while it is the active, listed device, and live
//! local sounds.
//!
//! Paused time and real sockets: when no task is ready, tokio moves its clock to the next
//! timer, even while an answer waits on a loopback socket it has not polled yet. The
//! observer's 1 ms tick is always the next timer, so such a hop costs at most 1 ms of virtual
//! time, and the figures are virtual milliseconds with that resolution.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use reveille::clock::Clock;
use reveille::config::{Alarm, Config};
use reveille::hardware::NoHardware;
use reveille::player::TokenFile;
use reveille::runner::speakers::{Sounding, Speakers, Spotify, WebSpeakers};
use reveille::runner::{Runner, RunnerHandle, RunnerState, RunnerStatus};
use reveille::scheduler::{Firing, Receipt};
use reveille::store::ConfigStore;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ring::{PLAYLIST, base_config, write_token};
use crate::spotify_mock::{MockDevice, SpotifyMock};
use crate::tokio_clock::TokioClock;

/// The config's start deadline (`spotify.start_deadline_seconds`).
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The config's `spotify.playback_check_seconds`.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What sounds at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    pub spotify: bool,
    pub local: bool,
}

impl Heard {
    pub fn anything(self) -> bool {
        self.spotify || self.local
    }
}

/// The local sound, in memory: started, and how many play now.
#[derive(Default)]
pub struct LocalSounds {
    live: AtomicUsize,
    started: Mutex<Vec<Instant>>,
}

impl LocalSounds {
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Starts so far.
    pub fn started(&self) -> usize {
        self.started.lock().unwrap().len()
    }

    /// Starts at or after `since`.
    pub fn started_since(&self, since: Instant) -> usize {
        let started = self.started.lock().unwrap();
        started.iter().filter(|at| **at >= since).count()
    }
}

/// Counts itself out when the runner drops the sound; keeps the failure sender, so this sound
/// never reports a failure.
struct Playing(
    Arc<LocalSounds>,
    #[allow(dead_code)] oneshot::Sender<String>,
);

impl Drop for Playing {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Spotify as the daemon plays it; the local sound counted.
struct MatrixSpeakers {
    web: WebSpeakers,
    sounds: Arc<LocalSounds>,
}

impl Speakers for MatrixSpeakers {
    fn spotify(
        &self,
        settings: &reveille::config::SpotifySettings,
    ) -> Result<Arc<dyn Spotify>, reveille::player::SpotifyError> {
        self.web.spotify(settings)
    }

    fn local_sound(&self, _settings: &reveille::config::FallbackSettings) -> Sounding {
        self.sounds.started.lock().unwrap().push(Instant::now());
        self.sounds.live.fetch_add(1, Ordering::SeqCst);
        let (report, failed) = oneshot::channel();
        Sounding::new(failed, Playing(self.sounds.clone(), report))
    }
}

pub struct Rig {
    pub mock: Arc<SpotifyMock>,
    pub store: ConfigStore,
    pub runner: RunnerHandle,
    pub status: watch::Receiver<RunnerStatus>,
    firings: mpsc::Sender<Firing>,
    pub sounds: Arc<LocalSounds>,
    pub clock: Arc<TokioClock>,
    /// Changes of what sounds, with when they were seen.
    heard: Arc<Mutex<Vec<(Instant, Heard)>>>,
    observer: JoinHandle<()>,
    _dir: TempDir,
}

impl Rig {
    /// The ring rig's config (receiver "Bedroom" as `dev-1`, a 6 s fade, one snooze of a
    /// minute) with both Spotify addresses on the mock.
    pub async fn start() -> Rig {
        let mock = Arc::new(SpotifyMock::start().await);
        mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path());
        config["spotify"]["api_base_url"] = mock.api_url().into();
        config["spotify"]["accounts_base_url"] = mock.accounts_url().into();
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        // The token's expiry is read against the real clock: the wall clock starts at it.
        write_token(dir.path(), &mock);
        let store = ConfigStore::open(&path, None).unwrap();
        let clock = TokioClock::new(Utc::now());
        let (firings, firings_rx) = mpsc::channel(4);
        let (runner, handle) = Runner::new(
            store.clone(),
            clock.clone(),
            Arc::new(NoHardware),
            dir.path(),
            firings_rx,
        )
        .unwrap();
        let sounds = Arc::new(LocalSounds::default());
        let speakers = MatrixSpeakers {
            web: WebSpeakers {
                tokens: TokenFile::new(dir.path()).unwrap(),
            },
            sounds: sounds.clone(),
        };
        runner.with_speakers(Arc::new(speakers)).spawn();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let observed = (handle.subscribe(), clock.clone());
        let observer = tokio::spawn(observe(
            mock.clone(),
            sounds.clone(),
            heard.clone(),
            observed.0,
            observed.1,
        ));
        Rig {
            status: handle.subscribe(),
            runner: handle,
            mock,
            store,
            firings,
            sounds,
            clock,
            heard,
            observer,
            _dir: dir,
        }
    }

    /// The alarm fires, as the scheduler hands it over.
    pub async fn fire(&self) {
        let snapshot = self.store.snapshot();
        let alarm: Alarm = snapshot.config.alarms[0].clone();
        let now = self.clock.now();
        let firing = Firing {
            alarm,
            date: now.date_naive(),
            occurrence: now,
            emitted_at: now,
            receipt: Receipt::unwanted(),
        };
        self.firings.send(firing).await.unwrap();
    }

    /// Waits (in paused time) until the status satisfies `accept`; panics naming `what`
    /// after three virtual minutes.
    pub async fn until(
        &mut self,
        what: &str,
        accept: impl Fn(&RunnerStatus) -> bool,
    ) -> RunnerStatus {
        let wait = tokio::time::timeout(Duration::from_secs(180), self.status.wait_for(accept));
        let found = match wait.await {
            Ok(Ok(status)) => Some(status.clone()),
            Ok(Err(_)) => panic!("the runner is gone"),
            Err(_) => None,
        };
        found.unwrap_or_else(|| panic!("{what}: never; last status {:?}", self.status.borrow()))
    }

    pub async fn until_idle(&mut self) -> RunnerStatus {
        self.until("idle", |s| s.state == RunnerState::Idle).await
    }

    /// What sounds now (as last sampled).
    pub fn heard_now(&self) -> Heard {
        self.heard
            .lock()
            .unwrap()
            .last()
            .map(|h| h.1)
            .unwrap_or_default()
    }

    /// The first instant at or after `since` at which something sounded, and what.
    pub fn first_heard_since(&self, since: Instant) -> Option<(Instant, Heard)> {
        let heard = self.heard.lock().unwrap();
        heard
            .iter()
            .find(|(at, h)| *at >= since && h.anything())
            .copied()
    }

    /// Everything heard at or after `since`, in order.
    pub fn heard_since(&self, since: Instant) -> Vec<(Instant, Heard)> {
        let heard = self.heard.lock().unwrap();
        heard
            .iter()
            .filter(|(at, _)| *at >= since)
            .copied()
            .collect()
    }

    /// Changes the config as the owner would (a hand edit, through the store).
    pub async fn change_config(&self, change: impl FnOnce(&mut Config) + Send + 'static) {
        let changed = self.store.transaction(None, move |config| {
            change(config);
            Ok(())
        });
        changed.await.unwrap();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.observer.abort();
    }
}

/// Samples what sounds and logs each change: every virtual millisecond while the runner plays
/// or starts something. Snoozed, nothing talks to Spotify: every second up to the snooze's
/// end. Idle, every 20 ms: a request that should not be there (a start task left behind)
/// would still sound, only seen up to 20 ms later. A change of phase wakes it at once.
async fn observe(
    mock: Arc<SpotifyMock>,
    sounds: Arc<LocalSounds>,
    heard: Arc<Mutex<Vec<(Instant, Heard)>>>,
    mut status: watch::Receiver<RunnerStatus>,
    clock: Arc<TokioClock>,
) {
    let mut last = None;
    loop {
        let player = mock.player();
        let listed = |id: &String| mock.devices().iter().any(|d| &d.id == id);
        let now = Heard {
            spotify: player.is_playing && player.device_id.as_ref().is_some_and(listed),
            local: sounds.live() > 0,
        };
        if last != Some(now) {
            heard.lock().unwrap().push((Instant::now(), now));
            last = Some(now);
        }
        let tick = Instant::now() + Duration::from_millis(1);
        let next = match status.borrow_and_update().state {
            RunnerState::Idle => tick + Duration::from_millis(19),
            RunnerState::Snoozed { until, .. } => clock
                .instant_at(until)
                .min(tick + Duration::from_secs(1))
                .max(tick),
            _ => tick,
        };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = status.changed() => {}
        }
    }
}

/// A sleep timer of half an hour at 30 %, playing the rig's playlist.
pub fn sleep_timer_request() -> reveille::runner::SleepTimerRequest {
    serde_json::from_value(json!({
        "source": PLAYLIST, "volume_percent": 30, "duration_minutes": 30, "fade_out_minutes": 5,
    }))
    .unwrap()
}
