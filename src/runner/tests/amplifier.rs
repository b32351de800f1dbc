//! The amplifier's idle-off is the runner's own deadline: on before a sound, off
//! `idle_off_seconds` after it stops, kept on when a new sound starts within that time. The
//! delays are read from the config when used. Paused time: a minute's delay takes no time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Rig;
use crate::hardware::Hardware;
use crate::runner::Actor;

/// An amplifier line whose switches are recorded with the (paused) time.
struct Amplifier {
    on: std::sync::Mutex<bool>,
    log: watch::Sender<Vec<(Instant, bool)>>,
}

impl Hardware for Amplifier {
    fn amplifier_on(&self) -> bool {
        let mut on = self.on.lock().unwrap();
        if *on {
            return false;
        }
        *on = true;
        self.log.send_modify(|l| l.push((Instant::now(), true)));
        true
    }
    fn amplifier_off(&self) {
        *self.on.lock().unwrap() = false;
        self.log.send_modify(|l| l.push((Instant::now(), false)));
    }
    fn has_buzzer(&self) -> bool {
        false
    }
    fn buzzer(&self, _on: bool) {}
}

async fn rig(idle_off_seconds: u32) -> (Rig, watch::Receiver<Vec<(Instant, bool)>>) {
    let (log, switches) = watch::channel(Vec::new());
    let amplifier = Amplifier {
        on: false.into(),
        log,
    };
    let rig = Rig::start_on(
        Arc::new(amplifier),
        |c| {
            c["hardware"] = json!({"amplifier": {"pin": 17, "settle_ms": 100,
                                                 "idle_off_seconds": idle_off_seconds}});
        },
        |_| {},
    )
    .await;
    (rig, switches)
}

async fn switched(switches: &mut watch::Receiver<Vec<(Instant, bool)>>, count: usize) {
    let wait = tokio::time::timeout(
        Duration::from_secs(3600),
        switches.wait_for(|l| l.len() >= count),
    );
    wait.await.expect("the amplifier never switched").unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_amplifier_goes_off_its_idle_delay_after_the_stop() {
    let (mut rig, mut switches) = rig(60).await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.runner.stop(Actor::Api).await.unwrap();
    let stopped = Instant::now();
    rig.until_state("idle").await;
    switched(&mut switches, 2).await;
    let log = switches.borrow().clone();
    assert_eq!(log.iter().map(|s| s.1).collect::<Vec<_>>(), [true, false]);
    assert!(log[1].0 - stopped >= Duration::from_secs(60), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_new_sound_within_the_idle_delay_keeps_the_amplifier_on() {
    let (mut rig, mut switches) = rig(60).await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    tokio::time::advance(Duration::from_secs(30)).await;
    rig.ring_now().await;
    rig.until_spotify().await;
    // Well past the first idle delay: still on, switched once.
    tokio::time::advance(Duration::from_secs(120)).await;
    assert_eq!(switches.borrow().len(), 1, "{:?}", switches.borrow());
    rig.runner.stop(Actor::Api).await.unwrap();
    switched(&mut switches, 2).await;
    assert!(!switches.borrow()[1].1);
}

#[tokio::test(start_paused = true)]
async fn without_an_idle_delay_the_amplifier_goes_off_with_the_stop() {
    let (mut rig, switches) = rig(0).await;
    rig.ring_now().await;
    rig.until_spotify().await;
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    let log: Vec<bool> = switches.borrow().iter().map(|s| s.1).collect();
    assert_eq!(log, [true, false]);
}
