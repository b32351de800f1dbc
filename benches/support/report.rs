//! What every bench shares: the quick mode, round counts, medians, and the machine-readable
//! lines `bench/run` collects into `docs/benchmarks.md`.
//!
//! A figure is printed as one line,
//! `BENCH key median=… min=… max=… unit=… n=…`, readable by people too; extra detail that
//! belongs under the table (a split per thread, per mapping) is `BENCH-NOTE key text`.
//! `bench/render.py` knows each key's words, method and target; the benches only measure.
#![allow(dead_code)]

use std::path::PathBuf;

/// The daemon the benches start: `REVEILLE_BENCH_BIN` when set (`bench/run` sets it to its
/// `cargo build --release` binary), else `CARGO_BIN_EXE_reveille`. They differ: `cargo bench`
/// builds the binary with the dev-dependencies' features as well (tokio's `test-util` and
/// multi-thread runtime among them), 0.6 MB larger than what ships.
pub fn daemon_program() -> PathBuf {
    std::env::var_os("REVEILLE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_reveille")))
}

/// `REVEILLE_BENCH_QUICK=1` (`bench/run --quick`): fewer rounds and shorter windows, to check
/// that the benches and the script work, not to quote.
pub fn quick() -> bool {
    std::env::var("REVEILLE_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// `REVEILLE_BENCH_ROUNDS` if set, else `full` or, in the quick mode, `quick`.
pub fn rounds(full: usize, quick_rounds: usize) -> usize {
    std::env::var("REVEILLE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(if quick() { quick_rounds } else { full })
}

/// Seconds: `full` or, in the quick mode, `quick_seconds`.
pub fn seconds(full: u64, quick_seconds: u64) -> u64 {
    if quick() { quick_seconds } else { full }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Prints one figure: the median of `values`, their range, the unit and the count.
pub fn emit(key: &str, unit: &str, values: &[f64]) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "BENCH {key} median={} min={} max={} unit={unit} n={}",
        number(median(values)),
        number(min),
        number(max),
        values.len()
    );
}

/// Prints detail for the line under the table.
pub fn note(key: &str, text: &str) {
    println!("BENCH-NOTE {key} {}", text.replace('\n', " "));
}

/// Enough digits for a table, without exponent notation.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "nan".into();
    }
    let magnitude = value.abs();
    let digits = if magnitude >= 100.0 {
        1
    } else if magnitude >= 1.0 {
        3
    } else {
        4
    };
    format!("{value:.digits$}")
}
