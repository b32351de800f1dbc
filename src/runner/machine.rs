//! The runner's one loop. The runner is always in one [`Phase`]; each turn of the loop takes
//! the next [`Event`] (a command, a firing, the heartbeat, or what the phase itself waits for:
//! a timer or a task's result) and hands it to the one handler for (phase, event). Handlers
//! never wait on the network: slow work runs in tasks owned by the phase, whose results come
//! back as events, and the disk is written by the records' own writer tasks.
//!
//! | phase        | commands answered here                           | firing        |
//! |--------------|--------------------------------------------------|---------------|
//! | idle         | ring-now, sleep timer, self-test                 | rings         |
//! | self-test    | (all refused)                                    | ends it, rings|
//! | ringing      | stop, snooze, volume                             | overlapped    |
//! | snoozed      | stop, snooze (already)                           | overlapped    |
//! | sleep timer  | stop, volume                                     | ends it, rings|
//! | stopped      | (all refused: the daemon is stopping)            | journaled     |
//!
//! Every other (phase, command) pair is refused by [`RunnerCommand::refuse`]. A ping (systemd's
//! watchdog) is answered and a shutdown taken in every phase. Button presses
//! and knob turns (decoded by `hardware`) become these same commands by the (phase, hardware
//! event) table in `inputs.rs`, inside this loop, so a press cannot race a phase change.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};

use super::episode::Episode;
use super::handle::{COMMAND_QUEUE, RunnerHandle};
use super::inputs;
use super::records::{EndedBy, History, HistoryEntry, Journal};
use super::ring::{Ring, RingEvent};
use super::self_test::SelfTest;
use super::sleep_timer::{Timer, TimerEvent};
use super::speakers::{Speakers, WebSpeakers};
use super::{RunnerCommand, RunnerError, RunnerState, RunnerStatus};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::hardware::{Hardware, HardwareEvent, INPUT_QUEUE};
use crate::player::TokenFile;
use crate::scheduler::Firing;
use crate::store::ConfigStore;

/// How often the status heartbeat is refreshed while the runner is not idle.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(5);

/// What the runner is doing; each variant owns the state and tasks of that phase.
pub(super) enum Phase {
    Idle,
    SelfTest(SelfTest),
    /// From the amplifier's settle time through Spotify's start to the end of the ring.
    Ringing(Box<Ring>),
    Snoozed {
        episode: Box<Episode>,
        wake_at: Instant,
    },
    SleepTimer(Box<Timer>),
    /// After a shutdown: nothing sounds or starts. Holds the alarm whose episode the journal
    /// keeps for the next start, if any.
    Stopped {
        journaled: Option<String>,
    },
}

/// The phase's name, for the (phase, command) and (phase, hardware event) tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Idle,
    SelfTest,
    Ringing,
    Snoozed,
    SleepTimer,
    Stopped,
}

impl Phase {
    fn kind(&self) -> Kind {
        match self {
            Phase::Idle => Kind::Idle,
            Phase::SelfTest(_) => Kind::SelfTest,
            Phase::Ringing(_) => Kind::Ringing,
            Phase::Snoozed { .. } => Kind::Snoozed,
            Phase::SleepTimer(_) => Kind::SleepTimer,
            Phase::Stopped { .. } => Kind::Stopped,
        }
    }

    /// What this phase waits for. Cancel-safe: the loop drops it whenever another event wins.
    async fn next_event(&mut self) -> Event {
        match self {
            Phase::Idle | Phase::Stopped { .. } => std::future::pending().await,
            Phase::SelfTest(test) => Event::SelfTestDone(test.done().await),
            Phase::Ringing(ring) => Event::Ring(ring.next().await),
            Phase::Snoozed { wake_at, .. } => {
                tokio::time::sleep_until(*wake_at).await;
                Event::SnoozeOver
            }
            Phase::SleepTimer(timer) => Event::Timer(timer.next().await),
        }
    }
}

pub(super) enum Event {
    Command(RunnerCommand),
    Firing(Firing),
    /// A button or the knob (decoded by `hardware`; its meaning is decided here).
    Input(HardwareEvent),
    Heartbeat,
    Ring(RingEvent),
    SnoozeOver,
    Timer(TimerEvent),
    SelfTestDone(Vec<String>),
    /// The amplifier's idle delay ran out with no new sound.
    AmplifierIdle,
}

