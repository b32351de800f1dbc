//! The automatic check: a task that runs "will it ring?" by itself, [`SAVE_DEBOUNCE`] after
//! the alarms change and `readiness.before_minutes` before each firing.
//!
//! Like the scheduler, it learns of changes from the store's revision channel and of the
//! next firing from the schedule (`SchedulerHandle::upcoming`, computed from the live config),
//! and sleeps on the injected clock: with no alarm set it has no timer at all, so it costs no
//! wakeups. A pre-alarm check runs at most once per firing (a snooze or a restart of the
//! same occurrence is not a new firing; a re-timed alarm is). While the runner rings, a due
//! check waits for it to end. Only the pre-alarm check may run the owner's repair command
//! (once, when the receiver is missing, then polling the device list for it to come back)
//! and post to the owner's webhook (once, when the answer is not `ready`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::checks::{list_devices, receiver_online};
use super::repair::{self, REPAIR_TIMEOUT};
use super::{LastCheck, ReadinessState, Repair, Sources, Trigger, webhook};
use crate::clock::SharedClock;
use crate::config::{Alarm, Config};
use crate::hardware::HardwareView;
use crate::runner::{RunnerHandle, RunnerState};
use crate::schedule::Decision;
use crate::scheduler::SchedulerHandle;
use crate::store::ConfigStore;

/// How long after the last change to the alarms the check runs: a user editing an alarm
/// field by field causes one check, not one per save.
pub const SAVE_DEBOUNCE: chrono::Duration = chrono::Duration::seconds(2);
/// How long the receiver has to come back after the repair command.
pub const RECEIVER_WAIT: Duration = Duration::from_secs(20);
/// How often the device list is asked meanwhile.
const RECEIVER_POLL: Duration = Duration::from_secs(4);
/// The repair (command, then the wait) must end at least this long before the alarm, so it
/// never overlaps the ring sequence's use of the login.
const REPAIR_MARGIN: Duration = Duration::from_secs(10);
/// Firings already checked that are remembered (they are forgotten once past anyway).
const REMEMBERED: usize = 8;

/// A check to run: when, why, and (before an alarm) for which firing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Planned {
    at: DateTime<Utc>,
    trigger: Trigger,
    firing: Option<DateTime<Utc>>,
}

/// The next check, from the next firing not yet checked, how long before it to check, and
/// when a settling change to the alarms is due. Pure.
fn plan(
    firing: Option<DateTime<Utc>>,
    before: chrono::Duration,
    saved_due: Option<DateTime<Utc>>,
) -> Option<Planned> {
    let pre_alarm = firing.map(|firing| Planned {
        at: firing - before,
        trigger: Trigger::BeforeAlarm,
        firing: Some(firing),
    });
    match (saved_due, pre_alarm) {
        // The change settles inside the firing's window: one check, the pre-alarm one (it
        // sees the change too), once the change has settled.
        (Some(saved), Some(pre)) if pre.at <= saved && pre.firing.is_some_and(|f| saved < f) => {
            Some(Planned { at: saved, ..pre })
        }
        (Some(saved), _) => Some(Planned {
            at: saved,
            trigger: Trigger::AlarmSaved,
            firing: None,
        }),
        (None, pre) => pre,
    }
}

/// The alarms a change to which deserves a check: the enabled ones, `skip_next` aside (the
/// scheduler clears it after a firing; skipping can only make an alarm ring later).
fn watched(config: &Config) -> Vec<Alarm> {
    config
        .alarms
        .iter()
        .filter(|a| a.enabled)
        .map(|a| Alarm {
            skip_next: false,
            ..a.clone()
        })
        .collect()
}

/// An alarm was added, re-timed or otherwise changed (not merely removed or disabled).
fn alarms_changed(before: &[Alarm], now: &[Alarm]) -> bool {
    now.iter().any(|alarm| !before.contains(alarm))
}

pub struct AutoCheck {
    store: ConfigStore,
    scheduler: SchedulerHandle,
    runner: RunnerHandle,
    hardware: Option<HardwareView>,
    last: Arc<LastCheck>,
    clock: SharedClock,
}

impl AutoCheck {
    /// The task over the daemon's handles; its results go to `last` (shared with HTTP).
    pub fn new(
        store: ConfigStore,
        scheduler: SchedulerHandle,
        runner: RunnerHandle,
        hardware: Option<HardwareView>,
        last: Arc<LastCheck>,
    ) -> AutoCheck {
        let clock = scheduler.clock().clone();
        AutoCheck {
            store,
            scheduler,
            runner,
            hardware,
            last,
            clock,
        }
    }

