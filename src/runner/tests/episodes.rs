//! Whole episodes in paused time: the fade, snooze and re-ring, the snooze limit, auto-stop,
//! the sleep timer, overlapping firings, the fallbacks and resuming from the journal. These
//! replace the real-time waits (a minute each) the real-binary ring tests once had.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Call, Rig, START, Start, state_name};
use crate::player::SpotifyError;
use crate::runner::{Actor, EndedBy, RingPath, RunnerError, RunnerState, SleepTimerRequest};

fn ringing(state: &RunnerState) -> Option<(u32, Option<u32>, u32)> {
    match state {
        RunnerState::Ringing {
            fade_percent,
            volume_percent,
            snoozes_used,
            ..
        } => Some((*fade_percent, *volume_percent, *snoozes_used)),
        _ => None,
    }
}

fn reason(state: &RunnerState) -> String {
    match state {
        RunnerState::Ringing {
            fallback_reason, ..
        } => fallback_reason.clone().unwrap_or_default(),
        other => panic!("not ringing: {other:?}"),
    }
}

pub(super) fn at(minutes_from_start: i64) -> DateTime<Utc> {
    START.parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(minutes_from_start)
}

#[tokio::test(start_paused = true)]
async fn the_fade_rises_in_steps_two_seconds_apart_and_a_stop_pauses() {
    let mut rig = Rig::start().await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.until(|s| ringing(&s.state).is_some_and(|r| r.0 == 100 && r.1 == Some(40)))
        .await;
    assert_eq!(rig.fake.calls()[0].1, Call::Start { percent: 10 });
    let volumes = rig.fake.volumes();
    let levels: Vec<u32> = volumes.iter().map(|v| v.1).collect();
    assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
    assert_eq!(levels.last(), Some(&40));
    assert!(levels.len() >= 3, "a fade in one jump: {levels:?}");
    assert!(
        volumes
            .windows(2)
            .all(|w| w[1].0 - w[0].0 >= Duration::from_secs(2)),
        "{volumes:?}"
    );

    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    assert!(!rig.fake.playing(), "stop did not pause");
    let entry = &rig.history()[0];
    assert_eq!(
        (entry.ended_by, entry.paths.clone()),
        (EndedBy::Api, vec![RingPath::Spotify])
    );
    assert_eq!(
        rig.fake.count(&Call::LocalSound),
        0,
        "the fallback rang with Spotify"
    );
    assert_eq!(
        rig.runner.stop(Actor::Api).await,
        Err(RunnerError::NotRinging)
    );
}

#[tokio::test(start_paused = true)]
async fn the_knob_takes_over_from_the_fade_within_the_ceiling() {
    let mut rig = Rig::start_with(
        |c| {
            c["volume"]["ceiling_percent"] = 30.into();
            c["volume"]["fade_seconds"] = 600.into();
        },
        |_| {},
    )
    .await;
    rig.ring_now().await;
    rig.until_spotify().await;
    assert_eq!(rig.runner.set_volume(90).await, Ok(30));
    assert_eq!(rig.runner.adjust_volume(-5).await, Ok(25));
    let status = rig
        .until(|s| ringing(&s.state).is_some_and(|r| r.1 == Some(25)))
        .await;
    assert_eq!(
        ringing(&status.state).unwrap().0,
        100,
        "the fade goes on under the knob"
    );
    let count = rig.fake.volumes().len();
    // A minute later, no fade step has overridden the knob.
    let beat = status.heartbeat;
    rig.until(|s| s.heartbeat > beat.map(|b| b + chrono::Duration::seconds(60)))
        .await;
    assert_eq!(rig.fake.volumes().len(), count);
    assert_eq!(rig.fake.volumes().last().unwrap().1, 25);
}

