//! What the runner keeps on disk: the journal of the episode in progress (so a crash mid-ring
//! resumes instead of forgetting) and the history of finished episodes. Both are small JSON
//! files beside the config, replaced atomically and durably (mode 0600).

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Alarm;
use crate::store::RecordFile;

pub const JOURNAL_FILE: &str = "ring-episode.json";
pub const HISTORY_FILE: &str = "ring-history.json";
/// Episodes kept in the history.
pub const HISTORY_LEN: usize = 100;

/// The episode in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The alarm as it was when it fired (it may be edited or deleted meanwhile).
    pub alarm: Alarm,
    pub occurrence: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    /// When the current ring began (after a snooze, the re-ring).
    pub ringing_since: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub snoozes_used: u32,
    /// How far the fade-in got, so it continues after a snooze or a restart.
    pub fade_elapsed_ms: u64,
    #[serde(default)]
    pub paths: Vec<RingPath>,
    #[serde(default)]
    pub fallback_reason: Option<String>,
    /// When the current ring (or, snoozed, the next one) stops by itself; a resume does not
    /// extend it.
    #[serde(default)]
    pub ring_deadline: Option<DateTime<Utc>>,
}

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
    /// The daemon was down too long to resume it.
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

/// The last [`HISTORY_LEN`] episodes, newest first.
pub struct History {
    file: RecordFile,
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
        Ok(History { file, entries })
    }

    pub fn entries(&self) -> Vec<HistoryEntry> {
        self.entries.iter().cloned().collect()
    }

    pub async fn push(&mut self, entry: HistoryEntry) {
        self.entries.push_front(entry);
        self.entries.truncate(HISTORY_LEN);
        if let Err(e) = self.file.save(&self.entries).await {
            tracing::error!(path = %self.file.path().display(), "cannot save the ring history: {e}");
        }
    }
}
