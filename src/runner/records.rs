//! What the runner keeps on disk: the journal of the episode in progress (so a crash mid-ring
//! resumes instead of forgetting) and the history of finished episodes. Both are small JSON
//! files beside the config, replaced atomically and durably (mode 0600).
//!
//! Writes go through one writer task per file that saves the latest value: the runner's loop
//! never waits on a slow SD card, and a later write can never be overtaken by an earlier one.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::episode::Episode;
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

/// Saves (or removes) the latest value of one record file on its own task.
struct Writer<T> {
    file: RecordFile,
    latest: watch::Sender<Write<T>>,
}

impl<T: Serialize + Clone + Send + Sync + 'static> Writer<T> {
    fn new(file: RecordFile) -> Writer<T> {
        Writer {
            file,
            latest: watch::Sender::new(Write::Nothing),
        }
    }

    fn request(&self, write: Write<T>) {
        self.latest.send_replace(write);
    }

    fn spawn(&self) -> JoinHandle<()> {
        let mut requests = self.latest.subscribe();
        let file = self.file.clone();
        tokio::spawn(async move {
            while requests.changed().await.is_ok() {
                let write = requests.borrow_and_update().clone();
                let result = match &write {
                    Write::Nothing => Ok(()),
                    Write::Save(value) => file.save(value).await,
                    Write::Remove => file.remove().await,
                };
                if let Err(e) = result {
                    tracing::error!(path = %file.path().display(), "cannot write the runner's record: {e}");
                }
            }
        })
    }
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
