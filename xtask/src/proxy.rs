//! A TCP proxy in front of the origin that a test can make hang: new connections are accepted and
//! held without an answer, and open (keep-alive) ones stop relaying answers, as an overloaded or
//! wedged origin would, so the edge's timeout shows.

use std::io::{Read, Write, copy};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::error::Result;

pub struct Proxy {
    pub port: u16,
    hang: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let hang = Arc::new(AtomicBool::new(false));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_hang, accept_held) = (hang.clone(), held.clone());
        // The thread ends with the process: xtask's run is short-lived.
        thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                if accept_hang.load(Ordering::SeqCst) {
                    if let Ok(mut held) = accept_held.lock() {
                        held.push(inbound);
                    }
                    continue;
                }
                let (hang, held) = (accept_hang.clone(), accept_held.clone());
                thread::spawn(move || forward(inbound, upstream, &hang, &held));
            }
        });
        Ok(Self { port, hang, held })
    }

    /// From now on, new connections get no answer; off again, the held ones are closed.
    pub fn hang(&self, on: bool) {
        self.hang.store(on, Ordering::SeqCst);
        if !on && let Ok(mut held) = self.held.lock() {
            for stream in held.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copies both ways until either side closes; an upstream that refuses closes the client. While
/// the proxy hangs, an answer is not relayed: the client's connection is held open, silent.
fn forward(inbound: TcpStream, upstream: SocketAddr, hang: &AtomicBool, held: &Mutex<Vec<TcpStream>>) {
    let Ok(outbound) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut in_read), Ok(mut out_write)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    let upward = thread::spawn(move || {
        let _ = copy(&mut in_read, &mut out_write);
        let _ = out_write.shutdown(Shutdown::Write);
    });
    let (mut out_read, mut in_write) = (outbound, inbound);
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match out_read.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if hang.load(Ordering::SeqCst) {
            let _ = out_read.shutdown(Shutdown::Both);
            if let Ok(mut held) = held.lock() {
                held.push(in_write);
            }
            let _ = upward.join();
            return;
        }
        if in_write.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = in_write.shutdown(Shutdown::Write);
    let _ = upward.join();
}
