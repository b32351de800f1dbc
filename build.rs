//! Embeds the phone page (`web/`) in the binary. Each file is compressed here, once, at build
//! time (gzip at the best level), and gets a strong `ETag` from its content hash; the table
//! goes to `$OUT_DIR/web_assets.rs`, which `src/http/page.rs` includes and serves. Nothing at
//! run time compresses or reads `web/`. A file type without a known `Content-Type` fails the
//! build rather than being served with a guess (`X-Content-Type-Options: nosniff` would make
//! the browser refuse it).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// Gzip is kept only when it saves at least this share (PNGs are compressed already).
const WORTH_IT: f64 = 0.95;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = root.join("web");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=web");

    let mut files = Vec::new();
    collect(&web, &mut files);
    files.sort();

    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for file in &files {
        let relative = file
            .strip_prefix(&web)
            .expect("collected under web/")
            .to_str()
            .expect("file names in web/ are UTF-8")
            .replace('\\', "/");
        let content_type = content_type(&relative)
            .unwrap_or_else(|| panic!("web/{relative}: no Content-Type known for this file type"));
        let body = std::fs::read(file).expect("a file in web/ is readable");
        let hash = Sha256::digest(&body);
        let tag: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();

        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&body).expect("writing to memory");
        let gzip = encoder.finish().expect("writing to memory");
        let gzip = if (gzip.len() as f64) < body.len() as f64 * WORTH_IT {
            let path = out.join(format!("web-{}.gz", relative.replace('/', "__")));
            std::fs::write(&path, &gzip).expect("OUT_DIR is writable");
            format!("Some(include_bytes!({:?}))", path.to_str().expect("UTF-8"))
        } else {
            "None".to_owned()
        };
        writeln!(
            table,
            "    Asset {{ path: {path:?}, content_type: {content_type:?}, tag: {tag:?}, \
             identity: include_bytes!({file:?}), gzip: {gzip} }},",
            path = format!("/{relative}"),
            file = file.to_str().expect("UTF-8"),
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    std::fs::write(out.join("web_assets.rs"), table).expect("OUT_DIR is writable");
}

/// Every file under `dir`, hidden ones (editor leftovers) left out.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a readable directory entry");
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn content_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}