/// Everything the phases use besides their own state.
pub(super) struct Context {
    pub store: ConfigStore,
    pub clock: SharedClock,
    pub hardware: Arc<dyn Hardware>,
    pub speakers: Arc<dyn Speakers>,
    status: watch::Sender<RunnerStatus>,
    history_view: watch::Sender<Vec<HistoryEntry>>,
    pub journal: Journal,
    history: History,
    /// When the amplifier goes off, unless a sound starts first (the runner's own deadline:
    /// only the runner switches outputs).
    amplifier_off_at: Option<Instant>,
}

/// The actor: its inputs, its context and its phase.
pub struct Runner {
    cx: Context,
    commands: mpsc::Receiver<RunnerCommand>,
    firings: mpsc::Receiver<Firing>,
    inputs: mpsc::Receiver<HardwareEvent>,
    /// Kept so the input channel never looks closed (the daemon may run without inputs).
    inputs_tx: mpsc::Sender<HardwareEvent>,
    phase: Phase,
}

impl Runner {
    /// Prepares the runner's files in `state_dir` (next to the config).
    pub fn new(
        store: ConfigStore,
        clock: SharedClock,
        hardware: Arc<dyn Hardware>,
        state_dir: &Path,
        firings: mpsc::Receiver<Firing>,
    ) -> std::io::Result<(Runner, RunnerHandle)> {
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let history = History::open(state_dir)?;
        let entries = history.entries();
        let (status, status_rx) = watch::channel(RunnerStatus {
            state: RunnerState::Idle,
            heartbeat: None,
            last_episode: entries.first().cloned(),
        });
        let (history_view, history_rx) = watch::channel(entries);
        let speakers = Arc::new(WebSpeakers {
            tokens: TokenFile::new(state_dir)?,
        });
        let cx = Context {
            store,
            clock,
            hardware,
            speakers,
            status,
            history_view,
            journal: Journal::open(state_dir)?,
            history,
            amplifier_off_at: None,
        };
        let (inputs_tx, inputs) = mpsc::channel(INPUT_QUEUE);
        let runner = Runner {
            cx,
            commands,
            firings,
            inputs,
            inputs_tx,
            phase: Phase::Idle,
        };
        let handle = RunnerHandle {
            commands: commands_tx,
            status: status_rx,
            history: history_rx,
        };
        Ok((runner, handle))
    }

    /// Plays through other speakers than Spotify's Web API and the sound command (tests).
    pub fn with_speakers(mut self, speakers: Arc<dyn Speakers>) -> Runner {
        self.cx.speakers = speakers;
        self
    }

