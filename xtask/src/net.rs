use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Context, Error, Result};

/// A port the kernel just handed out, so nothing else was listening on it a moment ago. The
/// caller binds it right away; the window in between is small enough for a dev tool.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context(|| "cannot find a free port".to_owned())?;
    Ok(listener.local_addr()?.port())
}

/// Fails if something already listens on `addr`: the readiness probe would otherwise take that
/// server's answer for ours, and the origin would die on its own bind a moment later.
pub fn ensure_free(addr: &str, variable: &str) -> Result<()> {
    match TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(error) => Err(Error::failed(format!(
            "cannot use {addr} ({error}): stop what listens there, or set {variable} to another \
             address (environment or config/.env)"
        ))),
    }
}

/// The status code of `GET path`, or `None` while nothing answers. A hand-written HTTP/1.0
/// request keeps xtask free of an HTTP client for this one probe.
pub fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    get_status_within(addr, path, Duration::from_secs(2))
}

/// [`get_status`], waiting up to `timeout` for the answer.
pub fn get_status_within(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 32];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    let status_line = std::str::from_utf8(&head[..len]).ok()?;
    status_line.split_whitespace().nth(1)?.parse().ok()
}

/// Where to reach a server that was told to listen on `listen`: a wildcard address means this
/// machine, and a probe cannot connect to 0.0.0.0.
pub fn reachable(listen: &str) -> Result<SocketAddr> {
    let mut addr = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Error::failed(format!("cannot parse address {listen:?}")))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(addr)
}
