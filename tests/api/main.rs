//! The HTTP API against a real server on 127.0.0.1:0 and a store in a temp dir.

mod alarms;
mod concurrency;
mod config_api;
mod external_edits;
mod far_future;
mod helpers;
mod openapi;
mod revisions;
mod trust;
