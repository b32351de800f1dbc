//! The browser harness (`tests/support/browser.rs`) proven without the daemon's page: a tiny
//! page served by a test-local axum server on 127.0.0.1:0, opened at both presets, clicked,
//! typed into, awaited, screenshotted, its console errors collected. The start-up figures go
//! to stderr (`-- --nocapture` shows them).

use std::error::Error;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::Html;
use axum::routing::get;
use serde_json::Value;

use crate::browser::{Browser, Preset, artifact_path, driver_started_in};

type TestResult = Result<(), Box<dyn Error>>;

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Harness check</title>
<style>
  body { font-family: sans-serif; margin: 1rem; background: #fff; color: #111; }
  button { font-size: 1.5rem; min-height: 44px; padding: 0 1rem; }
  @media (prefers-color-scheme: dark) { body { background: #111; color: #eee; } }
</style>
</head>
<body>
<h1>Harness check</h1>
<p id="out">waiting</p>
<button id="go" type="button">Press</button>
<p><label>Name <input id="name"></label></p>
<p id="echo"></p>
<script src="/app.js"></script>
</body>
</html>"#;

// The text changes a little after the click, so the wait has something to wait for.
const APP_JS: &str = r#"
document.getElementById("go").addEventListener("click", () => {
  setTimeout(() => { document.getElementById("out").textContent = "pressed"; }, 150);
});
document.getElementById("name").addEventListener("input", (event) => {
  document.getElementById("echo").textContent = "hello " + event.target.value;
});
console.log("harness page ready");
"#;

const NOISY: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>noisy</title></head>
<body><p id="done">done</p>
<script src="http://cdn.example.com/lib.js"></script>
<script>
  console.log("just chatter");
  console.error("harness probe: something broke");
  setTimeout(() => { throw new Error("harness probe: uncaught"); }, 0);
</script>
</body></html>"#;

/// Serves the fixture pages on 127.0.0.1:0 for as long as the test's runtime lives.
async fn serve_fixture() -> String {
    let router = Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route(
            "/app.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript")], APP_JS) }),
        )
        .route("/noisy", get(|| async { Html(NOISY) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "{} bytes is no PNG", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

fn figures(preset: Preset, browser: &Browser) {
    eprintln!(
        "browser figures: chromedriver started in {:?} (once per test binary); {preset:?} session opened in {:?}",
        driver_started_in(),
        browser.opened_in()
    );
}

#[tokio::test]
async fn phone_preset_clicks_types_waits_and_screenshots() -> TestResult {
    let base = serve_fixture().await;
    let browser = Browser::open(Preset::Phone).await?;
    figures(Preset::Phone, &browser);
    browser.goto(&format!("{base}/")).await?;

    let screen = browser
        .eval("return [window.innerWidth, navigator.maxTouchPoints, window.devicePixelRatio, navigator.userAgent]")
        .await?;
    assert_eq!(screen[0], 390, "phone viewport width: {screen}");
    assert!(screen[1].as_u64() > Some(0), "touch is on: {screen}");
    assert_eq!(screen[2], 3, "pixel ratio: {screen}");
    assert!(
        screen[3].as_str().unwrap_or_default().contains("Mobile"),
        "a mobile user agent: {screen}"
    );
    assert_eq!(
        browser
            .eval("return matchMedia('(pointer: coarse)').matches")
            .await?,
        true,
        "a coarse (touch) pointer"
    );

    assert_eq!(browser.text("#out").await?, "waiting");
    browser.click("#go").await?;
    browser.wait_for_text("#out", "pressed").await?;
    browser.type_text("#name", "Ada").await?;
    browser.wait_for_text("#echo", "hello Ada").await?;
    browser.fill("#name", "Grace").await?;
    browser.wait_for_text("#echo", "hello Grace").await?;

    // console.log is in the log but is no error.
    browser.expect_no_console_errors().await?;
    let log = browser.log().await?;
    assert!(
        log.iter().any(|e| e.message.contains("harness page ready")),
        "the page's console.log reached the log: {log:?}"
    );

    let path = artifact_path("harness-phone.png");
    let _ = std::fs::remove_file(&path);
    browser.screenshot(&path).await?;
    let png = std::fs::read(&path)?;
    assert_eq!(
        png_size(&png),
        (390 * 3, 844 * 3),
        "a phone-sized screenshot"
    );
    assert!(
        png.len() > 10_000,
        "a screenshot with something on it: {} bytes",
        png.len()
    );

    let quitting = Instant::now();
    browser.quit().await?;
    eprintln!(
        "browser figures: Phone session quit in {:?}",
        quitting.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn desktop_preset_and_dark_scheme() -> TestResult {
    let base = serve_fixture().await;
    let browser = Browser::open(Preset::Desktop).await?;
    figures(Preset::Desktop, &browser);
    browser.goto(&format!("{base}/")).await?;

    let screen = browser
        .eval("return [window.innerWidth, window.innerHeight, navigator.maxTouchPoints, navigator.userAgent]")
        .await?;
    assert_eq!(screen[0], 1280, "desktop viewport width: {screen}");
    assert_eq!(screen[1], 800, "desktop viewport height: {screen}");
    assert_eq!(screen[2], 0, "no touch on the desktop: {screen}");
    assert!(
        !screen[3].as_str().unwrap_or_default().contains("Mobile"),
        "a desktop user agent: {screen}"
    );

    let background = "return getComputedStyle(document.body).backgroundColor";
    assert_eq!(browser.eval(background).await?, "rgb(255, 255, 255)");
    browser.prefer_dark(true).await?;
    assert_eq!(browser.eval(background).await?, "rgb(17, 17, 17)");
    let path = artifact_path("harness-desktop-dark.png");
    browser.screenshot(&path).await?;
    assert_eq!(png_size(&std::fs::read(&path)?), (1280, 800));

    browser.expect_no_console_errors().await?;
    browser.quit().await?;
    Ok(())
}

#[tokio::test]
async fn console_errors_are_collected() -> TestResult {
    let base = serve_fixture().await;
    let browser = Browser::open(Preset::Desktop).await?;
    browser.goto(&format!("{base}/noisy")).await?;
    browser.wait_for("#done").await?;

    // The uncaught exception is thrown from a timer after the load: wait for it to be logged.
    let deadline = Instant::now() + Duration::from_secs(5);
    let errors = loop {
        let errors = browser.console_errors().await?;
        if errors.len() >= 3 || Instant::now() >= deadline {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.source == "console-api"
                && e.message.contains("harness probe: something broke")),
        "console.error is reported: {messages:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.source == "javascript" && e.message.contains("harness probe: uncaught")),
        "an uncaught exception is reported: {messages:?}"
    );
    // No name resolves in the test browser: a page reaching beyond 127.0.0.1 fails at once.
    assert!(
        errors.iter().any(|e| e.source == "network"
            && e.message.contains("cdn.example.com")
            && e.message.contains("ERR_NAME_NOT_RESOLVED")),
        "a script from elsewhere fails to load: {messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("just chatter")),
        "console.log is no error: {messages:?}"
    );
    let refused = browser.expect_no_console_errors().await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("harness probe: something broke"),
        "the failure lists the errors: {refused}"
    );
    browser.quit().await?;
    Ok(())
}

#[tokio::test]
async fn waits_are_bounded_and_pages_stay_on_loopback() -> TestResult {
    let base = serve_fixture().await;
    let mut browser = Browser::open(Preset::Phone).await?;
    browser.set_wait(Duration::from_millis(400));
    browser.goto(&format!("{base}/")).await?;

    let missing = browser.wait_for("#never").await.unwrap_err().to_string();
    assert!(
        missing.contains("`#never` to be shown") && missing.contains("nothing matches it"),
        "the error names what was awaited and what was seen: {missing}"
    );
    let stale = browser
        .wait_for_text("#out", "pressed")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        stale.contains("`#out` to show \"pressed\"") && stale.contains("it shows \"waiting\""),
        "{stale}"
    );
    assert!(!stale.contains('\n'), "one line: {stale}");
    // The session's own bound, not the 5 s default: the errors name the bound they waited.
    for error in [&missing, &stale] {
        assert!(error.starts_with("waited 400ms for "), "{error}");
    }

    for elsewhere in [
        "http://example.com/",
        "https://127.0.0.1/",
        "http://localhost/",
    ] {
        let refused = browser.goto(elsewhere).await.unwrap_err().to_string();
        assert!(
            refused.contains("only http://127.0.0.1"),
            "{elsewhere}: {refused}"
        );
    }
    assert_eq!(
        browser.eval("return location.href").await?,
        Value::from(format!("{base}/"))
    );
    browser.quit().await?;
    Ok(())
}

/// Whether a process is gone (or only a zombie waiting to be reaped).
fn process_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: "1234 (chromium) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

#[test]
fn a_panicking_test_still_quits_its_browser() {
    // The panic happens inside a test runtime of its own, as in a failing #[tokio::test].
    let (pid_sender, pid) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let base = serve_fixture().await;
            let browser = Browser::open(Preset::Phone).await.unwrap();
            browser.goto(&format!("{base}/")).await.unwrap();
            pid_sender.send(browser.chromium_pid()).unwrap();
            panic!("a test failing with its browser open");
        })
    })
    .join();
    assert!(outcome.is_err(), "the test thread panicked");
    let pid = pid
        .recv()
        .unwrap()
        .expect("chromedriver reports the browser's process id");
    assert!(pid > 0);

    // Drop asked chromedriver to end the session; the browser goes down with it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_ended(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        process_ended(pid),
        "chromium {pid} still runs after its test panicked"
    );
}
