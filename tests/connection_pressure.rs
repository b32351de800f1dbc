//! HTTP clients cannot starve the alarm of file descriptors. The real daemon runs with a low
//! open-file limit (soft = hard = 128, so it cannot raise it) and a clock started by libfaketime
//! a few seconds before a one-shot alarm. While more idle connections than the limit allows and
//! a few slowloris connections (one header byte at a time) are held open, the alarm fires: its
//! local sound must start, its handled mark must be saved and the one-shot disabled. After the
//! clients leave, the API answers and the status forgets the pressure. Its own binary: it opens
//! a few hundred sockets and starts a process with a lowered limit.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/faketime.rs"]
mod faketime;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use daemon::Daemon;

const OPEN_FILES: u64 = 128;
/// More than the daemon could hold even with no file open for anything else.
const IDLE_CLIENTS: usize = OPEN_FILES as usize + 20;
const SLOWLORIS_CLIENTS: usize = 4;
/// The header timeout the daemon runs with here (test-only override).
const HEADER_TIMEOUT_MS: u64 = 1500;
/// "Closed by the server within the header timeout", with a generous margin for a busy machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

fn write_config(dir: &Path) {
    let config = json!({
        "version": 1,
        "time_zone": "UTC",
        "schedule": {"trust_clock": true},
        // A linked account whose API is unreachable: the start attempts open sockets (refused)
        // under pressure, then the deadline hands over to the local sound.
        "spotify": {"client_id": "0123456789abcdef0123456789abcdef", "device_id": "dev-1",
                    "start_deadline_seconds": 5},
        "fallback": {
            // Records its pid instead of making noise; exec keeps the recorded pid the player's.
            "command": ["sh", "-c", format!("echo $$ >> '{}'; exec sleep 600", dir.join("sound.pids").display())],
        },
        // A one-shot: no repeat.
        "alarms": [{"id": "wake", "label": "Wake up", "time": "07:00"}],
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let token = json!({
        "access_token": "access",
        "refresh_token": "refresh",
        "expires_at": "2026-03-02T08:00:00Z",
        "scope": "user-modify-playback-state user-read-playback-state",
    });
    std::fs::write(
        dir.join("spotify-token.json"),
        serde_json::to_vec(&token).unwrap(),
    )
    .unwrap();
}

/// Clients that keep connections open: each reconnects when the server closes its socket, as
/// an attacker (or a buggy app) would.
struct Flood {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Flood {
    fn start(addr: SocketAddr) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..IDLE_CLIENTS {
            let stop = stop.clone();
            clients.push(std::thread::spawn(move || hold(addr, &stop, false)));
        }
        for _ in 0..SLOWLORIS_CLIENTS {
            let stop = stop.clone();
            clients.push(std::thread::spawn(move || hold(addr, &stop, true)));
        }
        Flood { stop, clients }
    }

    /// Closes every client socket.
    fn end(self) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
    }
}

fn hold(addr: SocketAddr, stop: &AtomicBool, slowloris: bool) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let head = b"GET /api/status HTTP/1.1\r\nHost: reveille\r\nX-Slow: ";
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                if slowloris {
                    // One byte at a time, never finishing the head.
                    let byte = head.get(sent).copied().unwrap_or(b'a');
                    if stream.write_all(&[byte]).is_err() {
                        break;
                    }
                    sent += 1;
                }
                if closed_by_peer(&mut stream) {
                    break;
                }
            }
        }
        // The pace an attacker reconnects at; keeps this test from eating the machine's CPU.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits up to the read timeout; true if the server closed (or reset) the connection.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Whether the server closes `stream` (reading whatever it sends meanwhile; with `dribble`,
/// sending one header byte at a time) before `CLOSED_WITHIN`, a generous bound on the
/// daemon's shortened header timeout. Without a timeout the connection would live forever.
fn closed_by_server(mut stream: TcpStream, dribble: bool) -> bool {
    let give_up = Instant::now() + CLOSED_WITHIN;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while Instant::now() < give_up {
        if dribble && stream.write_all(b"a").is_err() {
            return true;
        }
        if closed_by_peer(&mut stream) {
            return true;
        }
    }
    false
}

/// A client with no connection pool: every request is a new connection, like a phone that
/// just woke up.
fn phone() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn status(daemon: &Daemon) -> Result<Value, reqwest::Error> {
    phone()
        .get(daemon.url("/api/status"))
        .send()
        .await?
        .json()
        .await
}

