//! A simulated week of alarms (issue 19): the scheduler task as the daemon runs it, on real
//! files, with a wall clock that follows tokio's paused clock (`tokio_clock.rs`), across a DST
//! change, two power cuts after which the Pi boots with a stale clock that NTP then steps
//! forward (once within the catch-up grace, once past it), a clock stepped back over an alarm
//! that had rung, and the user's edits (skip-next, a new alarm). Nine days take milliseconds.
//!
//! The expected decisions are computed by the test (`week/model.rs`), not by the scheduler's
//! code: each occurrence from the alarm's own definition with chrono-tz, by the rule of
//! `docs/scheduling.md` put as "the first instant whose wall-clock reading is at or after the
//! alarm's time that day", then the documented policy (skip-next, one-shots, a step forward
//! rings the latest skipped-over occurrence if it is at most the grace late and reports it
//! missed otherwise; a step back rings nothing again). Every expected firing arrives exactly
//! once, when expected, and nothing else does; every decision is reported once. Both DST
//! directions, in Europe/Berlin and America/New_York.

mod model;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use reveille::config::Alarm;
use reveille::scheduler::{Firing, Scheduler, SchedulerHandle};
use reveille::store::ConfigStore;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::tokio_clock::TokioClock;
use model::Event::*;
use model::{Decided, Event, GRACE, Model, Spec, Week, spec};

