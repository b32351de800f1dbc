//! `/api/ring`: what is ringing, and stop / snooze / volume for it; ring-now for one alarm;
//! the sleep timer; the history of episodes. Handlers only send commands to the runner and read its status.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::config::json_body;
use super::error::{ApiError, ErrorBody, PathText};
use crate::config::{FieldError, deserialize_strict};
use crate::runner::{Actor, HistoryEntry, RunnerError, RunnerStatus, SleepTimerRequest};

impl From<RunnerError> for ApiError {
    fn from(e: RunnerError) -> ApiError {
        match e {
            RunnerError::NotRinging => ApiError::Conflict {
                code: "not_ringing",
                message: e.to_string(),
            },
            RunnerError::Busy => ApiError::Conflict {
                code: "busy",
                message: e.to_string(),
            },
            RunnerError::UnknownAlarm(id) => ApiError::NotFound(format!("no alarm with id {id:?}")),
            RunnerError::Gone => ApiError::Unavailable(e.to_string()),
        }
    }
}

#[utoipa::path(get, path = "/api/ring", tag = "ring",
    responses((status = 200, description = "What the runner is doing", body = RunnerStatus)))]
pub async fn ring_status(State(app): State<AppState>) -> Json<RunnerStatus> {
    Json(app.runner.status())
}

#[utoipa::path(post, path = "/api/ring/stop", tag = "ring",
    responses(
        (status = 204, description = "Stopped"),
        (status = 409, description = "Nothing is ringing (`not_ringing`), or the runner is busy (`busy`)", body = ErrorBody),
        (status = 503, description = "The runner does not answer (the daemon is stopping)", body = ErrorBody),
    ))]
pub async fn stop(State(app): State<AppState>) -> Result<StatusCode, ApiError> {
    app.runner.stop(Actor::Api).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/ring/snooze", tag = "ring",
    responses(
        (status = 204, description = "Snoozed (or stopped, after the alarm's maximum snoozes)"),
        (status = 409, description = "Nothing is ringing (`not_ringing`), or the runner is busy (`busy`)", body = ErrorBody),
        (status = 503, description = "The runner does not answer (the daemon is stopping)", body = ErrorBody),
    ))]
pub async fn snooze(State(app): State<AppState>) -> Result<StatusCode, ApiError> {
    app.runner.snooze(Actor::Api).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// 0 to 100; clamped to `volume.ceiling_percent`.
    #[schema(minimum = 0, maximum = 100)]
    pub volume_percent: u32,
}

#[utoipa::path(put, path = "/api/ring/volume", tag = "ring",
    request_body = Volume,
    responses(
        (status = 200, description = "The volume set (after the ceiling); the fade stops", body = Volume),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 409, description = "Nothing is ringing (`not_ringing`), or the runner is busy (`busy`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Out of range", body = ErrorBody),
        (status = 503, description = "The runner does not answer (the daemon is stopping)", body = ErrorBody),
    ))]
pub async fn set_volume(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Volume>, ApiError> {
    let volume: Volume = deserialize_strict(&json_body(body)?)?;
    if volume.volume_percent > 100 {
        return Err(FieldError::invalid("volume_percent", "must be between 0 and 100").into());
    }
    let applied = app.runner.set_volume(volume.volume_percent).await?;
    Ok(Json(Volume {
        volume_percent: applied,
    }))
}

#[utoipa::path(post, path = "/api/alarms/{id}/ring-now", tag = "ring",
    params(("id" = String, Path, description = "The alarm's id")),
    responses(
        (status = 202, description = "Ringing starts (follow it in GET /api/ring)"),
        (status = 404, description = "No such alarm", body = ErrorBody),
        (status = 409, description = "An alarm or the sleep timer is already running (`busy`)", body = ErrorBody),
        (status = 503, description = "The runner does not answer (the daemon is stopping)", body = ErrorBody),
    ))]
pub async fn ring_now(
    State(app): State<AppState>,
    PathText(id): PathText,
) -> Result<StatusCode, ApiError> {
    app.runner.ring_now(id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/history", tag = "ring",
    responses((status = 200, description = "The last 100 alarm episodes, newest first", body = Vec<HistoryEntry>)))]
pub async fn history(State(app): State<AppState>) -> Json<Vec<HistoryEntry>> {
    Json(app.runner.history())
}

#[utoipa::path(post, path = "/api/sleep-timer", tag = "ring",
    request_body = SleepTimerRequest,
    responses(
        (status = 202, description = "Playing starts (follow it in GET /api/ring); stop it with POST /api/ring/stop"),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 409, description = "An alarm or a sleep timer is running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is out of range", body = ErrorBody),
        (status = 503, description = "The runner does not answer (the daemon is stopping)", body = ErrorBody),
    ))]
pub async fn sleep_timer(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let request: SleepTimerRequest = deserialize_strict(&json_body(body)?)?;
    if !(1..=240).contains(&request.duration_minutes) {
        return Err(FieldError::invalid("duration_minutes", "must be between 1 and 240").into());
    }
    if request
        .fade_out_minutes
        .is_some_and(|f| f > request.duration_minutes)
    {
        return Err(FieldError::invalid(
            "fade_out_minutes",
            "must not be longer than duration_minutes",
        )
        .into());
    }
    if request.volume_percent.is_some_and(|v| v > 100) {
        return Err(FieldError::invalid("volume_percent", "must be between 0 and 100").into());
    }
    app.runner.sleep_timer(request).await?;
    Ok(StatusCode::ACCEPTED)
}
