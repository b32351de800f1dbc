//! The scheduler across restarts, on real files: its handled marks survive, so a restart never
//! rings an occurrence twice, and an alarm due while it was down rings within the grace.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reveille::clock::ManualClock;
use reveille::config::Alarm;
use reveille::scheduler::{Firing, Scheduler, SchedulerHandle};
use reveille::store::ConfigStore;
use tokio::sync::mpsc;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct Running {
    handle: SchedulerHandle,
    firings: mpsc::Receiver<Firing>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a scheduler as the daemon would after a restart, and waits for its first look. The
/// firings go to the test as to a runner that journals them at once: their receipts are given.
async fn start(store: &ConfigStore, now: &str) -> Running {
    let (tx, mut scheduled) = mpsc::channel::<Firing>(8);
    let (taken, firings) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(mut firing) = scheduled.recv().await {
            firing.take_receipt().give();
            if taken.send(firing).await.is_err() {
                break;
            }
        }
    });
    let clock = ManualClock::new(utc(now));
    let (scheduler, handle) =
        Scheduler::new(store.clone(), Arc::new(clock), tx, Box::new(|| Some(true))).unwrap();
    let task = scheduler.spawn();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handle.status().heartbeat != utc(now) || handle.status().time_zone.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Running {
        handle,
        firings,
        task,
    }
}

/// A store in `dir` with one alarm, "daily" at 07:00 UTC every day.
async fn daily_at_seven(dir: &std::path::Path) -> ConfigStore {
    let store = ConfigStore::open(&dir.join("config.json"), None).unwrap();
    store
        .transaction(None, |c| {
            c.time_zone = Some("UTC".into());
            let alarm: Alarm = serde_json::from_str(
                r#"{"id": "daily", "time": "07:00", "repeat": ["mon","tue","wed","thu","fri","sat","sun"]}"#,
            )
            .unwrap();
            c.alarms.push(alarm);
            Ok(())
        })
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn handled_marks_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = daily_at_seven(dir.path()).await;

    // Armed the evening before; rings at 07:00.
    let first = start(&store, "2026-11-23T20:00:00Z").await;
    first.task.abort();
    let mut at_seven = start(&store, "2026-11-24T07:00:00Z").await;
    let firing = at_seven.firings.recv().await.unwrap();
    assert_eq!(firing.occurrence, utc("2026-11-24T07:00:00Z"));
    at_seven.task.abort();

    // Restarted two minutes later (crash, watchdog): the same occurrence does not ring again.
    let mut restarted = start(&store, "2026-11-24T07:02:00Z").await;
    assert!(
        restarted.firings.try_recv().is_err(),
        "rang twice after a restart"
    );
    restarted.task.abort();

    // Down over the next 07:00, back at 07:03: within the grace, it rings at once, late.
    let mut back = start(&store, "2026-11-25T07:03:00Z").await;
    let firing = back.firings.recv().await.unwrap();
    assert_eq!(firing.occurrence, utc("2026-11-25T07:00:00Z"));
    let events = back.handle.status().recent_events;
    assert_eq!(events[0].late_seconds, 180);
    back.task.abort();

    // Down over the next one until 09:00: reported missed, not rung.
    let mut late = start(&store, "2026-11-26T09:00:00Z").await;
    assert!(late.firings.try_recv().is_err(), "a stale alarm rang");
    let events = late.handle.status().recent_events;
    assert_eq!(serde_json::to_value(events[0].decision).unwrap(), "missed");
    late.task.abort();
}

/// The runner confirms a firing (its receipt) once the episode is in its journal on disk; the
/// handled mark is saved only after that. A crash in between (here: a receiver that never
/// confirms, then a restart) rings the occurrence again instead of losing it.
#[tokio::test]
async fn a_firing_the_runner_never_confirmed_rings_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = daily_at_seven(dir.path()).await;
    start(&store, "2026-11-24T06:59:00Z").await.task.abort();

    // At 07:00 the firing leaves, and the daemon dies before the runner confirms it.
    let (tx, mut unconfirmed) = mpsc::channel(8);
    let clock = ManualClock::new(utc("2026-11-24T07:00:00Z"));
    let (scheduler, _handle) =
        Scheduler::new(store.clone(), Arc::new(clock), tx, Box::new(|| Some(true))).unwrap();
    let task = scheduler.spawn();
    let firing = unconfirmed.recv().await.unwrap();
    task.abort();
    let _ = task.await;
    drop(firing);

    let mut restarted = start(&store, "2026-11-24T07:00:20Z").await;
    let firing = restarted.firings.try_recv().expect("the alarm was lost");
    assert_eq!(firing.occurrence, utc("2026-11-24T07:00:00Z"));
    restarted.task.abort();
}

/// A kill during a save of the handled marks leaves a temp file; a start removes it, so a
/// crash loop cannot fill the state directory.
#[tokio::test]
async fn a_start_removes_what_an_interrupted_save_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::open(&dir.path().join("config.json"), None).unwrap();
    let leftover = dir.path().join(".schedule-state.json.tmp-1-0");
    std::fs::write(&leftover, b"{\"alarms\": {").unwrap();
    start(&store, "2026-11-24T06:59:00Z").await.task.abort();
    assert!(!leftover.exists());
}

/// A disk that stalls (another writer, an SD card collecting garbage) does not hold the alarm:
/// the firing goes to the runner before any save, and the mark follows once the disk is back.
/// `tests/load.rs` saw a firing 3.2 s late while saves took 4 s, when the mark was saved first.
/// The stall here is the runtime's only blocking thread, taken by the test, so no save can
/// even start. Real time: tokio does not advance paused time while a blocking task runs.
#[test]
fn a_stalled_disk_does_not_delay_a_firing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = daily_at_seven(dir.path()).await;
        let (tx, mut firings) = mpsc::channel(8);
        let clock = Arc::new(ManualClock::new(utc("2026-11-24T06:59:00Z")));
        let (scheduler, handle) =
            Scheduler::new(store.clone(), clock.clone(), tx, Box::new(|| Some(true))).unwrap();
        let task = scheduler.spawn();
        // Its first look (and save) is done once it publishes a status.
        while handle.status().time_zone.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // The disk stalls: no save can start until the test lets go.
        let (release, stalled) = std::sync::mpsc::channel::<()>();
        let stall = tokio::task::spawn_blocking(move || stalled.recv());
        clock.set(utc("2026-11-24T07:00:00Z"));
        // The stall lasts until released: any bounded wait shows the firing did not wait for it.
        let mut firing = tokio::time::timeout(Duration::from_secs(10), firings.recv())
            .await
            .expect("the firing waited for the stalled disk")
            .unwrap();
        assert_eq!(firing.occurrence, utc("2026-11-24T07:00:00Z"));
        firing.take_receipt().give();

        // The disk recovers: the mark reaches the file, so a restart does not ring it again.
        release.send(()).unwrap();
        stall.await.unwrap().unwrap();
        let state = dir.path().join("schedule-state.json");
        let saved = async {
            loop {
                let text = std::fs::read_to_string(&state).unwrap_or_default();
                if text.contains("2026-11-24T07:00:00Z") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), saved)
            .await
            .expect("the handled mark was never saved");
        task.abort();
    });
}
