//! "Will it ring?": one check of everything the next alarm needs, answered before the morning
//! rather than at it. A silently expired login or a receiver that is gone is how a Spotify
//! alarm clock misses a morning, so the check looks at each path that can sound (Spotify, the
//! local sound, the buzzer) and says in one plain sentence per problem what is wrong and what
//! to do. The overall `state` says which path the alarm would take: `ready` (Spotify),
//! `degraded` (the local sound or the buzzer instead) or `broken` (nothing audible).
//!
//! This module owns the answer's types and [`LastCheck`] (the last result, one check at a
//! time); `checks.rs` is the check itself, `auto.rs` the task that runs it by itself (after an
//! alarm is saved, and before each firing), `repair.rs` the owner's repair command and
//! `webhook.rs` the owner's webhook. Only the automatic pre-alarm check may run the repair
//! command or post to the webhook: an HTTP client can ask for a check, never for a program.
//!
//! The check is bounded: the Spotify part (a refresh if due, `GET /me` and the device list)
//! has [`SPOTIFY_BUDGET`] in all and each request [`CALL_TIMEOUT`], so the page asking never
//! hangs. It never asks Spotify while an alarm runs: the ring sequence holds its own copy of
//! the login, and a refresh here would spend the single-use refresh token it relies on.

mod auto;
mod checks;
mod repair;
mod webhook;

pub use auto::AutoCheck;
pub use checks::{Inputs, Sources, check, is_configured, list_devices};

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::scheduler::UpcomingFiring;

/// Longest wait for one Spotify request during a check (shorter than the ring sequence's: a
/// person is waiting for the answer).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for the whole Spotify part of a check.
pub const SPOTIFY_BUDGET: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessState {
    /// Spotify would play the alarm.
    Ready,
    /// Spotify would not: the local sound (or the buzzer) rings instead.
    Degraded,
    /// Neither Spotify, nor the local sound, nor a buzzer can sound.
    Broken,
}

/// What a problem is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Linked, and the login still refreshable (it ends six months after linking).
    SpotifyLogin,
    SpotifyPremium,
    /// The configured receiver is online now (by id, or found by name).
    SpotifyDevice,
    SpotifyReachable,
    Clock,
    LocalSound,
    Buzzer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// This path cannot sound now.
    Error,
    /// It works, but needs attention (soon).
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    pub check: Check,
    pub severity: Severity,
    /// One plain sentence: what is wrong and what to do.
    pub message: String,
}

/// Why a check ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Asked for over HTTP (`/api/readiness`).
    OnDemand,
    /// An alarm was saved or changed (a couple of seconds after the last change).
    AlarmSaved,
    /// `readiness.before_minutes` before an alarm rings; only this one may run the repair
    /// command and post to the webhook.
    BeforeAlarm,
}

/// The answer of one check.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub state: ReadinessState,
    pub checked_at: DateTime<Utc>,
    pub trigger: Trigger,
    /// When the next automatic check runs, as of this answer; `null` when none is planned
    /// (no alarm set).
    pub next_check_at: Option<DateTime<Utc>>,
    /// The alarm this is about; `null` when none is set.
    pub next_alarm: Option<UpcomingFiring>,
    /// Empty when all is well.
    pub problems: Vec<Problem>,
    /// The owner's repair command, when this pre-alarm check ran it; else `null`.
    pub repair: Option<Repair>,
    /// The post to the owner's webhook, when this pre-alarm check made one; else `null`.
    pub webhook: Option<WebhookDelivery>,
    /// The configured receiver (or, with none configured, any) is not online: what a repair
    /// command can fix.
    #[serde(skip)]
    pub(crate) receiver_missing: bool,
}

