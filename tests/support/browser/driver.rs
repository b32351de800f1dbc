//! The chromedriver process behind the browser sessions, and what a session asks it for.
//! One chromedriver per test binary, started on first use with `--port=0` (it binds, then
//! prints the port: no port to guess, no collision to retry), its output in
//! `target/tmp/browser/chromedriver.log`. It dies with the binary: `PR_SET_PDEATHSIG` on the
//! thread that spawned it, and its process group (Chromium's processes too) is killed at exit.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use serde_json::{Value, json};

use super::{BrowserError, COMMAND_TIMEOUT, DESKTOP, HEADFUL_ENV, Preset, artifact_path};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const DRIVER_START: Duration = Duration::from_secs(10);

/// Without the background-networking flags Chromium reaches for Google's services, and the
/// network is closed here: that is slow failures and noise in the log.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox", // CI runs as root, where Chromium refuses its sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    // Even with the flags above Chromium looks up www/accounts/clients2.google.com: with
    // every name unresolvable no DNS query leaves, and a page reaching for a CDN fails at once.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/148.0.0.0 Mobile Safari/537.36";

pub(super) struct Driver {
    pub(super) port: u16,
    pub(super) started_in: Duration,
}

static DRIVER: OnceLock<Result<Driver, String>> = OnceLock::new();
/// The driver's process group, killed at exit: Chromium processes live in it too.
static DRIVER_GROUP: AtomicI32 = AtomicI32::new(0);

pub(super) fn driver() -> Result<&'static Driver, BrowserError> {
    DRIVER
        .get_or_init(start_driver)
        .as_ref()
        .map_err(|message| BrowserError(message.clone()))
}

/// How long chromedriver took to start, once some test has started it.
pub fn driver_started_in() -> Option<Duration> {
    DRIVER.get()?.as_ref().ok().map(|driver| driver.started_in)
}

fn start_driver() -> Result<Driver, String> {
    for program in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(program).exists() {
            return Err(format!(
                "{program} is missing: run `bash scripts/test`, which installs chromium and \
                 chromium-driver (scripts/setup)"
            ));
        }
    }
    let started = Instant::now();
    let log = artifact_path("chromedriver.log");
    let (report, reported) = mpsc::channel();
    let thread_log = log.clone();
    // PR_SET_PDEATHSIG fires when the spawning *thread* ends, so the thread that spawns
    // chromedriver is the one that waits for it.
    std::thread::Builder::new()
        .name("chromedriver".into())
        .spawn(move || run_driver(&thread_log, &report))
        .map_err(|e| format!("starting the chromedriver thread: {e}"))?;
    let port = match reported.recv_timeout(DRIVER_START) {
        Ok(result) => result?,
        Err(_) => {
            return Err(format!(
                "chromedriver did not report its port within {DRIVER_START:?}; see {}",
                log.display()
            ));
        }
    };
    // It prints the port once it listens; one request shows it also answers.
    let status = blocking_request(port, "GET", "/status")
        .map_err(|e| format!("chromedriver on port {port} does not answer: {e}"))?;
    if !status.contains("\"ready\":true") {
        return Err(format!(
            "chromedriver on port {port} is not ready: {status}"
        ));
    }
    Ok(Driver {
        port,
        started_in: started.elapsed(),
    })
}

/// Spawns chromedriver on a port of its choosing (`--port=0`; no collision to retry), reports
/// the port, then copies its output to the log until it exits.
fn run_driver(log_path: &Path, report: &mpsc::Sender<Result<u16, String>>) {
    let fail = |message: String| {
        let _ = report.send(Err(message));
    };
    if let Some(dir) = log_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let (mut log, stderr) = match File::create(log_path).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(files) => files,
        Err(e) => return fail(format!("creating {}: {e}", log_path.display())),
    };
    let mut command = Command::new(CHROMEDRIVER);
    command
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0);
    // SAFETY: prctl is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return fail(format!("starting {CHROMEDRIVER}: {e}")),
    };
    let group = i32::try_from(child.id()).expect("a pid fits in pid_t");
    DRIVER_GROUP.store(group, Ordering::SeqCst);
    // SAFETY: registers a plain function; it only reads an atomic and calls kill(2).
    unsafe { libc::atexit(kill_driver_group) };

    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut reported = false;
    for line in lines.by_ref().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        if let Some(port) = reported_port(&line) {
            let _ = report.send(Ok(port));
            reported = true;
            break;
        }
    }
    if !reported {
        let status = child.wait();
        return fail(format!(
            "chromedriver ended ({status:?}) without reporting its port; see {}",
            log_path.display()
        ));
    }
    // Keep reading: a full pipe would stall chromedriver.
    for line in lines.map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
    }
    let _ = child.wait();
}

/// "ChromeDriver was started successfully on port 34921."
fn reported_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("started successfully on port ")?;
    rest.trim_end_matches('.').trim().parse().ok()
}

extern "C" fn kill_driver_group() {
    let group = DRIVER_GROUP.load(Ordering::SeqCst);
    if group > 0 {
        // SAFETY: kill(2) on our own child's process group.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// One HTTP/1.1 request to chromedriver without any runtime: for start-up, and for `Drop`,
/// which may run while a panicking test's runtime is being torn down. Returns the body.
pub(super) fn blocking_request(port: u16, method: &str, path: &str) -> io::Result<String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    stream.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    )?;
    // chromedriver answers `Connection: close` but keeps the connection open: read by length.
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed mid-answer",
            ));
        }
        received.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&received);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Content-Length"))?;
        if body.len() >= length {
            return Ok(body.to_string());
        }
    }
}

pub(super) fn capabilities(preset: Preset, profile: &Path) -> Capabilities {
    let headful = std::env::var_os(HEADFUL_ENV).is_some();
    let mut args: Vec<String> = FLAGS
        .iter()
        .filter(|flag| !(headful && **flag == "--headless"))
        .map(|flag| flag.to_string())
        .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut options = json!({ "binary": CHROMIUM });
    match preset {
        Preset::Phone => {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true,
                },
                "userAgent": PHONE_USER_AGENT,
            });
        }
        Preset::Desktop => args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1)),
    }
    options["args"] = json!(args);
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": options,
        "goog:loggingPrefs": { "browser": "ALL" },
        "timeouts": { "pageLoad": 10_000, "script": 5_000, "implicit": 0 },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("built as an object"),
    }
}
