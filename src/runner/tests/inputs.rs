//! The (phase, hardware event) table: decoded presses and knob turns sent to the runner as the
//! input device sends them, in every phase. Each input is logged in the hardware status once
//! handled, so a test waits for that line and then reads the state: no sleeps, no race.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::{Rig, state_name};
use crate::hardware::{ButtonId, Hardware, HardwareEvent};
use crate::runner::{Actor, EndedBy, RunnerState, SleepTimerRequest};

/// No outputs; records the log lines the runner writes for the inputs it handled.
struct Recorder(watch::Sender<Vec<String>>);

impl Hardware for Recorder {
    fn amplifier_on(&self) -> bool {
        false
    }
    fn amplifier_off(&self) {}
    fn has_buzzer(&self) -> bool {
        false
    }
    fn buzzer(&self, _on: bool) {}
    fn note(&self, event: String) {
        self.0.send_modify(|notes| notes.push(event));
    }
}

struct Bench {
    rig: Rig,
    notes: watch::Receiver<Vec<String>>,
}

/// Button `i` does `ACTIONS[i]` on a short press; the encoder steps 2 % per detent.
const ACTIONS: [&str; 4] = ["snooze", "stop", "sleep_timer", "nothing"];

async fn bench() -> Bench {
    let (tx, notes) = watch::channel(Vec::new());
    let rig = Rig::start_on(
        Arc::new(Recorder(tx)),
        |c| {
            let buttons: Vec<_> = ACTIONS
                .iter()
                .enumerate()
                .map(|(i, a)| json!({"pin": 20 + i, "short_press": a, "long_press": "nothing"}))
                .collect();
            c["hardware"] = json!({
                "backend": "sim",
                "buttons": buttons,
                "encoder": {"pin_a": 5, "pin_b": 6, "pin_switch": 13, "step_percent": 2},
            });
        },
        |_| {},
    )
    .await;
    Bench { rig, notes }
}

impl Bench {
    /// Sends `event` and waits until the runner logged it as handled; returns that line.
    async fn send(&mut self, event: HardwareEvent) -> String {
        let seen = self.notes.borrow().len();
        self.rig.inputs.send(event).await.unwrap();
        let wait = tokio::time::timeout(
            Duration::from_secs(3600),
            self.notes.wait_for(|n| n.len() > seen),
        );
        let notes = wait.await.expect("the input was never handled").unwrap();
        notes[seen].clone()
    }

    async fn press(&mut self, button: ButtonId, long: bool) -> String {
        self.send(HardwareEvent::Press { button, long }).await
    }

    async fn enter(&mut self, phase: &str) {
        let rig = &mut self.rig;
        match phase {
            "idle" => {}
            "ringing" => {
                rig.ring_now().await;
                rig.until_spotify().await;
            }
            "snoozed" => {
                rig.ring_now().await;
                rig.until_spotify().await;
                rig.runner.snooze(Actor::Api).await.unwrap();
                rig.until_state("snoozed").await;
            }
            "sleep_timer" => {
                let request = SleepTimerRequest {
                    source: None,
                    volume_percent: Some(20),
                    duration_minutes: 30,
                    fade_out_minutes: None,
                };
                rig.runner.sleep_timer(request).await.unwrap();
                rig.until_state("sleep_timer").await;
            }
            other => unreachable!("{other}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_press_does_what_its_action_means_in_every_phase() {
    // snooze, stop, sleep_timer, nothing: the state after a short press of that button.
    let expected = [
        ("idle", ["idle", "idle", "sleep_timer", "idle"]),
        ("ringing", ["snoozed", "idle", "idle", "ringing"]),
        ("snoozed", ["snoozed", "idle", "idle", "snoozed"]),
        (
            "sleep_timer",
            ["sleep_timer", "idle", "idle", "sleep_timer"],
        ),
    ];
    for (phase, after) in expected {
        for (i, want) in after.iter().enumerate() {
            let mut bench = bench().await;
            bench.enter(phase).await;
            let line = bench.press(ButtonId::Configured(i), false).await;
            assert_eq!(line, format!("button {i} short"));
            let got = bench.rig.until_state(want).await;
            assert_eq!(
                state_name(&got.state),
                *want,
                "{} while {phase}",
                ACTIONS[i]
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_encoder_switch_snoozes_short_and_stops_long_and_the_button_is_on_record() {
    let mut bench = bench().await;
    bench.enter("ringing").await;
    let line = bench.press(ButtonId::EncoderSwitch, false).await;
    assert_eq!(line, "encoder switch short");
    bench.rig.until_state("snoozed").await;
    let line = bench.press(ButtonId::EncoderSwitch, true).await;
    assert_eq!(line, "encoder switch long");
    bench.rig.until_state("idle").await;
    assert_eq!(bench.rig.history()[0].ended_by, EndedBy::Button);
}

#[tokio::test(start_paused = true)]
async fn a_long_press_uses_the_long_action_and_an_unknown_button_does_nothing() {
    let mut bench = bench().await;
    bench.enter("ringing").await;
    // Button 0's long press is "nothing".
    assert_eq!(
        bench.press(ButtonId::Configured(0), true).await,
        "button 0 long"
    );
    assert_eq!(
        bench.press(ButtonId::Configured(9), false).await,
        "button 9 short"
    );
    assert_eq!(state_name(&bench.rig.runner.status().state), "ringing");
}

#[tokio::test(start_paused = true)]
async fn a_turn_moves_the_volume_by_its_step_while_ringing_and_does_nothing_when_idle() {
    let mut bench = bench().await;
    assert_eq!(
        bench.send(HardwareEvent::Turn { detents: 3 }).await,
        "encoder +6 %"
    );
    assert!(bench.rig.fake.volumes().is_empty());
    assert_eq!(state_name(&bench.rig.runner.status().state), "idle");

    bench.enter("ringing").await;
    // The fade starts at 10 %: 10 + 5 × 2.
    assert_eq!(
        bench.send(HardwareEvent::Turn { detents: 5 }).await,
        "encoder +10 %"
    );
    let status = bench
        .rig
        .until(|s| {
            matches!(
                s.state,
                RunnerState::Ringing {
                    volume_percent: Some(20),
                    ..
                }
            )
        })
        .await;
    let RunnerState::Ringing { fade_percent, .. } = status.state else {
        unreachable!()
    };
    assert_eq!(fade_percent, 100, "the fade did not give way");
    assert_eq!(bench.rig.fake.volumes().last().map(|v| v.1), Some(20));
    assert_eq!(
        bench.send(HardwareEvent::Turn { detents: -2 }).await,
        "encoder -4 %"
    );
    bench
        .rig
        .until(|s| {
            matches!(
                s.state,
                RunnerState::Ringing {
                    volume_percent: Some(16),
                    ..
                }
            )
        })
        .await;
}
