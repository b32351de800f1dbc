//! The real `reveille` binary, started and killed like systemd would: graceful SIGTERM, the
//! notify protocol (readiness, status line, watchdog keep-alives, stop), SIGHUP reload,
//! refusal to start on a broken config, `check-config`, the owner's password. Crash safety
//! under SIGKILL is `tests/crash.rs`.

use std::process::Command;
use std::time::Duration;

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

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn signal(daemon: &Daemon, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(daemon.pid() as i32, signal) }, 0);
}

fn is_line(wanted: &'static str) -> impl Fn(&str) -> bool {
    move |message| message.lines().any(|l| l == wanted)
}

/// What `systemctl status` would show, from `Type=notify` to the stop: ready with the address,
/// the next alarm in words, keep-alives at half the watchdog interval (200 ms here), and
/// STOPPING at SIGTERM with no keep-alive after it.
#[tokio::test]
async fn systemd_hears_ready_the_next_alarm_keep_alives_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let config = json!({
        "version": 1, "time_zone": "UTC",
        "alarms": [{"id": "wake", "label": "Wake up", "time": "07:00",
                    "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}],
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let mut daemon = Daemon::builder(&path)
        .env("WATCHDOG_USEC", "200000")
        .start()
        .unwrap();
    let listening = format!("listening on {}", daemon.addr);
    assert_eq!(daemon.readiness(), format!("READY=1\nSTATUS={listening}\n"));

    let status = daemon
        .wait_for_notification(|m| m.starts_with("STATUS=next alarm"), SECONDS(10))
        .unwrap();
    // A weekday: the alarm rings daily, so it is at most a day away.
    let (day, rest) = status
        .strip_prefix("STATUS=next alarm ")
        .unwrap()
        .split_once(' ')
        .unwrap();
    assert!(
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&day),
        "{status:?}"
    );
    assert_eq!(rest, format!("07:00 (Wake up) · {listening}\n"));

    for _ in 0..5 {
        daemon
            .wait_for_notification(|m| m == "WATCHDOG=1\n", SECONDS(5))
            .unwrap();
    }

    signal(&daemon, libc::SIGTERM);
    daemon
        .wait_for_notification(is_line("STOPPING=1"), SECONDS(10))
        .unwrap();
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let notified = daemon.notifications_until_closed(SECONDS(5));
    let stopping = notified
        .iter()
        .position(|m| is_line("STOPPING=1")(m))
        .unwrap();
    assert!(
        !notified[stopping..].iter().any(|m| m.contains("WATCHDOG")),
        "{notified:?}"
    );
}

/// `systemctl reload` (SIGHUP) re-reads the file the way the watcher does. The edit here is
/// one the watcher cannot see, which is what SIGHUP is for: the config is a symlink and its
/// target is replaced in another directory.
#[tokio::test]
async fn sighup_rereads_the_config_file_and_refuses_an_invalid_edit_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let (state, elsewhere) = (dir.path().join("state"), dir.path().join("etc"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let title = |t: &str| json!({"version": 1, "web": {"title": t}}).to_string();
    let write = |name: &str, text: String| {
        // As an editor saves: a new file renamed over the old one.
        let temp = elsewhere.join(".edit");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, elsewhere.join(name)).unwrap();
    };
    write("a.json", title("A"));
    write("b.json", title("B"));
    let path = state.join("config.json");
    std::os::unix::fs::symlink(elsewhere.join("a.json"), &path).unwrap();
    // The watchdog is asked for, but for another process: no keep-alives from this one.
    let mut daemon = Daemon::builder(&path)
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1")
        .start()
        .unwrap();
    let served = async |daemon: &Daemon| -> String {
        let doc: serde_json::Value = reqwest::get(daemon.url("/api/config"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        doc["web"]["title"].as_str().unwrap().to_owned()
    };
    assert_eq!(served(&daemon).await, "A");

    // The watcher sees the link replaced in its directory (and is then idle).
    let link = state.join(".link");
    std::os::unix::fs::symlink(elsewhere.join("b.json"), &link).unwrap();
    std::fs::rename(&link, &path).unwrap();
    daemon
        .wait_for_line("loaded a hand edit", SECONDS(10))
        .unwrap();
    // Logged before the backup's fsync, published after it.
    let deadline = std::time::Instant::now() + SECONDS(10);
    while served(&daemon).await != "B" {
        assert!(
            std::time::Instant::now() < deadline,
            "the hand edit was not served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // It does not see the target change; SIGHUP reads it.
    write("b.json", title("C"));
    signal(&daemon, libc::SIGHUP);
    let reloading = daemon
        .wait_for_notification(is_line("RELOADING=1"), SECONDS(10))
        .unwrap();
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    daemon
        .wait_for_notification(is_line("READY=1"), SECONDS(10))
        .unwrap();
    let line = daemon.wait_for_line("SIGHUP", SECONDS(10)).unwrap();
    assert!(line.contains("reloaded the config file"), "{line}");
    assert!(line.contains("revision=3"), "{line}");
    assert_eq!(served(&daemon).await, "C");

    // An invalid edit is refused: the daemon runs on the last good config and says why.
    write(
        "b.json",
        json!({"version": 1, "volume": {"ceiling_percent": 0}}).to_string(),
    );
    signal(&daemon, libc::SIGHUP);
    let line = daemon.wait_for_line("SIGHUP", SECONDS(10)).unwrap();
    assert!(line.contains("the config file is refused"), "{line}");
    assert!(line.contains("volume.ceiling_percent"), "{line}");
    daemon
        .wait_for_notification(is_line("READY=1"), SECONDS(10))
        .unwrap();
    assert_eq!(served(&daemon).await, "C");
    let status: serde_json::Value = reqwest::get(daemon.url("/api/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["config"]["external_edit_error"]["field"], "volume.ceiling_percent",
        "{status}"
    );

    signal(&daemon, libc::SIGTERM);
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let notified = daemon.notifications_until_closed(SECONDS(5));
    assert!(
        !notified.iter().any(|m| m.contains("WATCHDOG")),
        "{notified:?}"
    );
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
