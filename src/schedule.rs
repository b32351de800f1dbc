//! The schedule: which alarm occurrences exist, and which are due. Pure: no IO, no tokio, no
//! clock reads; "now" and the per-alarm state are parameters, so DST, weekday, vacation,
//! grace and clock-step rules are plain table tests.
//!
//! DST rules (docs/scheduling.md): a local time that does not exist (spring gap) rings at the
//! first instant after the gap, once; a local time that exists twice (autumn overlap) rings
//! once, at its first occurrence.
//!
//! Every alarm has a `handled_until` instant: occurrences at or before it are done (rung,
//! skipped, missed, or before the alarm was set). Only occurrences after it can ring, which is
//! what keeps a backward clock step or a restart from ringing anything twice.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{Alarm, Config};

/// The scheduler's memory of each alarm, persisted across restarts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub alarms: BTreeMap<String, AlarmState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    /// Occurrences at or before this instant are done.
    pub handled_until: DateTime<Utc>,
    /// The alarm's timing as last seen; a change re-arms it from "now".
    pub fingerprint: String,
}

/// One occurrence of an alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub alarm_id: String,
    pub label: String,
    /// The local date it belongs to (the nominal day, also when DST moved the instant).
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
}

/// What to do with an occurrence whose time has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Ring,
    /// `skip_next` was set; the daemon clears it.
    SkipNext,
    /// The day is in the vacation range.
    Vacation,
    /// Found later than the catch-up grace (daemon down, clock stepped forward): not rung.
    Missed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub occurrence: Occurrence,
    pub decision: Decision,
}

/// The instant a local date and time ring at in `zone`, by the DST rules above.
pub fn resolve(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first local minute that exists is the gap's end. Gaps are whole
            // minutes and at most a day long, so this ends within 1440 steps.
            let mut probe = local;
            for _ in 0..=24 * 60 {
                probe += Duration::minutes(1);
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            unreachable!("no time zone has a gap longer than a day")
        }
    }
}

/// A stable summary of when an alarm rings (including the configured zone); when it changes,
/// the alarm is re-armed.
pub fn fingerprint(config: &Config, alarm: &Alarm) -> String {
    let days: Vec<_> = alarm.repeat.iter().map(|d| format!("{d:?}")).collect();
    let date = alarm.date.map(|d| d.to_string()).unwrap_or_default();
    let zone = config.time_zone.as_deref().unwrap_or("system");
    let (enabled, time) = (alarm.enabled, alarm.time);
    format!("{enabled}|{time}|{}|{date}|{zone}", days.join(","))
}

/// Brings the state in line with the alarms: new or re-timed alarms (and all alarms on a first
/// start) are armed from `now`, so they ring only at future occurrences; removed ones are
/// forgotten. Returns whether anything changed.
pub fn reconcile(config: &Config, state: &mut ScheduleState, now: DateTime<Utc>) -> bool {
    let before = state.alarms.len();
    state
        .alarms
        .retain(|id, _| config.alarms.iter().any(|a| &a.id == id));
    let mut changed = state.alarms.len() != before;
    for alarm in &config.alarms {
        let print = fingerprint(config, alarm);
        match state.alarms.get_mut(&alarm.id) {
            Some(s) if s.fingerprint == print => {}
            Some(s) => {
                s.fingerprint = print;
                s.handled_until = s.handled_until.max(now);
                changed = true;
            }
            None => {
                state.alarms.insert(
                    alarm.id.clone(),
                    AlarmState {
                        handled_until: now,
                        fingerprint: print,
                    },
                );
                changed = true;
            }
        }
    }
    changed
}