const WEEKDAYS: &[Weekday] = &[
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];
const WEEKEND: &[Weekday] = &[Weekday::Sat, Weekday::Sun];
const DAILY: &[Weekday] = &[
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The alarms at the start: work days (the first one skipped: a day off), the weekend, a
/// night feed at 02:30 and a medicine at 01:30 (one of them in the gap or the repeated hour
/// on the change day, by zone), a dentist on Thursday and a nap once.
const ALARMS: [Spec; 6] = [
    Spec {
        skip_next: true,
        ..spec("weekday", (6, 45), WEEKDAYS)
    },
    spec("weekend", (9, 0), WEEKEND),
    spec("night-feed", (2, 30), DAILY),
    spec("medicine", (1, 30), DAILY),
    Spec {
        day: Some(4),
        ..spec("dentist", (12, 30), &[])
    },
    spec("nap", (15, 0), &[]),
];

/// Added on Wednesday at 10:00: its first occurrence is Thursday's.
const EARLY: Spec = spec("early", (7, 30), DAILY);

/// Sunday evening to the Tuesday after next; the DST change is on day 7 (a Sunday).
const TIMELINE: [Event; 16] = [
    RunUntil(2, 6, 50, 10),
    // A step back over Tuesday's 06:45, which has rung: it must not ring again.
    Step(-3600),
    RunUntil(2, 20, 0, 0),
    SkipNext("weekday"),
    RunUntil(3, 10, 0, 0),
    Add(EARLY),
    RunUntil(5, 6, 30, 0),
    // Friday: the power goes at 06:30, back 17 min later with the clock at 06:30; NTP sets it
    // 20 s after the start: 06:45 is 2 min 20 s late, within the grace: it rings then.
    PowerCut(Duration::from_secs(17 * 60)),
    RunUntil(5, 6, 30, 20),
    Step(17 * 60),
    RunUntil(6, 8, 0, 0),
    // Saturday: the power goes at 08:00, back at 10:00; NTP's step finds 09:00 an hour late:
    // missed, reported, not rung.
    PowerCut(Duration::from_secs(2 * 3600)),
    RunUntil(6, 8, 0, 20),
    Step(2 * 3600),
    RunUntil(8, 23, 0, 0),
    RunUntil(9, 12, 0, 0),
];

fn alarm_json(week: &Week, spec: &Spec) -> Value {
    let days: Vec<String> = spec
        .days
        .iter()
        .map(|d| d.to_string().to_lowercase())
        .collect();
    json!({
        "id": spec.id,
        "label": spec.id,
        "time": format!("{:02}:{:02}", spec.time.0, spec.time.1),
        "repeat": days,
        "date": spec.day.map(|d| (week.first_sunday + chrono::Days::new(d)).to_string()),
        "skip_next": spec.skip_next,
    })
}

/// The scheduler as the daemon starts it, on the store's files.
fn start_scheduler(
    store: &ConfigStore,
    clock: &Arc<TokioClock>,
    firings: &mpsc::Sender<Firing>,
) -> (SchedulerHandle, JoinHandle<()>) {
    let synchronized = Box::new(|| Some(true));
    let (scheduler, handle) =
        Scheduler::new(store.clone(), clock.clone(), firings.clone(), synchronized).unwrap();
    (handle, scheduler.spawn())
}

/// What the scheduler reported handled (rung, skipped, missed), with the lateness.
fn reported(handle: &SchedulerHandle) -> Vec<(Decided, i64)> {
    let status = handle.status();
    let events = status.recent_events.into_iter().map(|e| {
        let decision = serde_json::to_value(e.decision).unwrap();
        let decision = match decision.as_str().unwrap() {
            "ring" => "ring",
            "skip_next" => "skip_next",
            "missed" => "missed",
            other => panic!("unexpected decision {other}"),
        };
        let decided = Decided {
            alarm: e.alarm_id,
            occurrence: e.occurrence,
            decision,
        };
        (decided, e.late_seconds)
    });
    events.collect()
}

/// Figures of one simulated week, for the report.
#[derive(Debug)]
struct Counts {
    rung: usize,
    late: usize,
    /// How late the latest of them rang.
    late_by: chrono::Duration,
    skipped: usize,
    missed: usize,
    in_gap: usize,
    repeated: usize,
    /// The most any on-time firing came after its instant.
    max_lateness: chrono::Duration,
}

async fn simulate(week: Week) -> Counts {
    let dir = tempfile::tempdir().unwrap();
    let start = week.at(0, 20, 0, 0);
    let alarms: Vec<Value> = ALARMS.iter().map(|a| alarm_json(&week, a)).collect();
    let config = json!({
        "version": 1,
        "time_zone": week.zone.name(),
        "schedule": {"trust_clock": true, "catch_up_grace_minutes": GRACE.num_minutes()},
        "alarms": alarms,
    });
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let store = ConfigStore::open(&path, None).unwrap();
    let clock = TokioClock::new(start);
    let (tx, mut rx) = mpsc::channel(8);
    let (mut handle, mut task) = start_scheduler(&store, &clock, &tx);

    let mut model = Model {
        week: &week,
        wall: start,
        alarms: ALARMS.iter().map(|s| (*s, start, true)).collect(),
        decided: Vec::new(),
        firings: BTreeMap::new(),
    };
    let mut fired: Vec<Firing> = Vec::new();
    let mut reports = Vec::new();
    for event in TIMELINE {
        model.apply(event);
        match event {
            RunUntil(day, h, m, s) => {
                let until = clock.instant_at(week.at(day, h, m, s));
                loop {
                    tokio::select! {
                        biased;
                        Some(firing) = rx.recv() => fired.push(firing),
                        () = tokio::time::sleep_until(until) => break,
                    }
                }
            }
            Step(seconds) => clock.step(chrono::Duration::seconds(seconds)),
            PowerCut(down) => {
                reports.extend(reported(&handle));
                task.abort();
                let _ = task.await;
                tokio::time::sleep(down).await;
                clock.step(-chrono::Duration::from_std(down).unwrap());
                (handle, task) = start_scheduler(&store, &clock, &tx);
            }
            SkipNext(id) => {
                let change = store.transaction(None, move |c| {
                    c.alarms.iter_mut().find(|a| a.id == id).unwrap().skip_next = true;
                    Ok(())
                });
                change.await.unwrap();
            }
            Add(spec) => {
                let alarm: Alarm = serde_json::from_value(alarm_json(&week, &spec)).unwrap();
                let change = store.transaction(None, move |c| {
                    c.alarms.push(alarm);
                    Ok(())
                });
                change.await.unwrap();
            }
        }
    }
    reports.extend(reported(&handle));
    task.abort();
    while let Ok(firing) = rx.try_recv() {
        fired.push(firing);
    }

    // Every expected firing exactly once, when expected; nothing else.
    let mut seen = BTreeMap::new();
    for firing in &fired {
        let key = (firing.alarm.id.clone(), firing.occurrence);
        assert!(
            seen.insert(key.clone(), firing.emitted_at).is_none(),
            "rang twice: {key:?}"
        );
    }
    let missing: Vec<_> = model
        .firings
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .collect();
    let extra: Vec<_> = seen
        .keys()
        .filter(|k| !model.firings.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{}: did not ring {missing:?}; rang unexpectedly {extra:?}",
        week.zone
    );
    let mut max_lateness = chrono::Duration::zero();
    for (key, emitted) in &seen {
        let expected = model.firings[key];
        let late = *emitted - expected;
        let ms = late.num_milliseconds();
        assert!(
            (0..10).contains(&ms),
            "{key:?} emitted {late} after {expected}"
        );
        if expected == key.1 {
            max_lateness = max_lateness.max(late);
        }
    }
    // Every decision reported, none twice, and nothing the model does not know.
    let mut decided: Vec<Decided> = reports.iter().map(|r| r.0.clone()).collect();
    decided.sort();
    let mut expected = model.decided.clone();
    expected.sort();
    assert_eq!(decided, expected, "decisions in {}", week.zone);
    for (decision, late_seconds) in &reports {
        if decision.decision == "ring" {
            let key = (decision.alarm.clone(), decision.occurrence);
            let late = model.firings[&key] - decision.occurrence;
            assert_eq!(*late_seconds, late.num_seconds(), "{decision:?}");
        }
        if decision.decision == "missed" {
            assert!(
                *late_seconds > GRACE.num_seconds(),
                "{decision:?}: {late_seconds} s"
            );
        }
    }
    // The one-shots are off and the skip flags cleared.
    let snapshot = store.snapshot();
    for alarm in &snapshot.config.alarms {
        assert_eq!(alarm.enabled, !alarm.repeat.is_empty(), "{}", alarm.id);
        assert!(!alarm.skip_next, "{}: skip_next left set", alarm.id);
    }

    let count = |what: &str| expected.iter().filter(|d| d.decision == what).count();
    let changes = |pick: fn(LocalResult<DateTime<Tz>>) -> bool| {
        let firings = model.firings.keys().filter(|(id, at)| {
            let spec = ALARMS.iter().chain([&EARLY]).find(|s| s.id == id).unwrap();
            let local = at.with_timezone(&week.zone).date_naive();
            let time = NaiveTime::from_hms_opt(spec.time.0, spec.time.1, 0).unwrap();
            pick(week.zone.from_local_datetime(&local.and_time(time)))
        });
        firings.count()
    };
    Counts {
        rung: model.firings.len(),
        late: model.firings.iter().filter(|(k, at)| k.1 != **at).count(),
        late_by: model
            .firings
            .iter()
            .map(|(k, at)| *at - k.1)
            .max()
            .unwrap_or_default(),
        skipped: count("skip_next"),
        missed: count("missed"),
        in_gap: changes(|r| matches!(r, LocalResult::None)),
        repeated: changes(|r| matches!(r, LocalResult::Ambiguous(..))),
        max_lateness,
    }
}

async fn week_around(zone: Tz, first_sunday: (i32, u32, u32), what: &str) -> Counts {
    let first_sunday = NaiveDate::from_ymd_opt(first_sunday.0, first_sunday.1, first_sunday.2);
    let week = Week {
        zone,
        first_sunday: first_sunday.unwrap(),
    };
    assert_eq!(week.first_sunday.weekday(), Weekday::Sun);
    let started = std::time::Instant::now();
    let counts = simulate(week).await;
    println!(
        "{zone} {what}: {} firings ({} on time, at most {} ms after the instant; {} at NTP's \
         step, {} s late), {} skipped, {} missed; {} in the DST gap, {} in the repeated hour; \
         {:.2} s of wall time",
        counts.rung,
        counts.rung - counts.late,
        counts.max_lateness.num_milliseconds(),
        counts.late,
        counts.late_by.num_seconds(),
        counts.skipped,
        counts.missed,
        counts.in_gap,
        counts.repeated,
        started.elapsed().as_secs_f64(),
    );
    // The DST change is inside the week: one alarm lands in its gap or its repeated hour.
    assert_eq!(counts.in_gap + counts.repeated, 1, "{counts:?}");
    counts
}

/// The week's fixed decisions, whatever the zone: 32 firings (one late, at NTP's step),
/// Monday's and Wednesday's work-day alarm skipped, Saturday's 09:00 missed.
fn assert_the_week(counts: &Counts) {
    let fixed = (counts.rung, counts.late, counts.skipped, counts.missed);
    assert_eq!(fixed, (32, 1, 2, 1), "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_week_in_berlin_across_the_spring_change_rings_each_alarm_once() {
    let counts = week_around(chrono_tz::Europe::Berlin, (2026, 3, 22), "spring").await;
    assert_eq!(counts.in_gap, 1);
    assert_the_week(&counts);
}

#[tokio::test(start_paused = true)]
async fn a_week_in_berlin_across_the_autumn_change_rings_each_alarm_once() {
    let counts = week_around(chrono_tz::Europe::Berlin, (2026, 10, 18), "autumn").await;
    assert_eq!(counts.repeated, 1);
    assert_the_week(&counts);
}

#[tokio::test(start_paused = true)]
async fn a_week_in_new_york_across_the_spring_change_rings_each_alarm_once() {
    let counts = week_around(chrono_tz::America::New_York, (2026, 3, 1), "spring").await;
    assert_eq!(counts.in_gap, 1);
    assert_the_week(&counts);
}

#[tokio::test(start_paused = true)]
async fn a_week_in_new_york_across_the_autumn_change_rings_each_alarm_once() {
    let counts = week_around(chrono_tz::America::New_York, (2026, 10, 25), "autumn").await;
    assert_eq!(counts.repeated, 1);
    assert_the_week(&counts);
}
