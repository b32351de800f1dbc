//! The writes over HTTP as the handlers make them: a merge patch (RFC 7396) of the document
//! (`PATCH /api/config`) and of each alarm (`PATCH /api/alarms/{id}`), and the same JSON as a
//! whole new document (`PUT /api/config`), on a few base documents. A change is either
//! refused with a field the request names (or an owner-only setting it touches) or gives a
//! valid document that saves and loads back, leaves every section the patch does not name
//! as it was, keeps the owner's settings, and is the same when the request is sent twice.

use std::sync::LazyLock;

use chrono_tz::Tz;
use reveille::config::{
    Config, FieldError, OWNER_ONLY, owner_only_change, parse_document, validate,
};
use reveille::fuzzing::{patch_alarm, patch_config, replace_config};
use serde_json::{Value, json};

use super::config_document::{
    FIELD_CODES, names_what_it_has, saves_and_loads_back, schedule_holds,
};

/// The shipped example (every section set, two alarms), the default document, and one
/// with a skipped one-shot, a vacation and a night ceiling.
static BASES: LazyLock<Vec<Config>> = LazyLock::new(|| {
    let example = include_str!("../../config/reveille.example.json");
    let small = json!({
        "time_zone": "Europe/Berlin",
        "alarms": [{"id": "once", "time": "02:30", "date": "2026-03-29", "skip_next": true},
                   {"id": "week", "label": "Week", "time": "06:45", "repeat": ["mon", "fri"]}],
        "schedule": {"vacation": {"from": "2026-12-24", "until": "2027-01-06"}},
        "volume": {"night": {"from": "22:00", "until": "07:00", "ceiling_percent": 30}},
    });
    [example.as_bytes(), b"{}", small.to_string().as_bytes()]
        .iter()
        .map(|text| parse_document(text).expect("the base documents are valid"))
        .collect()
});

pub fn check(data: &[u8]) {
    let Ok(patch) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for base in BASES.iter() {
        config_patch(base, &patch);
        for index in 0..base.alarms.len() {
            alarm_patch(base, index, &patch);
        }
        replacement(base, &patch);
    }
}

fn config_patch(base: &Config, patch: &Value) {
    let new = match patch_config(base, patch) {
        Ok(new) => new,
        Err(e) => return refused_for_its_own_fields(&e, patch),
    };
    accepted(base, &new);
    let (before, after) = (as_value(base), as_value(&new));
    for (section, value) in before.as_object().expect("a document is an object") {
        if patch.get(section).is_none() {
            assert_eq!(
                &after[section], value,
                "{section} changed, the patch does not name it"
            );
        }
    }
    assert_eq!(
        patch_config(&new, patch).as_ref(),
        Ok(&new),
        "the patch sent twice"
    );
}

fn alarm_patch(base: &Config, index: usize, patch: &Value) {
    let new = match patch_alarm(base, index, patch) {
        Ok(new) => new,
        Err(e) => return refused_for_the_alarm(&e, patch, index),
    };
    accepted(base, &new);
    assert_eq!(
        new.alarms[index].id, base.alarms[index].id,
        "the id changed"
    );
    for (i, (old, now)) in base.alarms.iter().zip(&new.alarms).enumerate() {
        assert!(
            i == index || old == now,
            "alarm {i} changed by a patch of alarm {index}"
        );
    }
    let mut others = new.clone();
    others.alarms = base.alarms.clone();
    assert_eq!(
        &others, base,
        "a patch of an alarm changed more than the alarm"
    );
    assert_eq!(
        patch_alarm(&new, index, patch).as_ref(),
        Ok(&new),
        "the patch sent twice"
    );
}

fn replacement(base: &Config, body: &Value) {
    let new = match replace_config(base, body.clone()) {
        Ok(new) => new,
        Err(e) => return refused_for_its_own_fields(&e, body),
    };
    accepted(base, &new);
    assert_eq!(
        replace_config(&new, body.clone()).as_ref(),
        Ok(&new),
        "the PUT sent twice"
    );
}

/// A refusal of a document change names a field under a section the request has, or an
/// owner-only setting. One rule crosses sections: an alarm's own start volume must not be
/// above the target it fades to, which may be `volume.target_percent`.
fn refused_for_its_own_fields(e: &FieldError, request: &Value) {
    if owner_only(e) {
        return;
    }
    let fade_of_an_alarm = e.field.starts_with("alarms[")
        && e.field.ends_with("].ring.start_percent")
        && request.get("volume").is_some();
    assert!(
        !request.is_object() || names_what_it_has(request, &e.field) || fade_of_an_alarm,
        "the refusal names a field the request does not: {e:?} for {request}"
    );
}

/// A refusal of an alarm's patch names a field the patch has (the alarm's parser, relative
/// to the alarm), or one of this alarm's fields (validation, which checks rules across them,
/// e.g. a date with `repeat`).
fn refused_for_the_alarm(e: &FieldError, patch: &Value, index: usize) {
    if owner_only(e) {
        return;
    }
    // A patch may have a name that looks like validation's (`{"alarms[1].x": …}`).
    let in_this_alarm = e.field.starts_with(&format!("alarms[{index}]."));
    assert!(
        !patch.is_object() || in_this_alarm || names_what_it_has(patch, &e.field),
        "the refusal names a field the patch does not: {e:?} for {patch}"
    );
}

fn owner_only(e: &FieldError) -> bool {
    if e.code == "owner_only" {
        assert!(
            OWNER_ONLY.iter().any(|path| e.field.starts_with(path)),
            "owner_only for {e:?}"
        );
        return true;
    }
    assert!(FIELD_CODES.contains(&e.code), "{e:?}");
    false
}

/// What any accepted change gives: a valid document that saves and loads back, with the
/// owner's settings as they were, and a schedule that keeps its rules.
fn accepted(base: &Config, new: &Config) {
    validate(new).unwrap_or_else(|e| panic!("an accepted change is invalid: {e}"));
    assert_eq!(
        owner_only_change(base, new),
        None,
        "an owner-only setting changed"
    );
    saves_and_loads_back(new);
    let zone = new
        .time_zone
        .as_deref()
        .map_or(Tz::UTC, |z| z.parse().expect("valid"));
    schedule_holds(
        new,
        zone,
        "2026-03-28T23:30:00Z".parse().expect("an instant"),
    );
}

fn as_value(config: &Config) -> Value {
    serde_json::to_value(config).expect("a document serializes")
}
