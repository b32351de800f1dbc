//! systemd's status line (`STATUS=`, shown by `systemctl status`): what the daemon is doing,
//! in words, e.g. `next alarm Mon 06:45 (Wake up) · listening on 0.0.0.0:8080`.
//!
//! [`line`] is pure (runner state, plan, now → text). [`keep_current`] sends it again only when
//! the text changes, woken by the runner's status and the scheduler's plan: an idle daemon
//! never wakes for it. There is no "in 7 h": it would go stale between changes. A weekday
//! names the next alarm within the coming six days (unambiguous until it rings, when the plan
//! changes anyway); further away the date is added.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;

use super::notify::{Notifier, NotifyState, one_line};
use crate::clock::SharedClock;
use crate::runner::{RingPath, RunnerState, RunnerStatus};
use crate::scheduler::Plan;

/// The status line for this state. `plan` is `None` until the scheduler first planned.
pub fn line(
    runner: &RunnerState,
    plan: Option<&Plan>,
    now: DateTime<Utc>,
    addr: SocketAddr,
) -> String {
    let zone = plan.map_or(Tz::UTC, |p| p.zone);
    let clock = |at: &DateTime<Utc>| at.with_timezone(&zone).format("%H:%M").to_string();
    let doing = match runner {
        RunnerState::Idle => match plan {
            None => None,
            Some(Plan {
                next_firing: None, ..
            }) => Some("no alarm set".to_owned()),
            Some(Plan {
                next_firing: Some(next),
                ..
            }) => Some(format!(
                "next alarm {}{}",
                when(next.at_utc, now, zone),
                labelled(&next.label)
            )),
        },
        RunnerState::Preparing { label, .. } => Some(format!("ringing: {label} (starting)")),
        RunnerState::Ringing { label, path, .. } => {
            let path = match path {
                RingPath::Spotify => "Spotify",
                RingPath::LocalSound => "local sound",
                RingPath::Buzzer => "buzzer",
                RingPath::Silent => "silent: nothing can sound",
            };
            Some(format!("ringing: {label} ({path})"))
        }
        RunnerState::Snoozed { label, until, .. } => {
            Some(format!("snoozed until {}{}", clock(until), labelled(label)))
        }
        RunnerState::SleepTimer { until, .. } => {
            Some(format!("sleep timer until {}", clock(until)))
        }
    };
    let listening = format!("listening on {addr}");
    one_line(&match doing {
        Some(doing) => format!("{doing} · {listening}"),
        None => listening,
    })
}

