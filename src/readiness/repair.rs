//! The owner's repair command (`readiness.repair_command`, e.g. `systemctl restart
//! raspotify`), run when the pre-alarm check finds the receiver missing.
//!
//! It runs as an argv (no shell) in a process group of its own, with standard input closed
//! and its output captured into the log (the journal under systemd), bounded. If it does not
//! finish by the deadline ([`REPAIR_TIMEOUT`] in the daemon), the whole group is killed, so a
//! hung `systemctl` or a daemon it forked cannot outlive it. It runs on the automatic check's
//! own task: neither the scheduler nor the runner ever waits for it.

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::RepairResult;

/// How long the command may run.
pub const REPAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// Output kept per stream for the log; the rest is read and dropped so the command never
/// blocks on a full pipe.
const OUTPUT_LIMIT: usize = 4096;
/// Longest wait for a killed command to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `command` until it exits or `give_up` completes; returns how it went and its exit
/// code.
pub(super) async fn run(
    command: &[String],
    give_up: impl Future<Output = ()>,
) -> (RepairResult, Option<i32>) {
    let Some((program, args)) = command.split_first() else {
        return (RepairResult::NotStarted, None);
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(%program, "the readiness repair command could not be started: {e}");
            return (RepairResult::NotStarted, None);
        }
    };
    let group = child.id();
    tracing::info!(%program, pid = group, "running the readiness repair command: the receiver is missing");
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let finished = async {
        let (out, err, status) = tokio::join!(capped(stdout), capped(stderr), child.wait());
        log_output(program, "stdout", &out);
        log_output(program, "stderr", &err);
        status
    };
    tokio::select! {
        status = finished => match status {
            Ok(status) if status.success() => {
                tracing::info!(%program, "the readiness repair command succeeded");
                (RepairResult::Succeeded, status.code())
            }
            Ok(status) => {
                tracing::warn!(%program, %status, "the readiness repair command failed");
                (RepairResult::Failed, status.code())
            }
            Err(e) => {
                tracing::error!(%program, "cannot wait for the readiness repair command: {e}");
                (RepairResult::Failed, None)
            }
        },
        () = give_up => {
            if let Some(group) = group.and_then(|pid| i32::try_from(pid).ok()) {
                // SAFETY: plain syscall on a process group this function created; the child
                // is not reaped yet, so its id (the group's) has not been reused.
                unsafe { libc::killpg(group, libc::SIGKILL) };
            }
            let _ = tokio::time::timeout(REAP_TIMEOUT, child.wait()).await;
            tracing::error!(%program, "the readiness repair command did not finish in time and was killed");
            (RepairResult::TimedOut, None)
        }
    }
}

/// All of a stream, keeping the first [`OUTPUT_LIMIT`] bytes.
async fn capped(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut stream) = stream else {
        return kept;
    };
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
}

fn log_output(program: &str, stream: &str, bytes: &[u8]) {
    for line in String::from_utf8_lossy(bytes).lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            tracing::info!(%program, stream, "repair command: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `sh FILE`: executing a file just written races with other tests' forks, which may
    /// still hold it open for writing (`ETXTBSY`).
    fn script(dir: &Path, body: &str) -> Vec<String> {
        let path = dir.join("repair.sh");
        std::fs::write(&path, format!("{body}\n")).unwrap();
        vec!["/bin/sh".into(), path.to_str().unwrap().to_owned()]
    }

    fn never() -> std::future::Pending<()> {
        std::future::pending()
    }

    /// Neither running nor waiting to be reaped: gone, or a zombie nobody reaps here.
    fn running(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn exit_codes_and_a_missing_program_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let ok = script(dir.path(), "echo restarted; echo to stderr >&2");
        assert_eq!(run(&ok, never()).await, (RepairResult::Succeeded, Some(0)));
        let mut failing = script(dir.path(), "exit 3");
        failing.push("arg".into());
        assert_eq!(
            run(&failing, never()).await,
            (RepairResult::Failed, Some(3))
        );
        let missing = dir.path().join("no-such-program");
        assert_eq!(
            run(&[missing.to_str().unwrap().to_owned()], never()).await,
            (RepairResult::NotStarted, None)
        );
    }

    #[tokio::test]
    async fn arguments_are_passed_as_words_without_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("args");
        let mut words = script(
            dir.path(),
            &format!("printf '%s|' \"$@\" > {}", out.display()),
        );
        words.extend(["a b".into(), "$HOME".into(), ";".into()]);
        assert_eq!(run(&words, never()).await.0, RepairResult::Succeeded);
        assert_eq!(std::fs::read_to_string(out).unwrap(), "a b|$HOME|;|");
    }

    #[tokio::test]
    async fn loud_output_never_blocks_the_command() {
        let dir = tempfile::tempdir().unwrap();
        // Far more than a pipe holds (64 KiB) and than the log keeps.
        let loud = script(dir.path(), "head -c 1000000 /dev/zero | tr '\\0' x");
        assert_eq!(run(&loud, never()).await.0, RepairResult::Succeeded);
    }

    /// The deadline is a future the test completes once the command has started a child of
    /// its own: no real 30 s pass, and the kill reaches the whole group.
    #[tokio::test]
    async fn a_command_past_its_deadline_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let hung = script(
            dir.path(),
            &format!(
                "sleep 600 & echo $$ $! > {0}.tmp; mv {0}.tmp {0}; wait",
                pids.display()
            ),
        );
        let (deadline, passed) = tokio::sync::oneshot::channel::<()>();
        let watcher = async {
            let started = tokio::time::Instant::now();
            while !pids.exists() {
                assert!(started.elapsed() < Duration::from_secs(10), "never started");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = deadline.send(());
        };
        let (outcome, ()) = tokio::join!(
            run(&hung, async {
                let _ = passed.await;
            }),
            watcher
        );
        assert_eq!(outcome, (RepairResult::TimedOut, None));
        let text = std::fs::read_to_string(&pids).unwrap();
        let started: Vec<i32> = text
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(started.len(), 2, "{text}");
        // The kill is sent at once; the grandchild's exit follows within moments.
        let since = tokio::time::Instant::now();
        while started.iter().any(|pid| running(*pid)) {
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "still running: {started:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
