//! The week's model: what the scheduler must decide, computed from the alarms as the user set
//! them and the documented rules (`docs/scheduling.md`), without the scheduler's code. An
//! occurrence is "the first instant whose wall-clock reading is at or after the alarm's time
//! that day", found by walking the minutes with chrono-tz; per alarm the model keeps what is
//! handled, as the design says the scheduler does, and walks the same events as the test.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// `schedule.catch_up_grace_minutes` in the test's config.
pub const GRACE: chrono::Duration = chrono::Duration::minutes(5);

/// An alarm as the user set it.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub id: &'static str,
    pub time: (u32, u32),
    /// Empty for a one-shot.
    pub days: &'static [Weekday],
    /// A one-shot's date, as days after the week's first (Sunday) evening.
    pub day: Option<u64>,
    pub skip_next: bool,
}

pub const fn spec(id: &'static str, time: (u32, u32), days: &'static [Weekday]) -> Spec {
    Spec {
        id,
        time,
        days,
        day: None,
        skip_next: false,
    }
}

/// What happens, in order; times are the wall clock's local reading.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// The clock runs until it reads (day after the first Sunday, hh, mm, ss).
    RunUntil(u64, u32, u32, u32),
    /// The clock is set by this many seconds at once (NTP, `date -s`).
    Step(i64),
    /// Power is cut for this long; the Pi boots with the clock where it stopped (the last
    /// time fake-hwclock saved) and the scheduler starts again from its files.
    PowerCut(Duration),
    SkipNext(&'static str),
    Add(Spec),
}

/// One week around a DST change.
pub struct Week {
    pub zone: Tz,
    /// The Sunday the simulation starts on, at 20:00.
    pub first_sunday: NaiveDate,
}

impl Week {
    fn local(&self, day: u64, h: u32, m: u32, s: u32) -> NaiveDateTime {
        let date = self.first_sunday + chrono::Days::new(day);
        date.and_hms_opt(h, m, s).unwrap()
    }

    /// A local reading outside any DST change, as an instant.
    pub fn at(&self, day: u64, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        let local = self.local(day, h, m, s);
        self.zone
            .from_local_datetime(&local)
            .single()
            .unwrap()
            .to_utc()
    }
}

/// What the scheduler decided about one occurrence (or what the model says it must).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decided {
    pub alarm: String,
    pub occurrence: DateTime<Utc>,
    /// `ring`, `skip_next` or `missed`.
    pub decision: &'static str,
}

/// The instant an alarm set for `time` on `date` rings in `zone`: the first instant whose
/// wall-clock reading is at or after it (minutes suffice: these zones change on the minute).
fn rings_at(zone: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let wanted = date.and_time(time);
    let mut t = Utc.from_utc_datetime(&(wanted - chrono::Duration::hours(15)));
    while t.with_timezone(&zone).naive_local() < wanted {
        t += chrono::Duration::minutes(1);
    }
    t
}

/// The occurrences of `spec` in `(after, until]`, in order.
fn occurrences(
    week: &Week,
    spec: &Spec,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let time = NaiveTime::from_hms_opt(spec.time.0, spec.time.1, 0).unwrap();
    let first = after
        .with_timezone(&week.zone)
        .date_naive()
        .pred_opt()
        .unwrap();
    let last = until
        .with_timezone(&week.zone)
        .date_naive()
        .succ_opt()
        .unwrap();
    let dates = first.iter_days().take_while(|d| *d <= last);
    let dated = spec.day.map(|d| week.first_sunday + chrono::Days::new(d));
    dates
        .filter(|d| match dated {
            Some(day) => *d == day,
            None => spec.days.is_empty() || spec.days.contains(&d.weekday()),
        })
        .map(|d| rings_at(week.zone, d, time))
        .filter(|t| after < *t && *t <= until)
        .collect()
}

/// The model: per alarm, what is handled and what is still to come.
pub struct Model<'w> {
    pub week: &'w Week,
    pub wall: DateTime<Utc>,
    pub alarms: Vec<(Spec, DateTime<Utc>, bool)>,
    pub decided: Vec<Decided>,
    /// Expected firings: (alarm, occurrence) → the wall time it is emitted at.
    pub firings: BTreeMap<(String, DateTime<Utc>), DateTime<Utc>>,
}

impl Model<'_> {
    /// The scheduler looks at `occurrence` at wall time `at` (its instant, or a step's end).
    fn decide(&mut self, index: usize, occurrence: DateTime<Utc>, at: DateTime<Utc>) {
        let (spec, handled, enabled) = &mut self.alarms[index];
        *handled = occurrence;
        let decision = if std::mem::take(&mut spec.skip_next) {
            "skip_next"
        } else if at - occurrence > GRACE {
            "missed"
        } else {
            self.firings.insert((spec.id.to_owned(), occurrence), at);
            "ring"
        };
        if spec.days.is_empty() {
            *enabled = false;
        }
        let alarm = spec.id.to_owned();
        self.decided.push(Decided {
            alarm,
            occurrence,
            decision,
        });
    }

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::RunUntil(day, h, m, s) => {
                let until = self.week.at(day, h, m, s);
                for index in 0..self.alarms.len() {
                    let (spec, handled, _) = self.alarms[index];
                    for occurrence in occurrences(self.week, &spec, handled, until) {
                        if self.alarms[index].2 {
                            self.decide(index, occurrence, occurrence);
                        }
                    }
                }
                self.wall = until;
            }
            Event::Step(seconds) => {
                self.wall += chrono::Duration::seconds(seconds);
                // Forward: only the latest occurrence stepped over counts, rung if within the
                // grace, else missed; older ones go unreported. Backward: nothing at all.
                for index in 0..self.alarms.len() {
                    let (spec, handled, enabled) = self.alarms[index];
                    let over = occurrences(self.week, &spec, handled, self.wall);
                    if let (Some(latest), true) = (over.last(), enabled) {
                        self.decide(index, *latest, self.wall);
                    }
                }
            }
            Event::PowerCut(_) => {}
            Event::SkipNext(id) => {
                let alarm = self.alarms.iter_mut().find(|a| a.0.id == id).unwrap();
                alarm.0.skip_next = true;
            }
            Event::Add(spec) => self.alarms.push((spec, self.wall, true)),
        }
    }
}
