//! libFuzzer's input to `reveille_fuzz::config_document::check` (what it checks is said there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reveille_fuzz::config_document::check(data));
