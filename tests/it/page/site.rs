//! The site the page tests open: the real daemon (simulated hardware) on 127.0.0.1 with a
//! temp config, pointed at the in-process Spotify mock (a linked account and the receiver
//! "Bedroom" unless a test says otherwise), plus what every page test checks on its way out:
//! no console error the test did not provoke, every request to the daemon's own origin.
//!
//! The alarms ring in UTC at a time twelve hours from now, so no scheduled alarm fires while a
//! test runs; a test rings one with `ring-now`.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::browser::{Browser, BrowserError, Preset};
use crate::daemon::Daemon;
use crate::ring::{CLIENT_ID, PLAYLIST, base_config, write_token};
use crate::spotify_mock::{MockDevice, SpotifyMock};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What a site starts with, besides the defaults.
#[derive(Default)]
pub struct Setup {
    /// No Spotify account linked and no client ID: the wizard's starting point.
    pub unlinked: bool,
    /// A login password (`reveille password`).
    pub password: Option<&'static str>,
}

pub struct Site {
    pub dir: TempDir,
    pub mock: SpotifyMock,
    pub daemon: Daemon,
    pub client: reqwest::Client,
}

/// "HH:MM" twelve hours from now, in UTC (the sites' zone).
pub fn far_time() -> String {
    let at = Utc::now() + chrono::Duration::hours(12);
    format!("{:02}:{:02}", at.hour(), at.minute())
}

impl Site {
    pub async fn start() -> Site {
        Site::start_with(Setup::default()).await
    }

    pub async fn start_with(setup: Setup) -> Site {
        let mock = SpotifyMock::start().await;
        mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
        mock.register_client(CLIENT_ID);
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path());
        config["alarms"] = json!([{
            "id": "wake", "label": "Wake up", "time": far_time(),
            "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "ring": {"source": PLAYLIST, "max_ring_minutes": 30,
                     "snooze_minutes": 9, "max_snoozes": 3},
        }]);
        if setup.unlinked {
            config["spotify"]["client_id"] = Value::Null;
        } else {
            write_token(dir.path(), &mock);
        }
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        if let Some(password) = setup.password {
            reveille::auth::PasswordFile::new(dir.path())
                .set(password)
                .unwrap();
        }
        let daemon = start_daemon(dir.path(), &mock, None);
        Site {
            dir,
            mock,
            daemon,
            client: reqwest::Client::new(),
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.daemon.addr)
    }

    pub fn url(&self, path: &str) -> String {
        self.daemon.url(path)
    }

    /// A fresh browser at `preset` on the page, once the home screen lists the alarms; the
    /// page's requests are recorded as it makes them (`calls`).
    pub async fn open(&self, preset: Preset) -> Result<Browser, BrowserError> {
        let browser = Browser::open(preset).await?;
        record_calls(&browser).await?;
        browser.goto(&self.url("/")).await?;
        browser.wait_for(".alarms li").await?;
        // The first load is over when the live status has come and, if it had no readiness
        // check, the one the page asked for has been answered.
        browser.wait_for(".readiness .state").await?;
        Ok(browser)
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert!(response.status().is_success(), "GET {path}: {response:?}");
        response.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self.client.post(self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn alarms(&self) -> Vec<Value> {
        self.get("/api/config").await["alarms"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn alarm(&self, id: &str) -> Value {
        self.get(&format!("/api/alarms/{id}")).await
    }

    pub async fn alarm_exists(&self, id: &str) -> bool {
        let url = self.url(&format!("/api/alarms/{id}"));
        let status = self.client.get(url).send().await.unwrap().status();
        assert!(
            status == 200 || status == 404,
            "GET /api/alarms/{id}: {status}"
        );
        status == 200
    }

    /// Stops the daemon as systemd does (SIGTERM) and waits for it to exit.
    pub fn stop_daemon(&mut self) {
        let pid = i32::try_from(self.daemon.pid()).expect("a pid fits in pid_t");
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.daemon.child.wait().unwrap();
        assert!(status.success(), "the daemon ended with {status}");
    }

    /// Starts the daemon again on the files and the port it had.
    pub fn restart_daemon(&mut self) {
        let addr = self.daemon.addr;
        self.daemon = start_daemon(self.dir.path(), &self.mock, Some(addr));
    }
}

fn start_daemon(dir: &std::path::Path, mock: &SpotifyMock, on: Option<SocketAddr>) -> Daemon {
    let mut builder = Daemon::builder(&dir.join("config.json"))
        .env("REVEILLE_SPOTIFY_API_URL", mock.api_url())
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", mock.accounts_url());
    if let Some(addr) = on {
        builder = builder.listen(addr);
    }
    builder.start().unwrap()
}

/// A JSON string literal for a script.
pub fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Sets an input's value as a person's typing would (an `input` and a `change` event): for
/// the inputs WebDriver cannot type into portably (time, date, range).
pub async fn set_value(browser: &Browser, selector: &str, value: &str) -> TestResult {
    browser.wait_for(selector).await?;
    let done = browser
        .eval(&format!(
            "const el = document.querySelector({}); el.value = {};
             el.dispatchEvent(new Event('input', {{bubbles: true}}));
             el.dispatchEvent(new Event('change', {{bubbles: true}}));
             return el.value",
            js(selector),
            js(value)
        ))
        .await?;
    assert_eq!(done, value, "{selector} did not take {value:?}");
    Ok(())
}

/// A script: whether the element matching `selector` exists and is shown (not `hidden`, has
/// a box).
pub fn shown(selector: &str) -> String {
    format!("return {}", is_shown(selector))
}

/// A script: whether nothing matching `selector` is shown.
pub fn gone(selector: &str) -> String {
    format!("return !{}", is_shown(selector))
}

fn is_shown(selector: &str) -> String {
    format!(
        "((el) => !!el && el.getClientRects().length > 0)(document.querySelector({}))",
        js(selector)
    )
}

/// Records every request the page's scripts start, at the moment they start it: `fetch`,
/// `XMLHttpRequest`, `EventSource`, `WebSocket`, `sendBeacon`. Runs before the page's own
/// scripts on every document of the tab (DevTools, so the page's CSP does not apply to it).
const RECORDER: &str = r#"(() => {
  const log = [];
  Object.defineProperty(window, "__e2eCalls", { value: log });
  const url = (u) => new URL(String(u), location.href).href;
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    const request = input instanceof Request ? input : null;
    const method = (init && init.method) || (request ? request.method : "GET");
    log.push(`${method.toUpperCase()} ${url(request ? request.url : input)}`);
    return fetch0.apply(this, arguments);
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, u) {
    log.push(`${String(method).toUpperCase()} ${url(u)}`);
    return open.apply(this, arguments);
  };
  window.EventSource = class extends window.EventSource {
    constructor(u, options) { log.push(`EVENTSOURCE ${url(u)}`); super(u, options); }
  };
  window.WebSocket = class extends window.WebSocket {
    constructor(u, protocols) { log.push(`WEBSOCKET ${url(u)}`); super(u, protocols); }
  };
  const beacon = navigator.sendBeacon?.bind(navigator);
  if (beacon) navigator.sendBeacon = (u, data) => { log.push(`BEACON ${url(u)}`); return beacon(u, data); };
})();"#;

