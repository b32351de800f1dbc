//! `cargo bench --bench page`: what the phone page costs a phone on its first visit.
//!
//! Starts the daemon in-process (the same `Application` as `reveille run`, on 127.0.0.1:0 over
//! a temp dir) and loads the page as a browser would: `GET /` with `Accept-Encoding: gzip`,
//! then every file it names and every static import, each on its own connection
//! (`tests/support/page_load.rs`). Prints each request with its bytes on the wire (status
//! line, headers and body), the total against the 60 KB budget, and the screens loaded later
//! on demand. Also the time to fetch the whole first load on loopback, one request after the
//! other (a browser fetches in parallel; time to first render needs the browser harness).

#[path = "../tests/support/page_load.rs"]
mod page_load;
#[path = "support/report.rs"]
mod report;

use std::time::Instant;

use page_load::{FIRST_LOAD_BUDGET, first_load};
use reveille::app::{Application, HardwareChoice};

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let app = Application::builder(dir.path().join("config.json"))
            .hardware(HardwareChoice::None)
            .cli_token(false)
            .build()
            .await
            .unwrap();
        let addr = app.local_addr();
        tokio::spawn(app.run_until(std::future::pending()));

        let load = first_load(addr).await;
        println!("| request | encoding | body | on the wire |");
        println!("|---|---|---|---|");
        for f in &load.first {
            let encoding = if f.gzipped { "gzip" } else { "identity" };
            println!(
                "| `{}` | {encoding} | {} B | {} B |",
                f.path, f.body_bytes, f.wire_bytes
            );
        }
        let total = load.first_bytes();
        println!(
            "| **first load: {} requests** | | {} B | **{total} B ({:.1} KB)** |",
            load.first.len(),
            load.first.iter().map(|f| f.body_bytes).sum::<usize>(),
            total as f64 / 1024.0
        );
        println!();
        println!(
            "budget {FIRST_LOAD_BUDGET} B: {} ({:.0} % used)",
            if total <= FIRST_LOAD_BUDGET {
                "met"
            } else {
                "MISSED"
            },
            total as f64 * 100.0 / FIRST_LOAD_BUDGET as f64
        );
        println!();
        report::emit("page.first_load_bytes", "B", &[total as f64]);
        report::emit("page.first_load_requests", "", &[load.first.len() as f64]);
        report::emit("page.later_bytes", "B", &[load.later_bytes() as f64]);
        report::note(
            "page.later_bytes",
            &format!("{} screens loaded on first use", load.later.len()),
        );
        println!(
            "later, on demand ({} requests, {} B on the wire):",
            load.later.len(),
            load.later_bytes()
        );
        for f in &load.later {
            println!("- `{}`: {} B", f.path, f.wire_bytes);
        }

        let rounds = report::rounds(20, 5);
        let mut times: Vec<f64> = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let _ = first_load(addr).await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        report::emit("page.fetch_all_ms", "ms", &times);
    });
}
