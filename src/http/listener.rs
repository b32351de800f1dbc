//! The accept loop: serves the router over HTTP/1.1 on a bound listener without letting clients
//! starve the rest of the daemon.
//!
//! - At most `max_connections` are held (a semaphore; the bound comes from `limits`). When
//!   they are all taken, the next accepted connection makes one close: the oldest of the peer
//!   holding the most (gracefully: an idle one at once, a request in flight within
//!   `close_grace`); the newcomer waits for that slot in its own task (at most `WAITING` of
//!   them; beyond that a newcomer is closed at once). A phone therefore gets in, and a flood
//!   from one host mostly displaces itself.
//! - A request head must arrive within `header_timeout`; hyper's timer also runs while a
//!   keep-alive connection waits for its next request, so idle connections end too.
//! - Accept errors (EMFILE when something else used the descriptors) pause the loop briefly
//!   and are logged once per episode: the pending connection stays in the backlog, so retrying
//!   at once would spin.
//! - On shutdown it stops accepting, lets requests in flight finish for a bounded time, and
//!   returns.
//! - [`listen`] binds with an accept queue deeper than the bound, so a burst the loop would
//!   take is never dropped by the kernel first.
//!
//! - Each request carries its connection's [`ConnectionControl`]: a long response (the event
//!   stream) ends itself when the server stops, and asks for its connection to be closed when
//!   its client stopped reading.
//!
//! It knows nothing about routes; it must not touch the store or the runner.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::{Extension, Router};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use super::limits::{ConnectionLimits, ConnectionStats, WAITING};

/// A connection's claim on a slot: held, or waiting for an evicted one to free.
enum Slot {
    Held(OwnedSemaphorePermit),
    Waiting(OwnedSemaphorePermit),
}

/// Pause after an accept error; short enough that a phone barely notices, long enough that
/// the loop does not spin on a connection it cannot take.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// Pressure is logged at most this often: a flood must not flood the journal too.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Room in the kernel's accept queue. More than the connections the server holds plus its
/// waiting newcomers (`MAX_CONNECTIONS_CAP` + `WAITING`, 264), so a burst the accept loop
/// would take (a flood coming back, a phone among it) is not dropped by the kernel first: a
/// dropped SYN costs the client a one-second retransmission. std and mio ask for 128; Linux
/// caps the value at `net.core.somaxconn` (4096 since 5.4). Queued connections cost no
/// descriptor, only kernel memory.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds `addr` as `TcpListener::bind` does (`SO_REUSEADDR`, so a restart need not wait for
/// old connections in TIME_WAIT), with an accept queue of [`LISTEN_BACKLOG`].
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes. The status handler
/// finds the connection counters as an `Extension<ConnectionStats>`.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stats = ConnectionStats::new(limits.clone());
    let app = app.layer(Extension(stats.clone()));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let waiting = Arc::new(Semaphore::new(WAITING));
    let held = Arc::new(Held::default());
    let (stop, stopping) = watch::channel(false);
    let mut failing = false;
    let mut full_logged: Option<Instant> = None;
    tokio::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok((stream, peer)) => {
                if failing {
                    tracing::info!("accepting connections again");
                    failing = false;
                }
                (stream, peer)
            }
            // The client gave up before we took it: nothing wrong here.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                stats.accept_error(&e);
                if !failing {
                    tracing::error!("cannot accept connections: {e}; retrying");
                    failing = true;
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(permit) => Slot::Held(permit),
            Err(_) => {
                stats.full();
                if full_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "every HTTP connection slot is taken: closing the oldest connections of the busiest peer to make room"
                    );
                    full_logged = Some(Instant::now());
                }
                // Newcomers wait in their own tasks, so a victim that takes its whole grace
                // (a slowloris mid-header) does not hold up the accept loop; their number is
                // bounded and counted in the descriptor budget.
                let Ok(waiting) = waiting.clone().try_acquire_owned() else {
                    continue; // dropped: closed at once
                };
                held.close_one();
                Slot::Waiting(waiting)
            }
        };
        let connection = Connection {
            stream,
            peer,
            app: app.clone(),
            http: http.clone(),
            stopping: stopping.clone(),
            close_grace: limits.close_grace,
        };
        let (held, stats, slots) = (held.clone(), stats.clone(), slots.clone());
        // The evicted connection ends within its grace; if it somehow does not, the
        // newcomer is closed rather than kept waiting.
        let wait = limits.close_grace + Duration::from_secs(1);
        tokio::spawn(async move {
            let permit = match slot {
                Slot::Held(permit) => permit,
                Slot::Waiting(_waiting) => {
                    match tokio::time::timeout(wait, slots.acquire_owned()).await {
                        Ok(Ok(permit)) => permit,
                        _ => return,
                    }
                }
            };
            let _open = stats.opened();
            let (id, close) = held.add(peer.ip());
            connection.run(permit, close).await;
            held.remove(id);
        });
    }

    // No new connections from here on: closing the listener refuses them at the kernel.
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at shutdown were cut off");
    }
    Ok(())
}

