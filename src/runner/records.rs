//! What the runner keeps on disk: the journal of the episode in progress (so a crash mid-ring
//! resumes instead of forgetting) and the history of finished episodes. Both are small JSON
//! files beside the config, replaced atomically and durably (mode 0600).
//!
//! Writes go through one writer task per file that saves the latest value: the runner's loop
//! never waits on a slow SD card, and a later write can never be overtaken by an earlier one.
//! The scheduler waits instead: a firing's [`Receipt`] is given once its episode is in the
//! journal on disk, and only then is the occurrence marked handled.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::episode::Episode;
use crate::scheduler::Receipt;
use crate::store::RecordFile;

pub const JOURNAL_FILE: &str = "ring-episode.json";
pub const HISTORY_FILE: &str = "ring-history.json";
/// Episodes kept in the history.
pub const HISTORY_LEN: usize = 100;

/// How an episode rang.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RingPath {
    Spotify,
    LocalSound,
    Buzzer,
    /// Every way to make a sound failed.
    Silent,
}

/// Who or what ended an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// A stop (or a snooze past the limit) from the API or the CLI.
    Api,
    Button,
    /// The maximum ring time passed.
    AutoStop,
    /// The daemon was down too long to resume it, or (a sleep timer) it stopped.
    Interrupted,
    /// The sleep timer ran out (or could not start).
    Timer,
    /// An alarm fired and ended the sleep timer.
    Alarm,
    /// Not rung: it fired while another alarm was ringing or snoozed.
    Overlapped,
}

/// One finished episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub alarm_id: Option<String>,
    pub label: String,
    pub occurrence: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub ended_by: EndedBy,
    /// The paths that rang, in order (e.g. Spotify, then the local sound after it stopped).
    pub paths: Vec<RingPath>,
    /// Why the fallback rang, or why nothing could.
    pub fallback_reason: Option<String>,
    pub snoozes: u32,
    pub duration_seconds: i64,
}

/// What a writer task is asked to do next; only the latest request counts.
#[derive(Clone, Debug)]
enum Write<T> {
    Nothing,
    Save(T),
    Remove,
}

/// Receipts to give once the request with this number (or a later one) is written.
type Waiting = Arc<Mutex<Vec<(u64, Receipt)>>>;

/// Saves (or removes) the latest value of one record file on its own task. Requests are
/// numbered, so a receipt waits for the request it followed, or a later one that replaced it.
struct Writer<T> {
    file: RecordFile,
    latest: watch::Sender<(u64, Write<T>)>,
    waiting: Waiting,
}

impl<T: Serialize + Clone + Send + Sync + 'static> Writer<T> {
    fn new(file: RecordFile) -> Writer<T> {
        Writer {
            file,
            latest: watch::Sender::new((0, Write::Nothing)),
            waiting: Waiting::default(),
        }
    }

    fn request(&self, write: Write<T>) {
        self.latest.send_modify(|(number, latest)| {
            *number += 1;
            *latest = write;
        });
    }

    /// Gives `receipt` once the last request is done (written, or failed and logged).
    fn when_written(&self, receipt: Receipt) {
        let number = self.latest.borrow().0;
        lock(&self.waiting).push((number, receipt));
    }

    fn spawn(&self) -> JoinHandle<()> {
        let mut requests = self.latest.subscribe();
        let (file, waiting) = (self.file.clone(), self.waiting.clone());
        tokio::spawn(async move {
            while requests.changed().await.is_ok() {
                let (number, write) = requests.borrow_and_update().clone();
                let result = match &write {
                    Write::Nothing => Ok(()),
                    Write::Save(value) => file.save(value).await,
                    Write::Remove => file.remove().await,
                };
                if let Err(e) = result {
                    tracing::error!(path = %file.path().display(), "cannot write the runner's record: {e}");
                }
                let done: Vec<_> = {
                    let mut waiting = lock(&waiting);
                    let (done, later) = std::mem::take(&mut *waiting)
                        .into_iter()
                        .partition(|(after, _)| *after <= number);
                    *waiting = later;
                    done
                };
                done.into_iter().for_each(|(_, receipt)| receipt.give());
            }
        })
    }
}

fn lock(waiting: &Waiting) -> std::sync::MutexGuard<'_, Vec<(u64, Receipt)>> {
    // A receipt list is always whole: a panic elsewhere cannot leave it half-changed.
    waiting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The journal of the episode in progress (`ring-episode.json`).
pub struct Journal(Writer<Episode>);

impl Journal {
    pub fn open(dir: &Path) -> io::Result<Journal> {
        Ok(Journal(Writer::new(RecordFile::new(dir, JOURNAL_FILE)?)))
    }

    /// The episode a previous run left, if any; an unreadable journal is logged and dropped.
    pub fn load(&self) -> Option<Episode> {
        match self.0.file.load() {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(path = %self.0.file.path().display(), "unreadable ring journal, ignored: {e}");
                self.remove();
                None
            }
        }
    }

    pub fn save(&self, episode: &Episode) {
        self.0.request(Write::Save(episode.clone()));
    }

    /// Gives a firing's receipt once the episode last saved is on disk.
    pub fn when_saved(&self, receipt: Receipt) {
        self.0.when_written(receipt);
    }

    pub fn remove(&self) {
        self.0.request(Write::Remove);
    }

    pub fn spawn_writer(&self) -> JoinHandle<()> {
        self.0.spawn()
    }
}

/// The last [`HISTORY_LEN`] episodes, newest first.
pub struct History {
    writer: Writer<VecDeque<HistoryEntry>>,
    entries: VecDeque<HistoryEntry>,
}

impl History {
    pub fn open(dir: &Path) -> io::Result<History> {
        let file = RecordFile::new(dir, HISTORY_FILE)?;
        let entries = match file.load::<VecDeque<HistoryEntry>>() {
            Ok(entries) => entries.unwrap_or_default(),
            Err(e) => {
                // Losing the history must not stop alarms.
                tracing::error!(path = %file.path().display(), "unreadable ring history, starting a new one: {e}");
                VecDeque::new()
            }
        };
        Ok(History {
            writer: Writer::new(file),
            entries,
        })
    }

    pub fn entries(&self) -> Vec<HistoryEntry> {
        self.entries.iter().cloned().collect()
    }

    /// Whether `alarm`'s `occurrence` already had its episode.
    pub fn holds(&self, alarm: &str, occurrence: DateTime<Utc>) -> bool {
        self.entries
            .iter()
            .any(|e| e.alarm_id.as_deref() == Some(alarm) && e.occurrence == Some(occurrence))
    }

    /// Adds an entry now; the file follows on the writer task.
    pub fn push(&mut self, entry: HistoryEntry) {
        self.entries.push_front(entry);
        self.entries.truncate(HISTORY_LEN);
        self.writer.request(Write::Save(self.entries.clone()));
    }

    pub fn spawn_writer(&self) -> JoinHandle<()> {
        self.writer.spawn()
    }
}
