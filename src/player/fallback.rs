//! The local fallback sound: a WAV played in a loop by a system command (`aplay` on Raspberry
//! Pi OS, or the configured one) until stopped. The bundled sound is generated here (a beep
//! pattern), so nothing comes from Spotify and nothing needs the network.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::store::StoreFiles;

pub const BUNDLED_SOUND_FILE: &str = "alarm.wav";

/// A command that ends this fast, twice in a row, is not playing anything.
const QUICK_EXIT: Duration = Duration::from_millis(1500);

/// How to play the fallback sound.
#[derive(Clone, Debug)]
pub struct LocalSound {
    /// Program and arguments; the sound file is appended.
    pub command: Vec<String>,
    pub sound: PathBuf,
}

/// The sound playing; dropping it (or [`stop`](Self::stop)) kills the player.
pub struct PlayingSound {
    task: JoinHandle<()>,
    /// Fires if the command cannot play (cannot start, or fails at once, twice); `None` once
    /// it has been read.
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

impl LocalSound {
    /// Starts playing in a loop at once.
    pub fn start(&self) -> PlayingSound {
        let (report, failed) = oneshot::channel();
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut quick_failures = 0;
            let mut report = Some(report);
            loop {
                let started = tokio::time::Instant::now();
                let outcome = this.play_once().await;
                let quick = started.elapsed() < QUICK_EXIT;
                match outcome {
                    // A sound ends by itself only after it played (the bundled one: 1.6 s).
                    Ok(()) if quick => {
                        quick_failures += 1;
                        tracing::error!("fallback sound command ended at once without playing");
                        if quick_failures >= 2 {
                            if let Some(report) = report.take() {
                                let _ = report
                                    .send("the sound command ends at once without playing".into());
                            }
                            return;
                        }
                    }
                    Ok(()) => quick_failures = 0,
                    Err(e) if quick => {
                        quick_failures += 1;
                        tracing::error!("fallback sound command failed: {e}");
                        if quick_failures >= 2 {
                            if let Some(report) = report.take() {
                                let _ = report.send(e);
                            }
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("fallback sound command ended: {e}"),
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

    async fn play_once(&self) -> Result<(), String> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| "fallback.command is empty".to_owned())?;
        let mut child = Command::new(program)
            .args(args)
            .arg(&self.sound)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so a wrapper script's children stop with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        // Aborting the task drops this guard: the whole group is killed.
        let _group = child.id().map(KillGroup);
        let status = child.wait().await.map_err(|e| format!("{program}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{program} exited with {status}"))
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

/// Writes the bundled alarm sound into `dir` (atomically) and returns its path.
pub fn install_bundled_sound(dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join(BUNDLED_SOUND_FILE);
    let files = StoreFiles::new(&path)?;
    files.remove_leftovers()?;
    let bytes = alarm_wav();
    if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
        files.write_durably(&path, &bytes)?;
    }
    Ok(path)
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
            sound: "x.wav".into(),
        };
        let mut playing = sound.start();
        let reason = tokio::time::timeout(Duration::from_secs(10), playing.failed.take().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(reason.contains("/nonexistent/player"), "{reason}");
    }
}
