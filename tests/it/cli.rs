//! The command line as a user runs it: the real `reveille` binary against a real daemon (the
//! ringing rig: simulated hardware, the in-process Spotify mock). `reveille check` says
//! ready / degraded / broken with exit codes 0 / 3 / 1, `--json` is the daemon's answer, and a
//! daemon that is not running or an invalid config file is broken (1) in one line.
//! `reveille spotify login` completes through its loopback listener (the test plays the
//! browser) or a pasted address, and falls back to pasting when the port is taken; the
//! listener refuses a foreign Host or path without completing anything.

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::daemon::BIN;
use crate::ring::Rig;
use crate::spotify_mock::{Endpoint, MockDevice};

/// A bound on each wait for the CLI, so a broken build fails instead of hanging.
pub(super) const PATIENCE: Duration = Duration::from_secs(30);
const MISSING_PLAYER: &str = "reveille-test-no-such-player";

pub(super) fn cli(rig: &Rig, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--url")
        .arg(rig.url(""))
        .arg("--config")
        .arg(rig.dir.path().join("config.json"))
        .env_remove("REVEILLE_URL")
        .env_remove("REVEILLE_CONFIG")
        .kill_on_drop(true);
    command
}

pub(super) async fn run(command: &mut Command) -> Output {
    tokio::time::timeout(PATIENCE, command.stdin(Stdio::null()).output())
        .await
        .expect("the CLI ends")
        .unwrap()
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port nothing listens on now.
pub(super) fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_ready_with_exit_0_and_json_is_the_daemons_answer() {
    let rig = Rig::start().await;
    // The scheduler publishes the next firing on its first pass, just after the start.
    let deadline = std::time::Instant::now() + PATIENCE;
    while rig.get("/api/status").await["scheduler"]["next_firing"].is_null() {
        assert!(std::time::Instant::now() < deadline, "no next firing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = run(&mut cli(&rig, &["check"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains("config.json: valid (revision "),
        "{stdout}"
    );
    assert!(lines[1].starts_with("ready: "), "{stdout}");
    // "next alarm: Wake up (wake), tomorrow 07:00, in 7 h 12 min" (or today).
    assert!(
        lines[2].starts_with("next alarm: Wake up (wake), ") && lines[2].contains(" 07:00, in "),
        "{stdout}"
    );

    let out = run(&mut cli(&rig, &["check", "--json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON only");
    assert_eq!(printed["state"], "ready");
    // Unchanged: the very check the daemon now keeps as its last.
    let kept = rig.get("/api/readiness").await;
    assert_eq!(printed, kept);
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_degraded_with_exit_3_and_one_line_per_problem() {
    // The receiver is not online: the local sound would ring.
    let rig = Rig::start_with(|_| {}, Vec::new()).await;
    let out = run(&mut cli(&rig, &["check"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.lines().nth(1).unwrap().starts_with("degraded: "),
        "{stdout}"
    );
    let problems = rig.get("/api/readiness").await["problems"].clone();
    let problems = problems.as_array().unwrap();
    assert!(!problems.is_empty());
    for problem in problems {
        let line = format!(
            "{}: {}",
            problem["severity"].as_str().unwrap(),
            problem["message"].as_str().unwrap()
        );
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} not in {stdout}"
        );
    }
    assert!(stdout.contains("\"Bedroom\" is not online"), "{stdout}");

    let out = run(&mut cli(&rig, &["check", "--json"])).await;
    assert_eq!(out.status.code(), Some(3));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["state"], "degraded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_broken_with_exit_1_when_nothing_would_sound() {
    // No receiver, no local player, no buzzer.
    let rig = Rig::start_with(
        |c| c["fallback"]["command"] = json!([MISSING_PLAYER]),
        Vec::new(),
    )
    .await;
    let out = run(&mut cli(&rig, &["check"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.lines().nth(1).unwrap().starts_with("broken: "),
        "{stdout}"
    );
    assert!(stdout.contains("the local sound cannot play"), "{stdout}");
}

#[tokio::test]
async fn check_without_a_daemon_or_with_an_invalid_config_is_broken_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"version": 1}"#).unwrap();
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let check = |extra: &[&str]| {
        let mut command = Command::new(BIN);
        command
            .args(["check", "--url", &nobody, "--config"])
            .arg(&config)
            .args(extra)
            .env_remove("REVEILLE_URL");
        command
    };
    for extra in [&[][..], &["--json"]] {
        let out = run(&mut check(extra)).await;
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("reveille: check: the daemon is not running: no alarm will ring"),
            "{stderr}"
        );
    }

    std::fs::write(
        &config,
        r#"{"version": 1, "spotify": {"redirect_port": 0}}"#,
    )
    .unwrap();
    let out = run(&mut check(&[])).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("spotify.redirect_port: 0 is out of range"),
        "{stderr}"
    );

    // Usage errors are clap's 2.
    let out = run(&mut check(&["--bogus"])).await;
    assert_eq!(out.status.code(), Some(2));
}

/// A daemon ready to link: no token yet, the redirect URI on `port`, no alarm to disturb.
async fn linking_rig(port: u16) -> Rig {
    let rig = Rig::start_with(
        move |c| {
            c["spotify"]["redirect_port"] = port.into();
            c["alarms"] = json!([]);
        },
        vec![MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    std::fs::remove_file(rig.dir.path().join("spotify-token.json")).unwrap();
    rig.mock.register_client(crate::ring::CLIENT_ID);
    rig
}

/// `reveille spotify login`, running, and the authorise link it printed.
async fn start_login(rig: &Rig) -> (Child, Lines<BufReader<ChildStdout>>, String) {
    let mut child = cli(rig, &["spotify", "login"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let link = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if line.contains("/authorize?") {
                return line.trim().to_owned();
            }
        }
        panic!("the CLI printed no authorise link");
    })
    .await
    .expect("the CLI prints the link");
    (child, stdout, link)
}

/// The rest of stdout, all of stderr and the exit code once the CLI ends.
async fn finish(
    mut child: Child,
    mut stdout: Lines<BufReader<ChildStdout>>,
) -> (Option<i32>, String, String) {
    tokio::time::timeout(PATIENCE, async {
        let mut rest = String::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        (child.wait().await.unwrap().code(), rest, stderr)
    })
    .await
    .expect("the CLI ends")
}

/// One raw request to the listener, every header the test's; the status code.
async fn raw_get(port: u16, target: &str, host: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

async fn linked(rig: &Rig) -> Value {
    rig.get("/api/spotify/link").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_completes_through_the_loopback_listener_and_refuses_foreign_requests() {
    let port = free_port();
    let rig = linking_rig(port).await;
    let (child, stdout, link) = start_login(&rig).await;
    // Spotify's page, where the user allows access, sends the browser back to the listener.
    let landed = rig.mock.authorize(&link).unwrap();
    let prefix = format!("http://127.0.0.1:{port}/callback?");
    assert!(landed.starts_with(&prefix), "{landed}");
    let query = &landed[prefix.len() - 1..];

    // Another name for the Pi (DNS rebinding) or another path: refused, nothing completed.
    assert_eq!(
        raw_get(port, &format!("/callback{query}"), "evil.example").await,
        400
    );
    let host = format!("127.0.0.1:{port}");
    assert_eq!(raw_get(port, &format!("/other{query}"), &host).await, 404);
    assert!(rig.mock.requests_to(Endpoint::Token).is_empty());
    assert_eq!(linked(&rig).await["linked"], false);

    let page = reqwest::get(&landed).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Linked as Mock Listener. You can close this page."),
        "{page}"
    );

    let (code, rest, stderr) = finish(child, stdout).await;
    assert_eq!(code, Some(0), "{rest}{stderr}");
    assert!(rest.contains("linked: Mock Listener (premium)"), "{rest}");
    assert_eq!(linked(&rig).await["linked"], true);
    // The listener is gone with the command.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_completes_with_a_pasted_address_and_prints_the_tunnel_hint() {
    let port = free_port();
    let rig = linking_rig(port).await;
    let (mut child, stdout, link) = start_login(&rig).await;
    let landed = rig.mock.authorize(&link).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A garbled paste is asked for again; the real address links.
    stdin.write_all(b"not an address\n").await.unwrap();
    stdin
        .write_all(format!("{landed}\n").as_bytes())
        .await
        .unwrap();

    let (code, rest, stderr) = finish(child, stdout).await;
    assert_eq!(code, Some(0), "{rest}{stderr}");
    assert!(rest.contains("linked: Mock Listener (premium)"), "{rest}");
    assert!(stderr.contains("paste the whole address"), "{stderr}");
    let tunnel = format!("ssh -L {port}:127.0.0.1:{port} pi@raspberrypi.local");
    assert!(rest.contains(&tunnel), "{rest}");
    assert_eq!(linked(&rig).await["linked"], true);
    assert_eq!(rig.mock.requests_to(Endpoint::Token).len(), 1);
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_says_when_the_port_is_taken_and_takes_a_pasted_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let rig = linking_rig(port).await;
    let (mut child, stdout, link) = start_login(&rig).await;
    let landed = rig.mock.authorize(&link).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{landed}\n").as_bytes())
        .await
        .unwrap();

    let (code, rest, stderr) = finish(child, stdout).await;
    assert_eq!(code, Some(0), "{rest}{stderr}");
    assert!(rest.contains("linked: Mock Listener (premium)"), "{rest}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("in use")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].starts_with(&format!(
            "reveille: spotify login: 127.0.0.1:{port} is in use"
        )),
        "{stderr}"
    );
    assert!(said[0].contains("paste the address instead"), "{stderr}");
    assert!(!rest.contains("ssh -L"), "no listener, no tunnel: {rest}");
    assert_eq!(linked(&rig).await["linked"], true);
}
