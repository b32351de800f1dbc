//! Table tests for `schedule`: zones, DST, weekdays, one-shots, skip, vacation, grace,
//! clock steps and restarts. Expected instants are written out in UTC by hand.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::*;
use crate::config::{Alarm, Config, Day, RingSettings, TimeOfDay, Vacation};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn alarm(id: &str, time: &str, repeat: &[Day]) -> Alarm {
    Alarm {
        id: id.into(),
        label: id.into(),
        enabled: true,
        time: time.parse::<TimeOfDay>().unwrap(),
        repeat: repeat.to_vec(),
        date: None,
        skip_next: false,
        ring: RingSettings::default(),
    }
}

const EVERY_DAY: &[Day] = &[
    Day::Mon,
    Day::Tue,
    Day::Wed,
    Day::Thu,
    Day::Fri,
    Day::Sat,
    Day::Sun,
];
const WEEKDAYS: &[Day] = &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];

fn config(alarms: Vec<Alarm>) -> Config {
    Config {
        alarms,
        ..Config::default()
    }
}

/// State as if every alarm had been handled up to `until`.
fn handled(config: &Config, until: &str) -> ScheduleState {
    let mut state = ScheduleState::default();
    reconcile(config, &mut state, utc(until));
    state
}

#[test]
fn local_times_resolve_by_the_dst_rules_in_every_kind_of_zone() {
    // (zone, local date, local time, expected instant)
    let table: &[(&str, &str, &str, &str)] = &[
        // Europe/Berlin: spring gap 02:00-03:00 on 2026-03-29; autumn 02:00-03:00 twice on 10-25.
        (
            "Europe/Berlin",
            "2026-03-29",
            "01:59",
            "2026-03-29T00:59:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-03-29",
            "02:00",
            "2026-03-29T01:00:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-03-29",
            "02:30",
            "2026-03-29T01:00:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-03-29",
            "03:00",
            "2026-03-29T01:00:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-10-25",
            "02:30",
            "2026-10-25T00:30:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-10-25",
            "03:00",
            "2026-10-25T02:00:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-06-01",
            "00:00",
            "2026-05-31T22:00:00Z",
        ),
        (
            "Europe/Berlin",
            "2026-01-01",
            "23:59",
            "2026-01-01T22:59:00Z",
        ),
        // America/New_York: gap 02:00-03:00 on 2026-03-08; 01:00-02:00 twice on 11-01.
        (
            "America/New_York",
            "2026-03-08",
            "02:30",
            "2026-03-08T07:00:00Z",
        ),
        (
            "America/New_York",
            "2026-11-01",
            "01:30",
            "2026-11-01T05:30:00Z",
        ),
        (
            "America/New_York",
            "2026-11-01",
            "00:00",
            "2026-11-01T04:00:00Z",
        ),
        (
            "America/New_York",
            "2026-12-31",
            "23:59",
            "2027-01-01T04:59:00Z",
        ),
        // Australia/Sydney (southern hemisphere): 02:00-03:00 twice on 2026-04-05,
        // gap 02:00-03:00 on 2026-10-04.
        (
            "Australia/Sydney",
            "2026-04-05",
            "02:30",
            "2026-04-04T15:30:00Z",
        ),
        (
            "Australia/Sydney",
            "2026-10-04",
            "02:30",
            "2026-10-03T16:00:00Z",
        ),
        (
            "Australia/Sydney",
            "2026-07-01",
            "07:00",
            "2026-06-30T21:00:00Z",
        ),
        // Asia/Kolkata: +05:30 all year.
        (
            "Asia/Kolkata",
            "2026-03-29",
            "07:00",
            "2026-03-29T01:30:00Z",
        ),
        (
            "Asia/Kolkata",
            "2026-11-01",
            "00:00",
            "2026-10-31T18:30:00Z",
        ),
        // Pacific/Chatham (+12:45 / +13:45): 02:45-03:45 twice on 2026-04-05,
        // gap 02:45-03:45 on 2026-09-27.
        (
            "Pacific/Chatham",
            "2026-04-05",
            "03:00",
            "2026-04-04T13:15:00Z",
        ),
        (
            "Pacific/Chatham",
            "2026-09-27",
            "03:00",
            "2026-09-26T14:00:00Z",
        ),
        (
            "Pacific/Chatham",
            "2026-01-01",
            "00:00",
            "2025-12-31T10:15:00Z",
        ),
        (
            "Pacific/Chatham",
            "2026-07-01",
            "23:59",
            "2026-07-01T11:14:00Z",
        ),
        // Africa/Monrovia left its -00:44:30 offset on 1972-01-07: a gap that ends 30 s into a
        // minute (00:44:30 local), which whole-minute probing alone would place at 00:45.
        (
            "Africa/Monrovia",
            "1972-01-07",
            "00:30",
            "1972-01-07T00:44:30Z",
        ),
        // Pacific/Apia skipped all of 2011-12-30: the day's alarm rings when the 31st begins.
        (
            "Pacific/Apia",
            "2011-12-30",
            "07:00",
            "2011-12-30T10:00:00Z",
        ),
    ];
    for (zone, day, time, expected) in table {
        let zone: Tz = zone.parse().unwrap();
        let local = date(day).and_time(time.parse::<TimeOfDay>().unwrap().time());
        assert_eq!(
            resolve(zone, local),
            Some(utc(expected)),
            "{zone} {day} {time}"
        );
    }
}

