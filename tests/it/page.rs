//! The phone page as served: gzip or identity, ETag and 304, content types, the page's CSP and
//! the guard's headers, unknown paths, the page open while the API behind it asks for a login,
//! the first-load byte budget, and the string catalogue against what the scripts use.

// The page in a real headless Chromium (issue 17): the tests in `tests/it/page/`.
mod a11y;
mod accessibility;
mod alarms;
mod first_load;
mod live;
mod login;
mod offline;
mod screenshots;
mod site;
mod spotify;
mod two_phones;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use reveille::auth::PasswordFile;
use reveille::config::SpotifySettings;
use reveille::http::page::{ASSETS, asset};
use reveille::player::link::redirect_uri;

use crate::helpers::{error_body, spawn_app};
use crate::page_load::{FIRST_LOAD_BUDGET, first_load};

async fn get(
    app: &crate::helpers::TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_page_is_served_gzipped_when_accepted_and_as_is_otherwise() {
    let app = spawn_app().await;
    let index = asset("/index.html").unwrap();

    let gzipped = get(&app, "/", &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(gzipped.status(), StatusCode::OK);
    let headers = gzipped.headers().clone();
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["vary"], "Accept-Encoding");
    let gzip_tag = headers["etag"].to_str().unwrap().to_owned();
    assert!(
        gzip_tag.starts_with('"') && gzip_tag.ends_with("-gz\""),
        "{gzip_tag}"
    );
    assert_eq!(
        gzipped.bytes().await.unwrap().as_ref(),
        index.gzip.unwrap(),
        "the build-time gzip, byte for byte"
    );

    let plain = get(&app, "/", &[]).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_tag = plain.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(
        plain_tag, gzip_tag,
        "each encoding is its own representation"
    );
    assert_eq!(plain.bytes().await.unwrap().as_ref(), index.identity);

    // Refused gzip is identity too; `/index.html` is the same file as `/`.
    let refused = get(&app, "/index.html", &[("accept-encoding", "gzip;q=0")]).await;
    assert!(refused.headers().get("content-encoding").is_none());
    assert_eq!(refused.headers()["etag"].to_str().unwrap(), plain_tag);

    // Images are not gzipped again.
    let png = get(&app, "/icon-192.png", &[("accept-encoding", "gzip")]).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.headers().get("content-encoding").is_none());
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
}

