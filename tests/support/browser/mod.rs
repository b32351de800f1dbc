//! A real Chromium for the page's end-to-end tests, driven over WebDriver (fantoccini): Debian's
//! `chromium` and `chromium-driver`, installed by `scripts/setup`, never downloaded another way.
//! One chromedriver per test binary, started on first use on a port it picks itself; one
//! browser session per test, with a fresh profile and the flags that keep Chromium off the
//! network. Pages load from 127.0.0.1 only. Every wait is bounded and its error names what it
//! waited for. A session quits when its `Browser` drops, also when the test panics, and the
//! driver's process group is killed when the test binary exits.
//!
//! Browser tests run in real time: Chromium does not follow tokio's paused clock, and a paused
//! runtime would fire the command timeouts while it waits on the browser.
#![allow(dead_code)]

mod driver;
mod waits;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};
use tempfile::TempDir;

pub use driver::driver_started_in;
use driver::{blocking_request, capabilities, driver};

/// How long `wait_for`, `wait_for_text` and `click` keep trying, unless `set_wait` says otherwise.
pub const WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);
/// The bound on any one WebDriver command (chromedriver's own limits are minutes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Set (to anything) to watch the browser in a window: `--headless` is left out (needs a display).
pub const HEADFUL_ENV: &str = "REVEILLE_BROWSER_HEADFUL";

/// The desktop preset's page size in CSS pixels.
const DESKTOP: (u32, u32) = (1280, 800);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// 390×844 CSS pixels at pixel ratio 3, touch, a mobile user agent.
    Phone,
    /// A 1280×800 page (the window is sized to fit it), mouse only.
    Desktop,
}

/// What went wrong, in one line that says what was being done or awaited.
pub struct BrowserError(String);

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// `unwrap()` and a test returning `Err` print Debug: keep it the plain sentence.
impl fmt::Debug for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrowserError {}

/// One entry of the browser's log (`goog:loggingPrefs`): console calls, uncaught exceptions,
/// failed loads.
#[derive(Clone, Debug, Deserialize)]
pub struct LogEntry {
    /// `SEVERE` for errors, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// `console-api`, `javascript` (uncaught), `network`, …
    #[serde(default)]
    pub source: String,
    pub message: String,
}

/// Where the harness's own files go (the driver's log; test screenshots unless a test names
/// another path): `target/tmp/browser/`.
pub fn artifact_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("browser")
        .join(name)
}

/// A chromedriver command outside the W3C set (`/se/log`, `/goog/cdp/execute`).
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (hyper::Method, Option<String>) {
        (hyper::Method::POST, Some(self.body.to_string()))
    }
}

/// chromedriver's messages go on with session info and a stack trace on the next lines.
fn first_line(error: &impl fmt::Display) -> String {
    let text = error.to_string();
    text.lines().next().unwrap_or_default().to_string()
}

/// Runs one WebDriver command with the command bound; the error says what was being done.
async fn bounded<T, E: fmt::Display>(
    what: impl fmt::Display,
    command: impl Future<Output = Result<T, E>>,
) -> Result<T, BrowserError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(BrowserError(format!("{what}: {}", first_line(&e)))),
        Err(_) => Err(BrowserError(format!(
            "{what}: no answer from chromedriver within {COMMAND_TIMEOUT:?}"
        ))),
    }
}

/// One browser session (one window, fresh profile). Quit it with `quit`, or let it drop.
pub struct Browser {
    client: Client,
    session_id: String,
    driver_port: u16,
    preset: Preset,
    wait: Duration,
    opened_in: Duration,
    /// Every log entry read so far: chromedriver hands each out once.
    log: Mutex<Vec<LogEntry>>,
    quit: bool,
    /// Declared last: removed after `Drop::drop` has ended the session.
    _profile: TempDir,
}

