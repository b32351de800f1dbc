//! Health, status and the API's own description.
//!
//! `/api/status` is where the daemon tells the user what is wrong without them reading logs:
//! each component adds its own section (config, scheduler, runner, fallback, hardware, http).

use std::path::PathBuf;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::limits::{ConnectionStats, HttpStatus};
use crate::hardware::HardwareStatus;
use crate::player::fallback::{self, FallbackStatus};
use crate::readiness::Readiness;
use crate::runner::RunnerStatus;
use crate::scheduler::SchedulerStatus;
use crate::store::{Origin, RefusedEdit};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the daemon serves requests.
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "status",
    responses((status = 200, description = "The daemon is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: u64,
    pub config: ConfigStatus,
    pub scheduler: SchedulerStatus,
    /// What is ringing, and how the last alarm went.
    pub runner: RunnerStatus,
    /// The local sound: whether its player is installed and its file readable.
    pub fallback: FallbackStatus,
    /// GPIO backend, line levels, recent events; `null` without hardware support.
    pub hardware: Option<HardwareStatus>,
    pub access: AccessStatus,
    /// Connections held and recent connection pressure; `null` when not served by
    /// `http::serve` (tests that call the router directly).
    pub http: Option<HttpStatus>,
    /// The last "will it ring?" check (`/api/readiness`), automatic or asked for, with when
    /// the next automatic one runs; `null` until one ran.
    pub readiness: Option<Readiness>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessStatus {
    /// The owner set a password: every route but `/healthz` and the login needs a session.
    pub password_set: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ConfigStatus {
    #[schema(value_type = String)]
    pub path: PathBuf,
    pub revision: u64,
    /// When the current revision was committed (saved, loaded, or a hand edit was accepted).
    pub last_change_at: DateTime<Utc>,
    pub last_change_origin: Origin,
    /// Set while the file on disk holds an edit the daemon refused.
    pub external_edit_error: Option<RefusedEdit>,
    /// Set when the daemon had to start from the last-good backup.
    pub started_from_backup: Option<String>,
    /// Set when the last-good backup could not be written.
    pub backup_error: Option<String>,
    /// Set when the revision history could not be kept (the daemon runs on).
    pub history_error: Option<String>,
}

#[utoipa::path(get, path = "/api/status", tag = "status",
    responses((status = 200, description = "What the daemon is doing and what is wrong", body = Status)))]
pub async fn status(
    State(app): State<AppState>,
    connections: Option<Extension<ConnectionStats>>,
) -> Json<Status> {
    let snapshot = app.store.snapshot();
    let health = app.store.health();
    Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: app.started_at,
        uptime_seconds: app.started.elapsed().as_secs(),
        config: ConfigStatus {
            path: app.store.files().target.clone(),
            revision: snapshot.revision,
            last_change_at: snapshot.committed_at,
            last_change_origin: snapshot.origin,
            external_edit_error: health.external_edit_error,
            started_from_backup: health.started_from_backup,
            backup_error: health.backup_error,
            history_error: health.history_error,
        },
        scheduler: app.scheduler.status(),
        runner: app.runner.status(),
        fallback: fallback::check(&snapshot.config.fallback),
        hardware: app
            .hardware
            .as_ref()
            .map(|h| h.status(&snapshot.config.hardware)),
        access: AccessStatus {
            password_set: app.access.password_set(),
        },
        http: connections.map(|Extension(stats)| stats.status()),
        readiness: app.readiness.answer(),
    })
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "status",
    responses((status = 200, description = "This description (OpenAPI 3)", body = Object)))]
pub async fn openapi(State(app): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], app.openapi)
}
