//! HTTP load with `wrk` (Debian package `wrk`, installed by `bench/run`) on loopback: a Lua
//! script cycles through the given paths and prints its summary as one parseable line, so
//! nothing depends on wrk's human output.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// One wrk run's summary.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Socket errors (connect, read, write, timeout) plus answers that were not 2xx or 3xx.
    pub errors: u64,
}

impl Summary {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

pub fn installed() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A load: `connections` over `threads` for `seconds`, cycling through `paths`, each request
/// with `Accept-Encoding: gzip` (as a browser sends it).
pub struct Load<'a> {
    pub addr: SocketAddr,
    pub paths: &'a [String],
    pub connections: u32,
    pub threads: u32,
    pub seconds: u64,
}

impl Load<'_> {
    /// Runs wrk to the end and returns its summary.
    pub fn run(&self, work: &Path) -> Summary {
        let output = self.command(work).output().expect("wrk runs");
        parse(&output).unwrap_or_else(|| {
            panic!(
                "no summary from wrk: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }

    /// Starts wrk and returns at once (a load in the background); `finish` reads its summary.
    pub fn start(&self, work: &Path) -> Child {
        self.command(work)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wrk starts")
    }

    fn command(&self, work: &Path) -> Command {
        let script = write_script(work, self.paths);
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{}", self.threads.min(self.connections)))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .arg("--timeout")
            .arg("5s")
            .arg("-s")
            .arg(script)
            .arg(format!("http://{}", self.addr))
            .stdin(Stdio::null());
        command
    }
}

/// The summary of a wrk started with `Load::start`, once it has ended.
pub fn finish(child: Child) -> Summary {
    let output = child.wait_with_output().expect("wrk ends");
    parse(&output).unwrap_or_else(|| {
        panic!(
            "no summary from wrk: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn parse(output: &Output) -> Option<Summary> {
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.starts_with("WRK "))?;
    let value = |name: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some(Summary {
        requests: value("requests")? as u64,
        seconds: value("duration_us")? / 1e6,
        p50_ms: value("p50_us")? / 1000.0,
        p99_ms: value("p99_us")? / 1000.0,
        max_ms: value("max_us")? / 1000.0,
        errors: ["connect", "read", "write", "timeout", "status"]
            .iter()
            .map(|e| value(e).unwrap_or(0.0) as u64)
            .sum(),
    })
}

/// The Lua script: the paths in turn (each wrk thread on its own), and `done` printing the
/// summary on one line in microseconds.
fn write_script(work: &Path, paths: &[String]) -> PathBuf {
    let list: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    let script = format!(
        r#"local paths = {{ {list} }}
local i = 0
wrk.headers["Accept-Encoding"] = "gzip, deflate"
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
"#,
        list = list.join(", ")
    );
    let name = format!("wrk-{:x}.lua", fxhash(&script));
    let path = work.join(name);
    std::fs::write(&path, script).unwrap();
    path
}

/// A stable name for a script's content (several loads may run at once).
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
