//! The page's first load as a browser makes it, measured on the wire: `GET /` with
//! `Accept-Encoding: gzip`, then every file it names (stylesheets, scripts, module preloads,
//! icons, the manifest and the manifest's icons) and every static `import` of those scripts,
//! each fetched once over raw HTTP/1.1 so the byte count is what crossed the socket (status
//! line, headers and body). Dynamic `import()`s are the screens loaded later; they are listed
//! apart. Shared by the budget test (`tests/it/page.rs`) and `cargo bench --bench page`.

#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The budget (issue 17): at most this many bytes on the wire for the first load.
pub const FIRST_LOAD_BUDGET: usize = 60 * 1024;

#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: String,
    pub status: u16,
    /// Status line, headers and body, as received.
    pub wire_bytes: usize,
    pub body_bytes: usize,
    pub gzipped: bool,
    pub content_type: String,
}

#[derive(Debug, Default)]
pub struct Load {
    /// In the order a browser would ask for them (breadth first).
    pub first: Vec<Fetched>,
    /// Loaded on demand by `import()` (the other screens), each once.
    pub later: Vec<Fetched>,
}

impl Load {
    pub fn first_bytes(&self) -> usize {
        self.first.iter().map(|f| f.wire_bytes).sum()
    }
    pub fn later_bytes(&self) -> usize {
        self.later.iter().map(|f| f.wire_bytes).sum()
    }
}

/// One GET with `Accept-Encoding: gzip` on a fresh connection.
pub async fn fetch(addr: SocketAddr, path: &str) -> Fetched {
    let mut stream = TcpStream::connect(addr).await.expect("the daemon listens");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip, deflate\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole response head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    Fetched {
        path: path.to_owned(),
        status,
        wire_bytes: raw.len(),
        body_bytes: raw.len() - head_end,
        gzipped: header("content-encoding") == "gzip",
        content_type: header("content-type"),
    }
}

/// The body of `path` as the page sees it (uncompressed), from the embedded table.
fn text_of(path: &str) -> String {
    let asset = reveille::http::page::asset(path).unwrap_or_else(|| panic!("{path} is not served"));
    String::from_utf8_lossy(asset.identity).into_owned()
}

/// What a file names: (first-load references, on-demand references).
pub fn references(path: &str) -> (Vec<String>, Vec<String>) {
    let text = text_of(path);
    let mut now = Vec::new();
    let mut later = Vec::new();
    if path.ends_with(".html") {
        for attribute in ["href=\"", "src=\""] {
            now.extend(quoted_after(&text, attribute));
        }
    } else if path.ends_with(".js") {
        // Static imports are whole lines (a comment may say `from "..."` too).
        let imports: String = text
            .lines()
            .filter(|l| l.starts_with("import ") || l.starts_with("export "))
            .map(|l| format!("{l}\n"))
            .collect();
        now.extend(quoted_after(&imports, " from \""));
        now.extend(quoted_after(&imports, "import \""));
        later.extend(quoted_after(&text, "import(\""));
    } else if path.ends_with(".webmanifest") {
        now.extend(quoted_after(&text, "\"src\": \""));
    } else if path.ends_with(".css") {
        now.extend(quoted_after(&text, "url(\""));
    }
    let keep = |refs: Vec<String>| -> Vec<String> {
        refs.into_iter()
            .filter(|r| r.starts_with('/') && !r.starts_with("//"))
            .collect()
    };
    (keep(now), keep(later))
}

fn quoted_after(text: &str, prefix: &str) -> Vec<String> {
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            rest.split('"').next().map(str::to_owned)
        })
        .collect()
}

/// Fetches `/` and everything it pulls in, then the on-demand modules.
pub async fn first_load(addr: SocketAddr) -> Load {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut later_paths = Vec::new();
    let mut load = Load::default();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let fetched = fetch(addr, &path).await;
        let (now, later) = references(if path == "/" { "/index.html" } else { &path });
        queue.extend(now);
        later_paths.extend(later);
        load.first.push(fetched);
    }
    let mut later_queue: VecDeque<String> = later_paths.into();
    while let Some(path) = later_queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let fetched = fetch(addr, &path).await;
        let (now, later) = references(&path);
        later_queue.extend(now);
        later_queue.extend(later);
        load.later.push(fetched);
    }
    load
}
