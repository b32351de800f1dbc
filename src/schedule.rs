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
    DateTime, Datelike, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Utc,
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

/// Why an alarm's occurrences cannot be computed: a date or instant outside what the calendar
/// arithmetic can represent. Validation keeps dates far from those limits; this is the
/// defence behind it, so one such alarm is skipped and reported instead of stopping the others.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unschedulable(pub String);

/// The instant a local date and time ring at in `zone`, by the DST rules above; `None` when it
/// lies outside the instants chrono can represent.
pub fn resolve(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).to_utc()),
        // The zone knows an offset for this local time, but the instant is out of range.
        LocalResult::None
            if !matches!(zone.offset_from_local_datetime(&local), LocalResult::None) =>
        {
            None
        }
        LocalResult::None => gap_end(zone, local),
    }
}

/// The first instant after the gap `local` falls in: the moment the wall clock jumps past it.
fn gap_end(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let exists = |t: NaiveDateTime| zone.from_local_datetime(&t).earliest();
    // Modern gaps are whole minutes and at most a day long (Pacific/Apia skipped 2011-12-30),
    // so whole-minute steps find the first existing minute within 1440 steps...
    let mut before = local;
    for _ in 0..=24 * 60 {
        let probe = before.checked_add_signed(Duration::minutes(1))?;
        if exists(probe).is_some() {
            // ...and old local-mean-time gaps end on a second inside the minute before it.
            return (1..=60).find_map(|s| {
                let t = before.checked_add_signed(Duration::seconds(s))?;
                exists(t).map(|t| t.to_utc())
            });
        }
        before = probe;
    }
    None
}

