//! `GET /api/events`: what the page shows live, as Server-Sent Events, so a phone sees an
//! alarm ring, a snooze end or another phone's change within a second without polling.
//!
//! Each stream sends one small [`LiveStatus`] at once and again whenever it changes: the
//! runner's state (ringing, snoozed, idle; what plays, by which path), the config revision
//! (any writer, hand edits included), the last readiness check, and the scheduler's next
//! firing. The page refetches what it shows when the revision moves. Nothing is queued: the
//! sources are `watch` channels (latest value only), and an event that would repeat the last
//! one is not sent.
//!
//! Bounded, because any device on the network can open streams:
//! - at most `max_streams` at once; beyond that 503 with `Retry-After`;
//! - each stream has a producer task and a send buffer of [`BUFFER`] events; a client that
//!   takes none for `stall` (it stopped reading) is dropped and its connection closed, so
//!   nothing the daemon does ever waits for a phone;
//! - a comment every `keep_alive` while connected (idle connections and proxies stay open,
//!   and a vanished client is noticed); with no client there is no timer at all;
//! - a stream ends when the server stops, and its slot and task go with the client.
//!
//! The listener's header timeout does not apply to a response in progress (hyper times only
//! the reading of a request head), so a stream outlives it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::listener::ConnectionControl;
use crate::clock::SharedClock;
use crate::readiness::Readiness;
use crate::runner::{RunnerState, RunnerStatus};
use crate::scheduler::{Plan, UpcomingFiring};

/// Events a stream holds for a client that is slow to take them.
pub const BUFFER: usize = 4;
/// Seconds a client refused by the stream limit is asked to wait.
const RETRY_AFTER_SECONDS: u32 = 5;

/// How many streams, and how they are kept alive.
#[derive(Clone, Debug, PartialEq)]
pub struct EventStreamLimits {
    pub max_streams: usize,
    /// A comment this often while a client is connected.
    pub keep_alive: Duration,
    /// A client that takes no event for this long is dropped.
    pub stall: Duration,
}

impl Default for EventStreamLimits {
    fn default() -> Self {
        EventStreamLimits {
            // A household's phones and tablets, each with the page open, and then some.
            max_streams: 16,
            // Under the 30 s many proxies and phones give an idle connection.
            keep_alive: Duration::from_secs(25),
            stall: Duration::from_secs(30),
        }
    }
}

/// The streams' shared state: the limits and the slots.
pub struct EventStreams {
    limits: EventStreamLimits,
    slots: Arc<Semaphore>,
}

impl EventStreams {
    pub fn new(limits: EventStreamLimits) -> EventStreams {
        EventStreams {
            slots: Arc::new(Semaphore::new(limits.max_streams)),
            limits,
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.limits.max_streams - self.slots.available_permits()
    }
}

/// One event's data: what the page shows live.
#[derive(Serialize, ToSchema)]
pub struct LiveStatus {
    /// The config revision (the `ETag` of `GET /api/config`): when it changes, refetch.
    pub revision: u64,
    /// What the runner does, as `GET /api/ring` says (without the heartbeat).
    pub runner: RunnerState,
    /// The next alarm that will ring; `null` when none will.
    pub next_firing: Option<UpcomingFiring>,
    /// The zone alarm times are read in (`time_zone` of the config, else the system's).
    pub time_zone: String,
    /// The last "will it ring?" check; `null` until one ran.
    pub readiness: Option<Readiness>,
    /// The daemon's clock when this was sent: the page counts down from it, not from the
    /// phone's clock.
    pub server_time: DateTime<Utc>,
}

/// What a stream watches. Each receiver is marked seen when read.
pub(super) struct Sources {
    pub revision: watch::Receiver<u64>,
    pub runner: watch::Receiver<RunnerStatus>,
    pub next: watch::Receiver<Option<Plan>>,
    pub readiness: watch::Receiver<Option<Arc<Readiness>>>,
    pub clock: SharedClock,
}

impl Sources {
    fn of(app: &AppState) -> Sources {
        Sources {
            revision: app.store.subscribe(),
            runner: app.runner.subscribe(),
            next: app.scheduler.watch_plan(),
            readiness: app.readiness.subscribe(),
            clock: app.scheduler.clock().clone(),
        }
    }

