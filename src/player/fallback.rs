//! The local fallback sound: a WAV played in a loop by a system command (`aplay` on Raspberry
//! Pi OS, or the configured one) until stopped. The bundled sound is generated in memory (a
//! beep pattern) and fed to the player on its standard input, so ringing needs no network, no
//! file and no free disk space. A player that is missing is found before anything runs: at
//! start for the status ([`check`]) and at ring time, where it is reported at once so the
//! buzzer takes over without retries.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::config::FallbackSettings;

/// The argument a player gets for the bundled sound: "read the WAV from standard input"
/// (what `aplay`, `sox`, `ffplay` and most players understand).
pub const STDIN_ARGUMENT: &str = "-";

/// A command that ends this fast, twice in a row, is not playing anything.
const QUICK_EXIT: Duration = Duration::from_millis(1500);

/// Generated once; the bytes live as long as the process.
static BUNDLED_WAV: LazyLock<Vec<u8>> = LazyLock::new(alarm_wav);

/// How to play the fallback sound.
#[derive(Clone, Debug)]
pub struct LocalSound {
    /// Program and arguments; the sound file (or [`STDIN_ARGUMENT`]) is appended.
    pub command: Vec<String>,
    /// A WAV file of the user's own; `None` plays the bundled sound through stdin.
    pub sound: Option<PathBuf>,
}

/// What `/api/status` says about the local sound (`fallback`), checked on every request so
/// installing the player or fixing the file shows without a restart.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FallbackStatus {
    /// The program that plays the sound, as found (`/usr/bin/aplay`); `null` if not found.
    pub program: Option<String>,
    /// `bundled` (fed on standard input) or the configured file.
    pub sound: String,
    /// Why the program cannot run: the alarm then goes from Spotify straight to the buzzer.
    pub error: Option<String>,
    /// Why the configured sound file cannot be read: the bundled sound plays instead.
    pub sound_error: Option<String>,
}

/// Checks the configured player and sound file without running anything.
pub fn check(settings: &FallbackSettings) -> FallbackStatus {
    let (program, error) = match settings.command.first().map(|p| find_program(p)) {
        Some(Ok(path)) => (Some(path.display().to_string()), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, Some("fallback.command is empty".to_owned())),
    };
    let (sound, sound_error) = match &settings.sound_file {
        None => ("bundled".to_owned(), None),
        Some(file) => (file.clone(), readable(Path::new(file)).err()),
    };
    FallbackStatus {
        program,
        sound,
        error,
        sound_error,
    }
}

/// Where `program` runs from: itself if it names a path, else the first match on `PATH`, as
/// the kernel and the shell would look. Only an executable regular file counts.
pub fn find_program(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        return executable(Path::new(program)).map(|()| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    let hint = if program == "aplay" {
        ": install alsa-utils (sudo apt install alsa-utils)"
    } else {
        ""
    };
    Err(format!(
        "the sound player {program} is not installed (not found in PATH {}){hint}",
        path.to_string_lossy()
    ))
}

fn executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(format!("{} is not a file", path.display())),
        // Root may run anything with one execute bit; nobody may run a file with none.
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
            Err(format!("{} is not executable", path.display()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot run {}: {e}", path.display())),
    }
}

fn readable(path: &Path) -> Result<(), String> {
    match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The sound playing; dropping it (or [`stop`](Self::stop)) kills the player.
pub struct PlayingSound {
    task: JoinHandle<()>,
    /// Fires if the command cannot play (missing, cannot start, or fails at once twice);
    /// `None` once it has been read.
    pub failed: Option<oneshot::Receiver<String>>,
}

impl PlayingSound {
    pub fn stop(self) {}
}

impl Drop for PlayingSound {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why one run of the player did not play.
struct PlayError {
    message: String,
    /// Running it again cannot help (the program is missing or not executable).
    permanent: bool,
}

impl LocalSound {
    /// Starts playing in a loop at once.
    pub fn start(&self) -> PlayingSound {
        let (report, failed) = oneshot::channel();
        let mut this = self.clone();
        let task = tokio::spawn(async move {
            // A file of the user's own that is gone must not cost the alarm its sound.
            if let Some(file) = &this.sound
                && let Err(e) = readable(file)
            {
                tracing::error!("fallback sound file: {e}; playing the bundled sound instead");
                this.sound = None;
            }
            let mut quick_failures = 0;
            let mut report = Some(report);
            let mut fail = |message: String| {
                if let Some(report) = report.take() {
                    let _ = report.send(message);
                }
            };
            loop {
                let started = tokio::time::Instant::now();
                let outcome = this.play_once().await;
                let quick = started.elapsed() < QUICK_EXIT;
                match outcome {
                    Err(e) if e.permanent => {
                        tracing::error!("fallback sound command cannot run: {}", e.message);
                        return fail(e.message);
                    }
                    // A sound ends by itself only after it played (the bundled one: 1.6 s).
                    Ok(()) if quick => {
                        quick_failures += 1;
                        tracing::error!("fallback sound command ended at once without playing");
                        if quick_failures >= 2 {
                            return fail("the sound command ends at once without playing".into());
                        }
                    }
                    Ok(()) => quick_failures = 0,
                    Err(e) if quick => {
                        quick_failures += 1;
                        tracing::error!("fallback sound command failed: {}", e.message);
                        if quick_failures >= 2 {
                            return fail(e.message);
                        }
                    }
                    Err(e) => tracing::warn!("fallback sound command ended: {}", e.message),
                }
                // Never spin: at most a restart every quarter second.
                if started.elapsed() < Duration::from_millis(250) {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        });
        PlayingSound {
            task,
            failed: Some(failed),
        }
    }

    async fn play_once(&self) -> Result<(), PlayError> {
        let permanent = |message: String| PlayError {
            message,
            permanent: true,
        };
        let transient = |message: String| PlayError {
            message,
            permanent: false,
        };
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| permanent("fallback.command is empty".to_owned()))?;
        // Checked first so a missing player is named plainly, not as a spawn error.
        find_program(program).map_err(permanent)?;
        let mut command = Command::new(program);
        command.args(args);
        match &self.sound {
            Some(file) => command.arg(file).stdin(Stdio::null()),
            None => command.arg(STDIN_ARGUMENT).stdin(Stdio::piped()),
        };
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so a wrapper script's children stop with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let message = format!("cannot run {program}: {e}");
                match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                        permanent(message)
                    }
                    _ => transient(message),
                }
            })?;
        // Aborting the task drops this guard: the whole group is killed.
        let _group = child.id().map(KillGroup);
        let stdin = child.stdin.take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A player that exits without reading makes this fail (EPIPE): its exit
                // status says what went wrong. Dropping stdin afterwards is its end of file.
                if let Err(e) = stdin.write_all(&BUNDLED_WAV).await {
                    tracing::debug!("feeding the bundled sound: {e}");
                }
            }
        };
        let mut feed = std::pin::pin!(feed);
        let mut fed = false;
        // Not a join: a child of the player holding stdin open must not keep this waiting
        // after the player itself has ended.
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                () = &mut feed, if !fed => fed = true,
            }
        };
        let status = status.map_err(|e| transient(format!("{program}: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(transient(format!("{program} exited with {status}")))
        }
    }
}

