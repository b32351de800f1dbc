//! The scheduler task: turns the config snapshot and the wall clock into firings.
//!
//! Each wake-up: re-arm changed alarms, find what is due (`schedule::due`), hand ring decisions
//! to the runner over a bounded channel, wait for the runner's [`Receipt`] (the firing is in its
//! ring journal on disk), and only then save the new `handled_until` marks durably. A crash
//! before the mark rings the occurrence again after the restart (within the grace), one after
//! it finds the journal, and the runner does not ring an occurrence it already holds: never
//! lost, never twice. It then sleeps until the next
//! occurrence, never longer than [`clock::MAX_SLEEP`] and ended by a clock step, and wakes early on a new config revision.
//! One-shot alarms are disabled and `skip_next` cleared through store transactions, applied
//! only if the alarm was not changed meanwhile, so a racing edit from the page is not undone.
//!
//! It never plays anything itself: firings go to the runner. Between ticks its loop answers
//! pings ([`SchedulerHandle::answers`], systemd's watchdog) and announces the next firing when
//! it changes ([`SchedulerHandle::watch_plan`], systemd's status line).

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::config::{Alarm, Config};
use crate::schedule::{self, BrokenAlarm, Decision, Due, ScheduleState};
use crate::store::{ConfigStore, StoreFiles};

/// How many handled occurrences the status keeps.
const RECENT_EVENTS: usize = 20;

/// How long the scheduler waits for the runner's receipt before it saves its marks anyway.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(5);

/// An alarm occurrence to ring now. The runner's input.
#[derive(Debug)]
pub struct Firing {
    pub alarm: Alarm,
    pub date: NaiveDate,
    /// The occurrence's instant; the firing is emitted at or (after a restart) shortly after it.
    pub occurrence: DateTime<Utc>,
    pub emitted_at: DateTime<Utc>,
    /// For the runner to give once the firing is safe from a crash.
    pub receipt: Receipt,
}

impl Firing {
    /// The receipt, for whoever makes the firing safe; an unwanted one is left in its place.
    pub fn take_receipt(&mut self) -> Receipt {
        std::mem::replace(&mut self.receipt, Receipt::unwanted())
    }
}

/// The runner's word that it has a firing on disk (its ring journal) or will not ring it; the
/// scheduler marks the occurrence handled only after that. Dropped unanswered, it counts as
/// given, so a receiver that goes away never holds the scheduler up.
#[derive(Debug)]
pub struct Receipt(Option<oneshot::Sender<()>>);

impl Receipt {
    /// A receipt and what completes when it is given (or dropped).
    pub fn new() -> (Receipt, oneshot::Receiver<()>) {
        let (given, wait) = oneshot::channel();
        (Receipt(Some(given)), wait)
    }

    /// A receipt nobody waits for: a firing made by hand (tests).
    pub fn unwanted() -> Receipt {
        Receipt(None)
    }

