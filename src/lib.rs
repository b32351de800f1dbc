//! reveille: a Spotify alarm clock daemon for the Raspberry Pi.
//!
//! The library holds everything; `main.rs` only calls [`cli::main`]. See `ARCHITECTURE.md` for
//! the bird's-eye view and the invariants.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
/// What the fuzz targets (`fuzz/`) and their replay test reach of the HTTP layer; not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::fuzzing::*;
}
pub mod hardware;
pub mod http;
pub mod logging;
pub mod memory;
pub mod player;
pub mod playlists;
pub mod readiness;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod timer;