#[test]
fn a_daily_alarm_in_the_spring_gap_rings_once_at_the_gap_end() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let c = config(vec![alarm("a", "02:30", EVERY_DAY)]);
    let state = handled(&c, "2026-03-27T12:00:00Z");
    let at: Vec<_> = upcoming(&c, zone, &state, utc("2026-03-27T12:00:00Z"), 4)
        .into_iter()
        .map(|d| d.occurrence.at)
        .collect();
    assert_eq!(
        at,
        [
            utc("2026-03-28T01:30:00Z"),
            utc("2026-03-29T01:00:00Z"),
            utc("2026-03-30T00:30:00Z"),
            utc("2026-03-31T00:30:00Z"),
        ]
    );
}

#[test]
fn a_daily_alarm_in_the_autumn_overlap_rings_once_at_the_first_occurrence() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let c = config(vec![alarm("a", "02:30", EVERY_DAY)]);
    // Rung at the first 02:30 (CEST); at the second 02:30 (CET) nothing is due.
    let state = handled(&c, "2026-10-25T00:30:00Z");
    assert!(due(&c, zone, &state, utc("2026-10-25T01:30:00Z")).is_empty());
    assert_eq!(
        next_wakeup(&c, zone, &state, utc("2026-10-25T01:30:00Z")),
        Some(utc("2026-10-26T01:30:00Z"))
    );
}

#[test]
fn repeat_days_pick_the_right_weekdays() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let c = config(vec![
        alarm("work", "07:00", WEEKDAYS),
        alarm("weekend", "09:30", &[Day::Sat, Day::Sun]),
    ]);
    // Friday 2026-11-27, 08:00 local.
    let now = utc("2026-11-27T07:00:00Z");
    let state = handled(&c, "2026-11-27T07:00:00Z");
    let next: Vec<_> = upcoming(&c, zone, &state, now, 4)
        .into_iter()
        .map(|d| (d.occurrence.alarm_id, d.occurrence.date))
        .collect();
    assert_eq!(
        next,
        [
            ("weekend".to_owned(), date("2026-11-28")),
            ("weekend".to_owned(), date("2026-11-29")),
            ("work".to_owned(), date("2026-11-30")),
            ("work".to_owned(), date("2026-12-01")),
        ]
    );
    assert_eq!(
        next_wakeup(&c, zone, &state, now),
        Some(utc("2026-11-28T08:30:00Z"))
    );
}

#[test]
fn one_shots_ring_on_their_date_or_at_the_next_occurrence_once() {
    let zone: Tz = "Asia/Kolkata".parse().unwrap();
    let mut dated = alarm("dated", "06:00", &[]);
    dated.date = Some(date("2026-12-24"));
    let undated = alarm("undated", "06:00", &[]);
    let c = config(vec![dated, undated]);
    let now = utc("2026-12-01T10:00:00Z");
    let state = handled(&c, "2026-12-01T10:00:00Z");
    let next: Vec<_> = upcoming(&c, zone, &state, now, 10)
        .into_iter()
        .map(|d| (d.occurrence.alarm_id, d.occurrence.date))
        .collect();
    assert_eq!(
        next,
        [
            ("undated".to_owned(), date("2026-12-02")),
            ("dated".to_owned(), date("2026-12-24")),
        ],
        "each one-shot occurs once"
    );
    // A dated one-shot whose time has passed has no occurrence left.
    let only_dated = config(vec![c.alarms[0].clone()]);
    let passed = handled(&only_dated, "2026-12-24T00:30:00Z");
    assert!(upcoming(&only_dated, zone, &passed, utc("2026-12-24T00:30:00Z"), 10).is_empty());
}

