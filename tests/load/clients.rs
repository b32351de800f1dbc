//! The load test's well-behaved clients: readers of the cheap routes and the page, and writers
//! doing read-modify-write with `If-Match`, each adding to its own counter inside a field all
//! writers of its kind share (`w3=17` in the alarm's label, `c1=40` in the page title). Each
//! client keeps one keep-alive connection, as a phone's browser does, retries a 412 by reading
//! again, waits out a 503's `Retry-After`, and every answer is tallied by kind and status.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, ETAG, IF_MATCH, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// A phone's HTTP client.
pub fn client() -> Client {
    Client::builder()
        // Well under the daemon's idle timeout: a well-behaved client does not send on a
        // connection the server is about to close.
        .pool_idle_timeout(Duration::from_millis(500))
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Polls `check` until it returns `Some`; `None` after `within`.
pub async fn eventually<T>(
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A GET whose answer is JSON.
pub async fn get_json(client: &Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// The counters in a label or title: `"w0=3 w1=5"` → {w0: 3, w1: 5}.
pub fn counters(text: &str) -> BTreeMap<String, u64> {
    text.split_whitespace()
        .map(|pair| {
            let (key, n) = pair.split_once('=').unwrap_or_else(|| panic!("{text:?}"));
            (
                key.to_owned(),
                n.parse().unwrap_or_else(|_| panic!("{text:?}")),
            )
        })
        .collect()
}

fn bump(text: &str, key: &str) -> String {
    let mut counts = counters(text);
    *counts.entry(key.to_owned()).or_default() += 1;
    let pairs: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
    pairs.join(" ")
}

/// Every answer by kind, and what should not have happened.
#[derive(Default)]
pub struct Tally {
    answered: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    kinds: BTreeMap<&'static str, Kind>,
    /// Transport errors and unexpected statuses, the first few of each in words.
    failures: Vec<String>,
    failure_count: u64,
    /// 503s with `Retry-After` (load shed by design, which this daemon does not do).
    shed: u64,
}

#[derive(Default)]
struct Kind {
    statuses: BTreeMap<u16, u64>,
    micros: Vec<u32>,
}

impl Tally {
    /// Answers received so far.
    pub fn requests(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    fn answer(&self, kind: &'static str, status: StatusCode, took: Duration) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        let kind = inner.kinds.entry(kind).or_default();
        *kind.statuses.entry(status.as_u16()).or_default() += 1;
        kind.micros
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    fn failure(&self, what: String) {
        let mut inner = self.lock();
        inner.failure_count += 1;
        if inner.failures.len() < 10 {
            inner.failures.push(what);
        }
    }

    /// Fails the test on any transport error or unexpected status; a 5xx is always unexpected.
    pub fn assert_well_served(&self) {
        let inner = self.lock();
        assert_eq!(
            inner.failure_count, 0,
            "well-behaved clients were not served: {:#?}",
            inner.failures
        );
    }

    pub fn print(&self, over: Duration) {
        let inner = self.lock();
        let total: u64 = inner.kinds.values().flat_map(|k| k.statuses.values()).sum();
        println!(
            "requests: {total} answered, {:.0}/s; 412 retries {}; 503 shed {}; failures {}",
            total as f64 / over.as_secs_f64(),
            inner
                .kinds
                .values()
                .filter_map(|k| k.statuses.get(&412))
                .sum::<u64>(),
            inner.shed,
            inner.failure_count
        );
        for (name, kind) in &inner.kinds {
            let mut micros = kind.micros.clone();
            micros.sort_unstable();
            let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
            println!(
                "  {name:<24} {:?}  ms p50 {:.2} p99 {:.2} max {:.2}",
                kind.statuses,
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
    }
}

/// One request and its whole answer, tallied: `(status, ETag, body)`, or `None` after a
/// transport error or an unexpected status (both recorded as failures). A 503 with
/// `Retry-After` is waited out and answers `None`, so the caller tries again.
async fn exchange(
    tally: &Tally,
    kind: &'static str,
    expected: &[u16],
    request: RequestBuilder,
) -> Option<(StatusCode, Option<String>, Vec<u8>)> {
    let sent = Instant::now();
    let answer = async {
        let response = request.send().await?;
        let status = response.status();
        let etag = response
            .headers()
            .get(ETAG)
            .map(|v| v.to_str().unwrap().to_owned());
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body = response.bytes().await?.to_vec();
        Ok::<_, reqwest::Error>((status, etag, retry_after, body))
    };
    let (status, etag, retry_after, body) = match answer.await {
        Ok(answer) => answer,
        Err(e) => {
            tally.failure(format!("{kind}: {e:?}"));
            return None;
        }
    };
    tally.answer(kind, status, sent.elapsed());
    if status == StatusCode::SERVICE_UNAVAILABLE
        && let Some(seconds) = retry_after.and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        tally.lock().shed += 1;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return None;
    }
    if !expected.contains(&status.as_u16()) {
        let body = String::from_utf8_lossy(&body);
        tally.failure(format!("{kind}: {status} {body}"));
        return None;
    }
    Some((status, etag, body))
}

const READS: [(&str, &str); 5] = [
    ("GET /healthz", "/healthz"),
    ("GET /api/status", "/api/status"),
    ("GET /api/config", "/api/config"),
    ("GET /api/alarms", "/api/alarms"),
    ("GET / (the page)", "/"),
];

async fn reader(base: String, first: usize, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let client = client();
    for (kind, path) in READS.iter().cycle().skip(first) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let request = client
            .get(format!("{base}{path}"))
            .header(ACCEPT_ENCODING, "gzip");
        exchange(&tally, kind, &[200], request).await;
    }
}

/// What one writer changes: the alarm's label (PUT or merge-PATCH of the alarm) or the page
/// title (PUT of the whole document, which carries the alarm too: a stale one would undo the
/// alarm writers' work, which is what `If-Match` prevents).
#[derive(Clone, Copy)]
enum Target {
    AlarmByPut,
    AlarmByPatch,
    ConfigByPut,
}

/// Read-modify-write until stopped; returns the writes acknowledged with 200.
async fn writer(
    base: String,
    target: Target,
    key: String,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> u64 {
    let client = client();
    let (read_kind, url) = match target {
        Target::ConfigByPut => ("GET /api/config (writer)", format!("{base}/api/config")),
        _ => ("GET /api/alarms/wake", format!("{base}/api/alarms/wake")),
    };
    let mut acked = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some((_, etag, body)) = exchange(&tally, read_kind, &[200], client.get(&url)).await
        else {
            continue;
        };
        let mut document: Value = serde_json::from_slice(&body).unwrap();
        let etag = etag.expect("reads carry the revision as ETag");
        let (kind, request) = match target {
            Target::AlarmByPut => {
                document["label"] = bump(document["label"].as_str().unwrap(), &key).into();
                ("PUT /api/alarms/wake", client.put(&url).json(&document))
            }
            Target::AlarmByPatch => {
                let label = bump(document["label"].as_str().unwrap(), &key);
                let patch = client
                    .patch(&url)
                    .header(CONTENT_TYPE, "application/merge-patch+json")
                    .body(json!({ "label": label }).to_string());
                ("PATCH /api/alarms/wake", patch)
            }
            Target::ConfigByPut => {
                let title = &mut document["web"]["title"];
                *title = bump(title.as_str().unwrap(), &key).into();
                ("PUT /api/config", client.put(&url).json(&document))
            }
        };
        let request = request.header(IF_MATCH, etag);
        if let Some((StatusCode::OK, _, _)) = exchange(&tally, kind, &[200, 412], request).await {
            acked += 1;
        }
    }
    acked
}

/// Acknowledged writes per writer key, by where they went.
#[derive(Debug)]
pub struct Acked {
    pub alarm: BTreeMap<String, u64>,
    pub config: BTreeMap<String, u64>,
}

pub struct Load {
    readers: Vec<JoinHandle<()>>,
    writers: Vec<(Target, String, JoinHandle<u64>)>,
}

/// Starts the clients; they run until `stop` is set.
pub fn start(
    addr: SocketAddr,
    readers: usize,
    alarm_writers: usize,
    config_writers: usize,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> Load {
    let base = format!("http://{addr}");
    let readers = (0..readers)
        .map(|i| tokio::spawn(reader(base.clone(), i, tally.clone(), stop.clone())))
        .collect();
    let alarm = (0..alarm_writers).map(|i| {
        let target = if i % 2 == 0 {
            Target::AlarmByPut
        } else {
            Target::AlarmByPatch
        };
        (target, format!("w{i}"))
    });
    let config = (0..config_writers).map(|i| (Target::ConfigByPut, format!("c{i}")));
    let writers = alarm
        .chain(config)
        .map(|(target, key)| {
            let task = writer(
                base.clone(),
                target,
                key.clone(),
                tally.clone(),
                stop.clone(),
            );
            (target, key, tokio::spawn(task))
        })
        .collect();
    Load { readers, writers }
}

impl Load {
    /// Waits for every client to finish its request in flight (`stop` must be set).
    pub async fn finish(self) -> Acked {
        for reader in self.readers {
            reader.await.unwrap();
        }
        let mut acked = Acked {
            alarm: BTreeMap::new(),
            config: BTreeMap::new(),
        };
        for (target, key, writer) in self.writers {
            let n = writer.await.unwrap();
            match target {
                Target::ConfigByPut => acked.config.insert(key, n),
                _ => acked.alarm.insert(key, n),
            };
        }
        acked
    }
}