    /// Where the input device sends its decoded events (bounded).
    pub fn hardware_events(&self) -> mpsc::Sender<HardwareEvent> {
        self.inputs_tx.clone()
    }

    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        let writers = [
            self.cx.journal.spawn_writer(),
            self.cx.history.spawn_writer(),
        ];
        self.resume_journaled_episode();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let amplifier_off_at = self.cx.amplifier_off_at;
            let event = tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => Event::Command(command),
                    None => break,
                },
                firing = self.firings.recv() => match firing {
                    Some(firing) => Event::Firing(firing),
                    None => break,
                },
                Some(input) = self.inputs.recv() => Event::Input(input),
                event = self.phase.next_event() => event,
                _ = heartbeat.tick(), if !matches!(self.phase.kind(), Kind::Idle | Kind::Stopped) => Event::Heartbeat,
                _ = sleep_until(amplifier_off_at.unwrap_or_else(Instant::now)),
                    if amplifier_off_at.is_some() => Event::AmplifierIdle,
            };
            self.handle(event).await;
        }
        // Let the last records reach the disk before the writers go.
        drop(self.cx);
        for writer in writers {
            let _ = writer.await;
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Command(command) => self.on_command(command).await,
            Event::Firing(firing) => self.on_firing(firing).await,
            Event::Input(input) => self.on_input(input).await,
            Event::Heartbeat => self.on_heartbeat(),
            Event::AmplifierIdle => {
                self.cx.amplifier_off_at = None;
                self.cx.hardware.amplifier_off();
            }
            Event::Ring(event) => {
                if let Phase::Ringing(ring) = &mut self.phase
                    && let Some(end) = ring.on_event(&mut self.cx, event).await
                {
                    self.stop_ringing(end).await;
                }
            }
            Event::SnoozeOver => {
                if let Phase::Snoozed { mut episode, .. } = self.take_phase() {
                    episode.snoozed_until = None;
                    self.ring(*episode);
                }
            }
            Event::Timer(event) => {
                if let Phase::SleepTimer(timer) = &mut self.phase
                    && let Some(end) = timer.on_event(&mut self.cx, event)
                    && let Phase::SleepTimer(timer) = self.take_phase()
                {
                    timer.finish(&mut self.cx, end).await;
                }
            }
            Event::SelfTestDone(steps) => {
                if let Phase::SelfTest(test) = self.take_phase() {
                    self.cx.amplifier_idle();
                    test.answer(Ok(steps));
                }
            }
        }
    }

    /// The (phase, command) table: every command is answered here, in every phase.
    async fn on_command(&mut self, command: RunnerCommand) {
        match (self.phase.kind(), command) {
            (_, RunnerCommand::Ping { reply }) => {
                let _ = reply.send(());
            }
            (_, RunnerCommand::Shutdown { reply }) => {
                self.shut_down().await;
                let _ = reply.send(());
            }
            (Kind::Stopped, command) => command.refuse_stopped(),
            (Kind::Idle, RunnerCommand::RingNow { alarm_id, reply }) => {
                let config = self.cx.store.snapshot();
                match config.config.alarms.iter().find(|a| a.id == alarm_id) {
                    Some(alarm) => {
                        let _ = reply.send(Ok(()));
                        tracing::info!(alarm = %alarm.id, "ringing now on request");
                        let episode = Episode::new(alarm.clone(), None, self.cx.clock.now());
                        self.ring(episode);
                    }
                    None => {
                        let _ = reply.send(Err(RunnerError::UnknownAlarm(alarm_id)));
                    }
                }
            }
            (Kind::Idle, RunnerCommand::SleepTimer { request, reply }) => {
                let _ = reply.send(Ok(()));
                self.phase = Phase::SleepTimer(Box::new(Timer::start(&mut self.cx, request)));
            }
            (Kind::Idle, RunnerCommand::HardwareTest { reply }) => {
                let settle = self.cx.amplifier_on();
                let (test, steps) = SelfTest::start(self.cx.hardware.clone(), settle);
                let _ = reply.send(Ok(steps));
                self.phase = Phase::SelfTest(test);
                self.cx.beat();
            }
            (Kind::Ringing, RunnerCommand::Stop { by, reply }) => {
                let _ = reply.send(Ok(()));
                self.stop_ringing(PhaseEnd::Stop(by.ended_by())).await;
            }
            (Kind::Ringing, RunnerCommand::Snooze { by, reply }) => {
                let _ = reply.send(Ok(()));
                self.stop_ringing(PhaseEnd::Snooze(by.ended_by())).await;
            }
            (Kind::Ringing, RunnerCommand::SetVolume { change, reply }) => {
                if let Phase::Ringing(ring) = &mut self.phase {
                    let _ = reply.send(Ok(ring.set_volume(&self.cx, change)));
                }
            }
            (Kind::Snoozed, RunnerCommand::Stop { by, reply }) => {
                let _ = reply.send(Ok(()));
                if let Phase::Snoozed { episode, .. } = self.take_phase() {
                    // In case it stayed on through the snooze.
                    self.cx.amplifier_idle();
                    self.cx.finish(*episode, by.ended_by());
                }
            }
            // Already snoozing.
            (Kind::Snoozed, RunnerCommand::Snooze { reply, .. }) => {
                let _ = reply.send(Ok(()));
            }
            (Kind::SleepTimer, RunnerCommand::Stop { by, reply }) => {
                let _ = reply.send(Ok(()));
                if let Phase::SleepTimer(timer) = self.take_phase() {
                    timer
                        .finish(
                            &mut self.cx,
                            super::sleep_timer::TimerEnd::Stopped(by.ended_by()),
                        )
                        .await;
                }
            }
            (Kind::SleepTimer, RunnerCommand::SetVolume { change, reply }) => {
                if let Phase::SleepTimer(timer) = &mut self.phase {
                    let _ = reply.send(Ok(timer.set_volume(&self.cx, change)));
                }
            }
            (_, command) => command.refuse(),
        }
    }

    /// A firing from the scheduler: rung (or journaled, or recorded as overlapped), and its
    /// receipt given once that is on disk. An occurrence the runner already holds (resumed from
    /// the journal, or in the history) is the same firing again after a crash: not rung twice.
    async fn on_firing(&mut self, mut firing: Firing) {
        let receipt = firing.take_receipt();
        let (alarm, occurrence) = (&firing.alarm.id, firing.occurrence);
        let holds = |e: &Episode| e.alarm.id == *alarm && e.occurrence == Some(occurrence);
        let in_progress = match &self.phase {
            Phase::Ringing(ring) => holds(&ring.episode),
            Phase::Snoozed { episode, .. } => holds(episode),
            _ => false,
        };
        if in_progress || self.cx.history.holds(alarm, occurrence) {
            tracing::info!(%alarm, %occurrence, "already rung or ringing: not rung again");
            return receipt.give();
        }
        match self.take_phase() {
            Phase::Idle => {}
            Phase::Stopped { journaled: None } => {
                // Only the journal can still ring it.
                tracing::error!(alarm = %firing.alarm.id, "alarm due while the daemon stops: kept in the ring journal, it rings when the daemon starts again");
                let episode =
                    Episode::new(firing.alarm, Some(firing.occurrence), self.cx.clock.now());
                self.cx.journal.save(&episode);
                self.cx.journal.when_saved(receipt);
                self.phase = Phase::Stopped {
                    journaled: Some(episode.alarm.id),
                };
                return;
            }
            Phase::Stopped {
                journaled: Some(busy_with),
            } => {
                self.cx.overlapped(firing, &busy_with);
                self.phase = Phase::Stopped {
                    journaled: Some(busy_with),
                };
                return receipt.give();
            }
            Phase::SelfTest(test) => {
                tracing::info!(alarm = %firing.alarm.id, "an alarm fires: the self-test ends");
                test.abort(&*self.cx.hardware);
                self.cx.amplifier_idle();
            }
            Phase::SleepTimer(timer) => {
                tracing::info!(alarm = %firing.alarm.id, "an alarm fires: the sleep timer ends");
                timer
                    .finish(&mut self.cx, super::sleep_timer::TimerEnd::Alarm)
                    .await;
            }
            busy @ (Phase::Ringing(_) | Phase::Snoozed { .. }) => {
                let busy_with = match &busy {
                    Phase::Ringing(ring) => ring.episode.alarm.id.clone(),
                    Phase::Snoozed { episode, .. } => episode.alarm.id.clone(),
                    _ => String::new(),
                };
                self.phase = busy;
                self.cx.overlapped(firing, &busy_with);
                return receipt.give();
            }
        }
        let episode = Episode::new(firing.alarm, Some(firing.occurrence), self.cx.clock.now());
        // `ring` journals the episode first.
        self.ring(episode);
        self.cx.journal.when_saved(receipt);
    }

    /// The (phase, hardware event) table (`inputs.rs`): a press becomes the command its
    /// action means in this phase, answered by the same handler as the API's; the knob
    /// changes the volume of what plays. Logged in the hardware status once handled.
    async fn on_input(&mut self, input: HardwareEvent) {
        let config = self.cx.store.snapshot();
        let kind = self.phase.kind();
        let (note, command) = inputs::command_for(kind, &config.config.hardware, input);
        match command {
            Some((command, answer)) => {
                let name = command.name();
                self.on_command(command).await;
                match answer.result() {
                    Ok(Some(volume)) => tracing::info!(volume, "volume set with the knob"),
                    Ok(None) => tracing::info!("{note}: {name}"),
                    Err(e) => tracing::info!("{note}: {name}: {e}"),
                }
            }
            None => tracing::debug!(phase = ?kind, "{note}: nothing to do"),
        }
        self.cx.hardware.note(note);
    }

    fn on_heartbeat(&mut self) {
        match &self.phase {
            Phase::Ringing(ring) => ring.publish(&self.cx),
            _ => self.cx.beat(),
        }
    }

    /// The daemon stops: whatever sounds is released (Spotify paused, each device bounded by
    /// the pause timeout), the outputs go to their safe level, and the runner refuses
    /// everything from then on. A ringing or snoozed episode stays in the journal, so the next
    /// start resumes it; a sleep timer ends.
    async fn shut_down(&mut self) {
        let journaled = match self.take_phase() {
            Phase::Idle => None,
            Phase::Stopped { journaled } => journaled,
            Phase::SelfTest(test) => {
                test.abort(&*self.cx.hardware);
                None
            }
            Phase::Ringing(ring) => {
                let alarm = ring.episode.alarm.id.clone();
                tracing::info!(%alarm, "stopping mid-ring: sound off, Spotify paused; the alarm resumes when the daemon starts again");
                ring.release(&mut self.cx, false).await;
                Some(alarm)
            }
            Phase::Snoozed { episode, .. } => Some(episode.alarm.id),
            Phase::SleepTimer(timer) => {
                let end = super::sleep_timer::TimerEnd::Stopped(EndedBy::Interrupted);
                timer.finish(&mut self.cx, end).await;
                None
            }
        };
        self.cx.amplifier_off_at = None;
        self.cx.hardware.safe_state();
        self.phase = Phase::Stopped { journaled };
    }

    fn take_phase(&mut self) -> Phase {
        std::mem::replace(&mut self.phase, Phase::Idle)
    }

    /// The one place a ring phase starts: a firing, ring-now, the end of a snooze, a resume.
    fn ring(&mut self, episode: Episode) {
        self.phase = Phase::Ringing(Box::new(Ring::start(&mut self.cx, episode)));
    }

    /// Ends the ring phase: released, then snoozed, or finished and recorded.
    async fn stop_ringing(&mut self, end: PhaseEnd) {
        let Phase::Ringing(ring) = self.take_phase() else {
            return;
        };
        let snoozing = matches!(end, PhaseEnd::Snooze(_));
        let mut episode = ring.release(&mut self.cx, snoozing).await;
        match end {
            PhaseEnd::Stop(by) => self.cx.finish(episode, by),
            PhaseEnd::Snooze(by) if episode.snoozes_used >= episode.alarm.ring.max_snoozes => {
                tracing::info!(alarm = %episode.alarm.id, "snooze limit reached: stopping");
                self.cx.amplifier_idle();
                self.cx.finish(episode, by);
            }
            PhaseEnd::Snooze(_) => {
                episode.snoozes_used += 1;
                let minutes = episode.alarm.ring.snooze_minutes;
                let until = self.cx.clock.now() + chrono::Duration::minutes(minutes.into());
                tracing::info!(alarm = %episode.alarm.id, %until, "snoozed");
                self.snooze(episode, until);
            }
        }
    }

    /// Waits until `until` (wall clock) on tokio's clock: a snooze is a duration, so a clock
    /// step during it does not shorten or stretch it.
    fn snooze(&mut self, mut episode: Episode, until: chrono::DateTime<chrono::Utc>) {
        episode.snoozed_until = Some(until);
        episode.ring_deadline = Some(until + episode.max_ring());
        self.cx.journal.save(&episode);
        self.cx.publish(RunnerState::Snoozed {
            alarm_id: episode.alarm.id.clone(),
            label: episode.alarm.label.clone(),
            until,
            snoozes_used: episode.snoozes_used,
        });
        // The next ring computes its own end.
        episode.ring_deadline = None;
        let left = (until - self.cx.clock.now()).to_std().unwrap_or_default();
        self.phase = Phase::Snoozed {
            episode: Box::new(episode),
            wake_at: Instant::now() + left,
        };
    }

    /// After a crash or restart mid-episode: ring again (or keep snoozing) while the ring would
    /// still be running; otherwise record it as interrupted.
    fn resume_journaled_episode(&mut self) {
        let Some(mut episode) = self.cx.journal.load() else {
            return;
        };
        if !episode.resumable_at(self.cx.clock.now()) {
            tracing::warn!(alarm = %episode.alarm.id, "the daemon was down too long to resume the alarm that was ringing");
            return self.cx.finish(episode, EndedBy::Interrupted);
        }
        tracing::warn!(alarm = %episode.alarm.id, "resuming the alarm that was ringing when the daemon stopped");
        match episode.snoozed_until {
            Some(until) if until > self.cx.clock.now() => self.snooze(episode, until),
            _ => {
                // The ring after a snooze that ended meanwhile gets its own full time.
                if episode.snoozed_until.take().is_some() {
                    episode.ring_deadline = None;
                }
                self.ring(episode);
            }
        }
    }
}

