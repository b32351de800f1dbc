//! `/api/readiness`: "will the next alarm ring?", answered on demand (see `crate::readiness`).
//! `GET` answers the last check while it is fresh and runs one otherwise; `POST .../check`
//! always runs one (after the user switched the receiver on, say). Either way the result is
//! kept for `/api/status`, which never waits for Spotify itself. A check asked for here never
//! runs the owner's repair command nor posts to the webhook: only the automatic pre-alarm
//! check does (`readiness::AutoCheck`).

use axum::Json;
use axum::extract::State;
use chrono::Duration;

use super::AppState;
use crate::readiness::{Readiness, Sources, Trigger};

/// A result younger than this is answered as is: a page that polls must not make the daemon
/// ask Spotify every time.
const FRESH: Duration = Duration::seconds(60);

async fn run(app: &AppState) -> Readiness {
    let sources = Sources {
        store: &app.store,
        scheduler: &app.scheduler,
        runner: &app.runner,
        hardware: app.hardware.as_ref(),
    };
    let result = app.readiness.run(&sources, Trigger::OnDemand).await;
    app.readiness.with_next(&result)
}

#[utoipa::path(get, path = "/api/readiness", tag = "readiness",
    responses((status = 200, description = "Whether the next alarm will ring, and what is wrong if not (the last check, automatic or not, if younger than a minute, else a new one; a few seconds at most)", body = Readiness)))]
pub async fn readiness(State(app): State<AppState>) -> Json<Readiness> {
    let now = app.scheduler.clock().now();
    if let Some(last) = app.readiness.last()
        && now - last.checked_at < FRESH
        && last.checked_at <= now
    {
        return Json(app.readiness.with_next(&last));
    }
    Json(run(&app).await)
}

#[utoipa::path(post, path = "/api/readiness/check", tag = "readiness",
    responses((status = 200, description = "A new check, run now (a few seconds at most; never the repair command nor the webhook)", body = Readiness)))]
pub async fn check_again(State(app): State<AppState>) -> Json<Readiness> {
    Json(run(&app).await)
}
