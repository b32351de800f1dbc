//! The runner's records of an episode: the journal written while it runs, the history entry
//! when it ends (or when a firing could not ring because another alarm was busy).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::episode::Episode;
use super::records::{EndedBy, HistoryEntry};
use super::{Runner, RunnerState};

const JOURNAL_TIMEOUT: Duration = Duration::from_secs(1);

impl Runner {
    /// Bounded: a slow SD card must not hold up the ring (only a crash-resume is at stake).
    pub(super) async fn save_journal(&self, episode: &Episode, ring_deadline: DateTime<Utc>) {
        let mut entry = episode.journal();
        entry.ring_deadline = Some(ring_deadline);
        match tokio::time::timeout(JOURNAL_TIMEOUT, self.journal.save(&entry)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(path = %self.journal.path().display(), "cannot save the ring journal: {e}")
            }
            Err(_) => {
                tracing::error!(path = %self.journal.path().display(), "the ring journal write is slow; ringing without waiting for it")
            }
        }
    }

    /// A firing while another alarm rings or snoozes: not rung, but on record.
    pub(super) async fn overlapped(&mut self, firing: crate::scheduler::Firing, busy_with: &str) {
        tracing::warn!(alarm = %firing.alarm.id, busy_with, "NOT RUNG: another alarm is ringing or snoozed");
        let now = self.clock.now();
        let entry = HistoryEntry {
            alarm_id: Some(firing.alarm.id.clone()),
            label: firing.alarm.label.clone(),
            occurrence: Some(firing.occurrence),
            started_at: now,
            ended_at: now,
            ended_by: EndedBy::Overlapped,
            paths: Vec::new(),
            fallback_reason: Some(format!(
                "not rung: alarm {busy_with:?} was ringing or snoozed"
            )),
            snoozes: 0,
            duration_seconds: 0,
        };
        self.history.push(entry).await;
        self.history_view.send_replace(self.history.entries());
    }

    /// Records a finished episode and goes idle.
    pub(super) async fn finish(&mut self, episode: Episode, ended_by: EndedBy) {
        let ended_at = self.clock.now();
        let entry = HistoryEntry {
            alarm_id: Some(episode.alarm.id.clone()),
            label: episode.alarm.label.clone(),
            occurrence: episode.occurrence,
            started_at: episode.started_at,
            ended_at,
            ended_by,
            paths: episode.paths,
            fallback_reason: episode.fallback_reason,
            snoozes: episode.snoozes_used,
            duration_seconds: (ended_at - episode.started_at).num_seconds(),
        };
        tracing::info!(alarm = ?entry.alarm_id, ended_by = ?ended_by, paths = ?entry.paths, "alarm episode ended");
        if let Err(e) = self.journal.remove().await {
            tracing::error!(path = %self.journal.path().display(), "cannot remove the ring journal: {e}");
        }
        self.record(entry).await;
    }

    /// Adds a finished episode to the history and goes idle.
    pub(super) async fn record(&mut self, entry: HistoryEntry) {
        self.history.push(entry.clone()).await;
        self.history_view.send_replace(self.history.entries());
        let now = self.clock.now();
        self.status.send_modify(|s| {
            s.state = RunnerState::Idle;
            s.heartbeat = Some(now);
            s.last_episode = Some(entry);
        });
    }
}