/// `Mon 06:45` within the coming six days, else `Mon 17 Mar 06:45`.
fn when(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> String {
    let local = at.with_timezone(&zone);
    let days = (local.date_naive() - now.with_timezone(&zone).date_naive()).num_days();
    if (0..7).contains(&days) {
        local.format("%a %H:%M").to_string()
    } else {
        local.format("%a %-d %b %Y %H:%M").to_string()
    }
}

fn labelled(label: &str) -> String {
    if label.trim().is_empty() {
        String::new()
    } else {
        format!(" ({label})")
    }
}

/// Sends the status line whenever it changes, starting from `sent` (what READY carried).
/// Runs until aborted or until the runner or the scheduler is gone.
pub async fn keep_current(
    notifier: Notifier,
    addr: SocketAddr,
    clock: SharedClock,
    mut runner: watch::Receiver<RunnerStatus>,
    mut plan: watch::Receiver<Option<Plan>>,
    mut sent: String,
) {
    loop {
        let state = runner.borrow_and_update().state.clone();
        let planned = plan.borrow_and_update().clone();
        let now = line(&state, planned.as_ref(), clock.now(), addr);
        if now != sent {
            notifier.send(&[NotifyState::Status(&now)]);
            sent = now;
        }
        // The heartbeat also wakes this while an alarm rings; the line then stays the same.
        let alive = tokio::select! {
            changed = runner.changed() => changed.is_ok(),
            changed = plan.changed() => changed.is_ok(),
        };
        if !alive {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Decision;
    use crate::scheduler::UpcomingFiring;

    const ADDR: &str = "0.0.0.0:8080";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn plan(next: Option<(&str, &str)>, zone: Tz) -> Plan {
        Plan {
            next_firing: next.map(|(time, label)| UpcomingFiring {
                alarm_id: "wake".into(),
                label: label.into(),
                at_utc: at(time),
                at_local: String::new(),
                decision: Decision::Ring,
            }),
            zone,
        }
    }

    fn text(state: RunnerState, plan: Option<&Plan>, now: &str) -> String {
        line(&state, plan, at(now), ADDR.parse().unwrap())
    }

    #[test]
    fn idle_says_when_the_next_alarm_rings_in_the_alarms_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Sunday 2026-03-08 22:00 in Berlin; the alarm is Monday 06:45 there.
        let next = plan(Some(("2026-03-09T05:45:00Z", "Wake up")), berlin);
        let cases = [
            (
                "2026-03-08T21:00:00Z",
                "next alarm Mon 06:45 (Wake up) · listening on 0.0.0.0:8080",
            ),
            // The same day, and six days before: still the weekday.
            (
                "2026-03-09T05:00:00Z",
                "next alarm Mon 06:45 (Wake up) · listening on 0.0.0.0:8080",
            ),
            (
                "2026-03-03T05:00:00Z",
                "next alarm Mon 06:45 (Wake up) · listening on 0.0.0.0:8080",
            ),
            // A week or more ahead, "Mon" would be ambiguous.
            (
                "2026-03-02T05:00:00Z",
                "next alarm Mon 9 Mar 2026 06:45 (Wake up) · listening on 0.0.0.0:8080",
            ),
        ];
        for (now, expected) in cases {
            assert_eq!(text(RunnerState::Idle, Some(&next), now), expected, "{now}");
        }
        let unlabelled = plan(Some(("2026-03-09T05:45:00Z", " ")), berlin);
        assert_eq!(
            text(RunnerState::Idle, Some(&unlabelled), "2026-03-08T21:00:00Z"),
            "next alarm Mon 06:45 · listening on 0.0.0.0:8080"
        );
    }

    #[test]
    fn before_the_first_plan_it_says_only_where_it_listens_and_then_whether_an_alarm_is_set() {
        let now = "2026-03-08T21:00:00Z";
        assert_eq!(
            text(RunnerState::Idle, None, now),
            "listening on 0.0.0.0:8080"
        );
        assert_eq!(
            text(RunnerState::Idle, Some(&plan(None, Tz::UTC)), now),
            "no alarm set · listening on 0.0.0.0:8080"
        );
    }

    #[test]
    fn a_ring_says_what_sounds_a_snooze_and_a_sleep_timer_until_when() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let planned = plan(None, zone);
        let now = "2026-03-09T05:45:00Z";
        let ringing = |path| RunnerState::Ringing {
            alarm_id: "wake".into(),
            label: "Wake up".into(),
            since: at(now),
            path,
            fallback_reason: None,
            volume_percent: None,
            fade_percent: 0,
            snoozes_used: 0,
        };
        let cases = [
            (
                RunnerState::Preparing {
                    alarm_id: "wake".into(),
                    label: "Wake up".into(),
                    since: at(now),
                },
                "ringing: Wake up (starting)",
            ),
            (ringing(RingPath::Spotify), "ringing: Wake up (Spotify)"),
            (
                ringing(RingPath::LocalSound),
                "ringing: Wake up (local sound)",
            ),
            (ringing(RingPath::Buzzer), "ringing: Wake up (buzzer)"),
            (
                ringing(RingPath::Silent),
                "ringing: Wake up (silent: nothing can sound)",
            ),
            (
                RunnerState::Snoozed {
                    alarm_id: "wake".into(),
                    label: "Wake up".into(),
                    until: at("2026-03-09T05:54:00Z"),
                    snoozes_used: 1,
                },
                "snoozed until 06:54 (Wake up)",
            ),
            (
                RunnerState::SleepTimer {
                    until: at("2026-03-09T22:40:00Z"),
                    volume_percent: 20,
                },
                "sleep timer until 23:40",
            ),
        ];
        for (state, expected) in cases {
            assert_eq!(
                text(state, Some(&planned), now),
                format!("{expected} · listening on 0.0.0.0:8080")
            );
        }
    }

    /// The real scheduler's plan drives the line: sent when the next alarm changes, not for
    /// a change that leaves it as it was.
    #[tokio::test]
    async fn the_line_is_sent_when_the_plan_changes_and_only_then() {
        use std::os::unix::net::UnixDatagram;
        use std::sync::Arc;

        use crate::clock::ManualClock;
        use crate::scheduler::Scheduler;
        use crate::store::ConfigStore;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let config = serde_json::json!({
            "version": 1, "time_zone": "UTC",
            "alarms": [{"id": "wake", "label": "Wake up", "time": "07:00",
                        "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}],
        });
        std::fs::write(&path, config.to_string()).unwrap();
        let store = ConfigStore::open(&path, None).unwrap();
        let clock: SharedClock = Arc::new(ManualClock::new(at("2026-03-09T05:00:00Z")));
        let (firings, _keep) = tokio::sync::mpsc::channel(8);
        let (scheduler, handle) = Scheduler::new(
            store.clone(),
            clock.clone(),
            firings,
            Box::new(|| Some(true)),
        )
        .unwrap();
        let socket = dir.path().join("notify");
        let notify = UnixDatagram::bind(&socket).unwrap();
        notify.set_nonblocking(true).unwrap();
        let (_status, runner) = watch::channel(RunnerStatus {
            state: RunnerState::Idle,
            heartbeat: None,
            last_episode: None,
        });
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let _scheduler = scheduler.spawn();
        let task = tokio::spawn(keep_current(
            Notifier::to(socket.as_os_str()).unwrap(),
            addr,
            clock,
            runner,
            handle.watch_plan(),
            "listening on 127.0.0.1:8080".into(),
        ));
        let next = async || {
            let mut buffer = [0u8; 512];
            for _ in 0..1000 {
                if let Ok(n) = notify.recv(&mut buffer) {
                    return String::from_utf8_lossy(&buffer[..n]).into_owned();
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            panic!("no status line within 5 s");
        };
        assert_eq!(
            next().await,
            "STATUS=next alarm Mon 07:00 (Wake up) · listening on 127.0.0.1:8080\n"
        );
        // The title is not in the line: no new one. Disabling the alarm is.
        store
            .transaction(None, |c| {
                c.web.title = "Bedroom".into();
                Ok(())
            })
            .await
            .unwrap();
        store
            .transaction(None, |c| {
                c.alarms[0].enabled = false;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            next().await,
            "STATUS=no alarm set · listening on 127.0.0.1:8080\n"
        );
        task.abort();
    }

    #[test]
    fn a_label_with_a_newline_stays_on_one_line() {
        let state = RunnerState::Preparing {
            alarm_id: "wake".into(),
            label: "Wake\nREADY=1".into(),
            since: at("2026-03-09T05:45:00Z"),
        };
        let status = text(state, None, "2026-03-09T05:45:00Z");
        assert_eq!(status.lines().count(), 1, "{status:?}");
    }
}
