//! The (phase, command) table: every command gets its answer in every phase, from the one
//! handler for that pair, and at once (the self-test's settle time does not hold it up).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Rig, Start};
use crate::hardware::Hardware;
use crate::runner::{Actor, RunnerCommand, RunnerError, SleepTimerRequest, VolumeChange};

/// An amplifier that takes its maximum settle time, so the self-test lasts.
struct SlowAmplifier;

impl Hardware for SlowAmplifier {
    fn amplifier_on(&self) -> bool {
        true
    }
    fn amplifier_off(&self) {}
    fn has_buzzer(&self) -> bool {
        true
    }
    fn buzzer(&self, _on: bool) {}
}

const COMMANDS: [&str; 6] = [
    "ring-now",
    "snooze",
    "stop",
    "sleep-timer",
    "volume",
    "self-test",
];

fn word<T>(result: Result<T, RunnerError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(RunnerError::Busy) => "busy",
        Err(RunnerError::NotRinging) => "not ringing",
        Err(RunnerError::UnknownAlarm(_)) => "unknown alarm",
        Err(RunnerError::Gone) => "gone",
    }
}

/// Sends one raw command and returns the runner's first answer (not the self-test's steps).
async fn answer(rig: &Rig, command: &str) -> &'static str {
    let commands = &rig.runner.commands;
    macro_rules! ask {
        ($make:expr) => {{
            let (reply, answer) = oneshot::channel();
            commands.send($make(reply)).await.unwrap();
            word(
                answer
                    .await
                    .expect("the runner dropped a command unanswered"),
            )
        }};
    }
    match command {
        "ring-now" => ask!(|reply| RunnerCommand::RingNow {
            alarm_id: "wake".into(),
            reply
        }),
        "snooze" => ask!(|reply| RunnerCommand::Snooze {
            by: Actor::Api,
            reply
        }),
        "stop" => ask!(|reply| RunnerCommand::Stop {
            by: Actor::Button,
            reply
        }),
        "sleep-timer" => ask!(|reply| RunnerCommand::SleepTimer {
            request: SleepTimerRequest {
                source: None,
                volume_percent: Some(20),
                duration_minutes: 30,
                fade_out_minutes: None,
            },
            reply
        }),
        "volume" => ask!(|reply| RunnerCommand::SetVolume {
            change: VolumeChange::To(25),
            reply
        }),
        "self-test" => ask!(|reply| RunnerCommand::HardwareTest { reply }),
        other => unreachable!("{other}"),
    }
}

/// The config's settle time is the longest allowed.
fn slow_amplifier(config: &mut serde_json::Value) {
    config["hardware"] = serde_json::json!({"amplifier": {"pin": 17, "settle_ms": 5000}});
}

/// A fresh runner in `phase`.
async fn rig_in(phase: &str) -> Rig {
    let mut rig = Rig::start_on(Arc::new(SlowAmplifier), slow_amplifier, |_| {}).await;
    match phase {
        "idle" => {}
        "self-test" => assert_eq!(answer(&rig, "self-test").await, "ok"),
        "ringing" => {
            rig.ring_now().await;
            rig.until_spotify().await;
        }
        "starting" => {
            rig.fake.set_start(Start::Hangs);
            rig.ring_now().await;
        }
        "snoozed" => {
            rig.ring_now().await;
            rig.until_spotify().await;
            rig.runner.snooze(Actor::Api).await.unwrap();
            rig.until_state("snoozed").await;
        }
        "sleep-timer" => {
            assert_eq!(answer(&rig, "sleep-timer").await, "ok");
            rig.until_state("sleep_timer").await;
        }
        "stopped" => {
            rig.ring_now().await;
            rig.until_spotify().await;
            assert!(rig.runner.shut_down(Duration::from_secs(10)).await);
        }
        other => unreachable!("{other}"),
    }
    rig
}

#[tokio::test(start_paused = true)]
async fn every_command_is_answered_in_every_phase() {
    let expected: [(&str, [&str; 6]); 7] = [
        // ring-now, snooze, stop, sleep-timer, volume, self-test
        (
            "idle",
            [
                "ok",
                "not ringing",
                "not ringing",
                "ok",
                "not ringing",
                "ok",
            ],
        ),
        (
            "self-test",
            [
                "busy",
                "not ringing",
                "not ringing",
                "busy",
                "not ringing",
                "busy",
            ],
        ),
        ("starting", ["busy", "ok", "ok", "busy", "ok", "busy"]),
        ("ringing", ["busy", "ok", "ok", "busy", "ok", "busy"]),
        (
            "snoozed",
            ["busy", "ok", "ok", "busy", "not ringing", "busy"],
        ),
        (
            "sleep-timer",
            ["busy", "not ringing", "ok", "busy", "ok", "busy"],
        ),
        ("stopped", ["gone"; 6]),
    ];
    for (phase, answers) in expected {
        for (command, want) in COMMANDS.iter().zip(answers) {
            let rig = rig_in(phase).await;
            let got = answer(&rig, command).await;
            assert_eq!(got, want, "{command} while {phase}");
        }
    }
}

/// systemd's watchdog asks the loop itself: it answers whatever it is doing.
#[tokio::test(start_paused = true)]
async fn the_watchdogs_ping_is_answered_in_every_phase() {
    let phases = [
        "idle",
        "self-test",
        "starting",
        "ringing",
        "snoozed",
        "sleep-timer",
        "stopped",
    ];
    for phase in phases {
        let rig = rig_in(phase).await;
        assert!(
            rig.runner.answers(Duration::from_millis(10)).await,
            "no answer while {phase}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_unknown_alarm_is_named_and_nothing_rings() {
    let rig = Rig::start().await;
    let result = rig.runner.ring_now("nope".into()).await;
    assert_eq!(result, Err(RunnerError::UnknownAlarm("nope".into())));
    assert_eq!(super::state_name(&rig.runner.status().state), "idle");
}

#[tokio::test(start_paused = true)]
async fn the_self_test_reports_its_steps_and_a_firing_ends_it_and_rings() {
    let mut rig = Rig::start_on(Arc::new(SlowAmplifier), slow_amplifier, |_| {}).await;
    let steps = rig.runner.hardware_test().await.unwrap();
    assert_eq!(
        steps,
        [
            "amplifier on (settle 5000 ms)",
            "buzzer beeped",
            "amplifier off (after its idle delay)"
        ]
    );

    let (reply, taken) = oneshot::channel();
    rig.runner
        .commands
        .send(RunnerCommand::HardwareTest { reply })
        .await
        .unwrap();
    let steps = taken.await.unwrap().unwrap();
    rig.fire("early").await;
    assert_eq!(steps.await.unwrap(), Err(RunnerError::Busy));
    let status = rig.until_spotify().await;
    assert!(
        matches!(status.state, crate::runner::RunnerState::Ringing { alarm_id, .. } if alarm_id == "early")
    );
}
