//! The trust boundary, applied to every request before any handler runs.
//!
//! The daemon listens on the home network, which is not trusted: any device on it, and any web
//! page the user visits (through the user's own browser), can send requests. In order:
//! 1. `Host` must name this machine (an IP literal, `localhost`, the host name, `<host>.local`,
//!    or `web.allowed_hosts`): a DNS-rebinding page uses its own name and gets 421.
//! 2. A request that changes something (any method but GET/HEAD/OPTIONS) with an `Origin` must
//!    come from the daemon's own origin (403), and a body must be JSON (415). A browser sends a
//!    cross-site request without asking only with a form or text body or none, and then always
//!    with its `Origin`; a JSON body needs a CORS preflight, which the daemon never grants.
//! 3. With a password set, every route but `/healthz`, `/api/session` and the page's static
//!    files needs a session cookie, or the local CLI token from a loopback connection (401).
//!
//! Every response, refusals included, carries the security headers. ARCHITECTURE.md has the
//! threat model this implements.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::auth::{CliToken, LoginLimiter, PasswordFile, Sessions, same_secret};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "reveille_session";

/// Who may do what: the password, open sessions, login attempts, and the CLI's token.
pub struct Access {
    pub(super) password: PasswordFile,
    pub(super) sessions: Mutex<Sessions>,
    pub(super) limiter: Mutex<LoginLimiter>,
    /// One password check at a time: argon2 uses ~19 MiB while it runs.
    pub(super) verifying: Arc<tokio::sync::Semaphore>,
    cli_token: Option<String>,
    /// This machine's names (lowercase): its host name and `<host name>.local`.
    own_names: Vec<String>,
}

impl Access {
    /// Access for the daemon whose files live in `state_dir`; `cli_token` is what
    /// [`CliToken::create`] wrote there (`None`: the CLI needs the password like anyone).
    pub fn new(state_dir: &Path, cli_token: Option<String>) -> Access {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_default();
        let own_names = if host.is_empty() {
            Vec::new()
        } else {
            vec![format!("{host}.local"), host]
        };
        Access {
            password: PasswordFile::new(state_dir),
            sessions: Mutex::default(),
            limiter: Mutex::default(),
            verifying: Arc::new(tokio::sync::Semaphore::new(1)),
            cli_token,
            own_names,
        }
    }

    /// Writes a fresh CLI token into `state_dir` and returns access that accepts it.
    pub fn with_new_cli_token(state_dir: &Path) -> std::io::Result<Access> {
        let token = CliToken::create(state_dir)?;
        Ok(Access::new(state_dir, Some(token)))
    }

    pub fn password_set(&self) -> bool {
        self.password.current().is_some()
    }

    /// Whether `headers` carry an open session under the password `hash`. Every cookie of our
    /// name counts: another service on the same host name may have set one (cookies do not
    /// keep ports apart), and it must not lock the phone out.
    pub(super) fn has_session(&self, headers: &HeaderMap, hash: &Arc<str>) -> bool {
        let now = tokio::time::Instant::now();
        let mut sessions = self
            .sessions
            .lock()
            .expect("the sessions lock is never poisoned");
        session_cookies(headers).any(|id| sessions.check(id, Some(hash), now))
    }
}

/// The middleware: checks the request, runs it, and adds the security headers to whatever
/// comes back.
pub(super) async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/") || request.uri().path() == "/healthz";
    let mut response = match check(&app, &request) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    };
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    );
    set(
        headers,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if api {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn check(app: &AppState, request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (None, _) => None,
        (Some(host), None) => Some(host.to_str().unwrap_or("\u{fffd}")),
        (Some(_), Some(_)) => Some("\u{fffd}"),
    };
    if let Some(host) = host {
        let allowed = &app.store.snapshot().config.web.allowed_hosts;
        if !host_allowed(host, &app.access.own_names, allowed) {
            return Err(refused(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                format!(
                    "this daemon does not answer to the name {host:?}; use its IP address or \
                     host name, or add the name to web.allowed_hosts in the config file on the Pi"
                ),
            ));
        }
    }
    let method = request.method();
    let changes_something = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_something {
        same_origin(headers, host)?;
        json_or_empty(headers)?;
    }
    if needs_login(method, request.uri().path()) && !logged_in(app, request) {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "this daemon has a password: log in with POST /api/session".into(),
        ));
    }
    Ok(())
}

