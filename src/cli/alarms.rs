//! `reveille alarms [--json]`: the alarms as a table with when each rings next, from
//! `GET /api/alarms` and `GET /api/alarms/upcoming?count=50`; and [`find`], which turns what
//! a person types after `reveille ring` (an id or a label) into one alarm, or a one-line
//! refusal that lists the choices.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::client::{DaemonClient, block_on};
use super::words;

/// The most firings the daemon lists; an alarm whose next ring lies beyond them is "later".
const UPCOMING: &str = "/api/alarms/upcoming?count=50";

/// How many alarms a refusal names before "and N more".
const CHOICES: usize = 6;

pub(super) fn alarms(url: &str, config: &Path, json: bool) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let result = block_on(async {
        let fail = |e: super::client::DaemonError| e.to_string();
        let (alarms, upcoming) = tokio::join!(client.get("/api/alarms"), client.get(UPCOMING));
        let (alarms, upcoming) = (alarms.map_err(fail)?, upcoming.map_err(fail)?);
        let (list, next) = (alarms.json().map_err(fail)?, upcoming.json().map_err(fail)?);
        if json {
            // Both answers unchanged, side by side.
            return Ok(json!({"alarms": list, "upcoming": next}).to_string());
        }
        let status = client.call(reqwest::Method::GET, "/api/status", None);
        let zone = words::zone(status.await.map_err(fail)?["scheduler"]["time_zone"].as_str());
        let rows = table(&list, &next, upcoming.now(), zone);
        Ok(rows.join("\n"))
    });
    super::finish("alarms", result)
}

