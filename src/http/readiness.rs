//! `/api/readiness`: "will the next alarm ring?", answered on demand (see `crate::readiness`).
//! `GET` answers the last check while it is fresh and runs one otherwise; `POST .../check`
//! always runs one (after the user switched the receiver on, say). Either way the result is
//! kept for `/api/status`, which never waits for Spotify itself.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::Duration;

use super::AppState;
use crate::player::link::Linker;
use crate::readiness::{Inputs, Readiness};

/// A result younger than this is answered as is: a page that polls must not make the daemon
/// ask Spotify every time.
const FRESH: Duration = Duration::seconds(60);

async fn run(app: &AppState) -> Arc<Readiness> {
    let snapshot = app.store.snapshot();
    let config = &snapshot.config;
    let runner = app.runner.status();
    let buzzer_open = app.hardware.as_ref().map(|h| {
        let status = h.status(&config.hardware);
        status.error.is_none() && !status.unavailable.iter().any(|u| u.device == "buzzer")
    });
    let clock = app.scheduler.clock();
    let dir = app.store.files().dir();
    app.readiness
        .run(Inputs {
            config,
            state_dir: dir,
            linker: Linker::new(dir, clock.clone()),
            scheduler: app.scheduler.status(),
            runner: &runner.state,
            buzzer_open,
            now: clock.now(),
        })
        .await
}

#[utoipa::path(get, path = "/api/readiness", tag = "readiness",
    responses((status = 200, description = "Whether the next alarm will ring, and what is wrong if not (the last check if younger than a minute, else a new one; a few seconds at most)", body = Readiness)))]
pub async fn readiness(State(app): State<AppState>) -> Json<Readiness> {
    let now = app.scheduler.clock().now();
    if let Some(last) = app.readiness.last()
        && now - last.checked_at < FRESH
        && last.checked_at <= now
    {
        return Json(last.as_ref().clone());
    }
    Json(run(&app).await.as_ref().clone())
}

#[utoipa::path(post, path = "/api/readiness/check", tag = "readiness",
    responses((status = 200, description = "A new check, run now (a few seconds at most)", body = Readiness)))]
pub async fn check_again(State(app): State<AppState>) -> Json<Readiness> {
    Json(run(&app).await.as_ref().clone())
}
