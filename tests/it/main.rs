//! The integration tests, one binary (each test binary is a ~120 MB link): the HTTP API against
//! the application (`reveille::app`, `spawn_app`) on 127.0.0.1:0 with a store in a temp dir,
//! the store on real files, the scheduler across restarts and through a simulated week
//! (`week`), the property test of the schedule,
//! the real daemon against the in-process Spotify mock (`ringing`), and headless Chromium
//! through the browser harness (`browser_harness`, `tests/support/browser/`). Tests that need a
//! process of their own (signals to the test's own children, libfaketime, process-wide limits)
//! stay in their own crates.

mod alarms;
mod application;
mod browser_harness;
mod cli;
mod cli_client;
mod concurrency;
mod config_api;
mod events;
mod external_edits;
mod far_future;
mod fuzz_findings;
mod fuzz_targets;
mod helpers;
mod link;
mod openapi;
mod packaging;
mod page;
mod page_playlists;
mod playlists;
mod readiness;
mod readiness_auto;
mod revisions;
mod ringing;
mod schedule_props;
mod scheduler;
mod store;
mod token_scan;
mod trust;
mod week;

// Fixtures shared with the test crates that need their own process, and the benches.
#[path = "../support/browser/mod.rs"]
mod browser;
#[path = "../support/daemon.rs"]
mod daemon;
#[path = "../support/page_load.rs"]
mod page_load;
#[path = "../support/ring.rs"]
mod ring;
#[path = "../support/spotify_mock/mod.rs"]
mod spotify_mock;
#[path = "../support/tokio_clock.rs"]
mod tokio_clock;
