//! The client commands as a user runs them: the real `reveille` binary against a real daemon
//! (the ringing rig: simulated hardware, the in-process Spotify mock). `status`, `alarms` and
//! `spotify status` print plain lines, and with `--json` the daemon's answers unchanged; `ring`
//! takes an id or a label and refuses an unknown or ambiguous one in one line; ring, snooze and
//! stop show in `status`; without a daemon, or with a password and no CLI token, every command
//! fails in one line with exit code 1; every command has `--help` ending in the exit codes.

use std::process::Output;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::cli::{PATIENCE, cli, free_port, run, text};
use crate::daemon::BIN;
use crate::ring::Rig;

/// Runs `reveille ARGS` against the rig's daemon.
async fn reveille(rig: &Rig, args: &[&str]) -> Output {
    run(&mut cli(rig, args)).await
}

/// Exit code 0; stdout.
async fn ok(rig: &Rig, args: &[&str]) -> String {
    let out = reveille(rig, args).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {stdout}{}",
        text(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    stdout
}

/// Exit code 1, nothing on stdout, one line on stderr; that line.
fn refused(out: &Output, args: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.ends_with('\n'));
    stderr.trim_end().to_owned()
}

/// The scheduler publishes the next firing on its first pass, just after the start.
async fn next_firing(rig: &Rig) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let next = rig.get("/api/status").await["scheduler"]["next_firing"].clone();
        if !next.is_null() {
            return next;
        }
        assert!(Instant::now() < deadline, "no next firing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Minutes in "in 7 h 12 min" / "in 45 min" / "in 2 d 3 h".
fn minutes_in(words: &str) -> i64 {
    let words = words.strip_prefix("in ").expect(words);
    let numbers: Vec<(i64, &str)> = words
        .split(' ')
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| (pair[0].parse().unwrap(), pair[1]))
        .collect();
    numbers
        .iter()
        .map(|(n, unit)| match *unit {
            "d" => n * 1440,
            "h" => n * 60,
            "min" => *n,
            other => panic!("unit {other:?} in {words:?}"),
        })
        .sum()
}

