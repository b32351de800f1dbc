//! The hand-over from the scheduler: a firing's receipt is given only once its episode is in
//! the journal on disk (the scheduler marks the occurrence handled after it), and a firing of
//! an occurrence the runner already holds, as after a crash between the two, is not rung again.

use super::episodes::{at, journal, journaled};
use super::{Rig, state_name};
use crate::runner::{Actor, EndedBy, JOURNAL_FILE};

#[tokio::test(start_paused = true)]
async fn a_firings_receipt_waits_for_its_episode_in_the_journal_on_disk() {
    let mut rig = Rig::start().await;
    let occurrence = rig.clock_now();
    let given = rig.fire_at("wake", occurrence).await;
    given.await.expect("the receipt is given, not dropped");
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rig.dir().join(JOURNAL_FILE)).unwrap()).unwrap();
    assert_eq!(on_disk["alarm"]["id"], "wake");
    assert_eq!(on_disk["occurrence"], serde_json::json!(occurrence));
    rig.until_spotify().await;
}

#[tokio::test(start_paused = true)]
async fn the_same_occurrence_fired_again_after_a_crash_is_not_rung_twice() {
    // Journaled by the run that crashed before the scheduler saved its mark: the restart
    // resumes it, and the scheduler fires the occurrence again.
    let mut rig = Rig::start_with(|_| {}, |dir| journal(dir, journaled(-1, None))).await;
    rig.until_spotify().await;
    rig.fire_at("wake", at(-1)).await.await.unwrap();
    // While it rings: the same episode goes on, nothing is recorded as overlapped.
    assert!(rig.history().is_empty(), "{:?}", rig.history());
    rig.runner.stop(Actor::Api).await.unwrap();
    rig.until_state("idle").await;
    // Once it ended, from the history.
    rig.fire_at("wake", at(-1)).await.await.unwrap();
    assert_eq!(state_name(&rig.runner.status().state), "idle");
    let history = rig.history();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].ended_by, EndedBy::Api);
    // Another occurrence of the same alarm rings as usual.
    rig.fire_at("wake", at(1)).await.await.unwrap();
    rig.until_spotify().await;
}