    /// The status now, as JSON without `server_time` (to compare with the last one sent).
    fn read(&mut self) -> (String, LiveStatus) {
        // The zone is empty until the scheduler first looked at the clock.
        let (next_firing, time_zone) = match &*self.next.borrow_and_update() {
            Some(plan) => (plan.next_firing.clone(), plan.zone.name().to_owned()),
            None => (None, String::new()),
        };
        let status = LiveStatus {
            revision: *self.revision.borrow_and_update(),
            runner: self.runner.borrow_and_update().state.clone(),
            next_firing,
            time_zone,
            readiness: self
                .readiness
                .borrow_and_update()
                .as_ref()
                .map(|r| r.as_ref().clone()),
            server_time: DateTime::<Utc>::UNIX_EPOCH,
        };
        let key = serde_json::to_string(&status).expect("the live status serializes");
        (key, status)
    }

    /// Waits until a source changes. A source whose sender is gone (a test without a runner)
    /// is not watched again, so it cannot spin the loop.
    async fn changed(&mut self, open: &mut [bool; 4]) {
        tokio::select! {
            r = self.revision.changed(), if open[0] => open[0] = r.is_ok(),
            r = self.runner.changed(), if open[1] => open[1] = r.is_ok(),
            r = self.next.changed(), if open[2] => open[2] = r.is_ok(),
            r = self.readiness.changed(), if open[3] => open[3] = r.is_ok(),
            () = std::future::pending(), if !open.iter().any(|o| *o) => {}
        }
    }
}

#[utoipa::path(get, path = "/api/events", tag = "status",
    responses(
        (status = 200, description = "Server-Sent Events: an `event: status` with the live status at once and on every change; a comment line as keep-alive while connected",
            content_type = "text/event-stream", body = LiveStatus),
        (status = 503, description = "Too many event streams are open (`too_many_streams`); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub async fn events(
    State(app): State<AppState>,
    control: Option<Extension<ConnectionControl>>,
) -> Response {
    let Ok(slot) = app.events.slots.clone().try_acquire_owned() else {
        let mut response = ApiError::Refused {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "too_many_streams",
            message: format!(
                "{} pages are following this daemon already: close one, or try again later",
                app.events.limits.max_streams
            ),
        }
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        return response;
    };
    let (sender, receiver) = mpsc::channel(BUFFER);
    let producer = Producer {
        sources: Sources::of(&app),
        sender,
        limits: app.events.limits.clone(),
        control: control.map(|Extension(c)| c),
        _slot: slot,
    };
    tokio::spawn(producer.run());
    let mut response = Sse::new(EventBody(receiver)).into_response();
    // Not buffered by proxies that honour it (nginx).
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The body: the events the producer sends, in order.
struct EventBody(mpsc::Receiver<Event>);

impl futures_core::Stream for EventBody {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|event| event.map(Ok))
    }
}

/// How a stream ended (for the log and the tests).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    ClientGone,
    Stalled,
    Stopping,
}

/// One stream's task: watches the sources and feeds the body.
pub(super) struct Producer {
    pub sources: Sources,
    pub sender: mpsc::Sender<Event>,
    pub limits: EventStreamLimits,
    pub control: Option<ConnectionControl>,
    pub _slot: OwnedSemaphorePermit,
}

impl Producer {
    pub async fn run(mut self) -> Ended {
        let ended = self.feed().await;
        if ended == Ended::Stalled {
            tracing::info!(
                "an event stream's client took no event for {:?}: dropped",
                self.limits.stall
            );
            if let Some(control) = &self.control {
                control.close();
            }
        }
        ended
    }