/// Polls `check` until it returns `Some`; `None` after `within`.
async fn eventually<T>(within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails the test with the daemon's log.
fn missing<T>(daemon: &mut Daemon, what: &str) -> T {
    panic!(
        "{what}: not in time; the daemon's log:\n{}",
        daemon.log_so_far()
    )
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_rings_and_is_recorded_while_clients_hold_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let builder = Daemon::builder(&dir.path().join("config.json"))
        .open_files_limit(OPEN_FILES)
        // Nothing leaves the machine: Spotify is unreachable, so the local sound rings.
        .env("REVEILLE_SPOTIFY_API_URL", "http://127.0.0.1:9/v1")
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", "http://127.0.0.1:9")
        .env(
            "REVEILLE_HTTP_HEADER_TIMEOUT_MS",
            HEADER_TIMEOUT_MS.to_string(),
        )
        .env("REVEILLE_HTTP_STATUS_MEMORY_MS", "2000");
    // Ten seconds before the alarm: time to start the daemon and the flood.
    let mut daemon = faketime::start_at(builder, "2026-03-02 06:59:50")
        .start()
        .unwrap();

    let flood = Flood::start(daemon.addr);

    // A phone still gets in while the flood holds every slot, and the status says so.
    let under_pressure = eventually(Duration::from_secs(30), async || {
        let status = status(&daemon).await.ok()?;
        status["http"]["last_full_at"].is_string().then_some(status)
    })
    .await
    .unwrap_or_else(|| missing(&mut daemon, "the status under pressure"));
    let http = &under_pressure["http"];
    assert_eq!(http["open_files_limit"], OPEN_FILES, "{http}");
    assert!(
        http["open_connections"].as_u64().unwrap() <= http["max_connections"].as_u64().unwrap(),
        "{http}"
    );

    // The alarm fires with every slot taken: the local sound starts...
    let sounds = dir.path().join("sound.pids");
    eventually(Duration::from_secs(40), async || {
        let pids = std::fs::read_to_string(&sounds).ok()?;
        (!pids.trim().is_empty()).then_some(())
    })
    .await
    .unwrap_or_else(|| missing(&mut daemon, "the local sound"));
    // ... its handled mark is on disk ...
    let state = dir.path().join("schedule-state.json");
    eventually(Duration::from_secs(10), async || {
        let state = read_json(&state)?;
        let mark = state["alarms"]["wake"]["handled_until"]
            .as_str()?
            .to_owned();
        mark.starts_with("2026-03-02T07:00:00").then_some(())
    })
    .await
    .unwrap_or_else(|| missing(&mut daemon, "the handled mark"));
    // ... and the one-shot is disabled.
    let config = dir.path().join("config.json");
    eventually(Duration::from_secs(10), async || {
        (read_json(&config)?["alarms"][0]["enabled"] == false).then_some(())
    })
    .await
    .unwrap_or_else(|| missing(&mut daemon, "the one-shot disabled"));
    // The phone can stop it, still under pressure. With every slot taken a connection may be
    // refused or reset, and a phone (the page) tries again: within seconds it must get through.
    let mut refusals = Vec::new();
    eventually(Duration::from_secs(20), async || {
        match phone().post(daemon.url("/api/ring/stop")).send().await {
            Ok(answer) if answer.status().is_success() => Some(()),
            // An earlier attempt reached the daemon, only its answer was lost.
            Ok(answer) if answer.status() == 409 && !refusals.is_empty() => Some(()),
            Ok(answer) => panic!("stop under pressure answered {answer:?}"),
            Err(e) => {
                refusals.push(e.to_string());
                None
            }
        }
    })
    .await
    .unwrap_or_else(|| panic!("the stop never got through: {refusals:?}"));

    flood.end();

    // The pressure is over: the API answers and the status forgets it.
    eventually(Duration::from_secs(30), async || {
        let http = status(&daemon).await.ok()?["http"].clone();
        (http["last_full_at"].is_null() && http["last_accept_error"].is_null()).then_some(())
    })
    .await
    .unwrap_or_else(|| missing(&mut daemon, "the status cleared after the flood"));

    // A slowloris connection is closed within the header timeout, with no pressure around.
    let slow = TcpStream::connect(daemon.addr).unwrap();
    assert!(
        closed_by_server(slow, true),
        "a slowloris connection was never closed"
    );
    // So is a keep-alive connection left idle after a request.
    let mut idle = TcpStream::connect(daemon.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: reveille\r\n\r\n")
        .unwrap();
    assert!(
        closed_by_server(idle, false),
        "an idle keep-alive connection was never closed"
    );

    let log = daemon.log_so_far();
    assert!(
        !log.contains("Too many open files") && !log.contains("os error 24"),
        "{log}"
    );
}
