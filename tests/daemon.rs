//! The real `reveille` binary, started and killed like systemd would: graceful SIGTERM, refusal
//! to start on a broken config, `check-config`, and crash safety under SIGKILL.

use std::process::Command;
use std::time::Duration;

use reveille::store::read_config_file;
use serde_json::json;

#[path = "support/daemon.rs"]
mod daemon;
use daemon::{BIN, Daemon};

#[tokio::test]
async fn sigterm_shuts_down_cleanly_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(&dir.path().join("config.json")).unwrap();
    let health = reqwest::get(daemon.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // SAFETY: sending a signal to our own child process.
    assert_eq!(
        unsafe { libc::kill(daemon.child.id() as i32, libc::SIGTERM) },
        0
    );
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let log = daemon.rest_of_log();
    assert!(log.contains("SIGTERM"), "{log}");
}

/// systemd's readiness protocol carries the address, so nobody reads the port from a log.
#[tokio::test]
async fn the_ready_notification_names_the_address_being_served() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("config.json")).unwrap();
    let ready = daemon.readiness();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert_ne!(daemon.addr.port(), 0);
    let status = format!("STATUS=listening on {}", daemon.addr);
    assert!(ready.lines().any(|l| l == status), "{ready:?}");
    let health = reqwest::get(daemon.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn an_invalid_config_without_backup_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        br#"{"web": {"title": "x"}, "volume": {"ceiling_percent": 0}}"#,
    )
    .unwrap();
    let error = Daemon::start(&path)
        .err()
        .expect("the daemon started on an invalid config");
    assert!(error.contains("exit status: 1"), "{error}");
    assert!(error.contains("volume.ceiling_percent"), "{error}");
    assert!(error.contains(path.to_str().unwrap()), "{error}");
}

#[test]
fn a_listen_address_in_use_is_a_fatal_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let output = Command::new(BIN)
        .args(["run", "--config"])
        .arg(dir.path().join("config.json"))
        .args(["--listen", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}

#[test]
fn check_config_says_valid_or_names_the_problem_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/reveille.example.json");
    let ok = Command::new(BIN)
        .args(["check-config", example])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid"));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, br#"{"hardware": {"buttons": [{"pin": 99}]}}"#).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("hardware.buttons[0].pin"), "{stderr}");
}