/// `/api/status` without what changes from one request to the next.
fn steady(mut status: Value) -> Value {
    status["uptime_seconds"] = Value::Null;
    status["http"] = Value::Null;
    status["scheduler"]["heartbeat"] = Value::Null;
    status["runner"]["heartbeat"] = Value::Null;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_alarms_say_what_the_daemon_says_and_json_is_its_answer() {
    let rig = Rig::start_with(
        |c| {
            let alarms = c["alarms"].as_array_mut().unwrap();
            alarms.push(json!({"id": "weekend", "label": "Weekend", "time": "09:30",
                               "repeat": ["sat", "sun"], "skip_next": true}));
            alarms.push(json!({"id": "off", "time": "05:00", "enabled": false}));
        },
        vec![crate::spotify_mock::MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    let next = next_firing(&rig).await;
    assert_eq!(next["alarm_id"], "wake");
    let at: DateTime<Utc> = next["at_utc"].as_str().unwrap().parse().unwrap();

    let before = Utc::now();
    let stdout = ok(&rig, &["status"]).await;
    let after = Utc::now();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "state: idle", "{stdout}");
    // "next alarm: Wake up (wake), tomorrow 07:00, in 7 h 12 min" (or today).
    let next_line = lines[1];
    assert!(
        next_line.starts_with("next alarm: Wake up (wake), "),
        "{stdout}"
    );
    assert!(next_line.contains(" 07:00, in "), "{stdout}");
    let shown = minutes_in(next_line.rsplit(", ").next().unwrap());
    let (earliest, latest) = ((at - after).num_minutes(), (at - before).num_minutes() + 1);
    assert!(
        (earliest..=latest).contains(&shown),
        "{shown} min, expected {earliest}..={latest}: {stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("readiness: ")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("spotify: linked as ")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("hardware: simulated")),
        "{stdout}"
    );

    let printed: Value = serde_json::from_str(&ok(&rig, &["status", "--json"]).await)
        .expect("--json prints JSON only");
    let answer = rig.get("/api/status").await;
    assert_eq!(steady(printed), steady(answer));

    let stdout = ok(&rig, &["alarms"]).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let columns = |line: &str| {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        columns(lines[0]),
        ["ID", "TIME", "DAYS", "LABEL", "ENABLED", "NEXT"]
    );
    let wake = columns(lines[1]);
    assert_eq!(
        wake[..5],
        ["wake", "07:00", "every day", "Wake up", "yes"],
        "{stdout}"
    );
    assert!(wake[5].contains("07:00, in "), "{stdout}");
    let weekend = columns(lines[2]);
    assert_eq!(
        weekend[..5],
        ["weekend", "09:30", "Sat, Sun", "Weekend", "yes"],
        "{stdout}"
    );
    assert!(
        weekend[5].contains("(skips "),
        "the skipped occurrence is named: {stdout}"
    );
    assert_eq!(
        columns(lines[3]),
        ["off", "05:00", "once", "-", "no", "-"],
        "{stdout}"
    );

    let printed: Value = serde_json::from_str(&ok(&rig, &["alarms", "--json"]).await).unwrap();
    assert_eq!(printed["alarms"], rig.get("/api/alarms").await);
    assert_eq!(
        printed["upcoming"],
        rig.get("/api/alarms/upcoming?count=50").await
    );
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_by_label_shows_in_status_then_snooze_and_stop_say_what_they_did() {
    let rig = Rig::start().await;
    assert_eq!(
        ok(&rig, &["ring", "WAKE UP"]).await,
        "ringing: Wake up (wake)\n"
    );
    let stdout = ok(&rig, &["status"]).await;
    assert!(
        // "… since 07:00, starting Spotify", or already "… on Spotify since 07:00, volume 10 %".
        stdout.starts_with("state: ringing: Wake up (wake) ") && stdout.contains(" since "),
        "{stdout}"
    );
    let args = ["ring", "wake"];
    let line = refused(&reveille(&rig, &args).await, &args);
    assert_eq!(line, "reveille: ring: an alarm is already ringing");

    // Spotify takes over from the start: then the snooze pauses it.
    rig.wait_for_state("ringing", Some("spotify"), PATIENCE)
        .await;
    let snoozed = ok(&rig, &["snooze"]).await;
    let ring = rig.get("/api/ring").await;
    assert_eq!(ring["state"], "snoozed");
    let until: DateTime<Utc> = ring["until"].as_str().unwrap().parse().unwrap();
    // "until 07:01", or "until tomorrow 00:00" just before midnight (the rig's zone is UTC).
    let hh_mm = until.format("%H:%M").to_string();
    assert!(
        snoozed.starts_with("snoozed: Wake up (wake) until ")
            && snoozed.ends_with(&format!("{hh_mm}\n")),
        "{snoozed}"
    );
    let stdout = ok(&rig, &["status"]).await;
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("state: snoozed: Wake up (wake) until ") && first.ends_with(&hh_mm),
        "{stdout}"
    );

    assert_eq!(ok(&rig, &["stop"]).await, "stopped: Wake up (wake)\n");
    assert_eq!(
        ok(&rig, &["status"]).await.lines().next(),
        Some("state: idle")
    );
    for command in ["stop", "snooze"] {
        let line = refused(&reveille(&rig, &[command]).await, &[command]);
        assert_eq!(line, format!("reveille: {command}: nothing is ringing"));
    }

    // With no snoozes allowed, a snooze stops the alarm and says so.
    let patched = rig
        .client
        .patch(rig.url("/api/alarms/wake"))
        .json(&json!({"ring": {"max_snoozes": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), PATIENCE)
        .await;
    assert_eq!(
        ok(&rig, &["snooze"]).await,
        "stopped: Wake up (wake) (no snoozes left)\n"
    );
    assert_eq!(rig.get("/api/ring").await["state"], "idle");
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_refuses_an_unknown_or_ambiguous_alarm_in_one_line_and_rings_nothing() {
    let rig = Rig::start_with(
        |c| {
            let alarms = c["alarms"].as_array_mut().unwrap();
            alarms.push(json!({"id": "nap-1", "label": "Nap", "time": "14:00"}));
            alarms.push(json!({"id": "nap-2", "label": "nap", "time": "15:30",
                               "repeat": ["sat", "sun"]}));
        },
        Vec::new(),
    )
    .await;
    let args = ["ring", "Nap"];
    let line = refused(&reveille(&rig, &args).await, &args);
    assert_eq!(
        line,
        "reveille: ring: \"Nap\" is the label of 2 alarms: nap-1 (14:00 once), \
         nap-2 (15:30 Sat, Sun); give the id"
    );
    let args = ["ring", "lunch"];
    let line = refused(&reveille(&rig, &args).await, &args);
    assert_eq!(
        line,
        "reveille: ring: no alarm \"lunch\"; the alarms are Wake up (wake), Nap (nap-1), \
         nap (nap-2) (give an id or a label)"
    );
    assert_eq!(rig.get("/api/ring").await["state"], "idle");

    // Usage errors are clap's 2.
    let out = reveille(&rig, &["ring"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(ok(&rig, &["ring", "nap-2"]).await, "ringing: nap (nap-2)\n");
    assert_eq!(ok(&rig, &["stop"]).await, "stopped: nap (nap-2)\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spotify_status_and_logout() {
    let rig = Rig::start().await;
    let stdout = ok(&rig, &["spotify", "status"]).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "linked: yes", "{stdout}");
    assert!(lines[1].starts_with("account: "), "{stdout}");
    assert!(
        lines.iter().any(|l| l.starts_with("days left: ")),
        "{stdout}"
    );
    let answer = rig.get("/api/spotify/link").await;
    let redirect = format!("redirect URI: {}", answer["redirect_uri"].as_str().unwrap());
    assert!(lines.contains(&redirect.as_str()), "{stdout}");

    let printed: Value =
        serde_json::from_str(&ok(&rig, &["spotify", "status", "--json"]).await).unwrap();
    assert_eq!(printed, answer);

    let said = ok(&rig, &["spotify", "logout"]).await;
    assert_eq!(said.lines().count(), 1, "{said}");
    assert_eq!(rig.get("/api/spotify/link").await["linked"], false);
    let stdout = ok(&rig, &["spotify", "status"]).await;
    assert_eq!(
        stdout.lines().next(),
        Some("linked: no: run reveille spotify login")
    );
    assert!(stdout.contains(&redirect), "{stdout}");
    let stdout = ok(&rig, &["status"]).await;
    assert!(
        stdout.contains("\nspotify: not linked: run reveille spotify login\n"),
        "{stdout}"
    );
    // `unlink` is `logout` by its old name; nothing is left to unlink.
    let again = ok(&rig, &["spotify", "unlink"]).await;
    assert_eq!(again.lines().count(), 1, "{again}");
    assert!(!std::fs::exists(rig.dir.path().join("spotify-token.json")).unwrap());
}

/// Every client command, with the name its errors carry.
const CLIENT_COMMANDS: [(&[&str], &str); 9] = [
    (&["status"], "status"),
    (&["status", "--json"], "status"),
    (&["alarms"], "alarms"),
    (&["alarms", "--json"], "alarms"),
    (&["ring", "wake"], "ring"),
    (&["stop"], "stop"),
    (&["snooze"], "snooze"),
    (&["spotify", "status"], "spotify status"),
    (&["spotify", "logout"], "spotify logout"),
];

#[tokio::test]
async fn without_a_daemon_every_client_command_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = format!("http://127.0.0.1:{}", free_port());
    for (args, name) in CLIENT_COMMANDS {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .args(["--url", &nobody, "--config"])
            .arg(dir.path().join("config.json"))
            .env_remove("REVEILLE_URL");
        let line = refused(&run(&mut command).await, args);
        assert_eq!(
            line,
            format!(
                "reveille: {name}: the daemon is not running (nothing answers at {nobody}; \
                 on the Pi: systemctl status reveille)"
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_password_the_cli_gets_in_with_the_token_and_says_what_to_do_without_it() {
    let rig = Rig::start().await;
    let config = rig.dir.path().join("config.json");
    let mut password = Command::new(BIN);
    password
        .args(["password", "--config"])
        .arg(&config)
        .env_remove("REVEILLE_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = password.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"correct horse battery staple\n")
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        rig.get("/api/status").await["error"]["code"],
        "login_required"
    );

    // With the token (this test runs as the user that started the daemon).
    assert!(ok(&rig, &["status"]).await.starts_with("state: idle\n"));

    // Without it: the sentence says what to do, for every command.
    let token = rig.dir.path().join("cli-token");
    let kept = std::fs::read_to_string(&token).unwrap();
    std::fs::remove_file(&token).unwrap();
    for (args, name) in CLIENT_COMMANDS {
        let line = refused(&reveille(&rig, args).await, args);
        assert_eq!(
            line,
            format!(
                "reveille: {name}: the daemon has a password and there is no CLI token at {}: \
                 run this on the Pi, with --config naming the daemon's config file (its \
                 directory holds the token)",
                token.display()
            )
        );
    }
    // Another daemon's token is refused as such.
    let other: String = kept.chars().rev().collect();
    std::fs::write(&token, other).unwrap();
    let args = ["stop"];
    let line = refused(&reveille(&rig, &args).await, &args);
    assert!(
        line.starts_with(&format!(
            "reveille: stop: the daemon has a password and did not take the CLI token from {}",
            token.display()
        )),
        "{line}"
    );
    // Nothing was unlinked or rung on the way.
    assert_eq!(
        rig.get("/api/ring").await["error"]["code"],
        "login_required"
    );
    assert!(std::fs::exists(rig.dir.path().join("spotify-token.json")).unwrap());
}

#[tokio::test]
async fn every_command_has_help_and_the_exit_codes_are_written_out_once() {
    let help = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command.args(args).arg("--help");
        command
    };
    let out = run(&mut help(&[])).await;
    assert_eq!(out.status.code(), Some(0));
    let top = text(&out.stdout);
    for code in [
        "  0  done",
        "  1  failed",
        "  2  usage error",
        "  3  `reveille check` only",
    ] {
        assert!(top.contains(code), "{code:?} in {top}");
    }
    assert!(top.contains("CLI token"), "{top}");
    let commands = [
        &["run"][..],
        &["status"],
        &["alarms"],
        &["ring"],
        &["stop"],
        &["snooze"],
        &["check"],
        &["password"],
        &["check-config"],
        &["spotify"],
        &["spotify", "login"],
        &["spotify", "logout"],
        &["spotify", "unlink"],
        &["spotify", "status"],
    ];
    for args in commands {
        let out = run(&mut help(args)).await;
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(stdout.contains("Exit codes: "), "{args:?}: {stdout}");
    }
    let ring = text(&run(&mut help(&["ring"])).await.stdout);
    assert!(
        ring.contains("Examples:\n  reveille ring workdays"),
        "{ring}"
    );
}