/// Kills a process group when dropped.
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        // SAFETY: signalling a process group we created; a group already gone is ESRCH.
        unsafe {
            libc::kill(-(self.0 as i32), libc::SIGKILL);
        }
    }
}

/// The bundled sound, as fed to the player.
pub fn bundled_wav() -> &'static [u8] {
    &BUNDLED_WAV
}

/// A 1.6 s beep pattern (four 880 Hz beeps, then a pause), 16-bit mono PCM at 16 kHz: what
/// every ALSA device plays.
pub fn alarm_wav() -> Vec<u8> {
    const RATE: u32 = 16_000;
    let mut samples = Vec::new();
    for _ in 0..4 {
        let beep = RATE * 15 / 100;
        for n in 0..beep {
            let t = n as f32 / RATE as f32;
            // 5 ms ramps keep the edges from clicking.
            let ramp = (n.min(beep - n) as f32 / (RATE as f32 * 0.005)).min(1.0);
            let value = (t * 880.0 * std::f32::consts::TAU).sin() * 0.6 * ramp;
            samples.push((value * i16::MAX as f32) as i16);
        }
        samples.extend(std::iter::repeat_n(0, (RATE / 10) as usize));
    }
    samples.extend(std::iter::repeat_n(0, (RATE * 6 / 10) as usize));

    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes()); // byte rate
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_sound_is_a_well_formed_wav() {
        let wav = alarm_wav();
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(wav[4..8].try_into().unwrap()) as usize,
            wav.len() - 8
        );
        let data_len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
        assert_eq!(data_len, wav.len() - 44);
        // 1.6 s at 16 kHz, 2 bytes a sample.
        assert_eq!(data_len, 16_000 * 16 / 10 * 2);
        // Not silence.
        assert!(
            wav[44..]
                .chunks(2)
                .any(|s| i16::from_le_bytes([s[0], s[1]]) > 10_000)
        );
    }

    #[tokio::test]
    async fn a_command_that_cannot_play_reports_failure() {
        let sound = LocalSound {
            command: vec!["/nonexistent/player".into()],
            sound: Some("x.wav".into()),
        };
        let mut playing = sound.start();
        let reason = tokio::time::timeout(Duration::from_secs(10), playing.failed.take().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(reason.contains("/nonexistent/player"), "{reason}");
    }

    #[tokio::test]
    async fn the_bundled_sound_reaches_the_player_on_stdin_with_a_dash() {
        let dir = tempfile::tempdir().unwrap();
        let got = dir.path().join("got");
        let sound = LocalSound {
            // $0 is the appended argument.
            command: vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "echo \"$0\" > '{0}.arg'; cat > '{0}'; exec sleep 600",
                    got.display()
                ),
            ],
            sound: None,
        };
        let playing = sound.start();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read(&got).ok().as_deref() != Some(bundled_wav()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAV never arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("got.arg")).unwrap(),
            "-\n"
        );
        playing.stop();
    }

    #[test]
    fn the_check_names_a_missing_player_and_a_missing_sound_file() {
        let status = check(&FallbackSettings {
            command: vec!["reveille-no-such-player".into()],
            sound_file: Some("/nonexistent/alarm.wav".into()),
        });
        assert_eq!(status.program, None);
        let error = status.error.unwrap();
        assert!(
            error.contains("reveille-no-such-player is not installed"),
            "{error}"
        );
        assert!(
            status
                .sound_error
                .unwrap()
                .contains("/nonexistent/alarm.wav")
        );

        let status = check(&FallbackSettings {
            command: vec!["sh".into()],
            sound_file: None,
        });
        assert!(status.program.unwrap().ends_with("/sh"));
        assert_eq!((status.error, status.sound_error), (None, None));
        assert_eq!(status.sound, "bundled");
    }

    #[test]
    fn a_file_without_execute_bits_is_not_a_player() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let player = dir.path().join("player");
        std::fs::write(&player, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&player, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = find_program(player.to_str().unwrap()).unwrap_err();
        assert!(error.contains("not executable"), "{error}");
        assert!(find_program(dir.path().to_str().unwrap()).is_err());
    }
}