#[tokio::test]
async fn init_from_seeds_a_first_start_and_is_not_needed_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/reveille.example.json");
    let daemon = Daemon::start_with(&path, &["--init-from", example]).unwrap();
    let doc: serde_json::Value = reqwest::get(daemon.url("/api/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["web"]["title"], "Bedroom alarm");
    drop(daemon);

    // Once the config exists, a missing seed does not matter.
    let gone = dir.path().join("gone.json");
    let daemon = Daemon::start_with(&path, &["--init-from", gone.to_str().unwrap()]).unwrap();
    let doc: serde_json::Value = reqwest::get(daemon.url("/api/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["web"]["title"], "Bedroom alarm");
}

/// Starts the daemon again and again, writes to it, SIGKILLs it at a random moment, and checks
/// after each kill that the file parses, holds exactly one of the documents written, with its
/// revision, and that every write acknowledged with 200 before the kill survived.
/// `REVEILLE_CRASH_KILLS` sets the number of kills (default 50).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_before_a_sigkill_survive_it() {
    let kills: u32 = std::env::var("REVEILLE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let client = reqwest::Client::new();
    // (write number, revision) of the last acknowledged write.
    let mut acked: (u64, u64) = (0, 1);
    let mut next = 1u64;
    let mut total_acked = 0u64;

    for round in 0..kills {
        let mut daemon =
            Daemon::start(&path).unwrap_or_else(|log| panic!("round {round}: no restart:\n{log}"));
        let url = daemon.url("/api/config");
        // Kill at a random moment after the first acknowledged write, so every round has
        // writes to lose however slow the disk is today.
        let deadline = Duration::from_micros(fastrand::u64(0..20_000));
        let (first_ack, acked_once) = tokio::sync::oneshot::channel::<()>();
        let writer = {
            let (client, url) = (client.clone(), url.clone());
            let first = next;
            let mut first_ack = Some(first_ack);
            tokio::spawn(async move {
                // Sequential writes: at most one is in flight when the kill lands.
                let mut last_acked = None;
                let mut n = first;
                loop {
                    let response = client
                        .patch(&url)
                        .json(&json!({"web": {"title": format!("write {n}")}}))
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status() == 200 => {
                            let tag = r.headers()["etag"]
                                .to_str()
                                .unwrap()
                                .trim_matches('"')
                                .parse::<u64>()
                                .unwrap();
                            last_acked = Some((n, tag));
                            if let Some(signal) = first_ack.take() {
                                let _ = signal.send(());
                            }
                        }
                        Ok(r) => panic!("write {n}: {}", r.status()),
                        Err(_) => return (last_acked, n),
                    }
                    n += 1;
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(20), acked_once)
            .await
            .expect("no write was acknowledged within 20 s")
            .unwrap();
        tokio::time::sleep(deadline).await;
        daemon.child.kill().unwrap();
        daemon.child.wait().unwrap();
        let (last_acked, in_flight) = writer.await.unwrap();
        if let Some(last) = last_acked {
            total_acked += last.0 - acked.0;
            acked = last;
        }
        next = in_flight + 1;

        let (on_disk, revision) = read_config_file(&path).unwrap_or_else(|e| {
            panic!("round {round}: the file does not parse after SIGKILL: {e}")
        });
        let title = on_disk.web.title.clone();
        let n: u64 = match title.strip_prefix("write ") {
            Some(n) => n.parse().unwrap(),
            None => {
                assert_eq!(acked.0, 0, "round {round}: lost every write: {title}");
                continue;
            }
        };
        let revision = revision.unwrap();
        if n == acked.0 {
            assert_eq!(
                revision, acked.1,
                "round {round}: write {n} has the wrong revision"
            );
        } else {
            // The write in flight at the kill: committed but not acknowledged.
            assert_eq!(
                (n, revision),
                (in_flight, acked.1 + 1),
                "round {round}: acked {acked:?}, file has write {n} rev {revision}"
            );
            acked = (n, revision);
        }
        let mut expected = reveille::config::Config::default();
        expected.web.title = title;
        assert_eq!(
            on_disk, expected,
            "round {round}: the document is not one that was written"
        );
    }
    eprintln!("{kills} kills, {total_acked} acknowledged writes, all survived");
    assert!(
        total_acked > kills as u64,
        "too few writes landed to test anything: {total_acked}"
    );
}

/// Runs `reveille <args>` with `stdin` as standard input; returns (success, stdout, stderr).
fn cli(args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("REVEILLE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[tokio::test]
async fn the_owners_password_locks_the_api_but_not_the_cli_on_the_pi() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let config = path.to_str().unwrap();

    let (ok, _, err) = cli(&["password", "--config", config], "short\n");
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("at least 8"), "{err}");

    let (ok, out, err) = cli(&["password", "--config", config], "correct horse\n");
    assert!(ok, "{err}");
    assert!(out.contains("password set"), "{out}");
    let daemon = Daemon::start(&path).unwrap();

    let status = reqwest::get(daemon.url("/api/status")).await.unwrap();
    assert_eq!(status.status(), 401);
    // The CLI on the Pi reads the daemon's token: it gets past the password to the runner,
    // which says nothing is ringing.
    let url = daemon.url("");
    let (ok, _, err) = cli(&["stop", "--url", &url, "--config", config], "");
    assert!(!ok);
    assert!(err.contains("nothing is ringing"), "{err}");
    // Without the token it is just another client, and is told why.
    std::fs::remove_file(dir.path().join("cli-token")).unwrap();
    let (ok, _, err) = cli(&["snooze", "--url", &url, "--config", config], "");
    assert!(!ok);
    assert!(
        err.contains("the daemon has a password and there is no CLI token"),
        "{err}"
    );

    let (ok, out, _) = cli(&["password", "--config", config, "--remove"], "");
    assert!(ok && out.contains("removed"), "{out}");
    let status = reqwest::get(daemon.url("/api/status")).await.unwrap();
    assert_eq!(status.status(), 200);
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["access"]["password_set"], false);
}
