//! The Spotify fault matrix (issue 19): every fault the mock can inject × the three moments
//! something must start playing: a fresh alarm firing, the ring after a snooze ends, and the
//! sleep timer. Each cell is a new runner with the real Spotify client against a new mock
//! (`fault_matrix/rig.rs`), in paused time, so the figures are virtual milliseconds from the
//! moment (the firing, the snooze's end, the timer's request) to the first sound.
//!
//! An alarm must sound by the start deadline in every cell: Spotify if it can be made to play,
//! else the local sound (at once when the fault is permanent, at the deadline when Spotify
//! just never confirms); the status names what sounds (and why not Spotify); the two never
//! sound together; the local sound starts at most once per ring; nothing sounds after the stop.
//! The sleep timer is not an alarm: someone falling asleep wants their music or silence, never
//! a beeping fallback. So where an alarm would fall back, the timer ends silent, by the same
//! deadline, and its history entry says why.
//!
//! `cargo test --test it fault_matrix -- --nocapture` prints the matrix.

mod cases;
mod rig;

use std::time::Duration;

use reveille::runner::{Actor, EndedBy, RingPath, RunnerState, RunnerStatus};
use tokio::time::Instant;

use cases::{CASES, Case, Expect};
use rig::{CHECK_EVERY, DEADLINE, Heard, Rig, sleep_timer_request};

const SPOTIFY: Heard = Heard {
    spotify: true,
    local: false,
};
const LOCAL: Heard = Heard {
    spotify: false,
    local: true,
};

/// Room for the loopback hops (1 virtual ms at most each) and the pause before a fallback.
const SLACK: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moment {
    Alarm,
    AfterSnooze,
    SleepTimer,
}

const MOMENTS: [Moment; 3] = [Moment::Alarm, Moment::AfterSnooze, Moment::SleepTimer];

/// One cell's result: what sounded (as the status names it) and how many virtual ms after
/// the moment, with what else was heard (an unconfirmed play; the fallback after a stop).
#[derive(Clone, Debug)]
struct Outcome {
    sound: &'static str,
    ms: u128,
    note: Option<(&'static str, u128)>,
}

impl Outcome {
    fn new(sound: &'static str, ms: u128) -> Outcome {
        Outcome {
            sound,
            ms,
            note: None,
        }
    }