#[tokio::test]
async fn a_known_etag_gets_304_without_a_body() {
    let app = spawn_app().await;
    for encoding in ["gzip", "identity"] {
        let first = get(&app, "/app.js", &[("accept-encoding", encoding)]).await;
        let tag = first.headers()["etag"].to_str().unwrap().to_owned();
        let again = get(
            &app,
            "/app.js",
            &[("accept-encoding", encoding), ("if-none-match", &tag)],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{encoding}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
        assert_eq!(again.headers()["cache-control"], "no-cache");
        assert!(again.bytes().await.unwrap().is_empty());

        let other = get(
            &app,
            "/app.js",
            &[("accept-encoding", encoding), ("if-none-match", "\"0000\"")],
        )
        .await;
        assert_eq!(other.status(), StatusCode::OK, "{encoding}");
    }
}

#[tokio::test]
async fn every_file_has_its_type_and_the_pages_policy() {
    let app = spawn_app().await;
    let expected = [
        (".html", "text/html; charset=utf-8"),
        (".css", "text/css; charset=utf-8"),
        (".js", "text/javascript; charset=utf-8"),
        (".webmanifest", "application/manifest+json"),
        (".svg", "image/svg+xml"),
        (".png", "image/png"),
    ];
    for file in ASSETS {
        let response = get(&app, file.path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", file.path);
        let headers = response.headers();
        let (_, content_type) = expected
            .iter()
            .find(|(ext, _)| file.path.ends_with(ext))
            .unwrap_or_else(|| panic!("{}: a type this test does not know", file.path));
        assert_eq!(headers["content-type"], *content_type, "{}", file.path);
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{}: {csp}", file.path);
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn the_page_has_no_inline_code_and_nothing_from_elsewhere() {
    for file in ASSETS.iter().filter(|a| {
        [".html", ".js", ".css", ".webmanifest"]
            .iter()
            .any(|e| a.path.ends_with(e))
    }) {
        let text = String::from_utf8_lossy(file.identity);
        // Whatever would load something: an address that is not this origin's own path.
        // (Links the user follows and addresses shown as text are fine; the CSP would block a
        // load anyway, this keeps the page from trying.)
        // Static imports are whole lines; a comment saying `from "HH:MM"` is not one.
        let imports: String = text
            .lines()
            .filter(|l| l.starts_with("import ") || l.starts_with("export "))
            .collect();
        for loads in [
            "src=\"",
            "href=\"",
            "url(",
            "@import",
            " from \"",
            "import(\"",
            "fetch(\"",
            "EventSource(\"",
        ] {
            let text = if loads == " from \"" {
                &imports
            } else {
                &*text
            };
            for (at, _) in text.match_indices(loads) {
                let target = text[at + loads.len()..].trim_start_matches(['"', '\'', ' ']);
                let local = target.starts_with('/') && !target.starts_with("//")
                    || target.starts_with('#')
                    || file.path.ends_with(".html") && loads == "href=\"" && target.is_empty();
                assert!(
                    local,
                    "{}: loads from elsewhere: {loads}{target:.40}",
                    file.path
                );
            }
        }
        if file.path.ends_with(".html") {
            assert!(!text.contains("style="), "{}: an inline style", file.path);
            let handler = text.match_indices(" on").any(|(at, _)| {
                let name: String = text[at + 3..]
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                !name.is_empty() && text[at + 3 + name.len()..].starts_with('=')
            });
            assert!(!handler, "{}: an inline event handler", file.path);
            for script in text.match_indices("<script") {
                let tag = &text[script.0..text[script.0..].find('>').unwrap() + script.0];
                assert!(tag.contains("src="), "{}: an inline script", file.path);
            }
            assert!(
                !text.contains("<style"),
                "{}: an inline stylesheet",
                file.path
            );
        }
    }
}

#[tokio::test]
async fn head_answers_the_length_without_the_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .head(format!("{}/", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-length"],
        asset("/").unwrap().gzip.unwrap().len().to_string().as_str()
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_paths_are_404_and_the_page_is_read_only() {
    let app = spawn_app().await;
    for path in [
        "/nothing-here",
        "/screens/",
        "/../Cargo.toml",
        "/api/nothing",
        "/api/index.html",
        "/index.html/",
    ] {
        let response = get(&app, path, &[]).await;
        error_body(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = app.request(Method::POST, "/app.js", None, None).await;
    error_body(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn with_a_password_the_page_loads_and_the_api_asks_for_the_login() {
    let app = spawn_app().await;
    PasswordFile::new(app.dir.path())
        .set("correct horse")
        .unwrap();
    for path in ["/", "/app.js", "/i18n/en.js", "/manifest.webmanifest"] {
        assert_eq!(
            get(&app, path, &[]).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let response = get(&app, "/api/alarms", &[]).await;
    error_body(response, StatusCode::UNAUTHORIZED, "login_required").await;
    let response = get(&app, "/api/events", &[]).await;
    error_body(response, StatusCode::UNAUTHORIZED, "login_required").await;
    // What the page asks first, to know whether to show the login form.
    let state: serde_json::Value = get(&app, "/api/session", &[]).await.json().await.unwrap();
    assert_eq!(state["password_set"], true);
    assert_eq!(state["logged_in"], false);
}

#[tokio::test]
async fn the_first_load_fits_the_budget() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").parse().unwrap();
    let load = first_load(addr).await;
    for fetched in load.first.iter().chain(&load.later) {
        assert_eq!(fetched.status, 200, "{fetched:?}");
        let path = if fetched.path == "/" {
            "/index.html"
        } else {
            &fetched.path
        };
        let file = asset(path).unwrap();
        assert_eq!(fetched.gzipped, file.gzip.is_some(), "{fetched:?}");
        // Text worth compressing is compressed (the build keeps gzip only where it helps).
        if !fetched.content_type.starts_with("image/png") && file.identity.len() > 1024 {
            assert!(fetched.gzipped, "{fetched:?}");
        }
    }
    let paths: Vec<&str> = load.first.iter().map(|f| f.path.as_str()).collect();
    for needed in [
        "/",
        "/app.js",
        "/app.css",
        "/i18n/en.js",
        "/manifest.webmanifest",
    ] {
        assert!(paths.contains(&needed), "{needed} is not loaded: {paths:?}");
    }
    assert!(
        load.first_bytes() <= FIRST_LOAD_BUDGET,
        "the first load is {} bytes in {} requests, over the budget of {FIRST_LOAD_BUDGET}: {paths:?}",
        load.first_bytes(),
        load.first.len()
    );
    // Every embedded file is reachable from the page: nothing is shipped for nothing.
    let reached: BTreeSet<&str> = load
        .first
        .iter()
        .chain(&load.later)
        .map(|f| {
            if f.path == "/" {
                "/index.html"
            } else {
                f.path.as_str()
            }
        })
        .collect();
    for file in ASSETS {
        assert!(reached.contains(file.path), "{} is never loaded", file.path);
    }
}

/// The catalogue's keys: `"key": "text",` lines of `web/i18n/en.js`.
fn catalogue() -> BTreeSet<String> {
    let text = String::from_utf8_lossy(asset("/i18n/en.js").unwrap().identity).into_owned();
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix('"')?;
            let (key, after) = rest.split_once('"')?;
            after.trim_start().starts_with(':').then(|| key.to_owned())
        })
        .collect()
}

#[test]
fn the_catalogue_has_every_string_the_page_uses_and_no_other() {
    let keys = catalogue();
    assert!(keys.len() > 5, "{keys:?}");
    let mut sources = String::new();
    for file in ASSETS.iter().filter(|a| {
        a.path != "/i18n/en.js" && (a.path.ends_with(".js") || a.path.ends_with(".html"))
    }) {
        let text = String::from_utf8_lossy(file.identity);
        // t("key"...) in scripts (not `get("...")`: `t` must stand alone), data-t="key" in
        // the page.
        for prefix in ["t(\"", "data-t=\""] {
            for (at, _) in text.match_indices(prefix) {
                let before = text[..at].chars().next_back();
                if prefix.starts_with('t')
                    && before.is_some_and(|c| c.is_ascii_alphanumeric() || "_$.".contains(c))
                {
                    continue;
                }
                let key = text[at + prefix.len()..].split('"').next().unwrap();
                assert!(
                    keys.contains(key),
                    "{}: `{key}` is not in i18n/en.js",
                    file.path
                );
            }
        }
        sources.push_str(&text);
    }
    for key in &keys {
        assert!(
            sources.contains(&format!("\"{key}\"")),
            "`{key}` is in the catalogue but the page never uses it"
        );
    }
}

#[test]
fn the_linking_wizard_shows_the_redirect_uri_the_daemon_registers() {
    // The address comes from the daemon's link status (`spotify.redirect_port` chooses its
    // port); the default shown before the status arrives is the daemon's default.
    let wizard =
        String::from_utf8_lossy(asset("/screens/spotify.js").unwrap().identity).into_owned();
    assert!(
        wizard.contains("status.redirect_uri"),
        "the wizard ignores the daemon's redirect URI"
    );
    let default = redirect_uri(&SpotifySettings::default());
    assert!(
        wizard.contains(&format!("const DEFAULT_REDIRECT_URI = \"{default}\";")),
        "web/screens/spotify.js must default to exactly {default}"
    );
}