/// How the repair command went.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Repair {
    /// The program (`readiness.repair_command[0]`; its arguments are not shown).
    pub program: String,
    pub ran_at: DateTime<Utc>,
    pub result: RepairResult,
    /// The exit code, when the program exited by itself.
    pub exit_code: Option<i32>,
    /// The check after it found the receiver online.
    pub helped: bool,
    /// One plain sentence saying what ran and whether it helped.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepairResult {
    /// Exited with status 0.
    Succeeded,
    /// Exited with another status, or was ended by a signal.
    Failed,
    /// Did not finish within 30 s and was killed (with everything it started).
    TimedOut,
    /// Could not be started (not found, not executable).
    NotStarted,
}

/// The post to the webhook.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// Only the host: the URL may carry a token.
    pub host: String,
    pub sent_at: DateTime<Utc>,
    /// The HTTP status answered; `null` when no answer came.
    pub status: Option<u16>,
    /// The webhook answered 2xx.
    pub delivered: bool,
    /// Why not, in words; `null` when delivered.
    pub error: Option<String>,
}

/// The last result, kept for `/api/status`, one check at a time (two checks refreshing the
/// login at once would each spend the other's single-use refresh token), and when the next
/// automatic one runs.
pub struct LastCheck {
    last: ArcSwapOption<Readiness>,
    running: tokio::sync::Mutex<()>,
    next: watch::Sender<Option<DateTime<Utc>>>,
    /// Each new result, for the page's event streams.
    published: watch::Sender<Option<Arc<Readiness>>>,
}

impl Default for LastCheck {
    fn default() -> Self {
        LastCheck {
            last: ArcSwapOption::default(),
            running: tokio::sync::Mutex::new(()),
            next: watch::Sender::new(None),
            published: watch::Sender::new(None),
        }
    }
}

impl LastCheck {
    /// The last result as stored (its `next_check_at` as of then).
    pub fn last(&self) -> Option<Arc<Readiness>> {
        self.last.load_full()
    }

    /// The last result as the API shows it: with the next automatic check as planned now.
    pub fn answer(&self) -> Option<Readiness> {
        self.last().map(|last| self.with_next(&last))
    }

    /// `result` with the next automatic check as planned now.
    pub fn with_next(&self, result: &Readiness) -> Readiness {
        let mut shown = result.clone();
        shown.next_check_at = self.next_check_at();
        shown
    }

    /// Each new result, as it is kept (the page's event streams follow it).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Readiness>>> {
        self.published.subscribe()
    }

    /// Keeps `result` as the last one and announces it.
    fn keep(&self, result: &Arc<Readiness>) {
        self.last.store(Some(Arc::clone(result)));
        self.published.send_replace(Some(Arc::clone(result)));
    }

    pub fn next_check_at(&self) -> Option<DateTime<Utc>> {
        *self.next.borrow()
    }

    fn plan_next(&self, at: Option<DateTime<Utc>>) {
        self.next.send_if_modified(|next| {
            let changed = *next != at;
            *next = at;
            changed
        });
    }

    /// Runs a check (waiting for one in progress) and keeps its result.
    pub async fn run(&self, from: &Sources<'_>, trigger: Trigger) -> Arc<Readiness> {
        self.run_with(from, trigger, None).await
    }

    /// Like [`run`](Self::run), noting the repair that ran before it and whether it helped.
    async fn run_with(
        &self,
        from: &Sources<'_>,
        trigger: Trigger,
        repair: Option<Repair>,
    ) -> Arc<Readiness> {
        let _one = self.running.lock().await;
        let mut result = from.check(trigger).await;
        result.next_check_at = self.next_check_at();
        if let Some(repair) = repair {
            note_repair(&mut result, repair);
        }
        let result = Arc::new(result);
        self.keep(&result);
        result
    }

    /// Holds off every check while held: for anything else that may refresh the login (the
    /// device list, the polls after a repair).
    pub(crate) async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.running.lock().await
    }

    /// Replaces `of` by `change(of)` if it is still the last result (a newer check wins).
    fn amend(&self, of: &Arc<Readiness>, change: impl FnOnce(&mut Readiness)) -> Arc<Readiness> {
        let mut amended = of.as_ref().clone();
        change(&mut amended);
        let amended = Arc::new(amended);
        let previous = self
            .last
            .compare_and_swap(&Some(Arc::clone(of)), Some(Arc::clone(&amended)));
        if previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, of)) {
            self.published.send_replace(Some(Arc::clone(&amended)));
        }
        amended
    }
}

