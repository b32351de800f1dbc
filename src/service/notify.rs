//! The datagram socket to the service manager (`NOTIFY_SOCKET`, sd_notify(3)). The messages
//! are `sd_notify`'s [`NotifyState`]s; the socket is ours so that it never blocks the runtime
//! (a manager that stops reading must not stall the alarm: a full queue drops the message),
//! so tests can point it at a socket of their own, and so an abstract address (`@name`) works.
//!
//! It sends nothing it is not told to; what is sent when is `service`'s business.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use sd_notify::NotifyState;

/// Where notifications go; a disabled one (no `NOTIFY_SOCKET`) sends nothing.
#[derive(Clone, Default)]
pub struct Notifier(Option<Arc<Target>>);

struct Target {
    socket: UnixDatagram,
    to: SocketAddr,
    /// A failed send is logged once as a warning, then at debug level.
    warned: AtomicBool,
}

impl Notifier {
    /// systemd's socket from `NOTIFY_SOCKET`, or a disabled notifier when it is not set (not
    /// started by systemd as `Type=notify`) or unusable (logged).
    pub fn from_env() -> Notifier {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(path) => Notifier::to(&path).unwrap_or_else(|e| {
                tracing::warn!(
                    ?path,
                    "NOTIFY_SOCKET is unusable, systemd hears nothing: {e}"
                );
                Notifier::default()
            }),
            None => Notifier::default(),
        }
    }

    /// A notifier for the socket at `path` (`@name` for an abstract one).
    pub fn to(path: &OsStr) -> io::Result<Notifier> {
        let to = match path.as_bytes() {
            [b'@', name @ ..] => SocketAddr::from_abstract_name(name)?,
            _ => SocketAddr::from_pathname(path)?,
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Notifier(Some(Arc::new(Target {
            socket,
            to,
            warned: AtomicBool::new(false),
        }))))
    }

    /// Whether anyone listens.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// One datagram with `states`, one per line. Never blocks and never fails the caller.
    pub fn send(&self, states: &[NotifyState]) {
        let Some(target) = &self.0 else {
            return;
        };
        let message: String = states.iter().map(|s| format!("{s}\n")).collect();
        if let Err(e) = target.socket.send_to_addr(message.as_bytes(), &target.to) {
            if target.warned.swap(true, Ordering::Relaxed) {
                tracing::debug!("cannot notify systemd: {e}");
            } else {
                tracing::warn!("cannot notify systemd (said once): {e}");
            }
        }
    }
}

/// Makes `text` one line: a `STATUS=` value must not carry a newline (it would start a
/// variable of its own), and labels come from the API.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        let notifier = Notifier::to(path.as_os_str()).unwrap();
        (dir, socket, notifier)
    }

    fn received(socket: &UnixDatagram) -> Option<String> {
        let mut buffer = [0u8; 4096];
        let n = socket.recv(&mut buffer).ok()?;
        Some(String::from_utf8_lossy(&buffer[..n]).into_owned())
    }

    #[test]
    fn one_datagram_carries_every_state_one_per_line() {
        let (_dir, socket, notifier) = receiver();
        notifier.send(&[
            NotifyState::Ready,
            NotifyState::Status("next alarm Mon 06:45"),
        ]);
        assert_eq!(
            received(&socket).as_deref(),
            Some("READY=1\nSTATUS=next alarm Mon 06:45\n")
        );
    }

    #[test]
    fn a_label_cannot_add_a_variable_of_its_own() {
        let (_dir, socket, notifier) = receiver();
        let status = one_line("ringing: Wake\nWATCHDOG=trigger\rMAINPID=1");
        notifier.send(&[NotifyState::Status(&status)]);
        let message = received(&socket).unwrap();
        assert_eq!(message.lines().count(), 1, "{message:?}");
        assert!(message.starts_with("STATUS=ringing: Wake WATCHDOG=trigger"));
    }

    #[test]
    fn a_manager_that_does_not_read_never_blocks_the_sender() {
        let (_dir, socket, notifier) = receiver();
        // Far more than the socket's queue holds: the excess is dropped, nothing blocks.
        for _ in 0..5000 {
            notifier.send(&[NotifyState::Watchdog]);
        }
        assert_eq!(received(&socket).as_deref(), Some("WATCHDOG=1\n"));
    }

    #[test]
    fn an_abstract_socket_is_reached_by_its_at_name() {
        let name = format!("reveille-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        socket.set_nonblocking(true).unwrap();
        let notifier = Notifier::to(OsStr::new(&format!("@{name}"))).unwrap();
        notifier.send(&[NotifyState::Stopping]);
        assert_eq!(received(&socket).as_deref(), Some("STOPPING=1\n"));
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_nothing_fails() {
        let notifier = Notifier::default();
        assert!(!notifier.enabled());
        notifier.send(&[NotifyState::Ready]);
    }
}
