//! The real `reveille` binary as a test fixture: started on port 0 with a temp config, its log
//! (standard error and output) collected line by line, killed when dropped. Readiness is systemd's own protocol, never a
//! sleep or a log line: the fixture is the service manager, passes a datagram socket as
//! `NOTIFY_SOCKET` and waits for `READY=1`, whose `STATUS=… listening on ADDR` names the port.
//! Every notification after that (status lines, keep-alives, reload, stop) is kept for the
//! test (`wait_for_notification`).
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_reveille");

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    log: mpsc::Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
    /// The notification that said the daemon is ready (`READY=1`, `STATUS=...`).
    ready: String,
    /// The notifications after `READY=1`, read from the socket by a thread of their own.
    notifications: mpsc::Receiver<String>,
    /// Every notification read so far.
    notified: Vec<String>,
    /// Holds the notify socket, which the daemon may still write to (`STOPPING=1`).
    _notify: Notify,
}

/// The service manager's end of `NOTIFY_SOCKET`.
struct Notify {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Notify {
    fn new() -> Notify {
        // A directory of its own: socket paths are limited to 108 bytes and must not exist.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        Notify {
            socket,
            path,
            _dir: dir,
        }
    }

    /// Waits for the `READY=1` datagram; `None` when the daemon's log ended first (it sends an
    /// empty datagram, see `start`) or at the deadline.
    fn wait_for_ready(&self, deadline: Instant) -> Option<String> {
        let mut buffer = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).unwrap();
            let n = self.socket.recv(&mut buffer).ok()?;
            if n == 0 {
                return None;
            }
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if message.lines().any(|line| line == "READY=1") {
                return Some(message);
            }
        }
    }

    /// Reads the notifications that follow, until the empty datagram sent when the daemon's
    /// log ends (after every datagram the daemon sent).
    fn read_on(&self) -> mpsc::Receiver<String> {
        let socket = self.socket.try_clone().unwrap();
        socket.set_read_timeout(None).unwrap();
        let (tx, notifications) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if n == 0 || tx.send(message).is_err() {
                    break;
                }
            }
        });
        notifications
    }
}

/// The address in `STATUS=… listening on ADDR`.
fn listening_address(ready: &str) -> Option<SocketAddr> {
    ready
        .lines()
        .find_map(|line| line.strip_prefix("STATUS="))?
        .rsplit_once("listening on ")?
        .1
        .parse()
        .ok()
}

/// How to start a daemon: extra arguments and environment.
pub struct DaemonBuilder {
    config: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Soft and hard RLIMIT_NOFILE for the daemon, set between fork and exec.
    open_files: Option<u64>,
    /// Where it listens: port 0 unless a test restarts a daemon on the port it had.
    listen: SocketAddr,
    /// The binary: this build's unless a benchmark compares another.
    program: PathBuf,
}

impl DaemonBuilder {
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Listens on `addr` instead of a free port (a restart on the port the page knows).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Runs another build of the daemon (a benchmark comparing variants).
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = path.into();
        self
    }

    /// Starts the daemon with this open-file limit, soft and hard (so it cannot raise it).
    pub fn open_files_limit(mut self, limit: u64) -> Self {
        self.open_files = Some(limit);
        self
    }

    /// Starts the daemon on port 0 and waits until it notifies readiness, or returns its exit
    /// status and log if it exits first.
    pub fn start(self) -> Result<Daemon, String> {
        let notify = Notify::new();
        let mut command = Command::new(&self.program);
        if let Some(limit) = self.open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                command.pre_exec(move || {
                    let rlimit = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .args(["run", "--listen", &self.listen.to_string(), "--config"])
            .arg(&self.config)
            .args(&self.args)
            .env_remove("STATE_DIRECTORY")
            .env("RUST_LOG", "info")
            .env("NOTIFY_SOCKET", &notify.path)
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = mpsc::channel();
        // Standard output joins the log (the daemon writes nothing there; tests that scan the
        // log for secrets must see it all).
        let stdout = child.stdout.take().unwrap();
        let stdout_tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if stdout_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let wake = notify.path.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
            // The log ended, so the daemon did: wakes a start still waiting for READY.
            if let Ok(socket) = UnixDatagram::unbound() {
                let _ = socket.send_to(b"", &wake);
            }
        });
        let ready = notify.wait_for_ready(Instant::now() + Duration::from_secs(20));
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            seen: Vec::new(),
            ready: String::new(),
            notifications: mpsc::channel().1,
            notified: Vec::new(),
            _notify: notify,
        };
        match ready.as_deref().and_then(listening_address) {
            Some(addr) => {
                daemon.addr = addr;
                daemon.ready = ready.unwrap_or_default();
                daemon.notifications = daemon._notify.read_on();
                Ok(daemon)
            }
            None => {
                let _ = daemon.child.kill();
                let status = daemon.child.wait().unwrap();
                let log = daemon.log_until_closed(Duration::from_secs(5));
                let ready = ready.map_or(String::new(), |r| format!("\nnotified: {r:?}"));
                Err(format!("{status}{ready}\n{log}"))
            }
        }
    }
}

impl Daemon {
    pub fn builder(config: &Path) -> DaemonBuilder {
        DaemonBuilder {
            config: config.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            open_files: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            program: PathBuf::from(BIN),
        }
    }

    pub fn start(config: &Path) -> Result<Daemon, String> {
        Self::builder(config).start()
    }

    pub fn start_with(config: &Path, extra: &[&str]) -> Result<Daemon, String> {
        extra
            .iter()
            .fold(Self::builder(config), |b, a| b.arg(a))
            .start()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits for the next log line containing `needle` (lines already returned by an earlier
    /// wait are not searched again). On timeout or exit, returns the whole log so far.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(_) => return Err(self.seen.join("\n")),
            }
        }
    }

    /// Every line logged so far, including those not yet waited for.
    pub fn log_so_far(&mut self) -> String {
        while let Ok(line) = self.log.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }

    /// What the daemon sent with `READY=1` (systemd's notify protocol), e.g.
    /// `"READY=1\nSTATUS=listening on 127.0.0.1:41234\n"`.
    pub fn readiness(&self) -> &str {
        &self.ready
    }

    /// Waits for the next notification (after `READY=1`) that `accept`s, e.g.
    /// `|m| m == "WATCHDOG=1\n"`; those already returned are not searched again. On timeout or
    /// the daemon's end, returns every notification so far.
    pub fn wait_for_notification(
        &mut self,
        accept: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.notifications.recv_timeout(left) {
                Ok(message) => {
                    self.notified.push(message.clone());
                    if accept(&message) {
                        return Ok(message);
                    }
                }
                Err(_) => return Err(format!("{:?}", self.notified)),
            }
        }
    }

    /// Every notification after `READY=1`, once the daemon has ended (waiting at most
    /// `timeout` for the last of them).
    pub fn notifications_until_closed(&mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while let Ok(message) = self
            .notifications
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.notified.push(message);
        }
        self.notified.clone()
    }

    /// The whole log once the process has ended, waiting at most `timeout` for its end.
    fn log_until_closed(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }

    /// The rest of the log, after the process ended.
    pub fn rest_of_log(mut self) -> String {
        let rest: Vec<String> = self.log.iter().collect();
        self.seen.extend(rest);
        self.seen.join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