fn refused(status: StatusCode, code: &'static str, message: String) -> ApiError {
    ApiError::Refused {
        status,
        code,
        message,
    }
}

/// An IP literal, `localhost`, one of this machine's names, or one the owner listed.
pub(super) fn host_allowed(host: &str, own_names: &[String], listed: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else {
            return false;
        };
        return literal.parse::<Ipv6Addr>().is_ok() && port_or_nothing(after);
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port_or_nothing(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<Ipv4Addr>().is_ok()
        || name == "localhost"
        || own_names.contains(&name)
        || listed
            .iter()
            .any(|l| l.trim_end_matches('.').eq_ignore_ascii_case(&name))
}

fn port_or_nothing(after: &str) -> bool {
    after.is_empty()
        || after
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A present `Origin` (and `Sec-Fetch-Site`) must say the request comes from the daemon's own
/// page. Without them it is not a browser's cross-site request.
fn same_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), ApiError> {
    let cross = |what: String| {
        refused(
            StatusCode::FORBIDDEN,
            "cross_origin",
            format!("{what}: changes are accepted only from the daemon's own page"),
        )
    };
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(cross("a request from another site".into()));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("?");
    let own = host.is_some_and(|host| {
        ["http://", "https://"].iter().any(|scheme| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        })
    });
    if own {
        Ok(())
    } else {
        Err(cross(format!("a request from origin {origin:?}")))
    }
}

/// A body must be JSON; a request without a body may leave the type out. The media type is
/// what comes before the parameters; a parameter with bytes that are not ASCII (obs-text, which
/// `HeaderValue::to_str` refuses) does not hide it.
pub(super) fn json_or_empty(headers: &HeaderMap) -> Result<(), ApiError> {
    let media = headers.get(header::CONTENT_TYPE).map(|value| {
        let media = value.as_bytes().split(|&b| b == b';').next().unwrap_or(b"");
        String::from_utf8_lossy(media.trim_ascii()).to_ascii_lowercase()
    });
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes().trim_ascii() != b"0");
    match media.as_deref() {
        Some("application/json" | "application/merge-patch+json") => Ok(()),
        None if !has_body => Ok(()),
        other => Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the body must be JSON with Content-Type: application/json (got {})",
                other.unwrap_or("no Content-Type")
            ),
        )),
    }
}

/// `/healthz`, the login and the page's static files are open; everything else needs a login
/// when a password is set.
fn needs_login(method: &Method, path: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD);
    !(path == "/api/session" || (read && (path == "/healthz" || !path.starts_with("/api/"))))
}

fn logged_in(app: &AppState, request: &Request) -> bool {
    let Some(hash) = app.access.password.current() else {
        return true;
    };
    if app.access.has_session(request.headers(), &hash) {
        return true;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (bearer, &app.access.cli_token) {
        (Some(sent), Some(token)) => {
            client_address(request.extensions()).is_some_and(|ip| ip.is_loopback())
                && same_secret(sent, token)
        }
        _ => false,
    }
}

/// Every session id in the `Cookie` header(s).
pub(super) fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

/// The peer's address, when the server recorded it.
pub(super) fn client_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_canonical())
}

