//! `POST /api/hardware/test` (a wiring check through the runner), and the development
//! endpoints of the simulated backend: press a button, turn the knob. Those exist only when
//! the daemon runs with `--dev-sim-control` on the simulator.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::config::json_body;
use super::error::{ApiError, ErrorBody};
use crate::config::{Pull, deserialize_strict};
use crate::hardware::{HardwareError, SimBackend};

#[derive(Serialize, ToSchema)]
pub struct SelfTest {
    /// What was done, in order.
    pub steps: Vec<String>,
}

#[utoipa::path(post, path = "/api/hardware/test", tag = "hardware",
    responses(
        (status = 200, description = "Amplifier on, a buzzer beep, amplifier off", body = SelfTest),
        (status = 409, description = "An alarm or sleep timer is running", body = ErrorBody),
        (status = 503, description = "The runner does not answer (the daemon is stopping)", body = ErrorBody),
    ))]
pub async fn self_test(State(app): State<AppState>) -> Result<Json<SelfTest>, ApiError> {
    let steps = app.runner.hardware_test().await?;
    Ok(Json(SelfTest { steps }))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Press {
    pin: u8,
    #[serde(default)]
    hold_ms: u64,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    detents: i32,
}

pub fn sim_routes(sim: Arc<SimBackend>) -> Router<AppState> {
    Router::new()
        .route("/api/dev/sim/press", post(sim_press))
        .route("/api/dev/sim/turn", post(sim_turn))
        .layer(Extension(sim))
}

async fn sim_press(
    State(app): State<AppState>,
    Extension(sim): Extension<Arc<SimBackend>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let press: Press = deserialize_strict(&json_body(body)?)?;
    let pull = app
        .store
        .snapshot()
        .config
        .hardware
        .buttons
        .iter()
        .find(|b| b.pin == press.pin)
        .map_or(Pull::Up, |b| b.pull);
    let hold = Duration::from_millis(press.hold_ms.min(10_000));
    sim.press(press.pin, pull, hold)
        .await
        .map_err(not_an_input)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sim_turn(
    State(app): State<AppState>,
    Extension(sim): Extension<Arc<SimBackend>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let turn: Turn = deserialize_strict(&json_body(body)?)?;
    let encoder = app
        .store
        .snapshot()
        .config
        .hardware
        .encoder
        .clone()
        .ok_or_else(|| ApiError::BadRequest {
            code: "no_encoder",
            message: "no encoder is configured".into(),
        })?;
    sim.turn(encoder.pin_a, encoder.pin_b, turn.detents.clamp(-200, 200))
        .await
        .map_err(not_an_input)?;
    Ok(StatusCode::NO_CONTENT)
}

fn not_an_input(e: HardwareError) -> ApiError {
    ApiError::BadRequest {
        code: "not_an_input",
        message: e.to_string(),
    }
}
