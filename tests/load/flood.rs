//! Connections that take a slot and give nothing back, each on its own thread: silent ones
//! (connected, never a byte), idle keep-alive ones (one request, then nothing) and slowloris
//! ones (a request head one byte at a time, never finished). The daemon's header timeout
//! closes them; each comes back, as a buggy app or an attacker would.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Hold {
    Silent,
    AfterRequest,
    Slowloris,
}

#[derive(Default)]
struct Counts {
    connects: AtomicU64,
    closed_by_server: AtomicU64,
    refused: AtomicU64,
}

pub struct Flood {
    size: usize,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    threads: Vec<JoinHandle<()>>,
}

impl Flood {
    /// `size` connections: a sixth slowloris, a third idle after a request, the rest silent.
    pub fn start(addr: SocketAddr, size: usize) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let threads = (0..size)
            .map(|i| {
                let hold = match i % 6 {
                    0 => Hold::Slowloris,
                    1 | 2 => Hold::AfterRequest,
                    _ => Hold::Silent,
                };
                let (stop, counts) = (stop.clone(), counts.clone());
                std::thread::spawn(move || keep_one(addr, hold, &stop, &counts))
            })
            .collect();
        Flood {
            size,
            stop,
            counts,
            threads,
        }
    }

    /// Closes every connection; returns what happened, for the report.
    pub fn end(self) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        Summary {
            size: self.size,
            connects: self.counts.connects.load(Ordering::Relaxed),
            closed_by_server: self.counts.closed_by_server.load(Ordering::Relaxed),
            refused: self.counts.refused.load(Ordering::Relaxed),
        }
    }
}

pub struct Summary {
    size: usize,
    connects: u64,
    closed_by_server: u64,
    refused: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flood: {} held at once; {} connects, {} closed by the server (header/idle timeout), {} refused",
            self.size, self.connects, self.closed_by_server, self.refused
        )
    }
}

fn keep_one(addr: SocketAddr, hold: Hold, stop: &AtomicBool, counts: &Counts) {
    let head = b"GET /api/status HTTP/1.1\r\nHost: reveille\r\nX-Slow: ";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(addr) else {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        counts.connects.fetch_add(1, Ordering::Relaxed);
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Hold::AfterRequest = hold {
            let request = b"GET /healthz HTTP/1.1\r\nHost: reveille\r\n\r\n";
            if stream.write_all(request).is_err() {
                continue;
            }
        }
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Hold::Slowloris = hold {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                if stream.write_all(&[byte]).is_err() {
                    counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                sent += 1;
            }
            if closed_by_peer(&mut stream) {
                counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        // The pace an attacker reconnects at; keeps the flood from eating the machine's CPU.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits up to the read timeout (reading whatever comes); true if the server closed or reset
/// the connection.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}