/// The local wall-clock time of `at` in `zone`, if representable (chrono's own conversion
/// panics at the ends of its range).
pub fn local_time(zone: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc().checked_add_offset(offset)
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

/// The first occurrence of `alarm` strictly after `after` (ignoring skip and vacation);
/// `Ok(None)` when there is none (disabled, or a one-shot that has passed).
pub fn next_after(
    alarm: &Alarm,
    zone: Tz,
    after: DateTime<Utc>,
) -> Result<Option<Occurrence>, Unschedulable> {
    if !alarm.enabled {
        return Ok(None);
    }
    // The occurrence on `date` if it is after `after`. An instant chrono cannot represent lies
    // beyond one end of its range: before the start it precedes any `after` (a past
    // occurrence); past the end it would be the next one, and cannot be computed.
    let occurrence = |date: NaiveDate| {
        let local = date.and_time(alarm.time.time());
        match resolve(zone, local) {
            Some(at) => Ok((at > after).then(|| Occurrence {
                alarm_id: alarm.id.clone(),
                label: alarm.label.clone(),
                date,
                at,
            })),
            None if local.year() < 1970 => Ok(None),
            None => Err(Unschedulable(format!(
                "{local} in {} is outside the supported time range",
                zone.name()
            ))),
        }
    };
    if let Some(date) = alarm.date {
        return occurrence(date);
    }
    let out_of_range = || {
        Unschedulable(format!(
            "no occurrence after {after} lies in the supported time range"
        ))
    };
    let today = match local_time(zone, after) {
        Some(t) => t.date(),
        // Before the first representable local day: every day from it on comes after.
        None if after.year() < 1970 => NaiveDate::MIN,
        None => return Err(out_of_range()),
    };
    // Start a day early: DST can move an occurrence across midnight in UTC terms. (At the
    // first representable day there is no day before to look at.)
    let first = today.checked_sub_days(Days::new(1)).unwrap_or(today);
    for date in (0..9).map_while(|d| first.checked_add_days(Days::new(d))) {
        let rings_that_day = alarm.repeat.is_empty()
            || alarm
                .repeat
                .iter()
                .any(|day| day.weekday() == date.weekday());
        if !rings_that_day {
            continue;
        }
        if let Some(o) = occurrence(date)? {
            return Ok(Some(o));
        }
    }
    Err(out_of_range())
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
/// Alarms whose occurrences cannot be computed are left out; [`broken`] says which and why.
pub fn due(config: &Config, zone: Tz, state: &ScheduleState, now: DateTime<Utc>) -> Vec<Due> {
    let mut due: Vec<Due> = config
        .alarms
        .iter()
        .filter_map(|alarm| due_one(config, zone, state, alarm, now).ok().flatten())
        .collect();
    due.sort_by_key(|d| d.occurrence.at);
    due
}

fn due_one(
    config: &Config,
    zone: Tz,
    state: &ScheduleState,
    alarm: &Alarm,
    now: DateTime<Utc>,
) -> Result<Option<Due>, Unschedulable> {
    // Looking back more than a week only finds occurrences long missed.
    let week_ago = now
        .checked_sub_signed(Duration::days(8))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut after = handled_until(state, alarm, now).max(week_ago);
    let mut latest = None;
    loop {
        match next_after(alarm, zone, after) {
            Ok(Some(o)) if o.at <= now => {
                after = o.at;
                let one_shot = is_one_shot(alarm);
                latest = Some(o);
                if one_shot {
                    break;
                }
            }
            Ok(_) => break,
            // A later occurrence that cannot be computed must not keep this one from ringing
            // (at the end of the range); `broken` reports the alarm by its next occurrence.
            Err(_) if latest.is_some() => break,
            Err(e) => return Err(e),
        }
    }
    let Some(occurrence) = latest else {
        return Ok(None);
    };
    let grace = Duration::minutes(config.schedule.catch_up_grace_minutes.into());
    let decision = if alarm.skip_next {
        Decision::SkipNext
    } else if in_vacation(config, occurrence.date) {
        Decision::Vacation
    // Both instants are representable, so their distance is (chrono spans ±262 000 years).
    } else if now.signed_duration_since(occurrence.at) > grace {
        Decision::Missed
    } else {
        Decision::Ring
    };
    Ok(Some(Due {
        occurrence,
        decision,
    }))
}

fn in_vacation(config: &Config, date: NaiveDate) -> bool {
    config
        .schedule
        .vacation
        .as_ref()
        .is_some_and(|v| v.contains(date))
}

/// The next occurrence of one alarm the scheduler must wake for.
fn next_one(
    zone: Tz,
    state: &ScheduleState,
    alarm: &Alarm,
    now: DateTime<Utc>,
) -> Result<Option<Occurrence>, Unschedulable> {
    next_after(alarm, zone, handled_until(state, alarm, now).max(now))
}

/// When the scheduler must look again: the earliest future occurrence of any alarm, including
/// ones that will be skipped (their `skip_next` must be cleared on time). Alarms whose
/// occurrences cannot be computed are left out.
pub fn next_wakeup(
    config: &Config,
    zone: Tz,
    state: &ScheduleState,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    config
        .alarms
        .iter()
        .filter_map(|a| next_one(zone, state, a, now).ok().flatten())
        .map(|o| o.at)
        .min()
}

/// An alarm the schedule cannot compute, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BrokenAlarm {
    pub alarm_id: String,
    pub label: String,
    pub reason: String,
}

/// The alarms whose occurrences cannot be computed, in document order: [`due`] or
/// [`next_wakeup`] leaves them out (at the very end of the range an alarm may still be due
/// once while its next occurrence cannot be computed). Empty for every valid document unless the clock (or a saved
/// `handled_until`) lies within days of chrono's limits, some 262 000 years away.
pub fn broken(
    config: &Config,
    zone: Tz,
    state: &ScheduleState,
    now: DateTime<Utc>,
) -> Vec<BrokenAlarm> {
    config
        .alarms
        .iter()
        .filter_map(|alarm| {
            let error = due_one(config, zone, state, alarm, now)
                .and_then(|_| next_one(zone, state, alarm, now))
                .err()?;
            Some(BrokenAlarm {
                alarm_id: alarm.id.clone(),
                label: alarm.label.clone(),
                reason: error.0,
            })
        })
        .collect()
}

/// The next `count` occurrences of all alarms after `now`, each with what will happen to it
/// (`Ring`, `SkipNext` or `Vacation`), in time order. An alarm whose occurrences cannot be
/// computed contributes those before the first that cannot.
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
            let Ok(Some(occurrence)) = next_after(alarm, zone, after) else {
                break;
            };
            after = occurrence.at;
            let decision = if std::mem::take(&mut skip) {
                Decision::SkipNext
            } else if in_vacation(config, occurrence.date) {
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
