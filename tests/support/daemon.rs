//! The real `reveille` binary as a test fixture: started on port 0 with a temp config, its log
//! collected line by line, killed when dropped. Readiness is the daemon's own "listening" log
//! line, never a sleep.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
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
}

/// How to start a daemon: extra arguments and environment.
pub struct DaemonBuilder {
    config: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Soft and hard RLIMIT_NOFILE for the daemon, set between fork and exec.
    open_files: Option<u64>,
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

    /// Starts the daemon with this open-file limit, soft and hard (so it cannot raise it).
    pub fn open_files_limit(mut self, limit: u64) -> Self {
        self.open_files = Some(limit);
        self
    }

    /// Starts the daemon on port 0 and waits for its "listening" line, or returns its log if
    /// it exits first.
    pub fn start(self) -> Result<Daemon, String> {
        let mut command = Command::new(BIN);
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
            .args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(&self.config)
            .args(&self.args)
            .env_remove("STATE_DIRECTORY")
            .env("RUST_LOG", "info")
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            seen: Vec::new(),
        };
        match daemon.wait_for_line(" listening ", Duration::from_secs(20)) {
            Ok(line) => {
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                daemon.addr = addr.parse().unwrap();
                Ok(daemon)
            }
            Err(seen) => {
                let _ = daemon.child.kill();
                let status = daemon.child.wait().unwrap();
                Err(format!("{status}\n{seen}"))
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
