//! The daemon's resident memory and CPU time, sampled from `/proc` while the load runs, with
//! the number of answers the clients had received at that moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::clients::Tally;

const EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Since the load began.
    pub at: Duration,
    pub rss_kib: u64,
    /// User + system CPU time of the whole process.
    pub cpu_ms: u64,
    /// Answers the clients had received.
    pub requests: u64,
}

pub fn sample(pid: u32, at: Duration, requests: u64) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let rss_kib = rss.split_whitespace().nth(1).unwrap().parse().unwrap();
    // Fields 14 and 15 of stat (utime, stime, in clock ticks), counted after the
    // parenthesised command name, which may contain spaces.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap();
    Sample {
        at,
        rss_kib,
        cpu_ms: ticks * 1000 / per_second,
        requests,
    }
}

/// Samples every 250 ms until `stop`.
pub fn start(
    pid: u32,
    began: Instant,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<Vec<Sample>> {
    let (tally, stop) = (tally.clone(), stop.clone());
    tokio::spawn(async move {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            samples.push(sample(pid, began.elapsed(), tally.requests()));
            tokio::time::sleep(EVERY).await;
        }
        samples
    })
}

/// Prints CPU time and resident memory: before the load, after the warm-up, at its end and
/// a moment after, and one sample a second.
pub fn report(before_kib: u64, samples: &[Sample], warm: Sample, end: Sample, after: Sample) {
    let first = samples[0];
    let cpu_ms = end.cpu_ms - first.cpu_ms;
    let wall = end.at - first.at;
    println!(
        "daemon CPU: {:.1} s over {:.1} s of load ({:.0} % of one core), {:.0} ms per 1000 requests",
        cpu_ms as f64 / 1000.0,
        wall.as_secs_f64(),
        cpu_ms as f64 / wall.as_millis() as f64 * 100.0,
        cpu_ms as f64 * 1000.0 / (end.requests - first.requests) as f64
    );
    println!(
        "VmRSS KiB: before the load {before_kib}, after the warm-up ({:.1} s) {}, end of the load {}, \
         {:.1} s later {}",
        warm.at.as_secs_f64(),
        warm.rss_kib,
        end.rss_kib,
        (after.at - end.at).as_secs_f64(),
        after.rss_kib
    );
    println!("VmRSS KiB each second: {}", trace(samples));
}

/// One sample a second, as `t:KiB`.
fn trace(samples: &[Sample]) -> String {
    let per_second = (Duration::from_secs(1).as_millis() / EVERY.as_millis()) as usize;
    let shown: Vec<String> = samples
        .iter()
        .step_by(per_second)
        .map(|s| format!("{:.0}s:{}", s.at.as_secs_f64(), s.rss_kib))
        .collect();
    shown.join(" ")
}
