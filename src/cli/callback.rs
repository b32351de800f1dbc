//! The short-lived listener on the loopback redirect address (`http://127.0.0.1:PORT/callback`)
//! that lets `reveille spotify login` finish without pasting when the browser runs on the Pi
//! itself or reaches it through an SSH tunnel.
//!
//! It binds only the redirect URI's loopback address and answers only `GET` on its path with
//! the `Host` a browser sends there (`127.0.0.1:PORT` or `[::1]:PORT`) and the `state` of the
//! login this command started; anything else is refused (400, 404, 405) and never reaches the
//! daemon. The first callback that passes is handed to the command, which completes the login
//! through the daemon and answers the browser with a small self-contained page. It owns no
//! secret: the code it sees is useless without the verifier, which stays in the daemon.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long closing waits for the last page to reach the browser.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Why there is no listener; the command then reads a pasted address only.
#[derive(Debug, thiserror::Error)]
pub(super) enum BindError {
    #[error(
        "the redirect URI {0} is not an http:// address on 127.0.0.1 or [::1] with a port, so this command cannot catch the browser's return: paste the address instead"
    )]
    NotLoopback(String),
    #[error(
        "{0} is in use by another program, so the browser's return cannot be caught here: paste the address instead (or set spotify.redirect_port to a free port and register that redirect URI)"
    )]
    Taken(SocketAddr),
    #[error("cannot listen on {addr} ({error}): paste the address instead")]
    Other {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A callback that passed every check: the address the browser was sent to.
pub(super) struct Callback {
    pub address: String,
    reply: oneshot::Sender<Outcome>,
}

/// What the browser is told.
pub(super) enum Outcome {
    Linked { name: Option<String> },
    Failed { status: u16, message: String },
}

impl Callback {
    pub fn answer(self, outcome: Outcome) {
        // The browser may have gone; the terminal says the same.
        let _ = self.reply.send(outcome);
    }
}

/// The running listener. Dropping it stops serving at once; [`Listener::close`] lets the last
/// page reach the browser first.
pub(super) struct Listener {
    addr: SocketAddr,
    callbacks: mpsc::Receiver<Callback>,
    shutdown: oneshot::Sender<()>,
    server: Server,
}

/// The serving task, stopped when its owner goes.
struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Shared {
    port: u16,
    path: String,
    state: String,
    /// One callback is handed over, then the rest are told the login is taken care of.
    handed_over: AtomicBool,
    callbacks: mpsc::Sender<Callback>,
}

impl Listener {
    /// Binds the redirect URI's address, for the login whose `state` is given.
    pub async fn bind(redirect_uri: &str, state: &str) -> Result<Listener, BindError> {
        let not_loopback = || BindError::NotLoopback(redirect_uri.to_owned());
        let uri = url::Url::parse(redirect_uri).map_err(|_| not_loopback())?;
        let ip: IpAddr = match uri.host() {
            Some(url::Host::Ipv4(ip)) => ip.into(),
            Some(url::Host::Ipv6(ip)) => ip.into(),
            _ => return Err(not_loopback()),
        };
        let port = uri.port().ok_or_else(not_loopback)?;
        if uri.scheme() != "http" || !ip.is_loopback() {
            return Err(not_loopback());
        }
        let addr = SocketAddr::new(ip, port);
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|error| match error.kind() {
                    std::io::ErrorKind::AddrInUse => BindError::Taken(addr),
                    _ => BindError::Other { addr, error },
                })?;
        let (callbacks_tx, callbacks) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            port,
            path: uri.path().to_owned(),
            state: state.to_owned(),
            handed_over: AtomicBool::new(false),
            callbacks: callbacks_tx,
        });
        let app = Router::new().fallback(answer).with_state(shared);
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let stopped = async {
                let _ = stop.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                eprintln!("reveille: spotify login: the listener on {addr} stopped: {e}");
            }
        });
        Ok(Listener {
            addr,
            callbacks,
            shutdown,
            server: Server(server),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first callback of this login; waits until one comes.
    pub async fn next(&mut self) -> Option<Callback> {
        self.callbacks.recv().await
    }

    /// Stops listening once the pages in flight are sent (at most [`CLOSE_WAIT`]).
    pub async fn close(self) {
        let Listener {
            callbacks,
            shutdown,
            mut server,
            ..
        } = self;
        // A callback still queued is answered "taken care of" by dropping its reply.
        drop(callbacks);
        let _ = shutdown.send(());
        // Past the wait, dropping `server` stops it.
        let _ = tokio::time::timeout(CLOSE_WAIT, &mut server.0).await;
    }
}

/// Every request, in one place: Host, then path, then method, then the login's `state`.
async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let expected = [
        format!("127.0.0.1:{}", shared.port),
        format!("[::1]:{}", shared.port),
    ];
    let Some(host) = host.filter(|h| expected.iter().any(|e| e.eq_ignore_ascii_case(h))) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Wrong address",
            "This listener only takes Spotify's return to 127.0.0.1.",
        );
    };
    if uri.path() != shared.path {
        return page(StatusCode::NOT_FOUND, "Not found", "Nothing here.");
    }
    if method != Method::GET {
        return page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Wrong method",
            "Only the browser's return from Spotify is taken here.",
        );
    }
    let query = uri.query().unwrap_or_default();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let answered = param("code").is_some() || param("error").is_some();
    if param("state").as_deref() != Some(shared.state.as_str()) || !answered {
        return page(
            StatusCode::BAD_REQUEST,
            "Not this login",
            "This is not the return of the login reveille spotify login is waiting for: \
             start it again from the link it printed.",
        );
    }
    if shared.handed_over.swap(true, Ordering::SeqCst) {
        return page(
            StatusCode::CONFLICT,
            "Already done",
            "This login is being completed already: see the terminal.",
        );
    }
    let (reply, outcome) = oneshot::channel();
    let callback = Callback {
        address: format!("http://{host}{}?{query}", shared.path),
        reply,
    };
    if shared.callbacks.send(callback).await.is_err() {
        return ended();
    }
    match outcome.await {
        Ok(Outcome::Linked { name }) => {
            let name = name.as_deref().unwrap_or("your Spotify account");
            page(
                StatusCode::OK,
                "Linked",
                &format!("Linked as {name}. You can close this page."),
            )
        }
        Ok(Outcome::Failed { status, message }) => page(
            StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            "Not linked",
            &format!("Not linked: {message}"),
        ),
        Err(_) => ended(),
    }
}

