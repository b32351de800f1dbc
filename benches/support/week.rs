//! The week of alarms the idle and HTTP benches configure: 14 alarms, two a day, in
//! Europe/Berlin, none within the next three hours (so none rings, and no pre-alarm check
//! runs, during a bench).

use chrono::{Duration as Span, Timelike, Utc, Weekday};

const WEEK_ZONE: chrono_tz::Tz = chrono_tz::Europe::Berlin;

/// A week of alarms: for every weekday, one alarm three hours from now and one nine hours
/// from now (local time), so none rings, and no pre-alarm check runs, during the bench.
pub fn week_of_alarms() -> serde_json::Value {
    let now = Utc::now().with_timezone(&WEEK_ZONE);
    let days = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let mut alarms = Vec::new();
    for (n, day) in days.iter().enumerate() {
        for (k, hours) in [3, 9].into_iter().enumerate() {
            let at = now + Span::hours(hours);
            alarms.push(serde_json::json!({
                "id": format!("{}-{k}", day.to_string().to_lowercase()),
                "label": format!("{day} {}", ["early", "late"][k]),
                "time": format!("{:02}:{:02}", at.hour(), at.minute()),
                "repeat": [day.to_string().to_lowercase()],
                "ring": {
                    "source": "spotify:playlist:37i9dQZF1DX0UrRvztWcAU",
                    "shuffle": n % 2 == 0,
                    "fade_seconds": 300,
                    "snooze_minutes": 9,
                },
            }));
        }
    }
    serde_json::json!({
        "version": 1,
        "time_zone": WEEK_ZONE.name(),
        "alarms": alarms,
    })
}
