//! The composition root itself: the address is known and bound before anything is served, a
//! listener bound elsewhere is used as it is, and the shutdown future ends the daemon.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reveille::clock::ManualClock;
use reveille::http;
use tokio::sync::oneshot;

use crate::helpers::{START, test_app};

fn manual_clock() -> ManualClock {
    ManualClock::new(START.parse::<DateTime<Utc>>().unwrap())
}

/// A blocking `GET /healthz` on a plain socket, so the request can be sent before the server
/// runs; returns the status line.
fn healthz_status_line(stream: &mut TcpStream) -> String {
    let addr = stream.peer_addr().unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn port_zero_is_bound_and_reported_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let app = test_app(&dir, &manual_clock()).build().await.unwrap();
    let addr = app.local_addr();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_ne!(addr.port(), 0);
    // Already accepting: the connection waits in the backlog until the server runs.
    let mut early = TcpStream::connect(addr).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let status = tokio::task::spawn_blocking(move || healthz_status_line(&mut early))
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_listener_bound_by_the_caller_is_served_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bound = listener.local_addr().unwrap();
    let app = test_app(&dir, &manual_clock())
        .listen(listener)
        .build()
        .await
        .unwrap();
    assert_eq!(app.local_addr(), bound);
    tokio::spawn(app.run_until(std::future::pending()));
    let health = reqwest::get(format!("http://{bound}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// The accept queue holds a burst as large as the most connections the daemon serves plus
/// its waiting newcomers. With the kernel's usual 128 (std's and mio's backlog), a phone that
/// connected while a flood came back had its SYN dropped and waited a second for the
/// retransmission (found by `tests/load.rs`).
#[tokio::test]
async fn a_burst_as_large_as_the_connection_bound_waits_in_the_accept_queue() {
    let dir = tempfile::tempdir().unwrap();
    let app = test_app(&dir, &manual_clock()).build().await.unwrap();
    let addr = app.local_addr();
    // Nothing is served yet, so every connection stays in the accept queue. One that does not
    // fit has its SYN dropped, and the retransmission comes only after a second.
    let burst = http::MAX_CONNECTIONS_CAP + http::WAITING;
    let mut connects = tokio::task::JoinSet::new();
    for _ in 0..burst {
        let connect = tokio::net::TcpStream::connect(addr);
        connects.spawn(tokio::time::timeout(Duration::from_millis(500), connect));
    }
    let mut held = Vec::new();
    while let Some(connected) = connects.join_next().await {
        if let Ok(Ok(stream)) = connected.unwrap() {
            held.push(stream);
        }
    }
    assert_eq!(
        held.len(),
        burst,
        "connections that fit in the accept queue"
    );
}

#[tokio::test]
async fn an_address_in_use_fails_the_build_with_the_address_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = test_app(&dir, &manual_clock())
        .listen(addr)
        .build()
        .await
        .err()
        .expect("built on an address in use");
    assert!(
        format!("{error:#}").contains(&format!("cannot listen on {addr}")),
        "{error:#}"
    );
}