fn ended() -> Response {
    page(
        StatusCode::CONFLICT,
        "Already done",
        "The login ended in the terminal: see there.",
    )
}

/// A page with nothing to load: no scripts, no images, no other site.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>reveille: {title}</title>\
         <style>body{{font:1.2em/1.5 system-ui,sans-serif;max-width:32em;margin:3em auto;padding:0 1em}}</style>\
         </head><body><h1>{title}</h1><p>{}</p></body></html>\n",
        escape(text)
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    (status, headers, body).into_response()
}

/// The account name and the daemon's words are text, never markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One raw request (the test controls every header); the status code and the body.
    async fn send(addr: SocketAddr, head: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        (status, answer)
    }

    #[tokio::test]
    async fn only_this_logins_return_to_the_right_host_and_path_is_handed_over() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let uri = format!("http://127.0.0.1:{port}/callback");
        let mut listener = Listener::bind(&uri, "s1").await.unwrap();
        let addr = listener.addr();
        let host = format!("Host: 127.0.0.1:{port}");

        let refused = [
            (
                format!("GET /callback?code=c&state=s1 HTTP/1.1\r\nHost: evil.example:{port}"),
                400,
            ),
            ("GET /callback?code=c&state=s1 HTTP/1.1".to_owned(), 400),
            (
                format!("GET /other?code=c&state=s1 HTTP/1.1\r\n{host}"),
                404,
            ),
            (
                format!("POST /callback?code=c&state=s1 HTTP/1.1\r\n{host}"),
                405,
            ),
            (
                format!("GET /callback?code=c&state=s2 HTTP/1.1\r\n{host}"),
                400,
            ),
            (format!("GET /callback?state=s1 HTTP/1.1\r\n{host}"), 400),
        ];
        for (head, status) in &refused {
            assert_eq!(send(addr, head).await.0, *status, "{head}");
        }
        assert!(
            listener.callbacks.try_recv().is_err(),
            "a refused request got through"
        );

        let browser = tokio::spawn(async move {
            send(
                addr,
                &format!("GET /callback?code=c&state=s1 HTTP/1.1\r\n{host}"),
            )
            .await
        });
        let callback = listener.next().await.unwrap();
        assert_eq!(
            callback.address,
            format!("http://127.0.0.1:{port}/callback?code=c&state=s1")
        );
        callback.answer(Outcome::Linked {
            name: Some("<Ann & Bo>".into()),
        });
        let (status, page) = browser.await.unwrap();
        assert_eq!(status, 200);
        assert!(
            page.contains("Linked as &lt;Ann &amp; Bo&gt;. You can close this page."),
            "{page}"
        );
        assert!(page.contains("default-src 'none'"), "{page}");
        listener.close().await;
        // Closed: the port is free again.
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[tokio::test]
    async fn a_taken_port_or_a_foreign_redirect_uri_gives_no_listener() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let uri = format!("http://{addr}/callback");
        let error = Listener::bind(&uri, "s").await.err().unwrap();
        assert!(matches!(error, BindError::Taken(a) if a == addr), "{error}");
        assert!(error.to_string().contains("paste the address instead"));
        for foreign in [
            "http://192.168.1.2:8888/callback",
            "https://127.0.0.1:8888/callback",
            "http://localhost:8888/callback",
            "http://127.0.0.1/callback",
        ] {
            let error = Listener::bind(foreign, "s").await.err().unwrap();
            assert!(
                matches!(error, BindError::NotLoopback(_)),
                "{foreign}: {error}"
            );
        }
    }
}
