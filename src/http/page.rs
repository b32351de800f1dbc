//! The phone page: the files of `web/`, embedded at build time (`build.rs` compresses each
//! once with gzip and names it by a hash of its content) and served from memory.
//!
//! `GET /` is `index.html`; every other path outside `/api/` is a file of `web/` or 404. A
//! file goes out gzipped when the client accepts it (over plain HTTP browsers offer gzip, not
//! br), else as is; with a strong `ETag` (per encoding) that `If-None-Match` turns into a 304,
//! `Cache-Control: no-cache` (a reload revalidates, so a new daemon's page is never mixed with
//! an old one's files), and a `Content-Security-Policy` that allows only this origin's own
//! scripts, styles, images and connections: no inline code, no other site. The guard adds
//! the other security headers. The page is public (it holds no data); the API behind it asks
//! for the login when a password is set, and the page shows a login form then.
//!
//! This module only serves bytes; it must not read files, the store or the runner.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// One file of the page.
#[derive(Debug)]
pub struct Asset {
    /// Its URL path, e.g. `/app.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Hex of the first 8 bytes of the content's SHA-256.
    pub tag: &'static str,
    pub identity: &'static [u8],
    /// `None` when gzip would not make it smaller (images).
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Only this origin's own files and API. `img-src data:` is not needed: icons are files.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The file served at `path` (`/` is `index.html`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// The router's fallback: a page file for `GET`/`HEAD` outside `/api/`, else the API's 404
/// or 405.
pub(super) async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let found = (!path.starts_with("/api/")).then(|| asset(path)).flatten();
    let Some(asset) = found else {
        return ApiError::NotFound("no such resource".into()).into_response();
    };
    if method != Method::GET && method != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let (body, tag, gzipped) = match asset.gzip {
        Some(gzip) if accepts_gzip(&headers) => (gzip, format!("\"{}-gz\"", asset.tag), true),
        _ => (asset.identity, format!("\"{}\"", asset.tag), false),
    };
    // For HEAD the body goes too: the server drops it and keeps its length.
    let mut response = if none_match(&headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let ok = response.status() == StatusCode::OK;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &str| {
        headers.insert(
            name,
            HeaderValue::from_str(value).expect("built-in header values are valid"),
        );
    };
    set(headers, header::ETAG, &tag);
    set(headers, header::CACHE_CONTROL, "no-cache");
    set(headers, header::VARY, "Accept-Encoding");
    set(headers, header::CONTENT_SECURITY_POLICY, PAGE_CSP);
    if ok {
        set(headers, header::CONTENT_TYPE, asset.content_type);
        if gzipped {
            set(headers, header::CONTENT_ENCODING, "gzip");
        }
    }
    response
}

/// `Accept-Encoding` lists `gzip` (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for this header) or is `*`.
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|sent| sent == "*" || sent.strip_prefix("W/").unwrap_or(sent) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        for yes in [
            "gzip",
            "gzip, deflate, br",
            "br;q=1, GZIP;q=0.5",
            "*",
            "identity, *;q=1",
        ] {
            assert!(accepts_gzip(&headers(&[("accept-encoding", yes)])), "{yes}");
        }
        for no in ["", "br", "identity", "gzip;q=0", "gzip; q=0.0", "x-gzip2"] {
            assert!(!accepts_gzip(&headers(&[("accept-encoding", no)])), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_compares_weakly_and_knows_the_star() {
        let tag = "\"abc-gz\"";
        for yes in ["\"abc-gz\"", "W/\"abc-gz\"", "\"x\", \"abc-gz\"", "*"] {
            assert!(
                none_match(&headers(&[("if-none-match", yes)]), tag),
                "{yes}"
            );
        }
        for no in ["\"abc\"", "abc-gz", "\"ABC-GZ\""] {
            assert!(!none_match(&headers(&[("if-none-match", no)]), tag), "{no}");
        }
    }

    #[test]
    fn the_page_is_embedded_with_an_index() {
        let index = asset("/").expect("web/index.html is embedded");
        assert_eq!(index.path, "/index.html");
        assert!(index.gzip.is_some_and(|g| g.len() < index.identity.len()));
        assert!(asset("/api/status").is_none());
        assert!(asset("/nothing-here.js").is_none());
    }
}