/// How a ring phase ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PhaseEnd {
    Stop(EndedBy),
    /// A snooze, or a stop once the snoozes are used up (then ended by this).
    Snooze(EndedBy),
}

impl Context {
    /// The volume ceiling in force now: the global one, or the night one in its hours.
    pub fn ceiling(&self, config: &Config) -> u32 {
        let (zone, _) = crate::scheduler::resolve_zone(config);
        let local = self.clock.now().with_timezone(&zone).time();
        config.volume.ceiling_at(local)
    }

    pub fn publish(&self, state: RunnerState) {
        let now = self.clock.now();
        self.status.send_modify(|s| {
            s.state = state;
            s.heartbeat = Some(now);
        });
    }

    /// The runner is alive (a stale heartbeat means a stuck runner).
    pub fn beat(&self) {
        let now = self.clock.now();
        self.status.send_modify(|s| s.heartbeat = Some(now));
    }

    /// The amplifier on before a sound; a pending idle-off is cancelled. Returns how long to
    /// wait before the sound: `settle_ms` from the config in force now, if it was off.
    pub fn amplifier_on(&mut self) -> Duration {
        self.amplifier_off_at = None;
        if !self.hardware.amplifier_on() {
            return Duration::ZERO;
        }
        let config = self.store.snapshot();
        let settle = config.config.hardware.amplifier.as_ref();
        Duration::from_millis(settle.map_or(0, |a| a.settle_ms).into())
    }

