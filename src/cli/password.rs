//! `reveille password`: sets or removes the owner's password, on the Pi, in the file beside the
//! config (`auth::PasswordFile`). It never talks to the daemon: the password is the owner's
//! and never travels over HTTP.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::app;
use crate::auth::PasswordFile;

pub(super) fn password(config: Option<PathBuf>, remove: bool) -> ExitCode {
    let config = config.unwrap_or_else(app::default_config_path);
    let dir = match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file = PasswordFile::new(&dir);
    let result = if remove {
        file.remove()
            .map(|removed| {
                if removed {
                    "password removed: the API is open to the home network".to_owned()
                } else {
                    "no password was set".to_owned()
                }
            })
            .map_err(|e| format!("cannot remove {}: {e}", file.path().display()))
    } else {
        read_new_password().and_then(|password| {
            file.set(&password)
                .map(|()| {
                    format!(
                        "password set ({}); phones log in on the page",
                        file.path().display()
                    )
                })
                .map_err(|e| e.to_string())
        })
    };
    super::finish("password", result)
}

/// From a terminal: asked twice without echo. Otherwise the first line of standard input.
fn read_new_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdin.lock(), &mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt_hidden("New password: ")?;
    let second = prompt_hidden("Again: ")?;
    if first != second {
        return Err("the two passwords differ; nothing changed".into());
    }
    Ok(first)
}

fn prompt_hidden(prompt: &str) -> Result<String, String> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    // SAFETY: termios is plain data, filled by tcgetattr before use; fd is stdin, a terminal.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err("cannot read the terminal's settings".into());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: as above; the saved settings are restored below on every path.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    eprintln!();
    read.map_err(|e| format!("cannot read the terminal: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
