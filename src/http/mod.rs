//! The embedded HTTP server: the JSON API and the phone page (`page`, files embedded at build
//! time).
//!
//! [`router`] builds the whole app from an [`AppState`] without a socket (tests use it with
//! `oneshot`); [`serve`] runs it on a listener the caller has already bound, so the real port is
//! known before serving and port 0 works. Routes are registered through `utoipa-axum`, so the
//! OpenAPI description is generated from the same list and cannot drift from it.
//!
//! Handlers never drive hardware or Spotify themselves; they go through the store and the
//! runner's command channel.

mod alarms;
mod config;
mod error;
mod events;
pub(crate) mod fuzzing;
mod guard;
mod hardware;
mod limits;
mod listener;
pub mod page;
mod playlists;
mod readiness;
mod revisions;
mod ring;
mod schemas;
mod session;
mod spotify;
mod status;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use events::{EventStreamLimits, EventStreams, LiveStatus};
pub use guard::Access;
pub use limits::{
    ConnectionLimits, ConnectionStats, HttpStatus, MAX_CONNECTIONS_CAP, WAITING, open_files_limit,
    raise_open_files_limit,
};
pub use listener::{ConnectionControl, LISTEN_BACKLOG, listen, serve_with_limits};

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, FieldError, owner_only_change};
use crate::hardware::{HardwareView, SimBackend};
use crate::runner::RunnerHandle;
use crate::scheduler::SchedulerHandle;
use crate::store::{ConfigStore, Snapshot, TxError};

/// Largest request body accepted; a config document is a few KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: ConfigStore,
    pub scheduler: SchedulerHandle,
    pub runner: RunnerHandle,
    /// `None` in tests of other parts.
    /// The hardware's status only: HTTP never switches a line (only the runner does).
    pub hardware: Option<HardwareView>,
    /// The password, sessions and the CLI token (`guard`).
    pub access: Arc<Access>,
    /// The last "will it ring?" check, and one check at a time.
    pub readiness: Arc<crate::readiness::LastCheck>,
    /// The linked account's playlists, kept for a few minutes.
    pub playlists: Arc<crate::playlists::PlaylistCache>,
    /// The page's live event streams (`/api/events`) and their bound.
    pub events: Arc<EventStreams>,
    started: Instant,
    started_at: DateTime<Utc>,
    /// `/api/openapi.json`, serialized once: about 100 KB of JSON where the `Value` tree took
    /// several times that in the heap, and each request cloned it.
    openapi: axum::body::Bytes,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "reveille", description = "A Spotify alarm clock daemon for the Raspberry Pi"),
    tags(
        (name = "config", description = "The whole config document"),
        (name = "alarms", description = "Alarms, one at a time, and what is coming up"),
        (name = "ring", description = "The alarm ringing now: stop, snooze, volume; history"),
        (name = "hardware", description = "GPIO devices"),
        (name = "status", description = "Health and status"),
        (name = "session", description = "Log in and out when the owner set a password"),
        (name = "spotify", description = "Link and unlink the Spotify account; its receivers and playlists"),
        (name = "readiness", description = "Will the next alarm ring? What is wrong if not"),
    )
)]
struct ApiDoc;