    /// The sound stopped: the amplifier goes off after `idle_off_seconds` (read now), unless a
    /// new sound starts first.
    pub fn amplifier_idle(&mut self) {
        let config = self.store.snapshot();
        let amplifier = config.config.hardware.amplifier.as_ref();
        let idle = Duration::from_secs(amplifier.map_or(0, |a| a.idle_off_seconds).into());
        if idle.is_zero() {
            self.amplifier_off_at = None;
            self.hardware.amplifier_off();
        } else {
            self.amplifier_off_at = Some(Instant::now() + idle);
        }
    }

    /// A firing while another alarm rings or snoozes: not rung, but on record.
    fn overlapped(&mut self, firing: Firing, busy_with: &str) {
        tracing::warn!(alarm = %firing.alarm.id, busy_with, "NOT RUNG: another alarm is ringing or snoozed");
        let now = self.clock.now();
        let mut episode = Episode::new(firing.alarm, Some(firing.occurrence), now);
        episode.fallback_reason = Some(format!(
            "not rung: alarm {busy_with:?} was ringing or snoozed"
        ));
        let entry = episode.history_entry(EndedBy::Overlapped, now);
        self.history.push(entry);
        self.history_view.send_replace(self.history.entries());
    }

    /// Records a finished episode, clears the journal and goes idle.
    pub fn finish(&mut self, episode: Episode, ended_by: EndedBy) {
        let entry = episode.history_entry(ended_by, self.clock.now());
        tracing::info!(alarm = ?entry.alarm_id, ended_by = ?ended_by, paths = ?entry.paths, "alarm episode ended");
        self.journal.remove();
        self.record(entry);
    }

    /// Adds a finished episode (or sleep timer) to the history and goes idle.
    pub fn record(&mut self, entry: HistoryEntry) {
        self.history.push(entry.clone());
        self.history_view.send_replace(self.history.entries());
        let now = self.clock.now();
        self.status.send_modify(|s| {
            s.state = RunnerState::Idle;
            s.heartbeat = Some(now);
            s.last_episode = Some(entry);
        });
    }
}
