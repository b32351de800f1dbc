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
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::config::json_body;
use super::error::{ApiError, ErrorBody};
use crate::config::{Pull, deserialize_strict};
use crate::hardware::SimBackend;

#[derive(Serialize, ToSchema)]
pub struct SelfTest {
    /// What was done, in order.
    pub steps: Vec<String>,
}

#[utoipa::path(post, path = "/api/hardware/test", tag = "hardware",
    responses(
        (status = 200, description = "Amplifier on, a buzzer beep, amplifier off", body = SelfTest),
        (status = 409, description = "An alarm or sleep timer is running", body = ErrorBody),
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
    let press_sim = sim.clone();
    Router::new()
        .route(
            "/api/dev/sim/press",
            post(
                move |State(app): State<AppState>, body: Result<Bytes, BytesRejection>| {
                    let sim = press_sim.clone();
                    async move {
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
                        sim.press(
                            press.pin,
                            pull,
                            Duration::from_millis(press.hold_ms.min(10_000)),
                        )
                        .await
                        .map_err(|e| ApiError::BadRequest {
                            code: "not_an_input",
                            message: e.to_string(),
                        })?;
                        Ok::<_, ApiError>(StatusCode::NO_CONTENT)
                    }
                },
            ),
        )
        .route(
            "/api/dev/sim/turn",
            post(
                move |State(app): State<AppState>, body: Result<Bytes, BytesRejection>| {
                    let sim = sim.clone();
                    async move {
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
                            .map_err(|e| ApiError::BadRequest {
                                code: "not_an_input",
                                message: e.to_string(),
                            })?;
                        Ok::<_, ApiError>(StatusCode::NO_CONTENT)
                    }
                },
            ),
        )
}