/// The first occurrence of `alarm` strictly after `after` (ignoring skip and vacation).
pub fn next_after(alarm: &Alarm, zone: Tz, after: DateTime<Utc>) -> Option<Occurrence> {
    if !alarm.enabled {
        return None;
    }
    let occurrence = |date: NaiveDate| Occurrence {
        alarm_id: alarm.id.clone(),
        label: alarm.label.clone(),
        date,
        at: resolve(zone, date.and_time(alarm.time.time())),
    };
    if let Some(date) = alarm.date {
        return Some(occurrence(date)).filter(|o| o.at > after);
    }
    // Start a day early: DST can move an occurrence across midnight in UTC terms.
    let first = after.with_timezone(&zone).date_naive() - Days::new(1);
    (0..9)
        .map(|d| first + Days::new(d))
        .filter(|date| {
            alarm.repeat.is_empty()
                || alarm
                    .repeat
                    .iter()
                    .any(|day| day.weekday() == date.weekday())
        })
        .map(occurrence)
        .find(|o| o.at > after)
}

fn handled_until(state: &ScheduleState, alarm: &Alarm, now: DateTime<Utc>) -> DateTime<Utc> {
    // An alarm the scheduler has not armed yet counts from now: only future occurrences.
    state.alarms.get(&alarm.id).map_or(now, |s| s.handled_until)
}

fn is_one_shot(alarm: &Alarm) -> bool {
    alarm.repeat.is_empty()
}

/// The occurrences whose time has come (after `handled_until`, at or before `now`), one per
/// alarm at most: the latest. Older ones in the same span were missed along with it and are not
/// worth a report each (a clock that jumped a week would otherwise report seven).
pub fn due(config: &Config, zone: Tz, state: &ScheduleState, now: DateTime<Utc>) -> Vec<Due> {
    let grace = Duration::minutes(config.schedule.catch_up_grace_minutes.into());
    let mut due = Vec::new();
    for alarm in &config.alarms {
        // Looking back more than a week only finds occurrences long missed.
        let mut after = handled_until(state, alarm, now).max(now - Duration::days(8));
        let mut latest = None;
        while let Some(o) = next_after(alarm, zone, after).filter(|o| o.at <= now) {
            after = o.at;
            latest = Some(o);
            if is_one_shot(alarm) {
                break;
            }
        }
        let Some(occurrence) = latest else { continue };
        let decision = if alarm.skip_next {
            Decision::SkipNext
        } else if config
            .schedule
            .vacation
            .as_ref()
            .is_some_and(|v| v.contains(occurrence.date))
        {
            Decision::Vacation
        } else if now - occurrence.at > grace {
            Decision::Missed
        } else {
            Decision::Ring
        };
        due.push(Due {
            occurrence,
            decision,
        });
    }
    due.sort_by_key(|d| d.occurrence.at);
    due
}

/// When the scheduler must look again: the earliest future occurrence of any alarm, including
/// ones that will be skipped (their `skip_next` must be cleared on time).
pub fn next_wakeup(
    config: &Config,
    zone: Tz,
    state: &ScheduleState,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    config
        .alarms
        .iter()
        .filter_map(|a| next_after(a, zone, handled_until(state, a, now).max(now)))
        .map(|o| o.at)
        .min()
}

/// The next `count` occurrences of all alarms after `now`, each with what will happen to it
/// (`Ring`, `SkipNext` or `Vacation`), in time order.
pub fn upcoming(
    config: &Config,
    zone: Tz,
    state: &ScheduleState,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<Due> {
    let mut all = Vec::new();
    for alarm in &config.alarms {
        let mut after = handled_until(state, alarm, now).max(now);
        let mut skip = alarm.skip_next;
        for _ in 0..count {
            let Some(occurrence) = next_after(alarm, zone, after) else {
                break;
            };
            after = occurrence.at;
            let vacation = config.schedule.vacation.as_ref();
            let decision = if std::mem::take(&mut skip) {
                Decision::SkipNext
            } else if vacation.is_some_and(|v| v.contains(occurrence.date)) {
                Decision::Vacation
            } else {
                Decision::Ring
            };
            all.push(Due {
                occurrence,
                decision,
            });
            if is_one_shot(alarm) {
                break;
            }
        }
    }
    all.sort_by(|a, b| {
        (a.occurrence.at, &a.occurrence.alarm_id).cmp(&(b.occurrence.at, &b.occurrence.alarm_id))
    });
    all.truncate(count);
    all
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