    /// Runs until aborted (at shutdown) or the store is gone.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    fn sources(&self) -> Sources<'_> {
        Sources {
            store: &self.store,
            scheduler: &self.scheduler,
            runner: &self.runner,
            hardware: self.hardware.as_ref(),
        }
    }

    fn runner_busy(&self) -> bool {
        !matches!(self.runner.status().state, RunnerState::Idle)
    }

    async fn run(self) {
        let mut revisions = self.store.subscribe();
        let mut runner = self.runner.subscribe();
        let mut seen = watched(&self.store.snapshot().config);
        let mut saved_due = None;
        let mut checked: VecDeque<DateTime<Utc>> = VecDeque::new();
        loop {
            revisions.borrow_and_update();
            let snapshot = self.store.snapshot();
            let config = &snapshot.config;
            let now = self.clock.now();
            let alarms = watched(config);
            if alarms_changed(&seen, &alarms) {
                saved_due = Some(now + SAVE_DEBOUNCE);
            }
            seen = alarms;
            checked.retain(|at| *at > now);
            let before = chrono::Duration::minutes(config.readiness.before_minutes.into());
            let planned = plan(self.next_firing(config, now, &checked), before, saved_due);
            self.last.plan_next(planned.map(|p| p.at));

            match planned {
                Some(due) if due.at <= now => {
                    runner.borrow_and_update();
                    if self.runner_busy() {
                        // Deferred, not dropped: looked at again once the runner moves on.
                        tokio::select! {
                            changed = runner.changed() => if changed.is_err() { return },
                            changed = revisions.changed() => if changed.is_err() { return },
                        }
                        continue;
                    }
                    saved_due = None;
                    if let Some(firing) = due.firing {
                        checked.push_back(firing);
                        if checked.len() > REMEMBERED {
                            checked.pop_front();
                        }
                    }
                    // What this check's answer shows as the next one.
                    let after = plan(self.next_firing(config, now, &checked), before, None);
                    self.last.plan_next(after.map(|p| p.at));
                    match due.firing {
                        Some(firing) => self.before_alarm(firing).await,
                        None => {
                            let result = self.last.run(&self.sources(), due.trigger).await;
                            tracing::info!(state = ?result.state, "readiness checked after an alarm change");
                        }
                    }
                }
                _ => {
                    let clock = self.clock.clone();
                    let wake = async {
                        match planned {
                            Some(planned) => clock.sleep_until(planned.at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = wake => {}
                        changed = revisions.changed() => if changed.is_err() { return },
                    }
                }
            }
        }
    }

    /// The next firing that rings and has not had its pre-alarm check.
    fn next_firing(
        &self,
        config: &Config,
        now: DateTime<Utc>,
        checked: &VecDeque<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        self.scheduler
            .upcoming(config, 16)
            .into_iter()
            .find(|f| {
                f.decision == Decision::Ring && f.at_utc > now && !checked.contains(&f.at_utc)
            })
            .map(|f| f.at_utc)
    }

    /// The pre-alarm check for `firing`, with the repair and the webhook when called for.
    async fn before_alarm(&self, firing: DateTime<Utc>) {
        let sources = self.sources();
        let mut result = self.last.run(&sources, Trigger::BeforeAlarm).await;
        let settings = self.store.snapshot().config.readiness.clone();
        if result.receiver_missing
            && let Some(command) = &settings.repair_command
        {
            if self.repair_fits(firing) {
                let ran_at = self.clock.now();
                let (outcome, exit_code) =
                    repair::run(command, tokio::time::sleep(REPAIR_TIMEOUT)).await;
                let back = self.wait_for_receiver(firing).await;
                tracing::info!(back, "waited for the receiver after the repair command");
                let repair = Repair {
                    program: command.first().cloned().unwrap_or_default(),
                    ran_at,
                    result: outcome,
                    exit_code,
                    helped: false,
                    message: String::new(),
                };
                result = self
                    .last
                    .run_with(&sources, Trigger::BeforeAlarm, Some(repair))
                    .await;
            } else {
                tracing::warn!(
                    "the receiver is missing, but the alarm is too close (or ringing) to run the repair command"
                );
            }
        }
        if result.state == ReadinessState::Ready {
            tracing::info!(
                repaired = result.repair.is_some(),
                "readiness checked before an alarm: ready"
            );
        } else {
            // Said in the journal too, for an owner without a webhook.
            let problems: Vec<&str> = result
                .problems
                .iter()
                .filter(|p| p.severity != super::Severity::Info)
                .map(|p| p.message.as_str())
                .collect();
            tracing::warn!(state = ?result.state, "the next alarm will not ring as planned: {}", problems.join("; "));
        }
        if result.state != ReadinessState::Ready
            && let Some(hook) = &settings.webhook
        {
            let shown = self.last.with_next(&result);
            let delivery = webhook::post(hook, &shown, self.clock.now()).await;
            self.last.amend(&result, |r| r.webhook = Some(delivery));
        }
    }

    /// The command and the wait for the receiver end well before `firing`, and nothing rings.
    fn repair_fits(&self, firing: DateTime<Utc>) -> bool {
        let needed = REPAIR_TIMEOUT + RECEIVER_WAIT + REPAIR_MARGIN;
        let needed = chrono::Duration::from_std(needed).expect("a few seconds fit a Duration");
        !self.runner_busy() && self.clock.now() + needed <= firing
    }

    /// Polls the device list until the receiver is online, [`RECEIVER_WAIT`] has passed on
    /// the injected clock, or something rings. Each poll holds off other checks (one login
    /// user at a time).
    async fn wait_for_receiver(&self, firing: DateTime<Utc>) -> bool {
        let as_chrono = |d: Duration| chrono::Duration::from_std(d).expect("seconds fit");
        let start = self.clock.now();
        let until = (start + as_chrono(RECEIVER_WAIT)).min(firing - as_chrono(REPAIR_MARGIN));
        let mut poll_at = start + as_chrono(RECEIVER_POLL);
        loop {
            let wake = poll_at.min(until);
            // A sleep may end early (a clock step, a manual clock moved): look again.
            while self.clock.now() < wake {
                self.clock.sleep_until(wake).await;
            }
            if self.runner_busy() {
                return false;
            }
            let settings = self.store.snapshot().config.spotify.clone();
            let listed = {
                let _one = self.last.exclusive().await;
                list_devices(&settings, self.store.files().dir()).await
            };
            match listed {
                Ok(devices) if receiver_online(&settings, &devices) => return true,
                Ok(_) => {}
                Err(e) => tracing::info!("waiting for the receiver: {e}"),
            }
            let now = self.clock.now();
            if now >= until {
                return false;
            }
            poll_at = now + as_chrono(RECEIVER_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-11-24T{s}Z").parse().unwrap()
    }

    const TEN: chrono::Duration = chrono::Duration::minutes(10);

    #[test]
    fn the_plan_checks_before_each_firing_and_after_a_change_settles() {
        let cases = [
            // No alarm and no change: nothing planned, so no timer at all.
            (None, None, None),
            // Ten minutes before the firing.
            (
                Some(at("07:00:00")),
                None,
                Some((at("06:50:00"), Trigger::BeforeAlarm)),
            ),
            // A change settling well before the window: its own check first.
            (
                Some(at("07:00:00")),
                Some(at("05:00:02")),
                Some((at("05:00:02"), Trigger::AlarmSaved)),
            ),
            // A change settling inside the window: one check, the pre-alarm one.
            (
                Some(at("07:00:00")),
                Some(at("06:55:02")),
                Some((at("06:55:02"), Trigger::BeforeAlarm)),
            ),
            // A change settling after the firing: the firing is not what it is about.
            (
                Some(at("07:00:00")),
                Some(at("07:00:01")),
                Some((at("07:00:01"), Trigger::AlarmSaved)),
            ),
            // Every alarm removed or disabled after a change: still the settled check.
            (
                None,
                Some(at("05:00:02")),
                Some((at("05:00:02"), Trigger::AlarmSaved)),
            ),
        ];
        for (firing, saved, expected) in cases {
            let planned = plan(firing, TEN, saved).map(|p| (p.at, p.trigger));
            assert_eq!(planned, expected, "firing {firing:?}, saved {saved:?}");
        }
        let pre = plan(Some(at("07:00:00")), TEN, Some(at("06:55:02"))).unwrap();
        assert_eq!(pre.firing, Some(at("07:00:00")));
    }

    fn alarm(json: &str) -> Alarm {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn only_new_or_changed_enabled_alarms_count_as_a_change() {
        let config = Config {
            alarms: vec![
                alarm(r#"{"id": "a", "time": "07:00", "repeat": ["mon"]}"#),
                alarm(r#"{"id": "b", "time": "08:00", "date": "2026-11-24"}"#),
            ],
            ..Config::default()
        };
        let before = watched(&config);

        let mut changed = config.clone();
        changed.alarms[0].time = "07:05".parse().unwrap();
        assert!(alarms_changed(&before, &watched(&changed)));
        let mut added = config.clone();
        added
            .alarms
            .push(alarm(r#"{"id": "c", "time": "09:00", "repeat": ["tue"]}"#));
        assert!(alarms_changed(&before, &watched(&added)));

        // What the scheduler does after a firing, and what cannot make an alarm fail.
        let mut quiet = config.clone();
        quiet.alarms[1].enabled = false;
        quiet.alarms[0].skip_next = true;
        assert!(!alarms_changed(&before, &watched(&quiet)));
        let mut removed = config.clone();
        removed.alarms.remove(0);
        assert!(!alarms_changed(&before, &watched(&removed)));
        let mut unrelated = config.clone();
        unrelated.volume.ceiling_percent = 50;
        unrelated.readiness.before_minutes = 30;
        assert!(!alarms_changed(&before, &watched(&unrelated)));
    }
}
