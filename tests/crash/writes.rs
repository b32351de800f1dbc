//! Config writes under SIGKILL. Round after round the daemon starts on the same file, takes
//! writes (sequential `PATCH /api/config`, so at most one is in flight) or a hand edit followed
//! by SIGHUP, and is killed at a random moment. Every write commits a revision, so the
//! revision history (`config.json.revisions/`) is written under the same kills. After each
//! kill and restart: the file parses and holds one of the documents written, every write
//! acknowledged with 200 survived, a hand edit is never lost nor rewritten, revisions only go
//! up, and no temp file of an interrupted write is left over.

use std::path::Path;
use std::time::{Duration, Instant};

use reveille::config::Config;
use reveille::store::read_config_file;
use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::{kill, leftovers, random_moment, scaled};

/// One kill in this many follows a hand edit and SIGHUP instead of API writes.
const HAND_EDIT_EVERY: u32 = 5;

/// What the test knows was committed last: the title (`write N` or `hand N`) and revision.
#[derive(Clone, Debug)]
struct Committed {
    title: String,
    revision: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_and_hand_edits_survive_a_sigkill_at_any_moment() {
    let kills = scaled(30, 500);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let revisions = dir.path().join("config.json.revisions");
    let client = reqwest::Client::new();
    let began = Instant::now();
    let mut committed: Option<Committed> = None;
    let mut next = 1u64;
    let (mut acked_writes, mut in_flight_committed, mut hand_edits) = (0u64, 0u64, 0u64);
    let mut api_rounds = 0u64;

    for round in 0..kills {
        let mut daemon =
            Daemon::start(&path).unwrap_or_else(|log| panic!("round {round}: no restart:\n{log}"));
        // A start removes what a kill left half-written, beside the config and in its history.
        let live = daemon.pid();
        let left = [leftovers(dir.path(), live), leftovers(&revisions, live)].concat();
        assert!(left.is_empty(), "round {round}: temp files left: {left:?}");
        let kept = std::fs::read_dir(&revisions).map_or(0, |d| d.count());
        assert!(kept <= 51, "round {round}: {kept} revisions kept");
        let (served, revision) = served(&client, &daemon).await;
        if let Some(last) = &committed {
            assert_eq!(
                served, last.title,
                "round {round}: the restarted daemon serves another document"
            );
            if last.title.starts_with("hand") {
                // The edit kept the old revision line: other content gets a new number.
                assert!(
                    revision > last.revision,
                    "round {round}: a hand edit was served with an old revision {revision}"
                );
            } else {
                assert_eq!(revision, last.revision, "round {round}");
            }
        }
        committed = Some(Committed {
            title: served,
            revision,
        });

        if round % HAND_EDIT_EVERY == HAND_EDIT_EVERY - 1 {
            let title = format!("hand {next}");
            next += 1;
            let written = hand_edit(&path, &title);
            hand_edits += 1;
            // SAFETY: a signal to our own child process.
            assert_eq!(unsafe { libc::kill(daemon.pid() as i32, libc::SIGHUP) }, 0);
            tokio::time::sleep(random_moment(Duration::from_millis(20))).await;
            kill(&mut daemon);
            // The daemon never rewrites the user's file on its own (ARCHITECTURE.md, 5).
            assert_eq!(
                std::fs::read(&path).unwrap(),
                written,
                "round {round}: the hand edit was rewritten"
            );
            committed = Some(Committed {
                title,
                revision: revision_in(&written),
            });
            continue;
        }

        api_rounds += 1;
        let before = committed.clone().expect("set above");
        let (acked, in_flight) = write_until_killed(&client, &mut daemon, next, &before).await;
        next = in_flight + 1;
        let (on_disk, file_revision) = read_config_file(&path).unwrap_or_else(|e| {
            panic!("round {round}: the file does not parse after SIGKILL: {e}")
        });
        let file_revision = file_revision.expect("the daemon writes the revision");
        let mut expected = Config::default();
        expected.web.title = on_disk.web.title.clone();
        assert_eq!(
            on_disk, expected,
            "round {round}: the document is not one that was written"
        );
        let last = acked.last().cloned().unwrap_or(before);
        acked_writes += acked.len() as u64;
        if on_disk.web.title == last.title {
            assert_eq!(file_revision, last.revision, "round {round}");
            committed = Some(last);
        } else {
            // Only the write in flight at the kill may be there unacknowledged, one revision on.
            assert_eq!(
                (on_disk.web.title.as_str(), file_revision),
                (format!("write {in_flight}").as_str(), last.revision + 1),
                "round {round}: acknowledged {last:?}, the file has another document"
            );
            in_flight_committed += 1;
            committed = Some(Committed {
                title: on_disk.web.title,
                revision: file_revision,
            });
        }
    }

    // Every kept revision is whole, and the history stayed within its bound.
    let kept: Vec<_> = std::fs::read_dir(&revisions)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    for file in &kept {
        read_config_file(file).unwrap_or_else(|e| panic!("a kept revision is torn: {e}"));
    }
    // 50 and, when the kill fell between keeping a revision and pruning the oldest, one more
    // until the next save prunes.
    assert!(kept.len() <= 51, "{} revisions kept", kept.len());
    eprintln!(
        "writes: {kills} kills in {:.1} s, {acked_writes} acknowledged writes all survived, \
         {in_flight_committed} in-flight writes committed, {hand_edits} hand edits + SIGHUP kept, \
         {} revisions kept, final revision {}",
        began.elapsed().as_secs_f64(),
        kept.len(),
        committed.map_or(0, |c| c.revision),
    );
    // Each round is killed after its first acknowledgement; more shows kills between writes.
    assert!(
        acked_writes > api_rounds,
        "too few writes landed to test anything: {acked_writes}"
    );
}

/// The title and revision (`ETag`) `GET /api/config` serves.
async fn served(client: &reqwest::Client, daemon: &Daemon) -> (String, u64) {
    let response = client.get(daemon.url("/api/config")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let revision = etag(&response);
    let doc: Value = response.json().await.unwrap();
    (doc["web"]["title"].as_str().unwrap().to_owned(), revision)
}

fn etag(response: &reqwest::Response) -> u64 {
    response.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// Writes `write N`, `write N+1`, ... one at a time until the daemon is killed at a random
/// moment after the first acknowledgement. Returns what was acknowledged, in order, and the
/// number of the write in flight at the kill. Revisions must go up by one per write.
async fn write_until_killed(
    client: &reqwest::Client,
    daemon: &mut Daemon,
    first: u64,
    before: &Committed,
) -> (Vec<Committed>, u64) {
    let url = daemon.url("/api/config");
    let (first_ack, acked_once) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let (client, before) = (client.clone(), before.clone());
        tokio::spawn(async move {
            let mut first_ack = Some(first_ack);
            let mut acked = Vec::new();
            let mut n = first;
            loop {
                let title = format!("write {n}");
                let body = json!({"web": {"title": title}});
                match client.patch(&url).json(&body).send().await {
                    Ok(r) if r.status() == 200 => {
                        let revision = etag(&r);
                        let previous = acked.last().unwrap_or(&before).revision;
                        assert_eq!(
                            revision,
                            previous + 1,
                            "write {n}: revisions skip or repeat"
                        );
                        acked.push(Committed { title, revision });
                        if let Some(signal) = first_ack.take() {
                            let _ = signal.send(());
                        }
                    }
                    Ok(r) => panic!("write {n}: {}", r.status()),
                    Err(_) => return (acked, n),
                }
                n += 1;
            }
        })
    };
    // Killed at a random moment after the first acknowledgement, so every round has writes to
    // lose however slow the disk is today.
    tokio::time::timeout(Duration::from_secs(20), acked_once)
        .await
        .expect("no write was acknowledged within 20 s")
        .unwrap();
    tokio::time::sleep(random_moment(Duration::from_millis(20))).await;
    kill(daemon);
    writer.await.unwrap()
}

/// Edits the title as a person would with an editor: the rest of the file (the `revision` line
/// included) stays, and the new text replaces the file by rename. Returns the bytes written.
fn hand_edit(path: &Path, title: &str) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["web"]["title"] = title.into();
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap();
    bytes.push(b'\n');
    let temp = path.with_file_name("config.json~");
    std::fs::write(&temp, &bytes).unwrap();
    std::fs::rename(&temp, path).unwrap();
    bytes
}

fn revision_in(bytes: &[u8]) -> u64 {
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    doc["revision"].as_u64().unwrap()
}
