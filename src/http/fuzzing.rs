//! What the fuzz targets (`fuzz/`, `docs/reliability.md`) reach inside the HTTP layer: the
//! request body readers and the document changes of `PUT` and `PATCH`, run by the same
//! functions the handlers call, without a store, a socket or a clock. Re-exported as
//! `reveille::fuzzing`, which is hidden: not an API, and nothing in the daemon calls it.

use std::cell::RefCell;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;

pub use super::BODY_LIMIT;
use super::config::{json_body, patch_document, replace_document};
use super::error::ApiError;
use super::{alarms, guard, owner_checked, ring, session, spotify};
use crate::config::{Alarm, Config, FieldError, deserialize_strict, validate};
use crate::runner::SleepTimerRequest;

/// A request body the API reads, by what its handler reads it into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Any JSON (the reader every body goes through first).
    Json,
    /// `PUT /api/config`: the whole document, onto the default one.
    Config,
    /// The alarm bodies (`POST /api/alarms`, `PUT /api/alarms/{id}`), parsed, not validated.
    Alarm,
    /// `POST /api/alarms/{id}/skip-next`: empty, `null` or `{"skip_next": …}`.
    SkipNext,
    /// `POST /api/session`.
    Login,
    /// `PUT /api/ring/volume`.
    Volume,
    /// `POST /api/sleep-timer`.
    SleepTimer,
    /// `POST /api/spotify/link/complete`, which reads its body itself.
    CompleteLink,
}

pub const BODY_KINDS: [BodyKind; 8] = [
    BodyKind::Json,
    BodyKind::Config,
    BodyKind::Alarm,
    BodyKind::SkipNext,
    BodyKind::Login,
    BodyKind::Volume,
    BodyKind::SleepTimer,
    BodyKind::CompleteLink,
];

/// The answer: the status and the JSON body (what was read, on success).
#[derive(Clone, Debug, PartialEq)]
pub struct BodyAnswer {
    pub status: u16,
    pub body: Value,
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime starts");
    static ROUTER: RefCell<Option<Router>> = const { RefCell::new(None) };
}

/// `body` sent as a `POST` with `content_type` (and its `Content-Length`) through the layers
/// every API request passes (the guard's media-type check, the body limit) to the reader of
/// `kind`. `None` when `content_type` is not a header value hyper would deliver.
pub fn read_body(kind: BodyKind, content_type: Option<&[u8]>, body: Vec<u8>) -> Option<BodyAnswer> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/{kind:?}"))
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(media) = content_type {
        request = request.header(header::CONTENT_TYPE, HeaderValue::from_bytes(media).ok()?);
    }
    let request = request
        .body(Body::from(body))
        .expect("a request with valid parts builds");
    let router = ROUTER.with(|r| r.borrow_mut().get_or_insert_with(readers).clone());
    let response = RUNTIME.with(|rt| {
        rt.block_on(async {
            let response = router
                .oneshot(request)
                .await
                .expect("routers are infallible");
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a buffered body reads");
            (status, bytes)
        })
    });
    let (status, bytes) = response;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("a {status} answer is not JSON ({e}): {bytes:?}"));
    Some(BodyAnswer { status, body })
}

/// One route per [`BodyKind`], layered as `http::router` layers the API.
fn readers() -> Router {
    async fn media_type(request: Request, next: Next) -> Response {
        match guard::json_or_empty(request.headers()) {
            Ok(()) => next.run(request).await,
            Err(refused) => refused.into_response(),
        }
    }
    type Read = Result<Bytes, BytesRejection>;
    Router::new()
        .route("/Json", post(|b: Read| async { answer(json_body(b)) }))
        .route(
            "/Config",
            post(|b: Read| async {
                answer(Ok(replace_config(&Config::default(), json_body(b)?)?))
            }),
        )
        .route("/Alarm", post(|b: Read| async { typed::<Alarm>(b) }))
        .route(
            "/SkipNext",
            post(|b: Read| async { answer(alarms::skip_next_body(b)) }),
        )
        .route(
            "/Login",
            post(|b: Read| async { typed::<session::Login>(b) }),
        )
        .route(
            "/Volume",
            post(|b: Read| async { typed::<ring::Volume>(b) }),
        )
        .route(
            "/SleepTimer",
            post(|b: Read| async { typed::<SleepTimerRequest>(b) }),
        )
        .route(
            "/CompleteLink",
            post(|r: Request| async { answer(spotify::complete_link_body(r.into_body()).await) }),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(media_type))
}

fn typed<T: serde::de::DeserializeOwned + Serialize>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let value = json_body(body)?;
    answer(Ok(deserialize_strict::<T>(&value)?))
}

fn answer<T: Serialize>(read: Result<T, ApiError>) -> Result<Response, ApiError> {
    Ok(axum::Json(read?).into_response())
}

/// `PATCH /api/config`: the merge patch applied to `config`, refused like any HTTP write that
/// changes an owner-only setting.
pub fn patch_config(config: &Config, patch: &Value) -> Result<Config, FieldError> {
    let mut config = config.clone();
    owner_checked(&mut config, |c| patch_document(c, patch))?;
    Ok(config)
}

/// `PUT /api/config` with `body` as the new document.
pub fn replace_config(config: &Config, body: Value) -> Result<Config, FieldError> {
    let mut config = config.clone();
    owner_checked(&mut config, |c| replace_document(c, body))?;
    Ok(config)
}

/// `PATCH /api/alarms/{id}` on the alarm at `index`: the id check, the patch, then the
/// document validated as the store's transaction validates it (the endpoint's clock check on
/// one-shot dates is left out: it needs the daemon's clock).
pub fn patch_alarm(config: &Config, index: usize, patch: &Value) -> Result<Config, FieldError> {
    let mut config = config.clone();
    let old = &config.alarms[index];
    alarms::keeps_id(&old.id, patch)?;
    owner_checked(&mut config, |c| {
        c.alarms[index] = alarms::patch_alarm_value(&c.alarms[index], patch)?;
        Ok(())
    })?;
    validate(&config)?;
    Ok(config)
}
