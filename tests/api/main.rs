//! The in-process integration tests, one binary (each test binary is a ~120 MB link): the HTTP
//! API against the application (`reveille::app`, `spawn_app`) on 127.0.0.1:0 with a store in a
//! temp dir, the store on real files, the scheduler across restarts, and the property test of
//! the schedule. Tests that need a
//! process of their own (the real binary, process-wide limits) stay in their own crates.

mod alarms;
mod application;
mod concurrency;
mod config_api;
mod external_edits;
mod far_future;
mod helpers;
mod openapi;
mod revisions;
mod schedule_props;
mod scheduler;
mod store;
mod trust;