    async fn feed(&mut self) -> Ended {
        let mut last = String::new();
        let mut open = [true; 4];
        // Reset only by something sent: changes that send nothing (the runner's heartbeat)
        // must not postpone it forever.
        let mut keep_alive_at = tokio::time::Instant::now() + self.limits.keep_alive;
        loop {
            let (key, mut status) = self.sources.read();
            if key != last {
                status.server_time = self.sources.clock.now();
                let event = Event::default()
                    .event("status")
                    .json_data(&status)
                    .expect("the live status serializes");
                if let Err(ended) = self.deliver(event).await {
                    return ended;
                }
                last = key;
                keep_alive_at = tokio::time::Instant::now() + self.limits.keep_alive;
            }
            // Wait for a change, a keep-alive, the end of the client or of the server.
            let keep_alive = tokio::time::sleep_until(keep_alive_at);
            let stopping = async {
                match &self.control {
                    Some(control) => control.stopping().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stopping => return Ended::Stopping,
                () = self.sender.closed() => return Ended::ClientGone,
                () = self.sources.changed(&mut open) => {}
                () = keep_alive => {
                    if let Err(ended) = self.deliver(Event::default().comment("")).await {
                        return ended;
                    }
                    keep_alive_at = tokio::time::Instant::now() + self.limits.keep_alive;
                }
            }
        }
    }

    /// Hands `event` to the body, waiting at most `stall` for room in its buffer.
    async fn deliver(&self, event: Event) -> Result<(), Ended> {
        match tokio::time::timeout(self.limits.stall, self.sender.send(event)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::ClientGone),
            Err(_) => Err(Ended::Stalled),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    fn idle() -> RunnerStatus {
        RunnerStatus {
            state: RunnerState::Idle,
            heartbeat: None,
            last_episode: None,
        }
    }

    struct Fixture {
        revision: watch::Sender<u64>,
        runner: watch::Sender<RunnerStatus>,
        _next: watch::Sender<Option<Plan>>,
        _readiness: watch::Sender<Option<Arc<Readiness>>>,
        slots: Arc<Semaphore>,
    }

    fn producer(limits: EventStreamLimits) -> (Fixture, Producer, mpsc::Receiver<Event>) {
        let (revision, revision_rx) = watch::channel(1);
        let (runner, runner_rx) = watch::channel(idle());
        let (next, next_rx) = watch::channel(None);
        let (readiness, readiness_rx) = watch::channel(None);
        let slots = Arc::new(Semaphore::new(1));
        let (sender, receiver) = mpsc::channel(BUFFER);
        let start = "2026-11-23T12:00:00Z".parse().unwrap();
        let producer = Producer {
            sources: Sources {
                revision: revision_rx,
                runner: runner_rx,
                next: next_rx,
                readiness: readiness_rx,
                clock: Arc::new(ManualClock::new(start)),
            },
            sender,
            limits,
            control: None,
            _slot: slots.clone().try_acquire_owned().unwrap(),
        };
        let fixture = Fixture {
            revision,
            runner,
            _next: next,
            _readiness: readiness,
            slots,
        };
        (fixture, producer, receiver)
    }

    fn limits() -> EventStreamLimits {
        EventStreamLimits {
            max_streams: 1,
            keep_alive: Duration::from_secs(25),
            stall: Duration::from_secs(30),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped_and_frees_its_slot() {
        let (fixture, producer, receiver) = producer(limits());
        let task = tokio::spawn(producer.run());
        // The client reads nothing; changes keep coming, keep-alives too.
        for revision in 2..=20 {
            fixture.revision.send_replace(revision);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(task.await.unwrap(), Ended::Stalled);
        assert_eq!(fixture.slots.available_permits(), 1, "the slot is free");
        // What it held was bounded by the buffer, and the newest state was never queued
        // behind old ones beyond it.
        assert_eq!(receiver.len(), BUFFER);
    }

    #[tokio::test(start_paused = true)]
    async fn changes_are_sent_once_and_keep_alives_only_while_connected() {
        let (fixture, producer, mut receiver) = producer(limits());
        let task = tokio::spawn(producer.run());
        let _ = receiver.recv().await.expect("the status at once");
        // The same state again (the heartbeat moves, the state does not): nothing is sent.
        fixture.runner.send_replace(RunnerStatus {
            heartbeat: Some("2026-11-23T12:00:01Z".parse().unwrap()),
            ..idle()
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            receiver.try_recv().is_err(),
            "no event for an unchanged status"
        );
        // Heartbeats without a change do not postpone the keep-alive: 25 s after the last
        // event, not after the last heartbeat.
        fixture.runner.send_replace(RunnerStatus {
            heartbeat: Some("2026-11-23T12:00:20Z".parse().unwrap()),
            ..idle()
        });
        tokio::time::sleep(Duration::from_secs(14)).await;
        assert!(receiver.try_recv().is_err(), "no keep-alive before 25 s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(receiver.try_recv().is_ok(), "a keep-alive after 25 s");
        fixture.revision.send_replace(7);
        let _ = receiver.recv().await.expect("the new revision");
        // The client goes: the task ends and the slot is free, without waiting for a timer.
        drop(receiver);
        assert_eq!(task.await.unwrap(), Ended::ClientGone);
        assert_eq!(fixture.slots.available_permits(), 1);
    }
}