/// Adds the guard's refusals to every operation of the OpenAPI description, so a client (or a
/// fuzzer) finds every status the API can answer documented.
pub(super) fn describe_refusals(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let refusal = |description: &str| -> RefOr<utoipa::openapi::Response> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::HEAD, &mut item.head),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else {
                continue;
            };
            let mut add = |status: &str, description: &str| {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| refusal(description));
            };
            add("421", "The Host header does not name this machine");
            if !matches!(method, Method::GET | Method::HEAD) {
                add("403", "A request from another site's page (Origin)");
                add("415", "The body is not JSON");
            }
            if needs_login(&method, path) {
                add("401", "A password is set and this request has no session");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_name_this_machine_pass_and_others_do_not() {
        let own = vec!["alarmpi.local".to_owned(), "alarmpi".to_owned()];
        let listed = vec!["clock.home.arpa".to_owned()];
        for host in [
            "192.168.1.20:8080",
            "10.0.0.1",
            "[::1]:8080",
            "[fe80::1]",
            "localhost:8080",
            "LOCALHOST",
            "alarmpi:8080",
            "AlarmPi.local.",
            "clock.home.arpa:80",
        ] {
            assert!(host_allowed(host, &own, &listed), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "192.168.1.20.nip.io",
            "alarmpi.evil.example",
            "localhost.evil.example",
            "[::1",
            "[::1]x",
            "alarmpi:80a",
            "",
        ] {
            assert!(!host_allowed(host, &own, &listed), "{host}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_the_own_origin_and_json_bodies_change_things() {
        let host = Some("192.168.1.20:8080");
        assert!(same_origin(&headers(&[]), host).is_ok());
        assert!(same_origin(&headers(&[("origin", "http://192.168.1.20:8080")]), host).is_ok());
        for origin in [
            "http://evil.example",
            "null",
            "http://192.168.1.20",
            "http://192.168.1.20:8080.evil",
        ] {
            assert!(
                same_origin(&headers(&[("origin", origin)]), host).is_err(),
                "{origin}"
            );
        }
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")]), host).is_err());

        assert!(json_or_empty(&headers(&[])).is_ok());
        assert!(json_or_empty(&headers(&[("content-length", "0")])).is_ok());
        assert!(
            json_or_empty(&headers(&[
                ("content-type", "application/json; charset=utf-8"),
                ("content-length", "2")
            ]))
            .is_ok()
        );
        assert!(
            json_or_empty(&headers(&[(
                "content-type",
                "application/merge-patch+json"
            )]))
            .is_ok()
        );
        for refused in [
            vec![("content-type", "text/plain"), ("content-length", "2")],
            vec![("content-type", "application/x-www-form-urlencoded")],
            vec![("content-type", "multipart/form-data; boundary=x")],
            vec![("content-length", "2")],
            vec![("transfer-encoding", "chunked")],
        ] {
            assert!(json_or_empty(&headers(&refused)).is_err(), "{refused:?}");
        }
    }

    /// Found by the `http_body` fuzz target (`fuzz/regressions/http_body/`): a JSON body whose
    /// `Content-Type` had a parameter with non-ASCII bytes was refused as "(got )".
    #[test]
    fn a_json_media_type_with_a_non_ascii_parameter_is_json() {
        let mut h = headers(&[("content-length", "2")]);
        let value = HeaderValue::from_bytes(b"application/merge-patch+json; \xff\xfex").unwrap();
        h.insert(header::CONTENT_TYPE, value);
        assert!(json_or_empty(&h).is_ok());
        let value = HeaderValue::from_bytes(b"text/\xffplain").unwrap();
        h.insert(header::CONTENT_TYPE, value);
        let refused = json_or_empty(&h).unwrap_err().to_string();
        assert!(refused.contains("got text/\u{fffd}plain"), "{refused}");
    }

    #[test]
    fn the_open_routes_are_few() {
        assert!(!needs_login(&Method::GET, "/healthz"));
        assert!(!needs_login(&Method::POST, "/api/session"));
        assert!(!needs_login(&Method::GET, "/"));
        assert!(!needs_login(&Method::GET, "/app.js"));
        assert!(needs_login(&Method::POST, "/healthz"));
        assert!(needs_login(&Method::POST, "/"));
        assert!(needs_login(&Method::GET, "/api/status"));
        assert!(needs_login(&Method::GET, "/api/config"));
        assert!(needs_login(&Method::POST, "/api/ring/stop"));
    }

    #[test]
    fn every_session_cookie_is_found_among_others() {
        let h = headers(&[(
            "cookie",
            "a=1; reveille_session=abc; b=2; reveille_session=def",
        )]);
        assert_eq!(session_cookies(&h).collect::<Vec<_>>(), ["abc", "def"]);
        let h = headers(&[("cookie", "reveille_sessionx=abc")]);
        assert_eq!(session_cookies(&h).next(), None);
    }
}