/// Records the repair in the result, with the plain sentence as a problem too so it is in
/// the list the page (and the webhook) shows.
fn note_repair(result: &mut Readiness, mut repair: Repair) {
    repair.helped = !result.receiver_missing;
    let what = match repair.result {
        RepairResult::Succeeded => "ran",
        RepairResult::Failed => "ran and failed",
        RepairResult::TimedOut => "did not finish in time and was stopped",
        RepairResult::NotStarted => "could not be started",
    };
    repair.message = if repair.helped {
        format!(
            "the receiver was missing, so the repair command ({}) {what}, and the receiver is online again",
            repair.program
        )
    } else {
        format!(
            "the receiver was missing, so the repair command ({}) {what}, but the receiver is still not online",
            repair.program
        )
    };
    let severity = if repair.helped {
        Severity::Info
    } else {
        Severity::Warning
    };
    result.problems.push(Problem {
        check: Check::SpotifyDevice,
        severity,
        message: repair.message.clone(),
    });
    result.repair = Some(repair);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(receiver_missing: bool) -> Readiness {
        Readiness {
            state: ReadinessState::Degraded,
            checked_at: "2026-11-24T06:50:00Z".parse().unwrap(),
            trigger: Trigger::BeforeAlarm,
            next_check_at: None,
            next_alarm: None,
            problems: Vec::new(),
            repair: None,
            webhook: None,
            receiver_missing,
        }
    }

    fn repair() -> Repair {
        Repair {
            program: "systemctl".into(),
            ran_at: "2026-11-24T06:50:01Z".parse().unwrap(),
            result: RepairResult::Succeeded,
            exit_code: Some(0),
            helped: false,
            message: String::new(),
        }
    }

    #[test]
    fn a_repair_says_whether_it_helped() {
        let mut fixed = result(false);
        note_repair(&mut fixed, repair());
        let noted = fixed.repair.as_ref().unwrap();
        assert!(noted.helped);
        assert!(noted.message.contains("online again"), "{}", noted.message);
        assert_eq!(fixed.problems[0].severity, Severity::Info);
        assert_eq!(fixed.problems[0].message, noted.message);

        let mut still = result(true);
        note_repair(&mut still, repair());
        assert!(!still.repair.as_ref().unwrap().helped);
        assert!(still.problems[0].message.contains("still not online"));
        assert_eq!(still.problems[0].severity, Severity::Warning);
    }

    #[test]
    fn an_amendment_never_replaces_a_newer_result() {
        let last = LastCheck::default();
        let older = Arc::new(result(true));
        last.last.store(Some(Arc::clone(&older)));
        let amended = last.amend(&older, |r| r.state = ReadinessState::Broken);
        assert_eq!(last.last().unwrap().state, ReadinessState::Broken);

        let newer = Arc::new(result(false));
        last.last.store(Some(Arc::clone(&newer)));
        last.amend(&amended, |r| r.state = ReadinessState::Ready);
        assert!(Arc::ptr_eq(&last.last().unwrap(), &newer));
    }

    #[test]
    fn the_answer_shows_the_next_check_as_planned_now() {
        let last = LastCheck::default();
        assert!(last.answer().is_none());
        last.last.store(Some(Arc::new(result(false))));
        let at: DateTime<Utc> = "2026-11-25T06:50:00Z".parse().unwrap();
        last.plan_next(Some(at));
        assert_eq!(last.answer().unwrap().next_check_at, Some(at));
        last.plan_next(None);
        assert_eq!(last.answer().unwrap().next_check_at, None);
    }
}
