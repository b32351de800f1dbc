//! The runner in process and in tokio's paused time: the state machine with a fake behind
//! [`Speakers`] (no socket, so the paused clock only moves when every task waits on a timer),
//! a clock whose wall time follows tokio's, and no hardware. A one-minute snooze takes
//! milliseconds. Waiting is on the published status (`watch`), never on a sleep.

mod amplifier;
mod episodes;
mod inputs;
mod receipts;
mod shutdown;
mod table;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::speakers::{BoxFuture, Sounding, Speakers, Spotify};
use super::{HistoryEntry, Runner, RunnerHandle, RunnerState, RunnerStatus};
use crate::clock::{Clock, SleepFuture};
use crate::config::{Alarm, FallbackSettings, SpotifySettings};
use crate::hardware::{Hardware, HardwareEvent, NoHardware};
use crate::player::start::{PlayPlan, SharedReport};
use crate::player::{Device, Playback, SpotifyError};
use crate::scheduler::{Firing, Receipt};
use crate::store::ConfigStore;

pub const START: &str = "2026-11-24T06:00:00Z";
pub const DEVICE: &str = "dev-1";

/// Wall time that moves with tokio's (paused) clock.
pub struct TokioClock {
    start: DateTime<Utc>,
    base: Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.base.elapsed()).unwrap_or_default()
    }

    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_> {
        let left = (until - self.now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(left))
    }
}

/// How the fake receiver answers the start sequence.
#[derive(Clone, Debug)]
pub enum Start {
    Plays,
    Fails(SpotifyError),
    /// Sends the play, then never answers.
    Hangs,
    /// Keeps failing with this error and trying again, never sending a play.
    Retrying(SpotifyError),
}

/// One call the runner made, with the (paused) time since the rig started.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Start { percent: u32 },
    Volume(u32),
    Pause,
    LocalSound,
}

#[derive(Debug)]
struct FakeState {
    start: Start,
    playing: bool,
    /// The local sound reports this failure at once.
    sound_fails: Option<String>,
    calls: Vec<(Duration, Call)>,
    sounds_playing: usize,
}

