//! The HTTP API against the application (`reveille::app`) on 127.0.0.1:0 and a store in a temp
//! dir, one test binary (`spawn_app`).

mod alarms;
mod application;
mod concurrency;
mod config_api;
mod external_edits;
mod far_future;
mod helpers;
mod openapi;
mod revisions;
mod trust;
