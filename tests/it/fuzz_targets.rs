//! The cargo-fuzz targets' checks (`fuzz/src/`, the very code `cargo fuzz` runs) on the stable
//! toolchain: every seed in `fuzz/corpus/<target>/` and every input that once broke a check,
//! in `fuzz/regressions/<target>/`, goes through its target again, so a finding stays fixed
//! and the checks cannot rot between fuzzing runs (`docs/reliability.md`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[path = "../../fuzz/src/lib.rs"]
mod checks;

/// The files of `fuzz/<folder>/<target>/`, by name.
fn inputs(folder: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(folder)
        .join(target);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a readable entry").path())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.sort();
    files
}

#[test]
fn every_seed_and_every_past_finding_passes_its_target() {
    let mut failed = Vec::new();
    for (target, check) in checks::TARGETS {
        let seeds = inputs("corpus", target);
        assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has no seed");
        for file in seeds.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(file).expect("a readable input");
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "these inputs fail their target: {failed:#?}"
    );
}
