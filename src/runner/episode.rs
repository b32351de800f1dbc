//! One alarm episode, from the firing to its end, as one value: what the ring phases read and
//! update, what the journal (`ring-episode.json`) stores for crash resume, and what becomes the
//! history entry. There is no second copy of these fields.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{EndedBy, HistoryEntry, RingPath};
use crate::config::Alarm;

/// The episode in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The alarm as it was when it fired (it may be edited or deleted meanwhile).
    pub alarm: Alarm,
    pub occurrence: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    /// When the current ring began (after a snooze, the re-ring).
    pub ringing_since: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub snoozes_used: u32,
    /// How far the fade-in got, so it continues after a snooze or a restart.
    pub fade_elapsed_ms: u64,
    #[serde(default)]
    pub paths: Vec<RingPath>,
    #[serde(default)]
    pub fallback_reason: Option<String>,
    /// When the current ring (or, snoozed, the next one) stops by itself; a resume does not
    /// extend it.
    #[serde(default)]
    pub ring_deadline: Option<DateTime<Utc>>,
}

impl Episode {
    pub fn new(alarm: Alarm, occurrence: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Episode {
        Episode {
            alarm,
            occurrence,
            started_at: now,
            ringing_since: None,
            snoozed_until: None,
            snoozes_used: 0,
            fade_elapsed_ms: 0,
            paths: Vec::new(),
            fallback_reason: None,
            ring_deadline: None,
        }
    }

    pub fn fade_elapsed(&self) -> Duration {
        Duration::from_millis(self.fade_elapsed_ms)
    }

    pub fn set_fade_elapsed(&mut self, elapsed: Duration) {
        self.fade_elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    }

    pub(super) fn note_path(&mut self, path: RingPath) {
        if self.paths.last() != Some(&path) {
            self.paths.push(path);
        }
    }

    /// The longest one ring of this alarm lasts.
    pub(super) fn max_ring(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.alarm.ring.max_ring_minutes.into())
    }

    /// Whether a journaled episode is still worth resuming at `now`: while the ring (or the
    /// one after the snooze) would still be running.
    pub(super) fn resumable_at(&self, now: DateTime<Utc>) -> bool {
        let deadline = self.ring_deadline.unwrap_or_else(|| {
            self.snoozed_until
                .or(self.ringing_since)
                .unwrap_or(self.started_at)
                + self.max_ring()
        });
        now < deadline
    }

    pub(super) fn history_entry(&self, ended_by: EndedBy, ended_at: DateTime<Utc>) -> HistoryEntry {
        HistoryEntry {
            alarm_id: Some(self.alarm.id.clone()),
            label: self.alarm.label.clone(),
            occurrence: self.occurrence,
            started_at: self.started_at,
            ended_at,
            ended_by,
            paths: self.paths.clone(),
            fallback_reason: self.fallback_reason.clone(),
            snoozes: self.snoozes_used,
            duration_seconds: (ended_at - self.started_at).num_seconds(),
        }
    }
}
