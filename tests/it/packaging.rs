//! The Debian package's files against the code they describe: what the package installs must
//! exist, and what it announces must be what the daemon serves.

use std::path::Path;

/// The `[package.metadata.deb]` assets that come from the source tree (not from `target/`):
/// the first string of each `[source, destination, mode]` line of `assets = [...]`.
fn source_assets() -> Vec<String> {
    let manifest = include_str!("../../Cargo.toml");
    let deb = &manifest[manifest.find("[package.metadata.deb]").unwrap()..];
    let assets = &deb[deb.find("\nassets = [\n").unwrap() + 12..];
    assets
        .lines()
        .take_while(|line| line.trim() != "]")
        .map(|line| line.split('"').nth(1).unwrap().to_owned())
        .filter(|source| !source.starts_with("target/"))
        .collect()
}

#[test]
fn every_packaged_source_file_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let assets = source_assets();
    assert!(assets.len() >= 5, "{assets:?}");
    for source in assets {
        let matches = if let Some(dir) = source.strip_suffix("/*.md") {
            std::fs::read_dir(root.join(dir))
                .unwrap()
                .any(|entry| entry.unwrap().path().extension().is_some_and(|e| e == "md"))
        } else {
            root.join(&source).is_file()
        };
        assert!(
            matches,
            "the package installs {source}, which does not exist"
        );
    }
}

#[test]
fn the_avahi_announcement_names_the_port_the_daemon_listens_on() {
    let service = include_str!("../../packaging/avahi/reveille.service");
    let port = reveille::app::DEFAULT_LISTEN.rsplit_once(':').unwrap().1;
    assert!(
        service.contains(&format!("<port>{port}</port>")),
        "the announcement's port is the default listen port {port}:\n{service}"
    );
    assert!(service.contains("<type>_http._tcp</type>"), "{service}");
    // XML forbids "--" inside a comment; avahi-daemon would refuse the whole file.
    let comment = &service[service.find("<!--").unwrap() + 4..service.find("-->").unwrap()];
    assert!(!comment.contains("--"), "{comment}");
}
