//! `cargo bench --bench store`: the store's figures, printed as a table.
//!
//! - snapshot read latency (what every HTTP handler and the scheduler pay per read);
//! - committed durable transactions per second against a plain write-fsync-rename-fsync loop on
//!   the same disk, interleaved round by round so both see the same disk weather, as a ratio;
//! - resident memory of the real daemon, idle after a few requests.
//!
//! Medians over rounds; the machine is shared, so single figures are noise. Files go under
//! `target/` (the project's disk), never a tmpfs that would hide the fsync cost.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reveille::config::Config;
use reveille::store::ConfigStore;

const ROUNDS: usize = 7;
const WRITES_PER_ROUND: usize = 150;
const READS_PER_ROUND: usize = 1_000_000;

fn main() {
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store");
    fs::create_dir_all(&work).unwrap();
    let dir = tempfile::tempdir_in(&work).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let store = ConfigStore::open(&dir.path().join("config.json"), None).unwrap();
    let read_ns = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..READS_PER_ROUND {
                    std::hint::black_box(store.snapshot());
                }
                start.elapsed().as_nanos() as f64 / READS_PER_ROUND as f64
            })
            .collect(),
    );

    let document_size = fs::metadata(dir.path().join("config.json")).unwrap().len() as usize;
    let plain_dir = tempfile::tempdir_in(&work).unwrap();
    let (mut store_rates, mut plain_rates) = (Vec::new(), Vec::new());
    let mut n = 0u64;
    for _ in 0..ROUNDS {
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
    let (store_rate, plain_rate) = (median(store_rates), median(plain_rates));

    let (rss_kib, hwm_kib, anon_kib, file_kib) = idle_daemon_memory(dir.path());

    println!();
    println!("| figure | median of {ROUNDS} rounds |");
    println!("|---|---|");
    println!("| snapshot read (`ConfigStore::snapshot`) | {read_ns:.1} ns |");
    println!("| committed durable transactions | {store_rate:.0} /s |");
    println!("| plain write-fsync-rename-fsync loop, {document_size} B | {plain_rate:.0} /s |");
    println!(
        "| transactions / plain loop | {:.0} % |",
        100.0 * store_rate / plain_rate
    );
    println!(
        "| daemon RSS, idle after 20 requests | {:.1} MB (peak {:.1} MB) |",
        rss_kib as f64 / 1024.0,
        hwm_kib as f64 / 1024.0
    );
    // Private memory vs mapped file pages (the binary and libc, shared and reclaimable).
    println!(
        "| of which private (RssAnon) / file-backed (RssFile) | {:.1} MB / {:.1} MB |",
        anon_kib as f64 / 1024.0,
        file_kib as f64 / 1024.0
    );
    println!();
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

/// Starts the real daemon (bench profile = release settings), makes a few requests, lets it
/// settle, and reads its resident set size from /proc.
fn idle_daemon_memory(dir: &Path) -> (u64, u64, u64, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reveille"))
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(dir.join("daemon.json"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the daemon exited before listening")
            .unwrap();
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    for i in 0..20 {
        let path = [
            "/api/config",
            "/api/status",
            "/healthz",
            "/api/openapi.json",
        ][i % 4];
        http_get(&addr, path);
    }
    std::thread::sleep(Duration::from_secs(2));
    let status = fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let figures = (
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    figures
}

/// A minimal HTTP/1.1 GET on loopback; the body is read and dropped.
fn http_get(addr: &str, path: &str) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "GET {path} failed");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