/// The routes, and the OpenAPI description generated from them.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(status::healthz))
        .routes(routes!(status::status))
        .routes(routes!(status::openapi))
        .routes(routes!(
            config::get_config,
            config::put_config,
            config::patch_config
        ))
        .routes(routes!(revisions::list_revisions))
        .routes(routes!(revisions::get_revision))
        .routes(routes!(revisions::restore_revision))
        .routes(routes!(alarms::list_alarms, alarms::create_alarm))
        .routes(routes!(alarms::upcoming))
        .routes(routes!(
            alarms::get_alarm,
            alarms::put_alarm,
            alarms::patch_alarm,
            alarms::delete_alarm
        ))
        .routes(routes!(alarms::skip_next))
        .routes(routes!(ring::ring_now))
        .routes(routes!(ring::ring_status))
        .routes(routes!(ring::stop))
        .routes(routes!(ring::snooze))
        .routes(routes!(ring::set_volume))
        .routes(routes!(ring::history))
        .routes(routes!(ring::sleep_timer))
        .routes(routes!(hardware::self_test))
        .routes(routes!(
            session::session_state,
            session::log_in,
            session::log_out
        ))
        .routes(routes!(
            spotify::link_status,
            spotify::start_link,
            spotify::unlink
        ))
        .routes(routes!(spotify::complete_link))
        .routes(routes!(spotify::devices))
        .routes(routes!(playlists::playlists))
        .routes(routes!(readiness::readiness))
        .routes(routes!(readiness::check_again))
        .routes(routes!(events::events))
        .split_for_parts();
    let mut api = api;
    guard::describe_refusals(&mut api);
    schemas::describe_if_match(&mut api);
    (routes, api)
}

/// The OpenAPI description of the whole API, as `/api/openapi.json` serves it.
pub fn openapi() -> serde_json::Value {
    schemas::served(&routes().1)
}

/// The whole app, ready to serve or to test with `oneshot`.
/// `sim_control`: the development endpoints that press buttons and turn the knob of the
/// simulated hardware (`/api/dev/sim/*`, off by default, not in the OpenAPI description).
/// `readiness`: the last "will it ring?" check, shared with the automatic one.
// One caller (the composition root), each argument a part it built.
#[allow(clippy::too_many_arguments)]
pub fn router(
    store: ConfigStore,
    scheduler: SchedulerHandle,
    runner: RunnerHandle,
    hardware: Option<HardwareView>,
    sim_control: Option<Arc<SimBackend>>,
    access: Access,
    readiness: Arc<crate::readiness::LastCheck>,
    event_streams: EventStreamLimits,
) -> Router {
    let (routes, api) = routes();
    let state = AppState {
        store,
        scheduler,
        runner,
        hardware,
        access: Arc::new(access),
        readiness,
        playlists: Arc::default(),
        events: Arc::new(EventStreams::new(event_streams)),
        started: Instant::now(),
        started_at: Utc::now(),
        openapi: serde_json::to_vec(&schemas::served(&api))
            .expect("a JSON value with string keys always serializes")
            .into(),
    };
    let routes = match sim_control {
        Some(sim) => routes.merge(hardware::sim_routes(sim)),
        None => routes,
    };
    routes
        .fallback(page::serve)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// Serves `app` on an already bound listener until `shutdown` completes, then lets requests in
/// flight finish (bounded). Connection limits for this process; see [`serve_with_limits`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(
        listener,
        app,
        ConnectionLimits::for_this_process(),
        shutdown,
    )
    .await
}

impl AppState {
    /// Every write over HTTP goes through here: a store transaction that also refuses to change
    /// an owner-only setting (`config::OWNER_ONLY`), checked against the document as it is under
    /// the writer lock, so nothing can slip in between the check and the save.
    pub(crate) async fn transaction<F>(
        &self,
        expected: Option<u64>,
        change: F,
    ) -> Result<Arc<Snapshot>, TxError>
    where
        F: FnOnce(&mut Config) -> Result<(), FieldError> + Send + 'static,
    {
        self.store
            .transaction(expected, move |config| owner_checked(config, change))
            .await
    }
}

/// `change` applied to `config`, refused when it changes an owner-only setting.
fn owner_checked(
    config: &mut Config,
    change: impl FnOnce(&mut Config) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    let before = config.clone();
    change(config)?;
    match owner_only_change(&before, config) {
        Some(field) => Err(FieldError::owner_only(field)),
        None => Ok(()),
    }
}

/// The ETag for a revision: the number, quoted.
pub(crate) fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\""))
        .expect("a quoted number is a valid header value")
}
