//! What `/proc` says about a running daemon: resident memory (total, private, file-backed, and
//! per mapping from `smaps`), context switches per thread (its wakeups), and CPU time.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;

/// Resident memory in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    /// Private, anonymous pages (heap, stacks, relocated data): what the process costs.
    pub anon: u64,
    /// Pages of mapped files (the binary, libc): shared with the page cache, reclaimable.
    pub file: u64,
    pub peak: u64,
}

pub fn memory(pid: u32) -> Memory {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("the daemon runs");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        peak: field("VmHWM:"),
    }
}

/// Below this address qemu-user maps the guest (`guest_base` is 0x55_0000_0000 for an
/// aarch64 guest on an x86_64 host); qemu's own heap, libraries and code cache lie above.
const GUEST_END: u64 = 1 << 40;

/// `memory`, or for a daemon under qemu-user (`guest`) the same figures summed over the
/// guest's mappings only (`smaps`: `Rss`, and `Anonymous` as the private part).
pub fn memory_of(pid: u32, guest: bool) -> Memory {
    if !guest {
        return memory(pid);
    }
    let (mut rss, mut anon) = (0, 0);
    for mapping in smaps(pid).into_iter().filter(|m| m.start < GUEST_END) {
        rss += mapping.rss;
        anon += mapping.anonymous;
    }
    Memory {
        rss,
        anon,
        file: rss - anon,
        peak: rss,
    }
}

/// One mapping of `/proc/PID/smaps`, in KiB.
struct Mapping {
    start: u64,
    name: String,
    rss: u64,
    anonymous: u64,
    private_dirty: u64,
}

fn smaps(pid: u32) -> Vec<Mapping> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut mappings: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some((start, _)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            // A mapping's header: address range, perms, offset, device, inode, [name].
            let name = line.split_whitespace().nth(5).unwrap_or("[anonymous]");
            mappings.push(Mapping {
                start: u64::from_str_radix(start, 16).unwrap_or(u64::MAX),
                name: name.rsplit('/').next().unwrap_or(name).to_owned(),
                rss: 0,
                anonymous: 0,
                private_dirty: 0,
            });
            continue;
        }
        let (Some(mapping), Some(kib)) = (
            mappings.last_mut(),
            words.next().and_then(|v| v.parse::<u64>().ok()),
        ) else {
            continue;
        };
        match first {
            "Rss:" => mapping.rss += kib,
            "Anonymous:" => mapping.anonymous += kib,
            "Private_Dirty:" => mapping.private_dirty += kib,
            _ => {}
        }
    }
    mappings
}

/// Resident KiB per mapping, summed by what is mapped (`[heap]`, a file's name, `[stack]`,
/// anonymous), split into private-dirty and the rest, largest first; only the guest's under
/// qemu-user (`guest`).
pub fn smaps_by_mapping(pid: u32, guest: bool) -> Vec<(String, u64, u64)> {
    let mut sums: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for m in smaps(pid)
        .into_iter()
        .filter(|m| !guest || m.start < GUEST_END)
    {
        let sum = sums.entry(m.name).or_default();
        sum.0 += m.rss;
        sum.1 += m.private_dirty;
    }
    let mut by_mapping: Vec<(String, u64, u64)> = sums
        .into_iter()
        .filter(|(_, (rss, _))| *rss > 0)
        .map(|(name, (rss, dirty))| (name, rss, dirty))
        .collect();
    by_mapping.sort_by_key(|m| std::cmp::Reverse(m.1));
    by_mapping
}

/// Context switches of one thread: voluntary (it blocked: a wakeup of its own) and involuntary
/// (it was preempted while running, which depends on what else the machine runs).
#[derive(Clone, Copy, Default)]
pub struct Switches {
    pub voluntary: u64,
    pub involuntary: u64,
}

/// (thread name(id), its context switches) for each thread.
pub fn switches_per_thread(pid: u32) -> Vec<(String, Switches)> {
    let mut threads = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let Ok(status) = fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let field = |name: &str| -> Option<&str> {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
        };
        let count = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let switches = Switches {
            voluntary: count("voluntary_ctxt_switches:"),
            involuntary: count("nonvoluntary_ctxt_switches:"),
        };
        let name = format!(
            "{}({})",
            field("Name:").unwrap_or("?"),
            task.file_name().to_string_lossy()
        );
        threads.push((name, switches));
    }
    threads
}

/// Switches between two readings: the total (voluntary + involuntary), and the split: the
/// voluntary and involuntary totals, then "name: n" for each thread (a thread that appeared
/// in between counts from zero; one that ended is gone from the second reading, and `ended`
/// says how many did).
pub fn switches_between(
    before: &[(String, Switches)],
    after: &[(String, Switches)],
) -> (u64, String) {
    let (mut voluntary, mut involuntary) = (0, 0);
    let mut split = Vec::new();
    for (name, count) in after {
        let start = before
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Switches::default(), |(_, c)| *c);
        let v = count.voluntary - start.voluntary;
        let i = count.involuntary - start.involuntary;
        voluntary += v;
        involuntary += i;
        split.push(format!("{name}: {}", v + i));
    }
    let ended = before
        .iter()
        .filter(|(n, _)| !after.iter().any(|(m, _)| m == n))
        .count();
    if ended > 0 {
        split.push(format!("{ended} thread(s) ended"));
    }
    split.insert(
        0,
        format!("{voluntary} voluntary (the daemon's own wakeups), {involuntary} involuntary (preempted)"),
    );
    (voluntary + involuntary, split.join(", "))
}

/// CPU time (user + system) the process has used so far, all its threads including those
/// that ended, in milliseconds (`/proc/PID/stat`, in clock ticks of 10 ms).
pub fn cpu_ms(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("the daemon runs");
    // The command name is in parentheses and may contain spaces: count fields after it.
    let after_name = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 * 1000.0 / per_second
}