/// The header and one row per alarm, columns aligned; a line of its own when there are none.
fn table(
    alarms: &Value,
    upcoming: &Value,
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> Vec<String> {
    let alarms = alarms.as_array().map(Vec::as_slice).unwrap_or_default();
    if alarms.is_empty() {
        return vec!["no alarms set".into()];
    }
    let firings = upcoming.as_array().map(Vec::as_slice).unwrap_or_default();
    let header = ["ID", "TIME", "DAYS", "LABEL", "ENABLED", "NEXT"].map(str::to_owned);
    let rows = alarms.iter().map(|alarm| {
        let text = |key: &str| alarm[key].as_str().unwrap_or_default().to_owned();
        let enabled = alarm["enabled"].as_bool().unwrap_or(true);
        let label = text("label");
        [
            text("id"),
            text("time"),
            schedule(alarm),
            if label.is_empty() { "-".into() } else { label },
            if enabled { "yes" } else { "no" }.into(),
            if enabled {
                next_firing(alarm, firings, now, zone)
            } else {
                "-".into()
            },
        ]
    });
    aligned(std::iter::once(header).chain(rows).collect())
}

/// "Mon-Fri", "every day", a one-shot's date, or "once" (its next time of day).
fn schedule(alarm: &Value) -> String {
    let repeat: Vec<&str> = alarm["repeat"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match (repeat.is_empty(), alarm["date"].as_str()) {
        (false, _) => words::days(&repeat),
        (true, Some(date)) => date.to_owned(),
        (true, None) => "once".into(),
    }
}

/// When the alarm rings next, and what happens before that (a skipped occurrence, a vacation).
fn next_firing(
    alarm: &Value,
    firings: &[Value],
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> String {
    let mut own = firings
        .iter()
        .filter(|f| f["alarm_id"] == alarm["id"])
        .peekable();
    let first = own.peek().copied();
    let at = match (own.find(|f| f["decision"] == "ring"), first) {
        (Some(ring), _) => words::instant(&ring["at_utc"]),
        // Listed, but none of its listed occurrences rings.
        (None, Some(first)) => {
            return match first["decision"].as_str() {
                Some("vacation") => "in the vacation".into(),
                Some("skip_next") => "skipped".into(),
                _ => "later".into(),
            };
        }
        (None, None) => match dated(alarm, zone) {
            Some(at) if at <= now => return "passed".into(),
            at => at,
        },
    };
    let Some(at) = at else {
        return "later".into();
    };
    let mut next = format!(
        "{}, {}",
        words::day_and_time(now, at, &zone),
        words::in_words(now, at)
    );
    match first.map(|f| (f["decision"].as_str(), words::instant(&f["at_utc"]))) {
        Some((Some("skip_next"), Some(skipped))) => {
            next.push_str(&format!(
                " (skips {})",
                words::day_and_time(now, skipped, &zone)
            ));
        }
        Some((Some("vacation"), _)) => next.push_str(" (after the vacation)"),
        _ => {}
    }
    next
}

/// A dated one-shot beyond the daemon's list (a trip months away behind daily alarms): its
/// date and time by the schedule's own DST rules.
fn dated(alarm: &Value, zone: chrono_tz::Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    let date: chrono::NaiveDate = alarm["date"].as_str()?.parse().ok()?;
    let time = chrono::NaiveTime::parse_from_str(alarm["time"].as_str()?, "%H:%M").ok()?;
    crate::schedule::resolve(zone, date.and_time(time))
}

/// Columns padded to their widest cell; the last one is not padded.
fn aligned(rows: Vec<[String; 6]>) -> Vec<String> {
    let mut widths = [0; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line
        })
        .collect()
}

/// An alarm as a person knows it: `Wake up (wake)`, or its id when it has no label.
pub(super) fn name(alarm_id: &str, label: &str) -> String {
    let label = label.trim();
    if label.is_empty() {
        alarm_id.to_owned()
    } else {
        format!("{label} ({alarm_id})")
    }
}

/// The one alarm `wanted` names: its id, else its id or its label in any case. Several labels
/// alike, or none: a sentence listing the choices (a few of them) by id.
pub(super) fn find<'a>(alarms: &'a [Value], wanted: &str) -> Result<&'a Value, String> {
    let id = |a: &Value| a["id"].as_str().unwrap_or_default().to_owned();
    let label = |a: &Value| {
        a["label"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_lowercase()
    };
    if let Some(alarm) = alarms.iter().find(|a| id(a) == wanted) {
        return Ok(alarm);
    }
    let folded = wanted.trim().to_lowercase();
    let by_id: Vec<&Value> = alarms
        .iter()
        .filter(|a| id(a).to_lowercase() == folded)
        .collect();
    let matches: Vec<&Value> = if by_id.is_empty() {
        alarms.iter().filter(|a| label(a) == folded).collect()
    } else {
        by_id
    };
    match matches.as_slice() {
        [alarm] => Ok(alarm),
        [] if alarms.is_empty() => Err(format!("no alarm {wanted:?}: there are no alarms")),
        [] => Err(format!(
            "no alarm {wanted:?}; the alarms are {} (give an id or a label)",
            listed(alarms.iter().collect(), |a| {
                name(&id(a), a["label"].as_str().unwrap_or_default())
            })
        )),
        several => Err(format!(
            "{wanted:?} is the label of {} alarms: {}; give the id",
            several.len(),
            listed(several.to_vec(), |a| {
                format!(
                    "{} ({} {})",
                    id(a),
                    a["time"].as_str().unwrap_or("?"),
                    schedule(a)
                )
            })
        )),
    }
}

/// At most [`CHOICES`] items, then how many more.
fn listed(items: Vec<&Value>, describe: impl Fn(&Value) -> String) -> String {
    let mut shown: Vec<String> = items.iter().take(CHOICES).map(|a| describe(a)).collect();
    if items.len() > CHOICES {
        shown.push(format!(
            "and {} more (reveille alarms lists them)",
            items.len() - CHOICES
        ));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(id: &str, label: &str, time: &str, repeat: &[&str]) -> Value {
        json!({"id": id, "label": label, "time": time, "repeat": repeat, "date": null,
               "enabled": true, "skip_next": false})
    }

    #[test]
    fn an_alarm_is_found_by_id_or_by_label_in_any_case() {
        let alarms = [
            alarm(
                "workdays",
                "Work",
                "06:45",
                &["mon", "tue", "wed", "thu", "fri"],
            ),
            alarm("nap-1", "Nap", "14:00", &[]),
            alarm("nap-2", "nap ", "15:00", &["sat", "sun"]),
            alarm("work", "Gym", "18:00", &[]),
        ];
        assert_eq!(find(&alarms, "workdays").unwrap()["id"], "workdays");
        assert_eq!(find(&alarms, "WORKDAYS").unwrap()["id"], "workdays");
        // An id wins over a label.
        assert_eq!(find(&alarms, "work").unwrap()["id"], "work");
        assert_eq!(find(&alarms, "gym").unwrap()["id"], "work");

        let several = find(&alarms, "NAP").unwrap_err();
        assert_eq!(
            several,
            "\"NAP\" is the label of 2 alarms: nap-1 (14:00 once), nap-2 (15:00 Sat, Sun); give the id"
        );
        let none = find(&alarms, "lunch").unwrap_err();
        assert_eq!(
            none,
            "no alarm \"lunch\"; the alarms are Work (workdays), Nap (nap-1), nap (nap-2), \
             Gym (work) (give an id or a label)"
        );
        assert_eq!(
            find(&[], "x").unwrap_err(),
            "no alarm \"x\": there are no alarms"
        );
        let many: Vec<Value> = (0..9)
            .map(|i| alarm(&format!("a{i}"), "", "06:00", &[]))
            .collect();
        let none = find(&many, "b").unwrap_err();
        assert!(
            none.contains("a5, and 3 more (reveille alarms lists them)"),
            "{none}"
        );
    }

    #[test]
    fn the_table_says_when_each_alarm_rings_next() {
        let now = "2026-11-30T23:48:00Z".parse().unwrap();
        let mut weekend = alarm("weekend", "Weekend", "09:00", &["sat", "sun"]);
        weekend["skip_next"] = true.into();
        let mut off = alarm("off", "", "05:00", &[]);
        off["enabled"] = false.into();
        let mut dated = alarm("trip", "Train", "04:30", &[]);
        dated["date"] = "2027-03-01".into();
        // The daemon lists none of the last three: months away, passed, beyond its list.
        let mut passed = alarm("past", "", "04:30", &[]);
        passed["date"] = "2026-11-30".into();
        let gone = alarm("gone", "", "04:30", &[]);
        let every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let alarms = json!([
            alarm("wake", "Wake up", "07:00", &every_day),
            weekend,
            off,
            dated,
            passed,
            gone
        ]);
        let firing = |id: &str, at: &str, decision: &str| {
            json!({"alarm_id": id, "label": "", "at_utc": at, "at_local": at,
                   "decision": decision})
        };
        let upcoming = json!([
            firing("wake", "2026-12-01T07:00:00Z", "ring"),
            firing("weekend", "2026-12-05T09:00:00Z", "skip_next"),
            firing("weekend", "2026-12-06T09:00:00Z", "ring"),
        ]);
        let lines = table(&alarms, &upcoming, now, chrono_tz::Tz::UTC);
        assert_eq!(
            lines,
            [
                "ID       TIME   DAYS        LABEL    ENABLED  NEXT",
                "wake     07:00  every day   Wake up  yes      tomorrow 07:00, in 7 h 12 min",
                "weekend  09:00  Sat, Sun    Weekend  yes      Sun 6 Dec 09:00, in 5 d 9 h (skips Sat 5 Dec 09:00)",
                "off      05:00  once        -        no       -",
                "trip     04:30  2027-03-01  Train    yes      Mon 1 Mar 2027 04:30, in 90 d 4 h",
                "past     04:30  2026-11-30  -        yes      passed",
                "gone     04:30  once        -        yes      later",
            ]
        );
        assert_eq!(
            table(&json!([]), &json!([]), now, chrono_tz::Tz::UTC),
            ["no alarms set"]
        );
    }
}