#[test]
fn skip_next_skips_exactly_one_occurrence_and_vacation_skips_its_days() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let mut a = alarm("a", "07:00", EVERY_DAY);
    a.skip_next = true;
    let mut c = config(vec![a]);
    c.schedule.vacation = Some(Vacation {
        from: date("2026-12-02"),
        until: date("2026-12-03"),
    });
    let now = utc("2026-11-30T12:00:00Z");
    let state = handled(&c, "2026-11-30T12:00:00Z");
    let next: Vec<_> = upcoming(&c, zone, &state, now, 5)
        .into_iter()
        .map(|d| (d.occurrence.date, d.decision))
        .collect();
    assert_eq!(
        next,
        [
            (date("2026-12-01"), Decision::SkipNext),
            (date("2026-12-02"), Decision::Vacation),
            (date("2026-12-03"), Decision::Vacation),
            (date("2026-12-04"), Decision::Ring),
            (date("2026-12-05"), Decision::Ring),
        ]
    );
    let at_time = due(&c, zone, &state, utc("2026-12-01T06:00:00Z"));
    assert_eq!(at_time[0].decision, Decision::SkipNext);
}

/// (handled until, now, expected decision for a daily 07:00 Berlin alarm, grace 5 min).
#[test]
fn grace_decides_between_ringing_late_and_reporting_a_miss() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let c = config(vec![alarm("a", "07:00", EVERY_DAY)]);
    // 07:00 CET on 2026-11-24 is 06:00Z.
    let table: &[(&str, &str, Option<Decision>)] = &[
        // On time.
        (
            "2026-11-23T06:00:00Z",
            "2026-11-24T06:00:00Z",
            Some(Decision::Ring),
        ),
        // Daemon down over 07:00, back within the grace: rings at once.
        (
            "2026-11-23T06:00:00Z",
            "2026-11-24T06:04:59Z",
            Some(Decision::Ring),
        ),
        // Back after the grace, or the clock stepped from 06:00 to noon: missed, not rung.
        (
            "2026-11-23T06:00:00Z",
            "2026-11-24T06:05:01Z",
            Some(Decision::Missed),
        ),
        (
            "2026-11-23T06:00:00Z",
            "2026-11-24T11:00:00Z",
            Some(Decision::Missed),
        ),
        // Already rung; the clock stepped back to 06:30 local or the daemon restarted.
        ("2026-11-24T06:00:00Z", "2026-11-24T05:30:00Z", None),
        ("2026-11-24T06:00:00Z", "2026-11-24T06:01:00Z", None),
        // Not yet.
        ("2026-11-23T06:00:00Z", "2026-11-24T05:59:59Z", None),
    ];
    for (until, now, expected) in table {
        let state = handled(&c, until);
        let decision = due(&c, zone, &state, utc(now)).first().map(|d| d.decision);
        assert_eq!(decision, *expected, "handled until {until}, now {now}");
    }
}

#[test]
fn a_clock_that_jumped_days_ahead_reports_one_miss_not_one_per_day() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let c = config(vec![alarm("a", "07:00", EVERY_DAY)]);
    let state = handled(&c, "2026-11-01T00:00:00Z");
    let found = due(&c, zone, &state, utc("2026-11-24T12:00:00Z"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].decision, Decision::Missed);
    assert_eq!(found[0].occurrence.date, date("2026-11-24"));
}

#[test]
fn new_and_retimed_alarms_are_armed_from_now_and_never_ring_the_past() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    let mut c = config(vec![alarm("a", "07:00", EVERY_DAY)]);
    let mut state = handled(&c, "2026-11-23T06:00:00Z");
    // Created at 07:02 local for 07:00: not rung today.
    let mut fresh = c.clone();
    fresh.alarms.push(alarm("b", "07:00", EVERY_DAY));
    let now = utc("2026-11-24T06:02:00Z");
    assert!(reconcile(&fresh, &mut state, now));
    let found = due(&fresh, zone, &state, now);
    assert_eq!(found.len(), 1, "only the alarm armed before 07:00 is due");
    assert_eq!(found[0].occurrence.alarm_id, "a");

    // Moving an alarm to a time just passed does not ring it; re-enabling does not either.
    c.alarms[0].time = "07:01".parse().unwrap();
    let mut state = handled(
        &config(vec![alarm("a", "07:00", EVERY_DAY)]),
        "2026-11-24T06:00:00Z",
    );
    assert!(reconcile(&c, &mut state, now));
    assert!(due(&c, zone, &state, now).is_empty());
    assert!(
        !reconcile(&c, &mut state, now),
        "nothing changed the second time"
    );
    c.alarms[0].enabled = false;
    reconcile(&c, &mut state, now);
    c.alarms[0].enabled = true;
    reconcile(&c, &mut state, utc("2026-11-25T06:03:00Z"));
    assert!(due(&c, zone, &state, utc("2026-11-25T06:03:00Z")).is_empty());

    // Removed alarms are forgotten.
    assert!(reconcile(&config(vec![]), &mut state, now));
    assert!(state.alarms.is_empty());
}