#[tokio::test(start_paused = true)]
async fn a_snooze_pauses_rings_again_from_the_faded_volume_and_the_last_snooze_stops() {
    let mut rig = Rig::start().await;
    rig.ring_now().await;
    rig.until(|s| ringing(&s.state).is_some_and(|r| r.0 == 100))
        .await;
    rig.runner.snooze(Actor::Api).await.unwrap();
    let snoozed = rig.until_state("snoozed").await;
    let snoozed_at = rig.clock_now();
    let RunnerState::Snoozed {
        until,
        snoozes_used,
        ..
    } = snoozed.state
    else {
        unreachable!()
    };
    assert_eq!(snoozes_used, 1);
    assert_eq!(until - snoozed_at, chrono::Duration::minutes(1));
    assert!(!rig.fake.playing(), "snooze did not pause");
    // The heartbeat goes on while snoozed.
    let beat = snoozed.heartbeat;
    rig.until(|s| state_name(&s.state) == "snoozed" && s.heartbeat != beat)
        .await;

    let again = rig.until_spotify().await;
    assert!(
        rig.clock_now() >= until,
        "rang again before the snooze ended"
    );
    assert_eq!(ringing(&again.state).unwrap().2, 1);
    let starts: Vec<Call> = rig
        .fake
        .calls()
        .into_iter()
        .map(|c| c.1)
        .filter(|c| matches!(c, Call::Start { .. }))
        .collect();
    assert_eq!(
        starts,
        [Call::Start { percent: 10 }, Call::Start { percent: 40 }]
    );

    // max_snoozes = 1: the next snooze stops.
    rig.runner.snooze(Actor::Button).await.unwrap();
    rig.until_state("idle").await;
    let entry = &rig.history()[0];
    assert_eq!((entry.snoozes, entry.ended_by), (1, EndedBy::Button));
    assert!(!rig.fake.playing());
}

#[tokio::test(start_paused = true)]
async fn an_unattended_alarm_stops_by_itself_after_the_maximum_ring_time() {
    let mut rig = Rig::start_with(
        |c| c["alarms"][0]["ring"]["max_ring_minutes"] = 1.into(),
        |_| {},
    )
    .await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.until_state("idle").await;
    let entry = &rig.history()[0];
    assert_eq!(entry.ended_by, EndedBy::AutoStop);
    assert_eq!(entry.duration_seconds, 60);
    assert!(!rig.fake.playing());
}

#[tokio::test(start_paused = true)]
async fn the_sleep_timer_fades_out_to_silence_pauses_and_is_recorded() {
    let mut rig = Rig::start().await;
    let request = SleepTimerRequest {
        source: None,
        volume_percent: Some(30),
        duration_minutes: 1,
        fade_out_minutes: Some(1),
    };
    rig.runner.sleep_timer(request).await.unwrap();
    rig.until_state("sleep_timer").await;
    assert_eq!(
        rig.runner.ring_now("wake".into()).await,
        Err(RunnerError::Busy)
    );
    rig.until_state("idle").await;
    assert!(!rig.fake.playing(), "the timer did not pause");
    assert_eq!(rig.fake.calls()[0].1, Call::Start { percent: 30 });
    let levels: Vec<u32> = rig.fake.volumes().iter().map(|v| v.1).collect();
    assert!(
        levels.windows(2).all(|w| w[0] > w[1]),
        "not fading down: {levels:?}"
    );
    assert!(
        levels.len() > 5 && *levels.last().unwrap() <= 2,
        "{levels:?}"
    );
    let entry = &rig.history()[0];
    assert_eq!(
        (entry.ended_by, entry.label.as_str()),
        (EndedBy::Timer, "Sleep timer")
    );
    assert_eq!(entry.duration_seconds, 60);
}

#[tokio::test(start_paused = true)]
async fn a_sleep_timer_still_starting_is_stopped_at_once_and_paused() {
    let mut rig = Rig::start().await;
    rig.fake.set_start(Start::Hangs);
    let request = SleepTimerRequest {
        source: None,
        volume_percent: None,
        duration_minutes: 30,
        fade_out_minutes: None,
    };
    rig.runner.sleep_timer(request).await.unwrap();
    while rig.fake.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    assert!(rig.fake.playing());
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    assert!(
        !rig.fake.playing(),
        "the cancelled start left Spotify playing"
    );
    assert_eq!(rig.history()[0].ended_by, EndedBy::Api);
}

