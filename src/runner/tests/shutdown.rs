//! The stop (SIGTERM): what sounds is released at once (Spotify paused, the local sound and
//! the buzzer off, the outputs at their safe level) and the runner refuses everything after;
//! a ringing or snoozed episode stays in the journal for the next start, and an alarm due
//! during the stop is journaled too, so it is not lost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Call, Rig, Start};
use crate::hardware::Hardware;
use crate::player::SpotifyError;
use crate::runner::{Actor, EndedBy, RingPath, RunnerError, RunnerState, SleepTimerRequest};

const WITHIN: Duration = Duration::from_secs(10);

/// An amplifier and a buzzer whose switches are recorded in order.
#[derive(Default)]
struct Outputs(Mutex<Vec<&'static str>>);

impl Outputs {
    fn log(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

impl Hardware for Outputs {
    fn amplifier_on(&self) -> bool {
        self.0.lock().unwrap().push("amplifier on");
        true
    }
    fn amplifier_off(&self) {
        self.0.lock().unwrap().push("amplifier off");
    }
    fn has_buzzer(&self) -> bool {
        true
    }
    fn buzzer(&self, on: bool) {
        self.0
            .lock()
            .unwrap()
            .push(if on { "buzzer on" } else { "buzzer off" });
    }
    fn safe_state(&self) {
        self.0.lock().unwrap().push("safe");
    }
}

async fn rig() -> (Rig, Arc<Outputs>) {
    let outputs = Arc::new(Outputs::default());
    let rig = Rig::start_on(outputs.clone(), |_| {}, |_| {}).await;
    (rig, outputs)
}

/// The journal as the writer task left it (it writes on a blocking thread, outside the paused
/// clock): the alarm it holds.
async fn journaled_alarm(rig: &Rig) -> Option<String> {
    let path = rig.dir().join(crate::runner::JOURNAL_FILE);
    for _ in 0..500 {
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(episode) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            return episode["alarm"]["id"].as_str().map(str::to_owned);
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn ringing_on(path: RingPath) -> impl Fn(&crate::runner::RunnerStatus) -> bool {
    move |s| matches!(&s.state, RunnerState::Ringing { path: p, .. } if *p == path)
}

#[tokio::test(start_paused = true)]
async fn a_stop_mid_ring_pauses_spotify_leaves_the_outputs_safe_and_keeps_the_journal() {
    let (mut rig, outputs) = rig().await;
    rig.ring_now().await;
    rig.until_spotify().await;
    assert!(rig.fake.playing());

    assert!(rig.runner.shut_down(WITHIN).await);
    assert_eq!(rig.fake.count(&Call::Pause), 1);
    assert!(!rig.fake.playing());
    assert_eq!(outputs.log().last(), Some(&"safe"), "{:?}", outputs.log());
    // Not ended: the next start resumes it.
    assert_eq!(journaled_alarm(&rig).await.as_deref(), Some("wake"));
    assert!(rig.history().is_empty(), "{:?}", rig.history());

    // From now on nothing starts or changes, and the watchdog's ping is still answered.
    assert_eq!(
        rig.runner.ring_now("wake".into()).await,
        Err(RunnerError::Gone)
    );
    assert_eq!(rig.runner.stop(Actor::Api).await, Err(RunnerError::Gone));
    assert_eq!(rig.runner.set_volume(30).await, Err(RunnerError::Gone));
    assert!(rig.runner.answers(WITHIN).await);
    assert!(
        rig.runner.shut_down(WITHIN).await,
        "a second stop is answered too"
    );
    assert_eq!(rig.fake.count(&Call::Pause), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stop_silences_the_local_sound_and_the_buzzer() {
    let (mut rig, _) = rig().await;
    rig.fake
        .set_start(Start::Fails(SpotifyError::PremiumRequired));
    rig.ring_now().await;
    rig.until(ringing_on(RingPath::LocalSound)).await;
    assert_eq!(rig.fake.sounds_playing(), 1);
    assert!(rig.runner.shut_down(WITHIN).await);
    assert_eq!(rig.fake.sounds_playing(), 0);

    let (mut buzzing, outputs) = self::rig().await;
    buzzing
        .fake
        .set_start(Start::Fails(SpotifyError::PremiumRequired));
    buzzing.fake.fail_sound("aplay is not installed");
    buzzing.ring_now().await;
    buzzing.until(ringing_on(RingPath::Buzzer)).await;
    assert!(buzzing.runner.shut_down(WITHIN).await);
    let log = outputs.log();
    let on = log.iter().position(|e| *e == "buzzer on").unwrap();
    assert!(log[on..].contains(&"buzzer off"), "{log:?}");
    assert_eq!(log.last(), Some(&"safe"), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_snooze_keeps_it_for_the_next_start() {
    let (mut rig, outputs) = rig().await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.runner.snooze(Actor::Api).await.unwrap();
    rig.until_state("snoozed").await;
    let pauses = rig.fake.count(&Call::Pause);
    assert!(rig.runner.shut_down(WITHIN).await);
    assert_eq!(
        rig.fake.count(&Call::Pause),
        pauses,
        "nothing played to pause"
    );
    assert_eq!(outputs.log().last(), Some(&"safe"));
    assert_eq!(journaled_alarm(&rig).await.as_deref(), Some("wake"));
    // The snooze's end no longer rings.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!rig.fake.playing());
    assert_eq!(rig.fake.sounds_playing(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_sleep_timer_paused_and_on_record() {
    let (mut rig, _) = rig().await;
    let request = SleepTimerRequest {
        source: None,
        volume_percent: Some(20),
        duration_minutes: 30,
        fade_out_minutes: None,
    };
    rig.runner.sleep_timer(request).await.unwrap();
    rig.until_state("sleep_timer").await;
    assert!(rig.runner.shut_down(WITHIN).await);
    assert!(!rig.fake.playing());
    assert_eq!(rig.fake.count(&Call::Pause), 1);
    let entry = &rig.history()[0];
    assert_eq!(
        (entry.label.as_str(), entry.ended_by),
        ("Sleep timer", EndedBy::Interrupted)
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_due_during_the_stop_is_journaled_and_a_second_one_recorded_as_overlapped() {
    let (rig, outputs) = rig().await;
    assert!(rig.runner.shut_down(WITHIN).await);
    rig.fire("first").await;
    assert_eq!(journaled_alarm(&rig).await.as_deref(), Some("first"));
    rig.fire("second").await;
    let mut history = rig.runner.history.clone();
    let entries = history.wait_for(|h| !h.is_empty()).await.unwrap().clone();
    assert_eq!(
        (entries[0].alarm_id.as_deref(), entries[0].ended_by),
        (Some("second"), EndedBy::Overlapped)
    );
    // Nothing sounded for either.
    assert!(rig.fake.calls().is_empty(), "{:?}", rig.fake.calls());
    assert_eq!(outputs.log(), ["safe"]);
}
