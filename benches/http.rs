//! `cargo bench --bench http`: the release daemon's cheap reads and the page under `wrk` on
//! loopback.
//!
//! One daemon with a week of alarms (as `benches/idle.rs` configures it). For each of
//! `GET /healthz`, `/api/status`, `/api/config` and the page's first load (every file of it
//! in turn, `Accept-Encoding: gzip`, as `tests/support/page_load.rs` finds them):
//!
//! - **unloaded**: one connection, one request after the other (`wrk -t1 -c1`): p50 and p99;
//! - **50 connections** (`wrk -t2 -c50`, keep-alive): requests per second, p50, p99, errors
//!   (socket errors and answers other than 2xx/3xx), and the daemon's CPU time (user + system,
//!   `/proc/PID/stat`) per 1000 requests.
//!
//! wrk runs on the same two CPUs as the daemon, so the loaded figures are the pair's. Each
//! figure is the median over rounds of `REVEILLE_BENCH_SECONDS` (default 5; quick mode: one
//! round of 2 s). Needs `wrk` (`bench/run` installs it).

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/page_load.rs"]
mod page_load;
#[path = "support/procfs.rs"]
mod procfs;
#[path = "support/report.rs"]
mod report;
#[path = "support/week.rs"]
mod week;
#[path = "support/wrk.rs"]
mod wrk;

use std::path::Path;

use daemon::Daemon;

fn main() {
    if !wrk::installed() {
        eprintln!("wrk is missing: run bench/run (it installs the Debian package wrk)");
        std::process::exit(1);
    }
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-http");
    std::fs::create_dir_all(&work).unwrap();
    let dir = tempfile::tempdir_in(&work).unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, week::week_of_alarms().to_string()).unwrap();
    let daemon = Daemon::builder(&config)
        .program(report::daemon_program())
        .start()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page: Vec<String> = runtime
        .block_on(page_load::first_load(daemon.addr))
        .first
        .into_iter()
        .map(|f| f.path)
        .collect();
    report::note(
        "http.page.c50.rps",
        &format!(
            "the first load's {} files in turn: {}",
            page.len(),
            page.join(" ")
        ),
    );
    let targets: [(&str, Vec<String>); 4] = [
        ("healthz", vec!["/healthz".into()]),
        ("status", vec!["/api/status".into()]),
        ("config", vec!["/api/config".into()]),
        ("page", page),
    ];
    let rounds = report::rounds(3, 1);
    let seconds = std::env::var("REVEILLE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(report::seconds(5, 2));
    for (name, paths) in &targets {
        let load = |connections, threads| wrk::Load {
            addr: daemon.addr,
            paths,
            connections,
            threads,
            seconds,
        };
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let run = load(1, 1).run(&work);
            p50.push(run.p50_ms);
            p99.push(run.p99_ms);
        }
        report::emit(&format!("http.{name}.c1.p50_ms"), "ms", &p50);
        report::emit(&format!("http.{name}.c1.p99_ms"), "ms", &p99);

        let (mut rps, mut p50, mut p99, mut errors, mut cpu) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let cpu_before = procfs::cpu_ms(daemon.pid());
            let run = load(50, 2).run(&work);
            let cpu_used = procfs::cpu_ms(daemon.pid()) - cpu_before;
            rps.push(run.per_second());
            p50.push(run.p50_ms);
            p99.push(run.p99_ms);
            errors.push(run.errors as f64);
            cpu.push(cpu_used * 1000.0 / run.requests.max(1) as f64);
        }
        report::emit(&format!("http.{name}.c50.rps"), "/s", &rps);
        report::emit(&format!("http.{name}.c50.p50_ms"), "ms", &p50);
        report::emit(&format!("http.{name}.c50.p99_ms"), "ms", &p99);
        report::emit(&format!("http.{name}.c50.errors"), "", &errors);
        report::emit(&format!("http.{name}.c50.cpu_ms_per_1000"), "ms", &cpu);
    }
}
