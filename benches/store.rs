//! `cargo bench --bench store`: the store's figures, printed as a table.
//!
//! - snapshot read latency (what every HTTP handler and the scheduler pay per read);
//! - committed durable transactions per second against a plain write-fsync-rename-fsync loop on
//!   the same disk, interleaved round by round so both see the same disk weather, as a ratio
//!   (per round, so its range is the rounds').
//!
//! Medians over rounds (7; quick mode 2); the machine is shared, so single figures are noise.
//! Files go under `target/` (the project's disk), never a tmpfs that would hide the fsync
//! cost. The daemon's memory is `benches/idle.rs`.

#[path = "support/report.rs"]
mod report;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Instant;

use reveille::config::Config;
use reveille::store::ConfigStore;

const WRITES_PER_ROUND: usize = 150;
const READS_PER_ROUND: usize = 1_000_000;

fn main() {
    let rounds = report::rounds(7, 2);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store");
    fs::create_dir_all(&work).unwrap();
    let dir = tempfile::tempdir_in(&work).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let store = ConfigStore::open(&dir.path().join("config.json"), None).unwrap();
    let read_ns: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..READS_PER_ROUND {
                std::hint::black_box(store.snapshot());
            }
            start.elapsed().as_nanos() as f64 / READS_PER_ROUND as f64
        })
        .collect();
    report::emit("store.read_ns", "ns", &read_ns);

    let document_size = fs::metadata(dir.path().join("config.json")).unwrap().len() as usize;
    let plain_dir = tempfile::tempdir_in(&work).unwrap();
    let (mut store_rates, mut plain_rates) = (Vec::new(), Vec::new());
    let mut n = 0u64;
    for _ in 0..rounds {
        let start = Instant::now();
        runtime.block_on(async {
            for _ in 0..WRITES_PER_ROUND {
                n += 1;
                let title = format!("bench {n}");
                store
                    .transaction(None, move |c: &mut Config| {
                        c.web.title = title;
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
        });
        store_rates.push(WRITES_PER_ROUND as f64 / start.elapsed().as_secs_f64());
        plain_rates.push(plain_fsync_loop(plain_dir.path(), document_size));
    }
    let ratios: Vec<f64> = store_rates
        .iter()
        .zip(&plain_rates)
        .map(|(t, p)| 100.0 * t / p)
        .collect();
    report::emit("store.transactions_per_s", "/s", &store_rates);
    report::emit("store.plain_loop_per_s", "/s", &plain_rates);
    report::note(
        "store.plain_loop_per_s",
        &format!("a {document_size} B file, {WRITES_PER_ROUND} replaces a round"),
    );
    report::emit("store.ratio_pct", "%", &ratios);
}

/// The physical limit: the same durable replace the store does, with nothing else.
fn plain_fsync_loop(dir: &Path, size: usize) -> f64 {
    let bytes = vec![b'x'; size];
    let target = dir.join("plain.json");
    let temp = dir.join("plain.json.tmp");
    let start = Instant::now();
    for _ in 0..WRITES_PER_ROUND {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .unwrap();
        file.write_all(&bytes).unwrap();
        file.sync_all().unwrap();
        drop(file);
        fs::rename(&temp, &target).unwrap();
        File::open(dir).unwrap().sync_all().unwrap();
    }
    WRITES_PER_ROUND as f64 / start.elapsed().as_secs_f64()
}