    pub fn give(self) {
        if let Some(given) = self.0 {
            let _ = given.send(());
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SchedulerStatus {
    /// The zone alarm times are read in.
    pub time_zone: String,
    /// `config`, `system`, or `fallback_utc` when neither could be read.
    pub time_zone_source: String,
    /// The next occurrence that will ring.
    pub next_firing: Option<UpcomingFiring>,
    /// From the kernel (adjtimex); `null` if it cannot tell.
    pub clock_synchronized: Option<bool>,
    /// Set while the clock is neither synchronized nor trusted (`schedule.trust_clock`).
    pub clock_warning: Option<String>,
    /// Alarms whose occurrences cannot be computed, with the reason: they do not ring until
    /// fixed, and the others ring as usual. Empty when all is well.
    pub broken_alarms: Vec<BrokenAlarm>,
    /// Occurrences handled lately (rung, skipped, missed), newest first.
    pub recent_events: Vec<ScheduleEvent>,
    /// When the scheduler last looked at the clock.
    pub heartbeat: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UpcomingFiring {
    pub alarm_id: String,
    pub label: String,
    pub at_utc: DateTime<Utc>,
    /// The same instant in the alarm's time zone, RFC 3339 with offset.
    pub at_local: String,
    pub decision: Decision,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ScheduleEvent {
    pub alarm_id: String,
    pub label: String,
    pub occurrence: DateTime<Utc>,
    pub decision: Decision,
    /// How late the scheduler found the occurrence (restart, clock step).
    pub late_seconds: i64,
    pub handled_at: DateTime<Utc>,
}

/// What the scheduler will ring next and in which zone it reads times: announced when it
/// changes, not at every tick (systemd's status line, the page's event stream).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub next_firing: Option<UpcomingFiring>,
    pub zone: Tz,
}

/// Read access for the HTTP side.
#[derive(Clone)]
pub struct SchedulerHandle {
    view: Arc<ArcSwap<View>>,
    clock: SharedClock,
    plan: watch::Receiver<Option<Plan>>,
    pings: mpsc::Sender<oneshot::Sender<()>>,
}

struct View {
    status: SchedulerStatus,
    state: ScheduleState,
}

impl SchedulerHandle {
    pub fn status(&self) -> SchedulerStatus {
        self.view.load().status.clone()
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The plan as it changes; `None` until the scheduler first looked at the clock.
    pub fn watch_plan(&self) -> watch::Receiver<Option<Plan>> {
        self.plan.clone()
    }

    /// Whether the scheduler's loop answers within `within`: it answers between ticks, so a
    /// tick that hangs (a save, a full firing queue) goes unanswered.
    pub async fn answers(&self, within: Duration) -> bool {
        let (reply, answer) = oneshot::channel();
        let asked = async { self.pings.send(reply).await.is_ok() && answer.await.is_ok() };
        tokio::time::timeout(within, asked).await.unwrap_or(false)
    }

    /// The next `count` occurrences for `config` as the scheduler sees them now.
    pub fn upcoming(&self, config: &Config, count: usize) -> Vec<UpcomingFiring> {
        let (zone, _) = resolve_zone(config);
        let view = self.view.load();
        schedule::upcoming(config, zone, &view.state, self.clock.now(), count)
            .into_iter()
            .map(|d| upcoming_firing(&d, zone))
            .collect()
    }
}

/// The zone alarms are set in, and where it came from.
pub fn resolve_zone(config: &Config) -> (Tz, &'static str) {
    if let Some(zone) = config.time_zone.as_deref().and_then(|z| z.parse().ok()) {
        return (zone, "config");
    }
    match iana_time_zone::get_timezone()
        .ok()
        .and_then(|z| z.parse().ok())
    {
        Some(zone) => (zone, "system"),
        None => (Tz::UTC, "fallback_utc"),
    }
}

fn upcoming_firing(due: &Due, zone: Tz) -> UpcomingFiring {
    UpcomingFiring {
        alarm_id: due.occurrence.alarm_id.clone(),
        label: due.occurrence.label.clone(),
        at_utc: due.occurrence.at,
        at_local: due.occurrence.at.with_timezone(&zone).to_rfc3339(),
        decision: due.decision,
    }
}

/// Where the scheduler keeps its state: beside the config.
pub fn state_path(store: &ConfigStore) -> PathBuf {
    store.files().dir().join("schedule-state.json")
}

pub struct Scheduler {
    store: ConfigStore,
    clock: SharedClock,
    state_file: StoreFiles,
    state: ScheduleState,
    firings: mpsc::Sender<Firing>,
    clock_synchronized: Box<dyn Fn() -> Option<bool> + Send + Sync>,
    view: Arc<ArcSwap<View>>,
    events: VecDeque<ScheduleEvent>,
    /// As last reported, so each alarm is logged once when it breaks and once when it heals.
    broken: Vec<BrokenAlarm>,
    plan: watch::Sender<Option<Plan>>,
    pings: mpsc::Receiver<oneshot::Sender<()>>,
}

impl Scheduler {
    /// Loads the saved state (a missing or unreadable one starts fresh: every alarm armed from
    /// now) and prepares the task. `clock_synchronized` reports the system clock's sync state.
    pub fn new(
        store: ConfigStore,
        clock: SharedClock,
        firings: mpsc::Sender<Firing>,
        clock_synchronized: Box<dyn Fn() -> Option<bool> + Send + Sync>,
    ) -> io::Result<(Scheduler, SchedulerHandle)> {
        let path = state_path(&store);
        let state_file = StoreFiles::new(&path)?;
        // A crash during a save leaves its temp file; nothing else removes it.
        if let Err(e) = state_file.remove_leftovers() {
            tracing::warn!(path = %path.display(), "cannot remove the temp files of an interrupted save: {e}");
        }
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(path = %path.display(), "unreadable scheduler state, starting fresh (alarms missed while down will not catch up): {e}");
                ScheduleState::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => ScheduleState::default(),
            Err(e) => return Err(e),
        };
        let now = clock.now();
        let view = Arc::new(ArcSwap::from_pointee(View {
            status: SchedulerStatus {
                time_zone: String::new(),
                time_zone_source: String::new(),
                next_firing: None,
                clock_synchronized: None,
                clock_warning: None,
                broken_alarms: Vec::new(),
                recent_events: Vec::new(),
                heartbeat: now,
            },
            state: state.clone(),
        }));
        let (plan, plan_rx) = watch::channel(None);
        // One ping at a time is all the watchdog sends.
        let (pings_tx, pings) = mpsc::channel(1);
        let handle = SchedulerHandle {
            view: view.clone(),
            clock: clock.clone(),
            plan: plan_rx,
            pings: pings_tx,
        };
        let scheduler = Scheduler {
            store,
            clock,
            state_file,
            state,
            firings,
            clock_synchronized,
            view,
            events: VecDeque::new(),
            broken: Vec::new(),
            plan,
            pings,
        };
        Ok((scheduler, handle))
    }

    /// Runs until the task is aborted (at shutdown; every write it makes is atomic).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        let mut revisions = self.store.subscribe();
        loop {
            revisions.borrow_and_update();
            let wake = self.tick().await;
            let clock = self.clock.clone();
            let mut sleep = clock.sleep_until(wake);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    changed = revisions.changed() => if changed.is_err() { return } else { break },
                    Some(ping) = self.pings.recv() => { let _ = ping.send(()); }
                }
            }
        }
    }

    /// One look at the clock; returns when to look again.
    async fn tick(&mut self) -> DateTime<Utc> {
        let snapshot = self.store.snapshot();
        let config = &snapshot.config;
        let (zone, zone_source) = resolve_zone(config);
        let now = self.clock.now();

        let mut changed = schedule::reconcile(config, &mut self.state, now);
        self.note_broken(schedule::broken(config, zone, &self.state, now));
        let due = schedule::due(config, zone, &self.state, now);
        for d in &due {
            if let Some(s) = self.state.alarms.get_mut(&d.occurrence.alarm_id) {
                s.handled_until = d.occurrence.at;
                changed = true;
            }
        }
        let mut receipts = Vec::new();
        let mut follow_ups = Vec::new();
        for d in due {
            let Some(alarm) = config.alarms.iter().find(|a| a.id == d.occurrence.alarm_id) else {
                continue;
            };
            let late_seconds = (now - d.occurrence.at).num_seconds();
            self.report(&d, alarm, late_seconds, now);
            if d.decision == Decision::Ring {
                let (receipt, given) = Receipt::new();
                receipts.push(given);
                let firing = Firing {
                    alarm: alarm.clone(),
                    date: d.occurrence.date,
                    occurrence: d.occurrence.at,
                    emitted_at: self.clock.now(),
                    receipt,
                };
                // Measured at emission: this is the lateness the runner sees (the benchmark
                // reads it from this line).
                let late_ms = (firing.emitted_at - firing.occurrence)
                    .num_microseconds()
                    .map_or(f64::NAN, |us| us as f64 / 1000.0);
                tracing::info!(alarm = %alarm.id, label = %alarm.label, occurrence = %firing.occurrence.to_rfc3339(), late_ms, "alarm due: ringing");
                if self.firings.send(firing).await.is_err() {
                    tracing::error!(alarm = %alarm.id, "no runner to ring the alarm");
                }
            }
            if alarm.repeat.is_empty() || d.decision == Decision::SkipNext {
                follow_ups.push((alarm.id.clone(), schedule::fingerprint(config, alarm)));
            }
        }
        // The marks go to disk once the runner has the firings on disk: a crash in between
        // rings them again after the restart instead of losing them.
        let rang = !receipts.is_empty();
        let all_given = async {
            for given in receipts {
                // An error is a receipt dropped unanswered: given too.
                let _ = given.await;
            }
        };
        if tokio::time::timeout(RECEIPT_TIMEOUT, all_given)
            .await
            .is_err()
        {
            tracing::warn!(
                "the runner did not confirm a firing in time; marking it handled anyway"
            );
        }
        if changed && !self.save_state().await && rang {
            // Ringing matters more than the guard against ringing twice after a crash.
            tracing::error!("rang although the scheduler state could not be saved");
        }
        if !follow_ups.is_empty() {
            self.apply_follow_ups(follow_ups).await;
        }

        let next = schedule::upcoming(config, zone, &self.state, now, 16)
            .into_iter()
            .find(|d| d.decision == Decision::Ring);
        let next_firing = next.as_ref().map(|d| upcoming_firing(d, zone));
        let plan = Plan {
            next_firing: next_firing.clone(),
            zone,
        };
        self.plan.send_if_modified(|known| {
            let changed = known.as_ref() != Some(&plan);
            if changed {
                *known = Some(plan);
            }
            changed
        });
        let synchronized = (self.clock_synchronized)();
        let clock_warning =
            (!config.schedule.trust_clock && synchronized != Some(true)).then(|| {
                "clock not synchronized: alarms ring by the system clock, which may be wrong"
                    .to_owned()
            });
        self.view.store(Arc::new(View {
            status: SchedulerStatus {
                time_zone: zone.name().to_owned(),
                time_zone_source: zone_source.to_owned(),
                next_firing,
                clock_synchronized: synchronized,
                clock_warning,
                broken_alarms: self.broken.clone(),
                recent_events: self.events.iter().cloned().collect(),
                heartbeat: now,
            },
            state: self.state.clone(),
        }));
        // Nothing to wait for: look again in a day (each sleep is bounded by the clock anyway).
        schedule::next_wakeup(config, zone, &self.state, now)
            .or_else(|| now.checked_add_signed(chrono::Duration::days(1)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Logs alarms that became unschedulable (or changed reason) and those that recovered.
    fn note_broken(&mut self, broken: Vec<BrokenAlarm>) {
        for b in broken.iter().filter(|b| !self.broken.contains(b)) {
            tracing::error!(alarm = %b.alarm_id, label = %b.label, reason = %b.reason, "ALARM WILL NOT RING: its occurrences cannot be computed; the other alarms ring as usual");
        }
        for b in &self.broken {
            if !broken.iter().any(|now| now.alarm_id == b.alarm_id) {
                tracing::info!(alarm = %b.alarm_id, "alarm can be scheduled again");
            }
        }
        self.broken = broken;
    }

    fn report(&mut self, due: &Due, alarm: &Alarm, late_seconds: i64, now: DateTime<Utc>) {
        let o = &due.occurrence;
        match due.decision {
            // Logged at emission, with the lateness the runner sees.
            Decision::Ring => {}
            Decision::Missed => {
                tracing::warn!(alarm = %alarm.id, label = %alarm.label, occurrence = %o.at, late_seconds, "MISSED ALARM: found after the catch-up grace (daemon down or clock stepped)")
            }
            Decision::SkipNext | Decision::Vacation => {
                tracing::info!(alarm = %alarm.id, decision = ?due.decision, "alarm skipped")
            }
        }
        self.events.push_front(ScheduleEvent {
            alarm_id: alarm.id.clone(),
            label: alarm.label.clone(),
            occurrence: o.at,
            decision: due.decision,
            late_seconds,
            handled_at: now,
        });
        self.events.truncate(RECENT_EVENTS);
    }

    /// Disables one-shots that have had their occurrence and clears used `skip_next` flags,
    /// for alarms whose timing is still what it was when they were handled.
    async fn apply_follow_ups(&self, follow_ups: Vec<(String, String)>) {
        let result = self
            .store
            .transaction(None, move |config| {
                let prints: Vec<_> = config
                    .alarms
                    .iter()
                    .map(|a| schedule::fingerprint(config, a))
                    .collect();
                for (alarm, current) in config.alarms.iter_mut().zip(prints) {
                    let handled = follow_ups
                        .iter()
                        .any(|(id, print)| *id == alarm.id && *print == current);
                    if handled {
                        if alarm.repeat.is_empty() {
                            alarm.enabled = false;
                        }
                        alarm.skip_next = false;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            // The occurrence is marked handled, so nothing rings twice; the flags stay visible.
            tracing::error!("could not disable a one-shot alarm or clear skip-next: {e}");
        }
    }

    async fn save_state(&self) -> bool {
        let bytes = serde_json::to_vec_pretty(&self.state).expect("the state serializes");
        let file = self.state_file.clone();
        let saved = tokio::task::spawn_blocking(move || file.write_durably(&file.target, &bytes))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        if let Err(e) = &saved {
            tracing::error!(path = %self.state_file.target.display(), "cannot save the scheduler state: {e}");
        }
        saved.is_ok()
    }
}
