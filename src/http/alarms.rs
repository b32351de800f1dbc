//! `/api/alarms`: alarms one at a time, skip-next, and the upcoming firings.
//!
//! Every change is a store transaction on the whole document, so the `ETag` is the config
//! revision and `If-Match` works exactly as on `/api/config` (required for PUT, optional
//! otherwise). Field errors name the field inside the alarm (`time`, `ring.target_percent`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Months;
use serde::Deserialize;
use serde_json::Value;

use super::config::{if_match, json_body, removes_nothing_unknown};
use super::error::{ApiError, ErrorBody, PathText};
use super::schemas::{AlarmPatch, AlarmReplacement, NewAlarm};
use super::{AppState, BODY_LIMIT, etag};
use crate::config::{Alarm, Config, FieldError, deserialize_strict};
use crate::schedule;
use crate::scheduler::{UpcomingFiring, resolve_zone};
use crate::store::Snapshot;

#[utoipa::path(get, path = "/api/alarms", tag = "alarms",
    responses((status = 200, description = "All alarms", body = Vec<Alarm>,
        headers(("ETag" = String, description = "The config revision")),
        links(("GetFirstAlarm" = (operation_id = "get_alarm",
            parameters(("id" = "$response.body#/0/id"))))))))]
pub async fn list_alarms(State(app): State<AppState>) -> Response {
    let snapshot = app.store.snapshot();
    with_etag(&snapshot, Json(&snapshot.config.alarms)).into_response()
}