/// Not an alarm: no local sound, but the history says why, as an alarm's fallback reason does.
#[tokio::test(start_paused = true)]
async fn a_sleep_timer_that_never_starts_ends_silent_at_the_deadline_and_says_why() {
    let mut rig = Rig::start().await;
    rig.fake.set_start(Start::Retrying(SpotifyError::NoDevice));
    let request = SleepTimerRequest {
        source: None,
        volume_percent: None,
        duration_minutes: 30,
        fade_out_minutes: None,
    };
    rig.runner.sleep_timer(request).await.unwrap();
    rig.until_state("sleep_timer").await;
    rig.until_state("idle").await;
    let entry = &rig.history()[0];
    assert_eq!(
        (entry.ended_by, entry.paths.clone(), entry.duration_seconds),
        (EndedBy::Timer, vec![RingPath::Silent], 5)
    );
    let why = format!(
        "Spotify did not start playing within 5 s ({})",
        SpotifyError::NoDevice
    );
    assert_eq!(entry.fallback_reason.as_deref(), Some(why.as_str()));
    assert_eq!(
        rig.fake.count(&Call::LocalSound),
        0,
        "the sleep timer beeped"
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_firing_ends_the_sleep_timer_and_rings() {
    let mut rig = Rig::start().await;
    let request = SleepTimerRequest {
        source: None,
        volume_percent: None,
        duration_minutes: 30,
        fade_out_minutes: None,
    };
    rig.runner.sleep_timer(request).await.unwrap();
    rig.until_state("sleep_timer").await;
    rig.fire("early").await;
    rig.until_spotify().await;
    assert_eq!(rig.history()[0].ended_by, EndedBy::Alarm);
}

#[tokio::test(start_paused = true)]
async fn a_firing_while_ringing_or_snoozed_is_recorded_as_overlapped() {
    let mut rig = Rig::start().await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.fire("second").await;
    let mut history = rig.runner.history.clone();
    history.wait_for(|h| !h.is_empty()).await.unwrap();
    rig.runner.snooze(Actor::Api).await.unwrap();
    rig.until_state("snoozed").await;
    rig.fire("third").await;
    rig.until_spotify().await;
    let overlapped: Vec<_> = rig
        .history()
        .into_iter()
        .filter(|e| e.ended_by == EndedBy::Overlapped)
        .map(|e| (e.alarm_id.unwrap(), e.fallback_reason.unwrap()))
        .collect();
    let reason = "not rung: alarm \"wake\" was ringing or snoozed".to_owned();
    assert_eq!(
        overlapped,
        [("third".into(), reason.clone()), ("second".into(), reason)]
    );
}

#[tokio::test(start_paused = true)]
async fn when_spotify_fails_the_local_sound_rings_and_then_the_silence_is_explained() {
    let mut rig = Rig::start().await;
    rig.fake
        .set_start(Start::Fails(SpotifyError::PremiumRequired));
    rig.ring_now().await;
    let status = rig
        .until(|s| {
            matches!(
                &s.state,
                RunnerState::Ringing {
                    path: RingPath::LocalSound,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        reason(&status.state),
        "Spotify Premium is needed to control playback"
    );
    assert_eq!(rig.fake.sounds_playing(), 1);
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    assert_eq!(
        rig.fake.sounds_playing(),
        0,
        "the stop left the local sound playing"
    );

    rig.fake.fail_sound("aplay is not installed");
    rig.ring_now().await;
    let status = rig
        .until(|s| {
            matches!(
                &s.state,
                RunnerState::Ringing {
                    path: RingPath::Silent,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        reason(&status.state),
        "Spotify Premium is needed to control playback; the local sound failed too \
         (aplay is not installed); no buzzer is configured, so nothing can sound"
    );
}

#[tokio::test(start_paused = true)]
async fn a_start_past_the_deadline_is_paused_before_the_fallback_rings() {
    let mut rig = Rig::start().await;
    rig.fake.set_start(Start::Hangs);
    rig.ring_now().await;
    let status = rig
        .until(|s| {
            matches!(
                &s.state,
                RunnerState::Ringing {
                    path: RingPath::LocalSound,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        reason(&status.state),
        "Spotify did not start playing within 5 s"
    );
    let calls: Vec<Call> = rig.fake.calls().into_iter().map(|c| c.1).collect();
    assert_eq!(calls[1..], [Call::Pause, Call::LocalSound], "{calls:?}");
    assert!(!rig.fake.playing());
}

#[tokio::test(start_paused = true)]
async fn spotify_stopping_mid_ring_hands_over_to_the_local_sound() {
    let mut rig = Rig::start().await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.fake.stop_playing();
    let status = rig
        .until(|s| {
            matches!(
                &s.state,
                RunnerState::Ringing {
                    path: RingPath::LocalSound,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        reason(&status.state),
        "Spotify stopped playing during the ring"
    );
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    assert_eq!(
        rig.history()[0].paths,
        [RingPath::Spotify, RingPath::LocalSound]
    );
}

pub(super) fn journal(dir: &std::path::Path, episode: serde_json::Value) {
    std::fs::write(
        dir.join("ring-episode.json"),
        serde_json::to_vec(&episode).unwrap(),
    )
    .unwrap();
}

pub(super) fn journaled(started: i64, snoozed_until: Option<DateTime<Utc>>) -> serde_json::Value {
    json!({
        "alarm": {"id": "wake", "label": "Wake up", "time": "07:00",
                  "ring": {"max_ring_minutes": 30, "snooze_minutes": 1, "max_snoozes": 1}},
        "occurrence": at(started), "started_at": at(started), "ringing_since": at(started),
        "snoozed_until": snoozed_until, "snoozes_used": u32::from(snoozed_until.is_some()),
        "fade_elapsed_ms": 6000, "paths": ["spotify"],
        "ring_deadline": snoozed_until.unwrap_or(at(started)) + chrono::Duration::minutes(30),
    })
}

#[tokio::test(start_paused = true)]
async fn a_journaled_ring_resumes_at_its_faded_volume_and_ends_when_it_would_have() {
    let mut rig = Rig::start_with(|_| {}, |dir| journal(dir, journaled(-10, None))).await;
    rig.until_spotify().await;
    assert_eq!(rig.fake.calls()[0].1, Call::Start { percent: 40 });
    // 30 minutes from the first ring, not from the restart.
    rig.until_state("idle").await;
    let entry = &rig.history()[0];
    assert_eq!(entry.ended_by, EndedBy::AutoStop);
    assert_eq!(entry.duration_seconds, 30 * 60);
}

#[tokio::test(start_paused = true)]
async fn a_journaled_snooze_goes_on_and_rings_when_it_ends() {
    let mut rig = Rig::start_with(|_| {}, |dir| journal(dir, journaled(-1, Some(at(1))))).await;
    let status = rig.until_state("snoozed").await;
    assert!(matches!(status.state, RunnerState::Snoozed { until, .. } if until == at(1)));
    rig.until_spotify().await;
    assert_eq!(rig.clock_now(), at(1));
}

#[tokio::test(start_paused = true)]
async fn a_journal_too_old_to_resume_is_recorded_as_interrupted() {
    let rig = Rig::start_with(|_| {}, |dir| journal(dir, journaled(-120, None))).await;
    let mut history = rig.runner.history.clone();
    let entries = history.wait_for(|h| !h.is_empty()).await.unwrap().clone();
    assert_eq!(entries[0].ended_by, EndedBy::Interrupted);
    assert_eq!(state_name(&rig.runner.status().state), "idle");
}
