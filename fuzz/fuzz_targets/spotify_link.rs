//! libFuzzer's input to `reveille_fuzz::spotify_link::check` (what it checks is said there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reveille_fuzz::spotify_link::check(data));
