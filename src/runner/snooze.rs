//! The snooze between two ring phases: waits on the wall clock (bounded sleeps, so a clock
//! step is noticed), answers commands, keeps the heartbeat going, records overlapping firings.

use chrono::{DateTime, Utc};

use super::episode::{Episode, HEARTBEAT};
use super::records::EndedBy;
use super::{Runner, RunnerCommand, RunnerState};

impl Runner {
    /// Waits out a snooze; `Some` if the episode was stopped meanwhile.
    pub(super) async fn snooze(
        &mut self,
        episode: &mut Episode,
        until: DateTime<Utc>,
    ) -> Option<EndedBy> {
        episode.snoozed_until = Some(until);
        let max_ring = chrono::Duration::minutes(episode.alarm.ring.max_ring_minutes.into());
        self.save_journal(episode, until + max_ring).await;
        self.publish(RunnerState::Snoozed {
            alarm_id: episode.alarm.id.clone(),
            label: episode.alarm.label.clone(),
            until,
            snoozes_used: episode.snoozes_used,
        });
        let clock = self.clock.clone();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        while clock.now() < until {
            tokio::select! {
                _ = clock.sleep_until(until) => {}
                _ = heartbeat.tick() => {
                    let now = clock.now();
                    self.status.send_modify(|s| s.heartbeat = Some(now));
                }
                Some(command) = self.commands.recv() => match command {
                    RunnerCommand::Stop { by, reply } => {
                        let _ = reply.send(Ok(()));
                        // In case it stayed on through the snooze.
                        self.hardware.amplifier_off();
                        return Some(by.ended_by());
                    }
                    // Already snoozing.
                    RunnerCommand::Snooze { reply, .. } => { let _ = reply.send(Ok(())); }
                    command => command.refuse(),
                },
                Some(firing) = self.firings.recv() => {
                    let busy = episode.alarm.id.clone();
                    self.overlapped(firing, &busy).await;
                }
            }
        }
        episode.snoozed_until = None;
        None
    }
}
