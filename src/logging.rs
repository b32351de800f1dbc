//! The daemon's log: `RUST_LOG` (default `info`) to stderr, without timestamps under systemd
//! (the journal adds them). It must never carry a token: the daemon's own lines never format
//! one ([`crate::player::StoredToken`]'s `Debug` hides them), and the dependencies that would
//! (rspotify, through the `log` crate) are kept out, see [`SECRET_LOGGING_TARGETS`].

use std::io::IsTerminal;

/// Logs to stderr; under systemd (`JOURNAL_STREAM` set) without timestamps, which the journal
/// adds itself. `RUST_LOG` overrides the level (default `info`). Called once, by `reveille run`.
pub fn init() {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// Crates that log secrets through the `log` crate: rspotify logs every request's headers
/// (the bearer token) at debug and the whole request at info. No `log` bridge is installed
/// (tracing-subscriber is built without `tracing-log`), so today their records go nowhere; if
/// one ever is, these stay at `warn` whatever `RUST_LOG` says.
const SECRET_LOGGING_TARGETS: [&str; 3] = ["rspotify", "rspotify::clients::base", "rspotify_http"];

/// `RUST_LOG` (default `info`), with [`SECRET_LOGGING_TARGETS`] capped at `warn`.
fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    let mut filter = rust_log
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    for target in SECRET_LOGGING_TARGETS {
        let cap = format!("{target}=warn")
            .parse()
            .expect("a target and a level make a valid directive");
        filter = filter.add_directive(cap);
    }
    filter
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::log_filter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the daemon's log shows of rspotify's header dump (as a `log` bridge would pass
    /// it on: the module path as the target) and of its own debug line, under `rust_log`.
    fn logged(rust_log: &str) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(log_filter(Some(rust_log)))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "rspotify::clients::base", "api_get: Bearer SECRET-1");
            tracing::info!(target: "rspotify_http::reqwest", "Making request SECRET-2");
            tracing::warn!(target: "rspotify::clients::oauth", "rspotify warning kept");
            tracing::debug!(target: "reveille::player", "own debug line kept");
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn rspotifys_request_dumps_never_reach_the_log_whatever_rust_log_says() {
        for rust_log in [
            "trace",
            "debug,rspotify=trace,rspotify_http=trace",
            "rspotify::clients::base=trace",
        ] {
            let log = logged(rust_log);
            assert!(!log.contains("SECRET"), "{rust_log}: {log}");
            assert!(log.contains("rspotify warning kept"), "{rust_log}: {log}");
        }
        assert!(logged("trace").contains("own debug line kept"));
        assert!(!logged("not a ( filter").contains("own debug line kept"));
    }
}