#[utoipa::path(post, path = "/api/alarms", tag = "alarms",
    request_body(content = NewAlarm, description = "An alarm without `id` (the server assigns it)"),
    params(("If-Match" = Option<String>, Header, description = "The config revision (optional)")),
    responses(
        (status = 201, description = "Created", body = Alarm,
            headers(("Location" = String, description = "The new alarm's URL"), ("ETag" = String, description = "The new revision")),
            links(
                ("GetAlarm" = (operation_id = "get_alarm", parameters(("id" = "$response.body#/id")))),
                ("PutAlarm" = (operation_id = "put_alarm", parameters(("id" = "$response.body#/id"),
                    ("header.If-Match" = "$response.header.ETag")))),
                ("PatchAlarm" = (operation_id = "patch_alarm", parameters(("id" = "$response.body#/id"),
                    ("header.If-Match" = "$response.header.ETag")))),
                ("SkipNext" = (operation_id = "skip_next", parameters(("id" = "$response.body#/id")))),
                ("RingNow" = (operation_id = "ring_now", parameters(("id" = "$response.body#/id")))),
                ("DeleteAlarm" = (operation_id = "delete_alarm", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 400, description = "Not JSON (`malformed_json`), or a malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not a valid alarm, or a one-shot date passed or too far ahead", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    ))]
pub async fn create_alarm(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.flatten();
    let mut value = json_body(body)?;
    if let Some(fields) = value.as_object_mut() {
        if fields.contains_key("id") {
            return Err(
                FieldError::invalid("id", "is assigned by the server; leave it out").into(),
            );
        }
        fields.insert("id".into(), "new".into());
    }
    let alarm: Alarm = deserialize_strict(&value)?;
    not_in_the_past(&app, &app.store.snapshot().config, &alarm)?;
    let snapshot = app
        .transaction(expected, move |config| {
            let mut alarm = alarm;
            alarm.id = loop {
                let id = format!("{:08x}", fastrand::u32(..));
                if !config.alarms.iter().any(|a| a.id == id) {
                    break id;
                }
            };
            config.alarms.push(alarm);
            Ok(())
        })
        .await
        .map_err(|e| relative_to_alarm(e.into(), None))?;
    let alarm = snapshot
        .config
        .alarms
        .last()
        .expect("the new alarm was appended");
    let location = format!("/api/alarms/{}", alarm.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        with_etag(&snapshot, Json(alarm)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/alarms/{id}", tag = "alarms",
    params(("id" = String, Path, description = "The alarm's id")),
    responses(
        (status = 200, description = "The alarm", body = Alarm, headers(("ETag" = String, description = "The config revision")),
            links(
                ("PutAlarm" = (operation_id = "put_alarm", parameters(("id" = "$response.body#/id"),
                    ("header.If-Match" = "$response.header.ETag")))),
                ("DeleteAlarm" = (operation_id = "delete_alarm", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No such alarm", body = ErrorBody),
    ))]
pub async fn get_alarm(
    State(app): State<AppState>,
    PathText(id): PathText,
) -> Result<Response, ApiError> {
    let snapshot = app.store.snapshot();
    let alarm = find(&snapshot.config, &id)?;
    Ok(with_etag(&snapshot, Json(alarm)).into_response())
}

#[utoipa::path(put, path = "/api/alarms/{id}", tag = "alarms",
    request_body(content = AlarmReplacement, description = "The whole alarm; `id` may be left out (if given, it must be the path's)"),
    params(("id" = String, Path, description = "The alarm's id"),
        ("If-Match" = String, Header, description = "The config revision (required)")),
    responses(
        (status = 200, description = "Saved", body = Alarm, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "Not JSON (`malformed_json`), or a malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 404, description = "No such alarm", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not a valid alarm, or a one-shot date passed or too far ahead", body = ErrorBody),
        (status = 428, description = "No If-Match", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    ))]
pub async fn put_alarm(
    State(app): State<AppState>,
    PathText(id): PathText,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    let mut value = json_body(body)?;
    if let Some(fields) = value.as_object_mut() {
        if fields
            .get("id")
            .is_some_and(|given| given.as_str() != Some(id.as_str()))
        {
            return Err(FieldError::invalid("id", "cannot be changed").into());
        }
        fields.insert("id".into(), id.clone().into());
    }
    let alarm: Alarm = deserialize_strict(&value)?;
    replace(&app, expected, id, move |_| Ok(alarm)).await
}

#[utoipa::path(patch, path = "/api/alarms/{id}", tag = "alarms",
    request_body(content = AlarmPatch, content_type = "application/merge-patch+json",
        description = "A JSON merge patch (RFC 7396) of the alarm; `null` resets a field to its default"),
    params(("id" = String, Path, description = "The alarm's id"),
        ("If-Match" = Option<String>, Header, description = "The config revision (optional)")),
    responses(
        (status = 200, description = "Saved", body = Alarm, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "Not JSON (`malformed_json`), or a malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 404, description = "No such alarm", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "The result is not a valid alarm", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    ))]
pub async fn patch_alarm(
    State(app): State<AppState>,
    PathText(id): PathText,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.flatten();
    let patch = json_body(body)?;
    keeps_id(&id, &patch)?;
    replace(&app, expected, id, move |old| {
        patch_alarm_value(old, &patch)
    })
    .await
}

/// A patch may name the alarm's id, but not change it.
pub(super) fn keeps_id(id: &str, patch: &Value) -> Result<(), FieldError> {
    if patch
        .get("id")
        .is_some_and(|given| given.as_str() != Some(id))
    {
        return Err(FieldError::invalid("id", "cannot be changed"));
    }
    Ok(())
}

/// `PATCH`'s change to one alarm: the merge patch applied to it and parsed (the whole document
/// is validated by the transaction).
pub(super) fn patch_alarm_value(old: &Alarm, patch: &Value) -> Result<Alarm, FieldError> {
    let mut value = serde_json::to_value(old).expect("an alarm serializes");
    removes_nothing_unknown(patch, &value, "")?;
    json_patch::merge(&mut value, patch);
    deserialize_strict(&value)
}

#[utoipa::path(delete, path = "/api/alarms/{id}", tag = "alarms",
    params(("id" = String, Path, description = "The alarm's id"),
        ("If-Match" = Option<String>, Header, description = "The config revision (optional)")),
    responses(
        (status = 204, description = "Deleted", headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "A malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 404, description = "No such alarm", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    ))]
pub async fn delete_alarm(
    State(app): State<AppState>,
    PathText(id): PathText,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.flatten();
    find(&app.store.snapshot().config, &id)?;
    let snapshot = app
        .transaction(expected, move |config| {
            let index = position(config, &id)?;
            config.alarms.remove(index);
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::ETAG, etag(snapshot.revision))],
    )
        .into_response())
}

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipNext {
    /// `true` (the default) skips the next occurrence; `false` cancels that.
    #[serde(default = "yes")]
    pub skip_next: bool,
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/api/alarms/{id}/skip-next", tag = "alarms",
    request_body(content = Option<SkipNext>, description = "Optional; an empty body or `null` skips"),
    params(("id" = String, Path, description = "The alarm's id"),
        ("If-Match" = Option<String>, Header, description = "The config revision (optional)")),
    responses(
        (status = 200, description = "Saved", body = Alarm, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "Not JSON (`malformed_json`), or a malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 404, description = "No such alarm", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not a `SkipNext` object", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    ))]
pub async fn skip_next(
    State(app): State<AppState>,
    PathText(id): PathText,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.flatten();
    let skip = skip_next_body(body)?;
    replace(&app, expected, id, move |old| {
        let mut alarm = old.clone();
        alarm.skip_next = skip;
        Ok(alarm)
    })
    .await
}

/// The skip-next body: empty, `null` or a [`SkipNext`].
pub(super) fn skip_next_body(body: Result<Bytes, BytesRejection>) -> Result<bool, ApiError> {
    let body = body.map_err(|e| ApiError::from_body(e, BODY_LIMIT))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    Ok(match json_body(Ok(body))? {
        Value::Null => true,
        value => deserialize_strict::<SkipNext>(&value)?.skip_next,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpcomingQuery {
    /// How many firings, 1 to 50 (default 5).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    pub count: Option<String>,
}

#[utoipa::path(get, path = "/api/alarms/upcoming", tag = "alarms",
    params(UpcomingQuery),
    responses(
        (status = 200, description = "The next firings in time order, with what will happen to each", body = Vec<UpcomingFiring>),
        (status = 400, description = "Bad count", body = ErrorBody),
    ))]
pub async fn upcoming(
    State(app): State<AppState>,
    query: Result<Query<UpcomingQuery>, QueryRejection>,
) -> Result<Json<Vec<UpcomingFiring>>, ApiError> {
    // A repeated or undecodable `count` is refused like a bad one, in the API's JSON shape.
    let count = match query.map(|Query(query)| query.count.map(|c| c.parse::<usize>())) {
        Ok(None) => 5,
        Ok(Some(Ok(n))) if (1..=50).contains(&n) => n,
        _ => {
            return Err(ApiError::BadRequest {
                code: "bad_query",
                message: "count must be a whole number from 1 to 50".into(),
            });
        }
    };
    let snapshot = app.store.snapshot();
    Ok(Json(app.scheduler.upcoming(&snapshot.config, count)))
}

/// Replaces alarm `id` with what `change` makes of it, in one transaction.
async fn replace<F>(
    app: &AppState,
    expected: Option<u64>,
    id: String,
    change: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&Alarm) -> Result<Alarm, FieldError> + Send + 'static,
{
    let current = app.store.snapshot();
    find(&current.config, &id)?;
    let index_for_errors = position(&current.config, &id).ok();
    let checked_app = app.clone();
    let saved_id = id.clone();
    let snapshot = app
        .transaction(expected, move |config| {
            let index = position(config, &id)?;
            let alarm = change(&config.alarms[index])?;
            not_in_the_past(&checked_app, config, &alarm)?;
            config.alarms[index] = alarm;
            Ok(())
        })
        .await
        .map_err(|e| relative_to_alarm(e.into(), index_for_errors))?;
    let alarm = snapshot
        .config
        .alarms
        .iter()
        .find(|a| a.id == saved_id)
        .expect("the alarm was just saved");
    Ok(with_etag(&snapshot, Json(alarm)).into_response())
}

/// How far ahead a one-shot may be dated when set through the alarm endpoints. Validation
/// bounds the year absolutely (`config::DATE_YEARS`); this is the sensible horizon relative to
/// today, which only a handler that reads the clock can check.
pub const ONE_SHOT_HORIZON_YEARS: u32 = 10;

/// A dated one-shot must lie in the future when it is set (a passed one would never ring), and
/// within [`ONE_SHOT_HORIZON_YEARS`] (a typo like `2226` for `2026` would never ring either).
fn not_in_the_past(app: &AppState, config: &Config, alarm: &Alarm) -> Result<(), FieldError> {
    let (Some(date), true, true) = (alarm.date, alarm.enabled, alarm.repeat.is_empty()) else {
        return Ok(());
    };
    let (zone, _) = resolve_zone(config);
    let now = app.scheduler.clock().now();
    let latest = schedule::local_time(zone, now).and_then(|t| {
        t.date()
            .checked_add_months(Months::new(12 * ONE_SHOT_HORIZON_YEARS))
    });
    if latest.is_none_or(|latest| date > latest) {
        return Err(FieldError::invalid(
            "date",
            format!("{date} is more than {ONE_SHOT_HORIZON_YEARS} years ahead"),
        ));
    }
    let at = schedule::resolve(zone, date.and_time(alarm.time.time()));
    if at.is_none_or(|at| at <= now) {
        return Err(FieldError::invalid(
            "date",
            format!("{date} {} has already passed", alarm.time),
        ));
    }
    Ok(())
}

fn find<'a>(config: &'a Config, id: &str) -> Result<&'a Alarm, ApiError> {
    config
        .alarms
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no alarm with id `{id}`")))
}

fn position(config: &Config, id: &str) -> Result<usize, FieldError> {
    config
        .alarms
        .iter()
        .position(|a| a.id == id)
        .ok_or_else(|| FieldError {
            code: "not_found",
            field: "id".into(),
            message: format!("no alarm with id `{id}` (it was deleted meanwhile)"),
        })
}

/// Validation reports `alarms[3].time`; an alarm endpoint's client knows only `time`.
fn relative_to_alarm(error: ApiError, index: Option<usize>) -> ApiError {
    match error {
        ApiError::Invalid(mut e) => {
            let prefix = |i: usize| format!("alarms[{i}].");
            let index = index.or_else(|| {
                e.field
                    .strip_prefix("alarms[")
                    .and_then(|rest| rest.split(']').next())
                    .and_then(|i| i.parse().ok())
            });
            if let Some(rest) = index.and_then(|i| e.field.strip_prefix(&prefix(i))) {
                e.field = rest.to_owned();
            }
            ApiError::Invalid(e)
        }
        other => other,
    }
}

fn with_etag<T: IntoResponse>(snapshot: &Snapshot, body: T) -> impl IntoResponse {
    ([(header::ETAG, etag(snapshot.revision))], body)
}
