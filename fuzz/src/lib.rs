//! The fuzz targets' checks, one module per target: each takes the fuzzer's bytes, runs them
//! through the daemon's own code and panics when an invariant breaks (a panic inside the
//! daemon's code is a finding too). `fuzz_targets/*.rs` hand libFuzzer's input to them;
//! `tests/it/fuzz_targets.rs` includes this file and replays `corpus/` and `regressions/`
//! through them on the stable toolchain, so a finding stays fixed and the checks compile with
//! every `cargo test`. `docs/reliability.md` says what each one checks.

pub mod config_document;
pub mod http_body;
pub mod merge_patch;
pub mod spotify_link;

/// A target's check: panics on a finding.
pub type Check = fn(&[u8]);

/// The targets by name (the `fuzz_targets/` file names, the `corpus/` and `regressions/`
/// folder names).
pub const TARGETS: [(&str, Check); 4] = [
    ("config_document", config_document::check),
    ("spotify_link", spotify_link::check),
    ("merge_patch", merge_patch::check),
    ("http_body", http_body::check),
];