/// A request's handle on its connection, as an extension (absent when the router is called
/// without this listener, as in `oneshot` tests).
#[derive(Clone, Debug)]
pub struct ConnectionControl {
    close: Arc<Notify>,
    stopping: watch::Receiver<bool>,
}

impl ConnectionControl {
    /// Asks the listener to close this connection, as it does to make room: what is in flight
    /// gets `close_grace`, then the socket goes.
    pub fn close(&self) {
        self.close.notify_one();
    }

    /// Completes when the server stops accepting (shutdown).
    pub async fn stopping(&self) {
        let mut stopping = self.stopping.clone();
        // An error means the server is gone: stopped as well.
        let _ = stopping.wait_for(|stop| *stop).await;
    }
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The connections held, oldest first, each with its peer and the signal that asks it to close.
#[derive(Default)]
struct Held {
    inner: Mutex<HeldInner>,
}

#[derive(Default)]
struct HeldInner {
    next_id: u64,
    connections: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
}

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HeldInner> {
        // Nothing here can panic while holding the lock; recover rather than propagate.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, peer: IpAddr) -> (u64, Arc<Notify>) {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let close = Arc::new(Notify::new());
        inner.connections.insert(id, (peer, close.clone()));
        (id, close)
    }

    fn remove(&self, id: u64) {
        self.lock().connections.remove(&id);
    }

    /// Asks one connection to close: the oldest of the peer holding the most. It leaves the
    /// list at once, so the next call picks another.
    fn close_one(&self) {
        let mut inner = self.lock();
        let Some(id) = victim(&inner.connections) else {
            return;
        };
        if let Some((_, close)) = inner.connections.remove(&id) {
            // Stores a permit if the task is not waiting yet, so the request is never lost.
            close.notify_one();
        }
    }
}

/// The oldest connection of the peer with the most connections (a scan: at most a few
/// hundred entries, and only when every slot is taken).
fn victim(connections: &BTreeMap<u64, (IpAddr, Arc<Notify>)>) -> Option<u64> {
    let mut per_peer: HashMap<IpAddr, (usize, u64)> = HashMap::new();
    for (&id, (peer, _)) in connections {
        // Ids ascend, so the first id seen for a peer is its oldest.
        per_peer.entry(*peer).or_insert((0, id)).0 += 1;
    }
    // Ties go to the peer whose oldest connection is older.
    per_peer
        .into_values()
        .max_by_key(|&(count, oldest)| (count, std::cmp::Reverse(oldest)))
        .map(|(_, oldest)| oldest)
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    http: Arc<http1::Builder>,
    stopping: watch::Receiver<bool>,
    close_grace: Duration,
}

impl Connection {
    /// Serves until the client leaves, a timeout ends it, or it is asked to close.
    async fn run(mut self, _slot: OwnedSemaphorePermit, close: Arc<Notify>) {
        // Handlers see the peer (the login rate limit, the CLI token's loopback check) and
        // their connection's control (the event stream).
        let peer = ConnectInfo(self.peer);
        let control = ConnectionControl {
            close: close.clone(),
            stopping: self.stopping.clone(),
        };
        let app = self.app.map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(peer);
            request.extensions_mut().insert(control.clone());
            request
        });
        let service = TowerToHyperService::new(app);
        let conn = self
            .http
            .serve_connection(TokioIo::new(self.stream), service);
        tokio::pin!(conn);
        let asked_to_close = async {
            tokio::select! {
                () = close.notified() => {}
                _ = self.stopping.wait_for(|stop| *stop) => {}
            }
        };
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = asked_to_close => {
                // Idle connections end at once; a request in flight gets its grace.
                conn.as_mut().graceful_shutdown();
                tokio::time::timeout(self.close_grace, conn.as_mut())
                    .await
                    .unwrap_or(Ok(()))
            }
        };
        if let Err(e) = result {
            // Timeouts, resets and malformed requests are the client's business.
            tracing::debug!("HTTP connection ended: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_peer_loses_its_oldest_connection() {
        let phone: IpAddr = [192, 168, 1, 20].into();
        let flood: IpAddr = [192, 168, 1, 66].into();
        let held = Held::default();
        let (phone_id, _) = held.add(phone);
        let ids: Vec<u64> = (0..3).map(|_| held.add(flood).0).collect();
        held.close_one();
        held.close_one();
        let left: Vec<u64> = held.lock().connections.keys().copied().collect();
        assert_eq!(left, vec![phone_id, ids[2]]);
        // One each: the older goes.
        held.close_one();
        let left: Vec<u64> = held.lock().connections.keys().copied().collect();
        assert_eq!(left, vec![ids[2]]);
    }
}
