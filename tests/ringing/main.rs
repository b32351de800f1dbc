//! The real daemon (and the in-process Spotify mock it talks to), one test binary: the ring
//! chain against the mock (`chain`), every Spotify fault and the start order (`faults`), the GPIO
//! devices on the simulator (`hardware`), parts that are missing (`missing_parts`), a
//! far-future date on disk at start (`far_future_start`), and the mock itself with its OpenAPI
//! validator (`mock_tests`). Each test starts its own daemon process with its own temp dir;
//! tests that need a process-wide limit or a fake clock stay in their own crates.

#[path = "../support/daemon.rs"]
mod daemon;
#[path = "../support/ring.rs"]
mod ring;
#[path = "../support/spotify_mock/mod.rs"]
mod spotify_mock;

mod chain;
mod far_future_start;
mod faults;
mod hardware;
mod missing_parts;
mod mock_tests;