impl Browser {
    /// A new session at `preset`, starting chromedriver if this test binary has none yet.
    pub async fn open(preset: Preset) -> Result<Browser, BrowserError> {
        let driver = tokio::task::spawn_blocking(driver)
            .await
            .map_err(|e| BrowserError(format!("starting chromedriver: {e}")))??;
        let profile = tempfile::Builder::new()
            .prefix("reveille-chromium-")
            .tempdir()
            .map_err(|e| BrowserError(format!("creating a browser profile directory: {e}")))?;
        let started = Instant::now();
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities(preset, profile.path()));
        let address = format!("http://127.0.0.1:{}", driver.port);
        let client = bounded(
            format!("opening a {preset:?} browser"),
            builder.connect(&address),
        )
        .await?;
        let session_id = bounded("reading the session id", client.session_id())
            .await?
            .ok_or_else(|| BrowserError("chromedriver gave no session id".into()))?;
        let browser = Browser {
            client,
            session_id,
            driver_port: driver.port,
            preset,
            wait: WAIT,
            opened_in: started.elapsed(),
            log: Mutex::new(Vec::new()),
            quit: false,
            _profile: profile,
        };
        if preset == Preset::Desktop {
            browser.fit_viewport(DESKTOP).await?;
        }
        Ok(browser)
    }

    /// Sizes the window so that the page gets `width`×`height` CSS pixels: `--window-size`
    /// counts the (emulated) window frame and toolbar too.
    async fn fit_viewport(&self, (width, height): (u32, u32)) -> Result<(), BrowserError> {
        let frame = self
            .eval("return [outerWidth - innerWidth, outerHeight - innerHeight]")
            .await?;
        let extra = |i: usize| frame[i].as_u64().and_then(|n| u32::try_from(n).ok());
        let (Some(extra_width), Some(extra_height)) = (extra(0), extra(1)) else {
            return Err(BrowserError(format!("measuring the window frame: {frame}")));
        };
        bounded(
            format!("resizing the window for a {width}×{height} page"),
            self.client
                .set_window_size(width + extra_width, height + extra_height),
        )
        .await
    }

    /// How long opening this session took (Chromium's start included).
    pub fn opened_in(&self) -> Duration {
        self.opened_in
    }

    /// The browser's process id, as chromedriver reports it (`goog:processID`).
    pub fn chromium_pid(&self) -> Option<u32> {
        let pid = self
            .client
            .capabilities()?
            .get("goog:processID")?
            .as_u64()?;
        u32::try_from(pid).ok()
    }

    /// Changes how long the waits of this session keep trying.
    pub fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// fantoccini's client, for whatever the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Loads `url` (only `http://127.0.0.1`) and waits for its load event.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        let loopback = url::Url::parse(url)
            .is_ok_and(|u| u.scheme() == "http" && u.host_str() == Some("127.0.0.1"));
        if !loopback {
            return Err(BrowserError(format!(
                "only http://127.0.0.1 pages are opened in tests, not {url}"
            )));
        }
        bounded(format!("opening {url}"), self.client.goto(url)).await?;
        if self.preset == Preset::Phone {
            self.settle_touch(url).await?;
        }
        Ok(())
    }

    /// Chromium sometimes creates the first document of a site before the touch emulation
    /// reaches the site's new renderer: `navigator.maxTouchPoints` is 0 there (while
    /// `pointer: coarse` holds), and a reload gets it right.
    async fn settle_touch(&self, url: &str) -> Result<(), BrowserError> {
        for _ in 0..3 {
            if self.eval("return navigator.maxTouchPoints").await? != 0 {
                return Ok(());
            }
            bounded(format!("reloading {url}"), self.client.refresh()).await?;
        }
        Err(BrowserError(format!(
            "touch emulation did not reach {url} after reloading it three times"
        )))
    }

    /// Runs `script` as a function body in the page (`return …` gives the value).
    pub async fn eval(&self, script: &str) -> Result<Value, BrowserError> {
        bounded(
            format!("running {script:?}"),
            self.client.execute(script, Vec::new()),
        )
        .await
    }

    /// Writes a PNG of the viewport to `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        let png = bounded("taking a screenshot", self.client.screenshot()).await?;
        let write = || -> io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, &png)
        };
        write().map_err(|e| BrowserError(format!("writing {}: {e}", path.display())))
    }

    /// A Chrome DevTools Protocol command on this tab.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value, BrowserError> {
        let command = ChromeCommand {
            path: "goog/cdp/execute",
            body: json!({ "cmd": cmd, "params": params }),
        };
        bounded(format!("DevTools {cmd}"), self.client.issue_cmd(command)).await
    }

    /// Emulates the system's light or dark preference (`prefers-color-scheme`) for this tab.
    pub async fn prefer_dark(&self, dark: bool) -> Result<(), BrowserError> {
        let scheme = if dark { "dark" } else { "light" };
        let features = json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] });
        self.cdp("Emulation.setEmulatedMedia", features)
            .await
            .map(drop)
    }

    /// Every browser log entry since the session opened.
    pub async fn log(&self) -> Result<Vec<LogEntry>, BrowserError> {
        let command = ChromeCommand {
            path: "se/log",
            body: json!({ "type": "browser" }),
        };
        let fresh = bounded("reading the browser log", self.client.issue_cmd(command)).await?;
        let fresh: Vec<LogEntry> = serde_json::from_value(fresh)
            .map_err(|e| BrowserError(format!("reading the browser log: {e}")))?;
        let mut log = self
            .log
            .lock()
            .expect("the log lock is never held across a panic");
        log.extend(fresh);
        Ok(log.clone())
    }

    /// The errors in the browser log since the session opened: `console.error`, uncaught
    /// exceptions, failed loads.
    pub async fn console_errors(&self) -> Result<Vec<LogEntry>, BrowserError> {
        let mut log = self.log().await?;
        log.retain(|entry| entry.level == "SEVERE");
        Ok(log)
    }

    /// Fails, listing them, if the browser log holds any error.
    pub async fn expect_no_console_errors(&self) -> Result<(), BrowserError> {
        let errors = self.console_errors().await?;
        if errors.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = errors
            .iter()
            .map(|e| format!("[{}] {}", e.source, e.message))
            .collect();
        Err(BrowserError(format!(
            "the browser console has {} error(s): {}",
            errors.len(),
            listed.join(" | ")
        )))
    }

    /// Ends the session and Chromium with it.
    pub async fn quit(mut self) -> Result<(), BrowserError> {
        bounded("quitting the browser", self.client.clone().close()).await?;
        self.quit = true;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.quit {
            // The test did not reach `quit` (it panicked or returned early). fantoccini's own
            // close needs a runtime that may be going away, so ask chromedriver directly.
            let path = format!("/session/{}", self.session_id);
            let _ = blocking_request(self.driver_port, "DELETE", &path);
        }
    }
}