pub async fn record_calls(browser: &Browser) -> Result<(), BrowserError> {
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": RECORDER }),
        )
        .await
        .map(drop)
}

/// The requests the page's scripts started since the document loaded, in order, as
/// `"METHOD URL"` (`EVENTSOURCE URL` for the event stream).
pub async fn calls(browser: &Browser) -> Result<Vec<String>, BrowserError> {
    let calls = browser.eval("return window.__e2eCalls || []").await?;
    Ok(serde_json::from_value(calls).unwrap_or_default())
}

/// The page's requests that completed, from Resource Timing: each URL and what started it
/// (`fetch`, `script`, `link`, `other`...): also the files, which `calls` does not see.
pub async fn requests(browser: &Browser) -> Result<Vec<(String, String)>, BrowserError> {
    let entries = browser
        .eval(
            "return performance.getEntriesByType('resource')
                .map((e) => [e.name, e.initiatorType])",
        )
        .await?;
    Ok(serde_json::from_value(entries).unwrap_or_default())
}

/// The checks every page test ends with, then the browser quits: the screen shows no stray
/// value, every request the page made went to the daemon's own origin, and the console holds
/// no error except the failed loads the test provoked on purpose (`expected`: parts of the
/// message, e.g. "status of 412").
pub async fn finish(browser: Browser, site_origin: &str, expected: &[&str]) -> TestResult {
    super::a11y::no_stray_values(&browser, "the last screen").await?;
    let outside: Vec<String> = requests(&browser)
        .await?
        .into_iter()
        .map(|(url, _)| url)
        .chain(std::iter::once(
            browser.eval("return location.href").await?.to_string(),
        ))
        .filter(|url| {
            !url.trim_matches('"')
                .starts_with(&format!("{site_origin}/"))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside {site_origin}: {outside:?}"
    );
    let unexpected: Vec<String> = browser
        .console_errors()
        .await?
        .into_iter()
        .filter(|e| !(e.source == "network" && expected.iter().any(|x| e.message.contains(x))))
        .map(|e| format!("[{}] {}", e.source, e.message))
        .collect();
    assert!(
        unexpected.is_empty(),
        "console errors: {}",
        unexpected.join(" | ")
    );
    browser.quit().await?;
    Ok(())
}

/// How long a live change may take to show on an open page (issue 17: within a second by
/// Server-Sent Events; the rest is WebDriver's polling and a loaded 2-core machine).
pub const LIVE: Duration = Duration::from_secs(2);

/// Taps the element matching `selector` as a person would: scrolled to the middle of the
/// screen first, so the fixed tab bar at the bottom does not cover it (WebDriver scrolls only
/// what is outside the viewport), then WebDriver's click.
pub async fn tap(browser: &Browser, selector: &str) -> TestResult {
    browser.wait_for(selector).await?;
    browser
        .eval(&format!(
            "document.querySelector({}).scrollIntoView({{block: 'center', behavior: 'instant'}})",
            js(selector)
        ))
        .await?;
    browser.click(selector).await?;
    Ok(())
}

/// Clicks the first element matching `selector` whose text is `text` (trimmed), as a person
/// would: WebDriver's click, which fails on a hidden or covered element.
pub async fn click_text(browser: &Browser, selector: &str, text: &str) -> TestResult {
    let find = format!(
        "const el = [...document.querySelectorAll({})]
            .find((e) => e.textContent.trim() === {} && e.getClientRects().length > 0);",
        js(selector),
        js(text)
    );
    browser
        .wait_until(
            &format!("`{selector}` showing {text:?}"),
            &format!("{find} return !!el"),
        )
        .await?;
    browser
        .eval(&format!(
            "{find}
             for (const other of document.querySelectorAll('[data-e2e]')) other.removeAttribute('data-e2e');
             el.setAttribute('data-e2e', 'target');"
        ))
        .await?;
    tap(browser, "[data-e2e='target']").await
}