    fn with_note(mut self, what: &'static str, ms: u128) -> Outcome {
        self.note = Some((what, ms));
        self
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let main = format!("{} {} ms", self.sound, self.ms);
        match self.note {
            Some((what, ms)) => write!(f, "{main}; {what} {ms} ms"),
            None => write!(f, "{main}"),
        }
    }
}

fn ms(from: Instant, to: Instant) -> u128 {
    to.saturating_duration_since(from).as_millis()
}

fn ringing(status: &RunnerStatus) -> Option<(RingPath, Option<String>)> {
    match &status.state {
        RunnerState::Ringing {
            path,
            fallback_reason,
            ..
        } => Some((path.clone(), fallback_reason.clone())),
        _ => None,
    }
}

/// Lets the observer take its next sample (it ticks every virtual millisecond).
async fn sampled() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

/// Waits until the status names `path` (or, with `None`, any sound), then checks it against
/// what the observer heard.
async fn named_sound(rig: &mut Rig, path: Option<RingPath>) -> (RingPath, Option<String>) {
    let wanted =
        |s: &RunnerStatus| ringing(s).is_some_and(|r| path.as_ref().is_none_or(|p| r.0 == *p));
    let status = rig.until("a sound", wanted).await;
    sampled().await;
    let (path, reason) = ringing(&status).unwrap();
    let heard = rig.heard_now();
    match path {
        RingPath::Spotify => assert_eq!(heard, SPOTIFY),
        RingPath::LocalSound => assert_eq!(heard, LOCAL),
        other => panic!("the alarm rings {other:?}: {reason:?}"),
    }
    (path, reason)
}

/// Checks the local sound's reason and its start; returns when it started.
fn local_started(rig: &Rig, case: Case, t0: Instant, reason: Option<String>) -> Instant {
    let reason = reason.unwrap_or_else(|| panic!("{case:?}: no fallback reason"));
    assert!(reason.contains(case.why()), "{case:?}: {reason}");
    if case.expect() == Expect::LocalAtOnce {
        assert!(!reason.contains("within"), "{case:?} waited: {reason}");
    }
    let heard = rig.heard_since(t0);
    let (at, _) = heard.iter().find(|(_, h)| h.local).expect("a local sound");
    assert_eq!(
        rig.sounds.started_since(t0),
        1,
        "{case:?}: local sound started twice"
    );
    *at
}

/// An alarm's ring from `t0` (the firing or the snooze's end) with `case` armed.
async fn ring(rig: &mut Rig, case: Case, t0: Instant) -> Outcome {
    let (path, reason) = named_sound(rig, None).await;
    let (first_at, first) = rig.first_heard_since(t0).expect("nothing sounded");
    let outcome = match (case.expect(), path) {
        (Expect::Spotify, RingPath::Spotify) => {
            assert_eq!(reason, None);
            assert!(
                ms(t0, first_at) <= DEADLINE.as_millis(),
                "{case:?}: too late"
            );
            Outcome::new("spotify", ms(t0, first_at))
        }
        (Expect::SpotifyThenLocal, RingPath::Spotify) => {
            let stopped = Instant::now();
            rig.mock.stop_playback();
            let (_, reason) = named_sound(rig, Some(RingPath::LocalSound)).await;
            let local = local_started(rig, case, stopped, reason);
            let after = local - stopped;
            assert!(after <= CHECK_EVERY * 2 + SLACK, "{case:?}: {after:?}");
            Outcome::new("spotify", ms(t0, first_at)).with_note("stopped; local", after.as_millis())
        }
        (Expect::LocalAtOnce | Expect::LocalAtDeadline, RingPath::LocalSound) => {
            let local = local_started(rig, case, t0, reason);
            let after = local - t0;
            if case.expect() == Expect::LocalAtOnce {
                assert!(
                    after < DEADLINE,
                    "{case:?} waited for the deadline: {after:?}"
                );
            } else {
                assert!(after >= DEADLINE, "{case:?} fell back early: {after:?}");
            }
            assert!(
                after <= DEADLINE + SLACK,
                "{case:?}: silent past the deadline: {after:?}"
            );
            let outcome = Outcome::new("local", after.as_millis());
            match first.spotify {
                true => outcome.with_note("unconfirmed spotify", ms(t0, first_at)),
                false => outcome,
            }
        }
        (expected, path) => panic!("{case:?}: expected {expected:?}, rings {path:?}"),
    };
    // Spotify never plays once the local sound has started.
    let heard = rig.heard_since(t0);
    if let Some(local) = heard.iter().position(|(_, h)| h.local) {
        assert!(
            heard[local..].iter().all(|(_, h)| !h.spotify),
            "{case:?}: {heard:?}"
        );
    }
    outcome
}

/// Stops what rings; nothing sounds afterwards, and the history keeps the paths.
async fn stop_and_check(rig: &mut Rig, case: Case, moment: Moment) {
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_idle().await;
    sampled().await;
    let idle = Instant::now();
    assert!(
        !rig.heard_now().anything(),
        "{case:?}: sounds after the stop"
    );
    // Long enough for a late answer, a retry or a check to bring something back.
    tokio::time::sleep(DEADLINE).await;
    let heard = rig.heard_since(idle);
    assert!(
        heard.iter().all(|(_, h)| !h.anything()),
        "{case:?}: {heard:?}"
    );
    let entry = &rig.runner.history()[0];
    assert_eq!(entry.ended_by, EndedBy::Api, "{case:?}");
    let local_sounds = match (moment, case.expect()) {
        (Moment::SleepTimer, _) | (_, Expect::Spotify) => 0,
        _ => 1,
    };
    assert_eq!(rig.sounds.started(), local_sounds, "{case:?} at {moment:?}");
    let (spotify, local) = (RingPath::Spotify, RingPath::LocalSound);
    let paths = match (moment, case.expect()) {
        (Moment::SleepTimer, _) | (_, Expect::Spotify) => vec![spotify],
        (Moment::Alarm, Expect::LocalAtOnce | Expect::LocalAtDeadline) => vec![local],
        _ => vec![spotify, local],
    };
    assert_eq!(entry.paths, paths, "{case:?} at {moment:?}");
}

/// A fresh alarm firing.
async fn alarm_cell(case: Case) -> Outcome {
    let mut rig = Rig::start().await;
    let t0 = Instant::now();
    case.arm(&rig, t0).await;
    rig.fire().await;
    let outcome = ring(&mut rig, case, t0).await;
    stop_and_check(&mut rig, case, Moment::Alarm).await;
    rig.mock.assert_all_valid();
    outcome
}

/// The ring after a snooze: the first ring plays, the fault comes during the snooze.
async fn snooze_cell(case: Case) -> Outcome {
    let mut rig = Rig::start().await;
    rig.fire().await;
    named_sound(&mut rig, Some(RingPath::Spotify)).await;
    rig.runner.snooze(Actor::Api).await.unwrap();
    let snoozed = rig
        .until("snoozed", |s| {
            matches!(s.state, RunnerState::Snoozed { .. })
        })
        .await;
    let RunnerState::Snoozed { until, .. } = snoozed.state else {
        unreachable!()
    };
    let t0 = rig.clock.instant_at(until);
    case.arm(&rig, t0).await;
    sampled().await;
    let snooze_start = Instant::now();
    let outcome = ring(&mut rig, case, t0).await;
    let quiet = rig.heard_since(snooze_start);
    let during = quiet.iter().filter(|(at, _)| *at < t0);
    assert!(
        during.clone().all(|(_, h)| !h.anything()),
        "{case:?}: sound while snoozed"
    );
    stop_and_check(&mut rig, case, Moment::AfterSnooze).await;
    assert_eq!(rig.runner.history()[0].snoozes, 1);
    rig.mock.assert_all_valid();
    outcome
}

/// The sleep timer: Spotify, or silence with the reason; never the local sound.
async fn sleep_timer_cell(case: Case) -> Outcome {
    let mut rig = Rig::start().await;
    let t0 = Instant::now();
    case.arm(&rig, t0).await;
    rig.runner.sleep_timer(sleep_timer_request()).await.unwrap();
    let outcome = match case.expect() {
        Expect::Spotify | Expect::SpotifyThenLocal => {
            let heard = until_heard(&mut rig, t0 + DEADLINE).await;
            assert!(heard.spotify, "{case:?}");
            let at = rig.first_heard_since(t0).unwrap().0;
            if case.expect() == Expect::SpotifyThenLocal {
                // Nothing takes over: music stopped by someone is what the timer ends in.
                rig.mock.stop_playback();
                tokio::time::sleep(CHECK_EVERY * 3 + SLACK).await;
                let state = rig.runner.status().state;
                assert!(matches!(state, RunnerState::SleepTimer { .. }), "{state:?}");
                assert!(!rig.heard_now().anything(), "{case:?}");
            }
            let state = rig.runner.status().state;
            assert!(matches!(state, RunnerState::SleepTimer { .. }), "{state:?}");
            stop_and_check(&mut rig, case, Moment::SleepTimer).await;
            Outcome::new("spotify", ms(t0, at))
        }
        Expect::LocalAtOnce | Expect::LocalAtDeadline => {
            let status = rig.until_idle().await;
            let ended = Instant::now();
            let after = ended - t0;
            assert!(after <= DEADLINE + SLACK, "{case:?}: {after:?}");
            if case.expect() == Expect::LocalAtOnce {
                assert!(
                    after < DEADLINE,
                    "{case:?} waited for the deadline: {after:?}"
                );
            }
            let entry = status.last_episode.expect("the timer's history entry");
            assert_eq!(
                (entry.ended_by, entry.paths),
                (EndedBy::Timer, vec![RingPath::Silent])
            );
            let reason = entry.fallback_reason.unwrap_or_default();
            assert!(reason.contains(case.why()), "{case:?}: {reason}");
            sampled().await;
            assert!(
                !rig.heard_now().anything(),
                "{case:?}: sounds after the timer ended"
            );
            tokio::time::sleep(DEADLINE).await;
            let heard = rig.heard_since(ended + Duration::from_millis(2));
            assert!(
                heard.iter().all(|(_, h)| !h.anything()),
                "{case:?}: {heard:?}"
            );
            let outcome = Outcome::new("silent", after.as_millis());
            match rig.first_heard_since(t0) {
                Some((at, _)) => outcome.with_note("unconfirmed spotify", ms(t0, at)),
                None => outcome,
            }
        }
    };
    assert_eq!(
        rig.sounds.started_since(t0),
        0,
        "{case:?}: the sleep timer beeped"
    );
    rig.mock.assert_all_valid();
    outcome
}

/// Waits until something sounds, at most until `by`; returns what.
async fn until_heard(rig: &mut Rig, by: Instant) -> Heard {
    loop {
        let heard = rig.heard_now();
        if heard.anything() {
            return heard;
        }
        assert!(Instant::now() <= by, "nothing sounded by the deadline");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn cell(case: Case, moment: Moment) -> Outcome {
    match moment {
        Moment::Alarm => alarm_cell(case).await,
        Moment::AfterSnooze => snooze_cell(case).await,
        Moment::SleepTimer => sleep_timer_cell(case).await,
    }
}

/// A cell's panic as its outcome, so one failing cell does not hide the others.
async fn cell_or_failure(case: Case, moment: Moment) -> Result<Outcome, String> {
    match tokio::spawn(cell(case, moment)).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let panic = e.into_panic();
            let text = panic.downcast_ref::<String>().cloned();
            let text = text.or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(text.unwrap_or_default())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_spotify_fault_at_every_moment_sounds_by_the_deadline() {
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    for case in CASES {
        let mut row = Vec::new();
        for moment in MOMENTS {
            row.push(cell_or_failure(case, moment).await);
        }
        rows.push((case, row));
    }
    let mut failures = Vec::new();
    let mut table = vec![["fault", "alarm", "after a snooze", "sleep timer"].map(String::from)];
    for (case, row) in &rows {
        let cell = |(outcome, moment): (&Result<Outcome, String>, Moment)| match outcome {
            Ok(outcome) => outcome.to_string(),
            Err(why) => {
                failures.push(format!("{} at {moment:?}: {why}", case.name()));
                "FAILED".to_owned()
            }
        };
        let mut cells = row.iter().zip(MOMENTS).map(cell);
        let mut line = || cells.next().unwrap();
        table.push([case.name().to_owned(), line(), line(), line()]);
    }
    let width = |column: usize| table.iter().map(|r| r[column].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    for [fault, alarm, snooze, timer] in &table {
        let (a, b, c) = (widths[0], widths[1], widths[2]);
        println!("{fault:<a$} | {alarm:<b$} | {snooze:<c$} | {timer}");
    }
    println!(
        "{} cells in {:.1} s of wall time",
        rows.len() * MOMENTS.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