/// Spotify and the local sound, in memory.
#[derive(Clone, Debug)]
pub struct Fake {
    state: Arc<Mutex<FakeState>>,
    base: Instant,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            state: Arc::new(Mutex::new(FakeState {
                start: Start::Plays,
                playing: false,
                sound_fails: None,
                calls: Vec::new(),
                sounds_playing: 0,
            })),
            base: Instant::now(),
        }
    }

    fn log(&self, call: Call) {
        self.state
            .lock()
            .unwrap()
            .calls
            .push((self.base.elapsed(), call));
    }

    pub fn set_start(&self, start: Start) {
        self.state.lock().unwrap().start = start;
    }

    pub fn fail_sound(&self, reason: &str) {
        self.state.lock().unwrap().sound_fails = Some(reason.into());
    }

    /// The receiver stops by itself (someone paused it on the phone).
    pub fn stop_playing(&self) {
        self.state.lock().unwrap().playing = false;
    }

    pub fn playing(&self) -> bool {
        self.state.lock().unwrap().playing
    }

    pub fn sounds_playing(&self) -> usize {
        self.state.lock().unwrap().sounds_playing
    }

    pub fn calls(&self) -> Vec<(Duration, Call)> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn volumes(&self) -> Vec<(Duration, u32)> {
        let calls = self.calls().into_iter();
        calls
            .filter_map(|(at, c)| match c {
                Call::Volume(v) => Some((at, v)),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, call: &Call) -> usize {
        self.calls().iter().filter(|(_, c)| c == call).count()
    }
}

impl Spotify for Fake {
    fn start(
        &self,
        plan: PlayPlan,
        report: SharedReport,
        _deadline: Instant,
    ) -> BoxFuture<Result<String, SpotifyError>> {
        let fake = self.clone();
        Box::pin(async move {
            fake.log(Call::Start {
                percent: plan.start_percent,
            });
            let start = fake.state.lock().unwrap().start.clone();
            match start {
                Start::Plays => {
                    report.lock().unwrap().play_sent_to = BTreeSet::from([DEVICE.to_owned()]);
                    fake.state.lock().unwrap().playing = true;
                    Ok(DEVICE.to_owned())
                }
                Start::Fails(e) => Err(e),
                Start::Retrying(e) => {
                    report.lock().unwrap().last_error = Some(e);
                    std::future::pending().await
                }
                Start::Hangs => {
                    report.lock().unwrap().play_sent_to = BTreeSet::from([DEVICE.to_owned()]);
                    fake.state.lock().unwrap().playing = true;
                    std::future::pending().await
                }
            }
        })
    }

    fn set_volume(&self, _device: &str, percent: u32) -> BoxFuture<Result<(), SpotifyError>> {
        self.log(Call::Volume(percent));
        Box::pin(async { Ok(()) })
    }

    fn playback(&self) -> BoxFuture<Result<Option<Playback>, SpotifyError>> {
        let playing = self.playing();
        Box::pin(async move {
            Ok(Some(Playback {
                is_playing: playing,
                device: Some(Device {
                    id: Some(DEVICE.into()),
                    ..Device::default()
                }),
            }))
        })
    }

    fn pause(&self, _device: &str) -> BoxFuture<Result<(), SpotifyError>> {
        self.log(Call::Pause);
        self.state.lock().unwrap().playing = false;
        Box::pin(async { Ok(()) })
    }
}

/// Counts itself out of `sounds_playing` when the runner drops it.
/// The sender is kept so a sound that does not fail never reports.
struct FakeSound(Fake, #[allow(dead_code)] Option<oneshot::Sender<String>>);

impl Drop for FakeSound {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().sounds_playing -= 1;
    }
}

impl Speakers for Fake {
    fn spotify(&self, _settings: &SpotifySettings) -> Result<Arc<dyn Spotify>, SpotifyError> {
        Ok(Arc::new(self.clone()))
    }

    fn local_sound(&self, _settings: &FallbackSettings) -> Sounding {
        self.log(Call::LocalSound);
        let (report, failed) = oneshot::channel();
        let fails = {
            let mut state = self.state.lock().unwrap();
            state.sounds_playing += 1;
            state.sound_fails.clone()
        };
        let mut report = Some(report);
        if let (Some(reason), Some(report)) = (fails, report.take()) {
            let _ = report.send(reason);
        }
        Sounding::new(failed, FakeSound(self.clone(), report))
    }
}

/// The config the rigs start from: one alarm "wake", a 6 s fade from 10 to 40 %.
pub fn base_config() -> Value {
    json!({
        "version": 1,
        "time_zone": "UTC",
        "schedule": {"trust_clock": true},
        "spotify": {"client_id": "0123456789abcdef0123456789abcdef", "device_id": DEVICE,
                    "start_deadline_seconds": 5, "playback_check_seconds": 1},
        "volume": {"start_percent": 10, "target_percent": 40, "fade_seconds": 6, "ceiling_percent": 100},
        "alarms": [{
            "id": "wake", "label": "Wake up", "time": "07:00",
            "ring": {"max_ring_minutes": 30, "snooze_minutes": 1, "max_snoozes": 1},
        }],
    })
}

pub struct Rig {
    pub runner: RunnerHandle,
    pub status: tokio::sync::watch::Receiver<RunnerStatus>,
    pub firings: mpsc::Sender<Firing>,
    /// Decoded button presses and knob turns, as the input device sends them.
    pub inputs: mpsc::Sender<HardwareEvent>,
    pub fake: Fake,
    /// Kept for the runner's files.
    _dir: tempfile::TempDir,
    pub clock: Arc<TokioClock>,
}

impl Rig {
    pub async fn start() -> Rig {
        Rig::start_with(|_| {}, |_| {}).await
    }

    /// `change` edits the config; `prepare` the state directory before the runner starts.
    pub async fn start_with(
        change: impl FnOnce(&mut Value),
        prepare: impl FnOnce(&std::path::Path),
    ) -> Rig {
        Rig::start_on(Arc::new(NoHardware), change, prepare).await
    }

    pub async fn start_on(
        hardware: Arc<dyn Hardware>,
        change: impl FnOnce(&mut Value),
        prepare: impl FnOnce(&std::path::Path),
    ) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config();
        change(&mut config);
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        prepare(dir.path());
        let store = ConfigStore::open(&path, None).unwrap();
        let clock = Arc::new(TokioClock {
            start: START.parse().unwrap(),
            base: Instant::now(),
        });
        let fake = Fake::new();
        let (firings, firings_rx) = mpsc::channel(4);
        let (runner, handle) =
            Runner::new(store, clock.clone(), hardware, dir.path(), firings_rx).unwrap();
        let inputs = runner.hardware_events();
        runner.with_speakers(Arc::new(fake.clone())).spawn();
        Rig {
            status: handle.subscribe(),
            runner: handle,
            firings,
            inputs,
            fake,
            _dir: dir,
            clock,
        }
    }

    /// Waits (in paused time, so timers run ahead) until the status satisfies `accept`.
    pub async fn until(&mut self, accept: impl Fn(&RunnerStatus) -> bool) -> RunnerStatus {
        // Hours of paused time: a guard against a hang, not a timed assertion.
        let wait =
            tokio::time::timeout(Duration::from_secs(6 * 3600), self.status.wait_for(accept));
        let found = match wait.await {
            Ok(Ok(status)) => Some(status.clone()),
            Ok(Err(_)) => panic!("the runner is gone"),
            Err(_) => None,
        };
        found.unwrap_or_else(|| panic!("status never reached; last: {:?}", self.status.borrow()))
    }

    pub async fn until_state(&mut self, state: &str) -> RunnerStatus {
        self.until(|s| state_name(&s.state) == state).await
    }

    /// Until Spotify rings.
    pub async fn until_spotify(&mut self) -> RunnerStatus {
        self.until(|s| {
            matches!(&s.state, RunnerState::Ringing { path, .. } if *path == super::RingPath::Spotify)
        })
        .await
    }

    pub async fn ring_now(&mut self) {
        self.runner.ring_now("wake".into()).await.unwrap();
    }

    /// The alarm `id` fires now as the scheduler would send it.
    pub async fn fire(&self, id: &str) {
        let _receipt = self.fire_at(id, self.clock.now()).await;
    }

    /// `id`'s `occurrence` fires now; completes when the runner gives the receipt.
    pub async fn fire_at(&self, id: &str, occurrence: DateTime<Utc>) -> oneshot::Receiver<()> {
        let mut alarm: Alarm = serde_json::from_value(json!({"id": id, "time": "07:00"})).unwrap();
        alarm.label = format!("Alarm {id}");
        let (receipt, given) = Receipt::new();
        let firing = Firing {
            alarm,
            date: occurrence.date_naive(),
            occurrence,
            emitted_at: self.clock.now(),
            receipt,
        };
        self.firings.send(firing).await.unwrap();
        given
    }

    /// The runner's directory (journal, history).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn history(&self) -> Vec<HistoryEntry> {
        self.runner.history()
    }
}

pub fn state_name(state: &RunnerState) -> &'static str {
    match state {
        RunnerState::Idle => "idle",
        RunnerState::Preparing { .. } => "preparing",
        RunnerState::Ringing { .. } => "ringing",
        RunnerState::Snoozed { .. } => "snoozed",
        RunnerState::SleepTimer { .. } => "sleep_timer",
    }
}