#[test]
fn disabled_alarms_never_occur() {
    let zone: Tz = "UTC".parse().unwrap();
    let mut a = alarm("a", "07:00", EVERY_DAY);
    a.enabled = false;
    let c = config(vec![a]);
    let state = handled(&c, "2026-11-23T00:00:00Z");
    assert!(upcoming(&c, zone, &state, utc("2026-11-23T00:00:00Z"), 5).is_empty());
    assert_eq!(
        next_wakeup(&c, zone, &state, utc("2026-11-23T00:00:00Z")),
        None
    );
}

#[test]
fn changing_the_time_zone_re_arms_alarms() {
    let mut c = config(vec![alarm("a", "07:00", EVERY_DAY)]);
    let mut state = handled(&c, "2026-11-23T00:00:00Z");
    c.time_zone = Some("Asia/Kolkata".into());
    let now = utc("2026-11-24T01:31:00Z");
    assert!(reconcile(&c, &mut state, now));
    // 07:00 in Kolkata (01:30Z) has just passed under the new zone: not rung.
    let zone: Tz = "Asia/Kolkata".parse().unwrap();
    assert!(due(&c, zone, &state, now).is_empty());
}

/// The document from the issue: a one-shot on chrono's last day, in a zone behind UTC. Its
/// instant is past the end of chrono's range; resolving it once overflowed and aborted.
fn issue_config() -> (Config, Tz) {
    let mut far = alarm("far", "23:59", &[]);
    far.date = Some(NaiveDate::MAX);
    let c = Config {
        time_zone: Some("America/New_York".into()),
        ..config(vec![far, alarm("daily", "07:00", EVERY_DAY)])
    };
    (c, "America/New_York".parse().unwrap())
}

#[test]
fn instants_outside_chronos_range_resolve_to_none() {
    let (_, zone) = issue_config();
    assert_eq!(
        resolve(zone, NaiveDate::MAX.and_hms_opt(23, 59, 0).unwrap()),
        None
    );
    let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
    assert_eq!(
        resolve(tokyo, NaiveDate::MIN.and_hms_opt(0, 0, 0).unwrap()),
        None
    );
    assert_eq!(local_time(tokyo, DateTime::<Utc>::MAX_UTC), None);
}

#[test]
fn an_alarm_that_cannot_be_computed_is_skipped_and_reported_and_the_others_ring() {
    let (c, zone) = issue_config();
    let now = utc("2026-11-23T11:00:00Z");
    let mut state = ScheduleState::default();
    reconcile(&c, &mut state, now);
    let broken = broken(&c, zone, &state, now);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0].alarm_id, "far");
    assert!(
        broken[0]
            .reason
            .contains("outside the supported time range"),
        "{}",
        broken[0].reason
    );
    // 07:00 New York is 12:00Z: the daily alarm is still what the scheduler waits for and rings.
    assert_eq!(
        next_wakeup(&c, zone, &state, now),
        Some(utc("2026-11-23T12:00:00Z"))
    );
    let later = utc("2026-11-23T12:00:30Z");
    let found = due(&c, zone, &state, later);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].occurrence.alarm_id, "daily");
    assert_eq!(found[0].decision, Decision::Ring);
    let listed = upcoming(&c, zone, &state, now, 3);
    assert!(listed.iter().all(|d| d.occurrence.alarm_id == "daily"));
    assert_eq!(listed.len(), 3);
}

#[test]
fn a_clock_at_the_ends_of_time_breaks_nothing() {
    let (c, zone) = issue_config();
    for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        let mut state = ScheduleState::default();
        reconcile(&c, &mut state, now);
        let _ = due(&c, zone, &state, now);
        let _ = upcoming(&c, zone, &state, now, 5);
        let _ = next_wakeup(&c, zone, &state, now);
        // At the end of time no daily occurrence is left to compute: reported, not a panic.
        let broken = broken(&c, zone, &state, now);
        assert!(!broken.is_empty(), "{now}");
    }
}

#[test]
fn the_last_computable_occurrence_still_rings() {
    // New York on chrono's last day: 16:00 local is 21:00Z, the next day does not exist.
    let zone: Tz = "America/New_York".parse().unwrap();
    let c = config(vec![alarm("a", "16:00", EVERY_DAY)]);
    let state = handled(&c, "+262142-12-31T20:00:00Z");
    let found = due(&c, zone, &state, utc("+262142-12-31T21:00:05Z"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].occurrence.at, utc("+262142-12-31T21:00:00Z"));
    assert_eq!(found[0].decision, Decision::Ring);
}
